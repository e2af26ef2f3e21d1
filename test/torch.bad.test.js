// Hostile and broken inputs: each must end in MyptError('E_BAD_FILE', '<path>: ...') quickly,
// never a crash, a hang, code execution, or an allocation the file does not justify.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const m = require('../lib');
const { tempDir } = require('./torch.helpers');
const { ZipWriter } = require('../lib/formats/torch/zip-write');

const tmp = tempDir('mypt-bad-');
const fixtures = path.join(__dirname, 'fixtures', 'torch');
let n = 0;

/** Writes a torch-style zip holding `pkl` as archive/data.pkl and `storages` as archive/data/<key>. */
function makePt(pkl, storages = {}) {
  const file = path.join(tmp, `f${n++}.pt`);
  const fd = fs.openSync(file, 'w');
  const z = new ZipWriter(fd);
  z.addEntry('archive/data.pkl', pkl.length, [pkl]);
  for (const [k, b] of Object.entries(storages)) z.addEntry(`archive/data/${k}`, b.length, [b]);
  z.finish();
  fs.closeSync(fd);
  return file;
}

function writeRaw(bytes) {
  const file = path.join(tmp, `r${n++}.bin`);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Pickle assembler: numbers are opcode/raw bytes, strings are latin1 text, Buffers are copied. */
function pk(...parts) {
  return Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
}
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
const str = (s) => pk(0x58, u32(Buffer.byteLength(s)), Buffer.from(s, 'utf8'));
const glob = (mod, name) => pk(0x63, `${mod}\n${name}\n`);
const long1 = (v) => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(v)); return pk(0x8a, 8, b); };
const int = (v) => (v >= 0 && v < 256 ? pk(0x4b, v) : long1(v));
const tuple = (...xs) => pk(0x28, ...xs, 0x74);

/** A tensor pickle: _rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict()). */
function tensorPkl({ numel = 4, offset = 0, size = [4], stride = [1], key = '0', type = 'FloatStorage' } = {}) {
  return pk(0x80, 2, glob('torch._utils', '_rebuild_tensor_v2'),
    tuple(tuple(str('storage'), glob('torch', type), str(key), str('cpu'), int(numel)), 0x51,
      int(offset), tuple(...size.map(int)), tuple(...stride.map(int)), 0x89, glob('collections', 'OrderedDict'), 0x29, 0x52),
    0x52, 0x2e);
}

function expectBad(file, re, opts, touch = true) {
  const t0 = Date.now();
  try {
    const v = m.loadTorchSync(file, opts);
    if (touch) walk(v);
    assert.unreachable(`loaded ${file}`);
  } catch (e) {
    if (e.code === undefined) throw e;
    assert.is(e.name, 'MyptError', e.message);
    assert.is(e.code, 'E_BAD_FILE', e.message);
    assert.ok(e.message.startsWith(file + ':'), `message names the file: ${e.message}`);
    if (re) assert.match(e.message, re);
  }
  assert.ok(Date.now() - t0 < 2000, 'bounded time');
}

function walk(v) {
  if (v && ArrayBuffer.isView(v.data)) { void v.data.length; return; }
  if (v instanceof Map) for (const x of v.values()) walk(x);
  else if (Array.isArray(v)) for (const x of v) walk(x);
}

test('the hand-made tensor pickle loads (control for the cases below)', () => {
  const f = makePt(tensorPkl(), { 0: Buffer.from(new Float32Array([1, 2, 3, 4]).buffer) });
  assert.equal(Array.from(m.loadTorchSync(f).data), [1, 2, 3, 4]);
});

test('not a checkpoint: empty, random bytes, text', () => {
  expectBad(writeRaw(Buffer.alloc(0)), /too short/);
  expectBad(writeRaw(Buffer.from('hello world, not a checkpoint')), /neither a zip archive nor a legacy torch file/);
  expectBad(writeRaw(Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3])), /truncated zip|end of central directory/);
  const tar = Buffer.alloc(1024);
  tar.write('tensors', 0);
  tar.write('ustar', 257);
  expectBad(writeRaw(tar), /tar-based torch format/);
});

test('truncated files at every length fail cleanly (zip, legacy, safetensors)', () => {
  for (const name of ['views.pt', 'legacy.pt', 'model.safetensors']) {
    const full = fs.readFileSync(path.join(fixtures, name));
    for (let len = 0; len < full.length; len += 7) {
      const f = writeRaw(full.subarray(0, len));
      try {
        const v = name.endsWith('.safetensors') ? m.loadSafetensorsSync(f).tensors : m.loadTorchSync(f);
        walk(v);
        assert.unreachable(`${name} cut at ${len} loaded`);
      } catch (e) {
        assert.is(e.name, 'MyptError', `${name} cut at ${len}: ${e.stack}`);
      }
    }
  }
});

test('corrupt central directory and local headers', () => {
  const full = fs.readFileSync(path.join(fixtures, 'views.pt'));
  const cen = full.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  const a = Buffer.from(full); a[cen] = 0; expectBad(writeRaw(a), /central directory/);
  const b = Buffer.from(full); b.writeUInt32LE(0xfffffff0, cen + 42); expectBad(writeRaw(b), /outside the file|local header|past/);
  const c = Buffer.from(full); c.writeUInt32LE(0x7fffffff, cen + 20); c.writeUInt32LE(0x7fffffff, cen + 24); expectBad(writeRaw(c), /runs past|outside/);
  const d = Buffer.from(full); d[100] ^= 0xff; expectBad(writeRaw(d), /CRC-32 mismatch|pickle/);
});

test('storage sizes, offsets and strides past the data', () => {
  const four = { 0: Buffer.from(new Float32Array(4).buffer) };
  expectBad(makePt(tensorPkl({ numel: 5 }), four), /declares 5 float32 elements \(20 bytes\) but holds 16/);
  expectBad(makePt(tensorPkl({ offset: 1 }), four), /past the storage's 4 elements/);
  expectBad(makePt(tensorPkl({ size: [2, 2], stride: [3, 1] }), four), /past the storage/);
  expectBad(makePt(tensorPkl({ numel: -1 }), four), /bad size -1/);
  expectBad(makePt(tensorPkl({ size: [-2], stride: [1] }), four), /bad size -2/);
  expectBad(makePt(tensorPkl({ numel: 2 ** 50 }), four), /declares/);
  expectBad(makePt(tensorPkl({ size: [2 ** 40, 2 ** 40], stride: [0, 0] }), four), /too large/);
  expectBad(makePt(tensorPkl({ key: '1' }), four), /no entry archive\/data\/1/);
  expectBad(makePt(tensorPkl({ key: '../../etc/passwd' }), four), /bad storage key/);
});

test('pickle abuse: stack underflow, missing memo, huge LONG4, MARK floods, bad opcodes, no STOP', () => {
  expectBad(makePt(pk(0x80, 2, 0x52, 0x2e)), /stack underflow/);
  expectBad(makePt(pk(0x80, 2, 0x68, 9, 0x2e)), /memo key 9 missing/);
  expectBad(makePt(pk(0x80, 2, 0x8b, u32(0x7ffffff0))), /integer of|ends early/);
  expectBad(makePt(pk(0x80, 2, 0x58, u32(0xfffffff0), 'x', 0x2e)), /ends early/);
  expectBad(makePt(Buffer.concat([Buffer.from([0x80, 2]), Buffer.alloc(1 << 21, 0x28), Buffer.from([0x2e])])), /too many MARKs/);
  expectBad(makePt(pk(0x80, 2, 0xff)), /unknown opcode 0xff/);
  expectBad(makePt(pk(0x80, 2, 0x4e)), /ends early/);
  expectBad(makePt(pk(0x80, 2, 0x4e, 0x4e, 0x2e)), /STOP with 2 values/);
  expectBad(makePt(pk(0x80, 2, 0x4e, 0x61, 0x2e)), /APPEND on|underflow/);
  expectBad(makePt(pk(0x80, 2, 0x82, 1, 0x2e)), /extension registry/);
});

test('deep nesting and recursive structures are refused; a wide flat pickle is fine', () => {
  // [[[[...]]]] 5000 deep through the memo, with a constant-size stack
  const deep = [0x80, 2, 0x5d, 0x71, 0];
  for (let i = 1; i <= 5000; i++) deep.push(0x5d, 0x72, ...u32(i), 0x61, 0x30, 0x6a, ...u32(i));
  deep.push(0x30, 0x68, 0, 0x2e);
  expectBad(makePt(Buffer.from(deep)), /nested deeper than 1000/);
  // l = []; l.append(l)
  expectBad(makePt(pk(0x80, 2, 0x5d, 0x71, 0, 0x68, 0, 0x61, 0x2e)), /recursive structure/);
  // a million-item list loads
  const wide = Buffer.concat([pk(0x80, 2, 0x5d, 0x28), Buffer.alloc(2e6, 0x4e), pk(0x65, 0x2e)]);
  assert.is(m.loadTorchSync(makePt(wide)).length, 2e6);
});

test('hostile globals are inert records, never run; strict mode names them', () => {
  const evil = pk(0x80, 2, glob('os', 'system'), tuple(str('touch /tmp/mypt-pwned')), 0x52, 0x2e);
  const v = m.loadTorchSync(makePt(evil));
  assert.ok(v instanceof m.PyObject);
  assert.is(v.fullName, 'os.system');
  assert.equal([...v.args], ['touch /tmp/mypt-pwned']);
  assert.not.ok(fs.existsSync('/tmp/mypt-pwned'));
  expectBad(makePt(evil), /refuses global os\.system/, { strict: true });
  expectBad(makePt(pk(0x80, 4, str('builtins'), str('eval'), 0x93, 0x2e)), /refuses global builtins\.eval/, { strict: true });
  const popen = makePt(pk(0x80, 2, glob('subprocess', 'Popen'), tuple(pk(0x5d, str('rm'), 0x61)), 0x52, 0x2e));
  assert.is(m.loadTorchSync(popen).fullName, 'subprocess.Popen');
  expectBad(popen, /refuses global subprocess\.Popen/, { strict: true });
});

test('zip bombs: deflated entries declaring absurd sizes or inflating past their size', () => {
  // a data.pkl of 'N' * 50 MB deflates to ~50 KB; declare 100 bytes
  const big = zlib.deflateRawSync(Buffer.concat([pk(0x80, 2, 0x5d, 0x28), Buffer.alloc(50e6, 0x4e), pk(0x65, 0x2e)]));
  const file = makePt(Buffer.from('x'));
  const data = fs.readFileSync(file);
  // rebuild by hand: one deflated entry with declared size 100
  const name = Buffer.from('archive/data.pkl');
  const lh = Buffer.alloc(30); lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(8, 8); lh.writeUInt32LE(big.length, 18); lh.writeUInt32LE(100, 22); lh.writeUInt16LE(name.length, 26);
  const cd = Buffer.alloc(46); cd.writeUInt32LE(0x02014b50, 0); cd.writeUInt16LE(8, 10); cd.writeUInt32LE(big.length, 20); cd.writeUInt32LE(100, 24); cd.writeUInt16LE(name.length, 28);
  const cdOff = 30 + name.length + big.length;
  const end = Buffer.alloc(22); end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(1, 8); end.writeUInt16LE(1, 10); end.writeUInt32LE(46 + name.length, 12); end.writeUInt32LE(cdOff, 16);
  expectBad(writeRaw(Buffer.concat([lh, name, big, cd, name, end])), /larger than its declared 100 bytes|inflates/);
  // declared 1 TB from 50 KB: refused before inflating
  cd.writeUInt32LE(0xffffffff, 24);
  const z64 = Buffer.alloc(12); z64.writeUInt16LE(1, 0); z64.writeUInt16LE(8, 2); z64.writeBigUInt64LE(2n ** 40n, 4);
  cd.writeUInt16LE(12, 30);
  end.writeUInt32LE(46 + name.length + 12, 12);
  expectBad(writeRaw(Buffer.concat([lh, name, big, cd, name, z64, end])), /zip bomb/);
  void data;
});

test('safetensors headers: size bounds, JSON, dtype, shape/bytes, overlap, holes, coverage, metadata', () => {
  const mk = (header, dataLen) => {
    const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
    const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(h.length));
    return writeRaw(Buffer.concat([len, h, Buffer.alloc(dataLen)]));
  };
  const bad = (file, re) => {
    try { m.loadSafetensorsSync(file); assert.unreachable(); } catch (e) {
      assert.is(e.code, 'E_BAD_FILE', e.message); assert.match(e.message, re); assert.ok(e.message.startsWith(file));
    }
  };
  const lenOnly = Buffer.alloc(16); lenOnly.writeBigUInt64LE(2n ** 60n);
  bad(writeRaw(lenOnly), /header size .* out of bounds/);
  const len2 = Buffer.alloc(16); len2.writeBigUInt64LE(1000n);
  bad(writeRaw(len2), /runs past the end/);
  bad(mk('{"a": ', 0), /not valid JSON/);
  bad(mk('[1,2]', 0), /does not start with|not a JSON object/);
  bad(mk({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, 8), /unsupported dtype "C64"/);
  bad(mk({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /needs 12 bytes/);
  bad(mk({ a: { dtype: 'F32', shape: [1e9, 1e9], data_offsets: [0, 8] } }, 8), /needs/);
  bad(mk({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /bad shape/);
  bad(mk({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /overlaps/);
  bad(mk({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /hole at 0/);
  bad(mk({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 8), /cover 4 bytes of the 8/);
  bad(mk({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 0), /past the data/);
  bad(mk({ __metadata__: { a: 1 } }, 0), /__metadata__\.a is not a string/);
  const ok = m.loadSafetensorsSync(mk({ __metadata__: { k: 'v' }, z: { dtype: 'BOOL', shape: [0], data_offsets: [0, 0] }, a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, 2));
  assert.equal(ok.metadata, { k: 'v' });
  assert.equal([...ok.tensors.keys()].sort(), ['a', 'z']);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
