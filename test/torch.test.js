// Round trips of saveTorch/loadTorch in JS alone (fixtures from PyTorch: torch.fixtures.test.js).
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const m = require('../lib');
const { tempDir } = require('./torch.helpers');

const tmp = tempDir('mypt-torch-');
const f = (name) => path.join(tmp, name);

test('state_dict of float32 / bfloat16 / int64 tensors round-trips, order and key types kept', () => {
  const sd = new m.PyDict();
  const w = Float32Array.from({ length: 12 }, (_, i) => i * 0.25 - 1);
  sd.set('a.weight', { dtype: 'float32', shape: [3, 4], data: w });
  sd.set('b.bf', { dtype: 'bfloat16', shape: [2], data: m.float32ToBfloat16(new Float32Array([1.5, -2])) });
  sd.set('step', { dtype: 'int64', shape: [], data: new BigInt64Array([123456789012n]) });
  const opt = new m.PyDict([[0, 'zero'], [1, 'one']]);
  m.saveTorchSync(f('a.pt'), { sd, opt, betas: m.PyTuple.make(0.9, 0.999), lr: new m.PyFloat(1), n: null, flag: false, name: 'é' });
  const o = m.loadTorchSync(f('a.pt'));
  assert.ok(o instanceof m.PyDict);
  assert.equal([...o.keys()], ['sd', 'opt', 'betas', 'lr', 'n', 'flag', 'name']);
  const sd2 = o.get('sd');
  assert.equal([...sd2.keys()], ['a.weight', 'b.bf', 'step']);
  assert.equal(sd2.get('a.weight').shape, [3, 4]);
  assert.equal(Array.from(sd2.get('a.weight').data), Array.from(w));
  assert.equal(Array.from(sd2.get('b.bf').toFloat32()), [1.5, -2]);
  assert.is(sd2.get('step').data[0], 123456789012n);
  assert.equal(sd2.get('step').shape, []);
  assert.equal([...o.get('opt').keys()], [0, 1]);
  assert.ok(o.get('betas') instanceof m.PyTuple);
  assert.equal([...o.get('betas')], [0.9, 0.999]);
  assert.is(o.get('lr'), 1);
  assert.is(o.get('n'), null);
  assert.is(o.get('flag'), false);
  assert.is(o.get('name'), 'é');
});

test('tensors sharing one typed array share one storage after a round trip', () => {
  const data = new Float32Array([1, 2, 3, 4, 5, 6]);
  m.saveTorchSync(f('tied.pt'), { wte: { dtype: 'float32', shape: [2, 3], data }, head: { dtype: 'float32', shape: [2, 3], data } });
  const o = m.loadTorchSync(f('tied.pt'));
  assert.is(o.get('wte').storageKey, o.get('head').storageKey);
  assert.is(o.get('wte').storage, o.get('head').storage);
  // and re-saving keeps them shared
  m.saveTorchSync(f('tied2.pt'), o);
  const o2 = m.loadTorchSync(f('tied2.pt'));
  assert.is(o2.get('wte').storage, o2.get('head').storage);
  assert.equal(Array.from(o2.get('head').data), [1, 2, 3, 4, 5, 6]);
});

test('an object held many times is written once (memo), keeping identity and linear size', () => {
  let x = [1, 'a'];
  for (let i = 0; i < 60; i++) x = [x, x];                // 2^60 paths, 61 objects
  const w = { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) };
  m.saveTorchSync(f('dag.pt'), { x, t: m.PyTuple.make(x, w), w });
  assert.ok(fs.statSync(f('dag.pt')).size < 4096);
  const o = m.loadTorchSync(f('dag.pt'));
  assert.is(o.get('x')[0], o.get('x')[1]);
  assert.is(o.get('t')[0], o.get('x'));
  assert.is(o.get('t')[1], o.get('w'));
});

test('a wrong data class or length is refused with E_BAD_ARGUMENT naming the key', () => {
  try {
    m.saveTorchSync(f('bad.pt'), { x: { dtype: 'float32', shape: [3], data: new Float64Array(3) } });
    assert.unreachable();
  } catch (e) {
    assert.is(e.code, 'E_BAD_ARGUMENT');
    assert.match(e.message, /"x"/);
  }
  assert.not.ok(fs.existsSync(f('bad.pt')));
});

test('zip64 records (forced on a small file) read back here and in Python', () => {
  const { writeTorchArchive } = require('../lib/formats/torch/save');
  const file = f('z64.pt');
  const fd = fs.openSync(file, 'w');
  const data = Float32Array.from({ length: 100 }, (_, i) => i / 7);
  writeTorchArchive(fd, { w: { dtype: 'float32', shape: [10, 10], data }, n: 3 }, file, 0);
  fs.closeSync(fd);
  const raw = fs.readFileSync(file);
  assert.ok(raw.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])), 'zip64 end record present');
  const o = m.loadTorchSync(file);
  assert.equal(Array.from(o.get('w').data), Array.from(data));
  const py = spawnSync('/usr/bin/python3', ['-c', `
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None
try:
    import torch
except ImportError:
    print('no torch'); sys.exit(0)
o = torch.load(sys.argv[1], weights_only=True)
assert o['n'] == 3 and o['w'].shape == (10, 10) and abs(float(o['w'].sum()) - ${data.reduce((a, b) => a + b, 0)}) < 1e-3
print('ok')`, file], { encoding: 'utf8' });
  if (py.error) { console.log('  python not available:', py.error.message); return; }
  assert.is(py.status, 0, py.stderr);
  assert.match(py.stdout, /ok|no torch/);
});

test('a save that fails midway leaves the previous file whole and no temp file behind', () => {
  const src = f('src.pt');
  m.saveTorchSync(src, { w: { dtype: 'float32', shape: [1000], data: new Float32Array(1000).fill(2) } });
  const loaded = m.loadTorchSync(src);                  // lazy: data still in src
  const target = f('target.pt');
  m.saveTorchSync(target, { old: 1 });
  const before = fs.readFileSync(target);
  fs.truncateSync(src, 200);                            // the storage bytes are gone
  try {
    m.saveTorchSync(target, loaded);
    assert.unreachable();
  } catch (e) {
    assert.is(e.code, 'E_BAD_FILE', e.message);
  }
  assert.ok(fs.readFileSync(target).equals(before), 'previous file unchanged');
  assert.equal(fs.readdirSync(tmp).filter((n) => n.includes('.tmp-')), []);
  assert.is(m.loadTorchSync(target).get('old'), 1);
});

test('lazy data from a file replaced after loading is refused, not read from the new file', () => {
  const file = f('replaced.pt');
  m.saveTorchSync(file, { w: { dtype: 'float32', shape: [3], data: new Float32Array([1, 2, 3]) } });
  const early = m.loadTorchSync(file);
  const read = m.loadTorchSync(file);
  assert.equal(Array.from(read.get('w').data), [1, 2, 3]);      // read before the replacement: kept
  m.saveTorchSync(file, { w: { dtype: 'float32', shape: [3], data: new Float32Array([7, 8, 9]) } });
  assert.equal(Array.from(read.get('w').data), [1, 2, 3]);
  try {
    void early.get('w').data;
    assert.unreachable();
  } catch (e) {
    assert.is(e.code, 'E_BAD_FILE');
    assert.match(e.message, /changed on disk since it was loaded/);
  }
  assert.equal(Array.from(m.loadTorchSync(file).get('w').data), [7, 8, 9]);
});

test('a big-endian archive (byteorder = big) reads the same values', () => {
  const { ZipArchive } = require('../lib/formats/torch/zip-read');
  const { ZipWriter } = require('../lib/formats/torch/zip-write');
  const src = path.join(__dirname, 'fixtures', 'torch', 'dtypes.pt');
  const zip = ZipArchive.open(src, fs.statSync(src).size);
  const want = m.loadTorchSync(src);
  const sizes = {};                                       // storage key -> element size
  for (const t of want.values()) sizes[t.storageKey] = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2 }[t.dtype] || 1;
  const file = f('big-endian.pt');
  const fd = fs.openSync(file, 'w');
  const z = new ZipWriter(fd);
  for (const e of zip.entries) {
    let d = Buffer.from(zip.read(e));
    const key = e.name.match(/\/data\/(\d+)$/)?.[1];
    if (key !== undefined && sizes[key] > 1) d = { 2: () => d.swap16(), 4: () => d.swap32(), 8: () => d.swap64() }[sizes[key]]();
    z.addEntry(e.name, d.length, [d]);
  }
  const bo = Buffer.from('big');
  z.addEntry('dtypes/byteorder', bo.length, [bo]);
  z.finish();
  fs.closeSync(fd);
  zip.close();
  const got = m.loadTorchSync(file);
  for (const [k, t] of want) assert.equal(Array.from(got.get(k).data), Array.from(t.data), k);
});

test('opening a 128 MB checkpoint reads no tensor data; data is read per tensor on access', () => {
  const file = f('big.pt');
  const sd = new m.PyDict();
  for (let i = 0; i < 8; i++) sd.set(`w${i}`, { dtype: 'float32', shape: [4 << 20], data: new Float32Array(4 << 20).fill(i) });
  m.saveTorchSync(file, sd);
  const child = spawnSync(process.execPath, ['-e', `
const m = require(${JSON.stringify(path.join(__dirname, '..', 'lib'))});
const r0 = process.memoryUsage().rss;
const v = m.loadTorchSync(process.argv[1]);
const open = process.memoryUsage().rss - r0;
let peak = 0, sum = 0;
for (const t of v.values()) { sum += t.data[123]; t.drop(); peak = Math.max(peak, process.memoryUsage().rss - r0); }
console.log(JSON.stringify({ open, peak, sum }));`, file], { encoding: 'utf8' });
  assert.is(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout);
  assert.is(r.sum, 28);
  assert.ok(r.open < 8 << 20, `opening used ${r.open >> 20} MB`);
  assert.ok(r.peak < 100 << 20, `peak ${r.peak >> 20} MB for 16 MB tensors read one at a time`);
});

test('async saves write the same bytes as sync ones and let the event loop run meanwhile', async () => {
  const sd = new m.PyDict();
  for (let i = 0; i < 6; i++) sd.set(`w${i}`, { dtype: 'float32', shape: [1 << 20], data: new Float32Array(1 << 20).fill(i + 0.5) });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  await m.saveTorch(f('async.pt'), sd);
  await m.saveSafetensors(f('async.safetensors'), sd, { a: 'b' });
  clearInterval(timer);
  assert.ok(ticks >= 6, `event loop ran ${ticks} times during the saves`);
  m.saveTorchSync(f('sync.pt'), sd);
  m.saveSafetensorsSync(f('sync.safetensors'), sd, { a: 'b' });
  assert.ok(fs.readFileSync(f('async.pt')).equals(fs.readFileSync(f('sync.pt'))));
  assert.ok(fs.readFileSync(f('async.safetensors')).equals(fs.readFileSync(f('sync.safetensors'))));
  const back = await m.loadTorch(f('async.pt'));
  assert.is(back.get('w5').data[7], 5.5);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
