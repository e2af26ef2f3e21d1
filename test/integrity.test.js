// Damage inside a file is found when it is read (issue #22): a .pt whose tensor bytes were changed fails
// the zip entry's CRC-32 with an error naming the entry (stored and deflated entries); a safetensors file
// whose header and size disagree is refused.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const api = require('..');

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'integrity-'));

test('a .pt with bytes flipped inside a tensor: E_BAD_FILE naming the entry, the file unchanged', async () => {
  const dir = tmp();
  const file = path.join(dir, 'm.pt');
  await api.saveTorch(file, new Map([['w', { data: new Float32Array(1024).fill(1.5), shape: [32, 32], dtype: 'float32' }]]));
  const ok = await api.loadTorch(file);
  assert.equal(Array.from(ok.get('w').toFloat32().slice(0, 2)), [1.5, 1.5], 'the clean file reads');
  const bytes = fs.readFileSync(file);
  const at = bytes.indexOf(Buffer.from(new Float32Array(64).fill(1.5).buffer));
  assert.ok(at > 0, 'found the tensor bytes');
  bytes[at + 100] ^= 0x40;
  fs.writeFileSync(file, bytes);
  const before = fs.readFileSync(file);
  const sd = await api.loadTorch(file);          // opening reads no tensor data
  let err;
  try { sd.get('w').toFloat32(); } catch (e) { err = e; }
  assert.ok(err, 'reading the damaged tensor fails');
  assert.is(err.code, 'E_BAD_FILE');
  assert.match(err.message, /m\.pt: entry [^ ]*\/data\/0 is corrupt \(CRC-32 [0-9a-f]{8}, the archive records [0-9a-f]{8}\)/);
  assert.ok(fs.readFileSync(file).equals(before), 'reading never alters the file');
  fs.rmSync(dir, { recursive: true });
});

test('a deflated entry with changed bytes that still inflates: the CRC-32 names it', () => {
  const { checkCrc, DeflatedRegion, FileRegion } = require('../lib/formats/torch/storage');
  const dir = tmp();
  const plain = Buffer.alloc(4096, 7);
  const crc = zlib.crc32(plain);
  const bad = Buffer.from(plain); bad[10] = 8;
  const file = path.join(dir, 'x.bin');
  fs.writeFileSync(file, zlib.deflateRawSync(bad));
  const region = new DeflatedRegion(file, new FileRegion(file, 0, fs.statSync(file).size), plain.length, 'archive/data/3', { crc32: crc, name: 'archive/data/3' });
  assert.throws(() => region.read(0, 16), /entry archive\/data\/3 is corrupt/);
  checkCrc(file, plain, { crc32: crc, name: 'ok' });
  fs.rmSync(dir, { recursive: true });
});

test('safetensors: a header whose offsets disagree with the file size is refused', () => {
  const dir = tmp();
  const file = path.join(dir, 'a.safetensors');
  api.saveSafetensorsSync(file, { w: { data: new Float32Array(16).fill(2), shape: [4, 4], dtype: 'float32' } });
  assert.is(api.loadSafetensorsSync(file).tensors.size, 1);
  const b = fs.readFileSync(file);
  fs.writeFileSync(file, b.subarray(0, b.length - 8));   // 8 bytes short of what the header says
  let err;
  try { api.loadSafetensorsSync(file); } catch (e) { err = e; }
  assert.ok(err);
  assert.is(err.code, 'E_BAD_FILE');
  assert.match(err.message, /a\.safetensors/);
  fs.rmSync(dir, { recursive: true });
});

test.run();
