// The GGUF reader and writer against the spec (ggml docs/gguf.md, version 3): the bytes of a small file
// checked field by field, every metadata value type read back, alignment, the tensor types (F32, F16, BF16,
// Q8_0 with ggml's rounding), and broken files: each is one E_BAD_FILE error naming the file and the fault.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');
const m = require('../lib');
const { encodeGgml, decodeGgml } = require('../lib/formats/gguf/quant');
const { GGUF_TYPE, GGML_TYPE } = require('../lib/formats/gguf/types');
const { tmpdir } = require('./export.helpers');

const dir = tmpdir('mypt-gguf-');
const f = (name) => path.join(dir, name);
const u32 = (value) => ({ type: GGUF_TYPE.UINT32, value });
const str = (value) => ({ type: GGUF_TYPE.STRING, value });

function small(extra = {}) {
  return {
    metadata: [['general.architecture', str('gpt2')], ['test.count', u32(7)]],
    tensors: [
      { name: 'a', dims: [3], type: GGML_TYPE.F32, bytes: new Uint8Array(Float32Array.of(1, 2, 3).buffer) },
      { name: 'b.weight', dims: [2, 2], type: GGML_TYPE.F32, bytes: new Uint8Array(Float32Array.of(-1, 0.5, 4, 8).buffer) },
    ],
    ...extra,
  };
}

function expectBad(file, re) {
  let err;
  try {
    const g = m.readGgufHeader(file);
    for (const t of g.tensors) m.readGgufTensor(g, t);
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${path.basename(file)}: read without an error`);
  assert.instance(err, m.MyptError, `${path.basename(file)}: ${err && err.stack}`);
  assert.is(err.code, 'E_BAD_FILE', err.message);
  assert.ok(err.message.startsWith(file + ':'), `the message names the file: ${err.message}`);
  if (re) assert.match(err.message, re);
  return err;
}

test('the bytes of a written file, field by field as the spec lays them out', () => {
  m.writeGgufSync(f('small.gguf'), small());
  const b = fs.readFileSync(f('small.gguf'));
  let at = 0;
  const u32r = () => { const v = b.readUInt32LE(at); at += 4; return v; };
  const u64r = () => { const v = Number(b.readBigUInt64LE(at)); at += 8; return v; };
  const strr = () => { const n = u64r(); const s = b.toString('utf8', at, at + n); at += n; return s; };
  assert.is(b.toString('latin1', 0, 4), 'GGUF'); at = 4;
  assert.is(u32r(), 3, 'version');
  assert.is(u64r(), 2, 'tensor_count');
  assert.is(u64r(), 2, 'metadata_kv_count');
  assert.is(strr(), 'general.architecture');
  assert.is(u32r(), GGUF_TYPE.STRING);
  assert.is(strr(), 'gpt2');
  assert.is(strr(), 'test.count');
  assert.is(u32r(), GGUF_TYPE.UINT32);
  assert.is(u32r(), 7);
  // tensor infos: name, n_dims, dims (ne0 first), type, offset from the data start
  assert.is(strr(), 'a'); assert.is(u32r(), 1); assert.is(u64r(), 3); assert.is(u32r(), 0); assert.is(u64r(), 0);
  assert.is(strr(), 'b.weight'); assert.is(u32r(), 2); assert.is(u64r(), 2); assert.is(u64r(), 2); assert.is(u32r(), 0);
  assert.is(u64r(), 32, 'the second tensor at the next multiple of 32 after 12 bytes');
  const dataStart = Math.ceil(at / 32) * 32;
  assert.ok(b.subarray(at, dataStart).every((x) => x === 0), 'zero padding to the alignment');
  assert.equal(Array.from(new Float32Array(b.buffer.slice(b.byteOffset + dataStart, b.byteOffset + dataStart + 12))), [1, 2, 3]);
  assert.ok(b.subarray(dataStart + 12, dataStart + 32).every((x) => x === 0));
  assert.equal(Array.from(new Float32Array(b.buffer.slice(b.byteOffset + dataStart + 32, b.byteOffset + dataStart + 48))), [-1, 0.5, 4, 8]);
  assert.is(b.length, dataStart + 64, 'each tensor padded to the alignment, the last one too');

  const g = m.readGgufHeader(f('small.gguf'));
  assert.is(g.version, 3);
  assert.is(g.alignment, 32);
  assert.is(g.dataStart, dataStart);
  assert.equal(g.tensors.map((t) => [t.name, t.dims, t.offset, t.byteLength]), [['a', [3], 0, 12], ['b.weight', [2, 2], 32, 16]]);
  assert.equal(Array.from(m.readGgufTensor(g, g.tensors[1])), [-1, 0.5, 4, 8]);
});

test('every metadata value type reads back as written (64-bit integers as bigint)', () => {
  const T = GGUF_TYPE;
  const meta = [
    ['t.u8', { type: T.UINT8, value: 255 }], ['t.i8', { type: T.INT8, value: -128 }], ['t.u16', { type: T.UINT16, value: 65535 }],
    ['t.i16', { type: T.INT16, value: -32768 }], ['t.u32', { type: T.UINT32, value: 4294967295 }], ['t.i32', { type: T.INT32, value: -2147483648 }],
    ['t.f32', { type: T.FLOAT32, value: 0.5 }], ['t.bool', { type: T.BOOL, value: true }], ['t.str', str('héllo ✓')],
    ['t.u64', { type: T.UINT64, value: 18446744073709551615n }], ['t.i64', { type: T.INT64, value: -9223372036854775808n }],
    ['t.f64', { type: T.FLOAT64, value: 1e-300 }],
    ['t.arr_s', { type: T.ARRAY, itemType: T.STRING, value: ['a', '', 'Ġthe'] }],
    ['t.arr_i', { type: T.ARRAY, itemType: T.INT32, value: [1, -2, 3] }],
    ['t.arr_e', { type: T.ARRAY, itemType: T.FLOAT32, value: [] }],
  ];
  m.writeGgufSync(f('types.gguf'), { metadata: meta, tensors: [] });
  const g = m.readGgufHeader(f('types.gguf'));
  assert.equal([...g.metadata.keys()], meta.map(([k]) => k));
  for (const [k, v] of meta) assert.equal(g.metadata.get(k), v, k);
});

test('general.alignment: written when not 32, every offset and the data start follow it', () => {
  m.writeGgufSync(f('al64.gguf'), small({ alignment: 64 }));
  const g = m.readGgufHeader(f('al64.gguf'));
  assert.is(g.alignment, 64);
  assert.equal(g.metadata.get('general.alignment'), u32(64));
  assert.is(g.dataStart % 64, 0);
  assert.equal(g.tensors.map((t) => t.offset), [0, 64]);
  assert.equal(Array.from(m.readGgufTensor(g, g.tensors[0])), [1, 2, 3]);
});

test('F16 and BF16 round to nearest even; Q8_0 is ggml\'s blocks (fp16 scale, 32 int8, half away from zero)', () => {
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.3) * (i < 32 ? 1 : 1e-3));
  const h = decodeGgml(encodeGgml(x, GGML_TYPE.F16), GGML_TYPE.F16, 64, 'x');
  assert.equal(Array.from(h), Array.from(m.float16ToFloat32(m.float32ToFloat16(x))));
  const bf = decodeGgml(encodeGgml(x, GGML_TYPE.BF16), GGML_TYPE.BF16, 64, 'x');
  assert.equal(Array.from(bf), Array.from(m.bfloat16ToFloat32(m.float32ToBfloat16(x))));
  const q = encodeGgml(x, GGML_TYPE.Q8_0);
  assert.is(q.length, 2 * 34);
  // block 0 by hand: d = max|x| / 127 in fp32, stored as fp16; q = round(x / d), halves away from zero
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[j]));
  const d = Math.fround(amax / 127);
  const view = new DataView(q.buffer, q.byteOffset);
  assert.is(view.getUint16(0, true), m.float32ToFloat16(Float32Array.of(d))[0]);
  for (let j = 0; j < 32; j++) {
    const v = Math.fround(x[j] * Math.fround(1 / d));
    assert.is(view.getInt8(2 + j), Math.sign(v) * Math.floor(Math.abs(v) + 0.5), `q[${j}]`);
  }
  const back = decodeGgml(q, GGML_TYPE.Q8_0, 64, 'x');
  for (let i = 0; i < 64; i++) assert.ok(Math.abs(back[i] - x[i]) <= (i < 32 ? 1 : 1e-3) / 127, `Q8_0 error at ${i}`);
  // an exact half rounds away from zero; a zero block has scale 0
  const half = new Float32Array(32); half[0] = 127; half[1] = 0.5; half[2] = -0.5; half[3] = 1.5;
  const qh = new DataView(encodeGgml(half, GGML_TYPE.Q8_0).buffer);
  assert.equal([qh.getInt8(2), qh.getInt8(3), qh.getInt8(4), qh.getInt8(5)], [127, 1, -1, 2]);
  assert.equal(Array.from(decodeGgml(encodeGgml(new Float32Array(32), GGML_TYPE.Q8_0), GGML_TYPE.Q8_0, 32, 'z')), new Array(32).fill(0));
});

// ---- broken files ----------------------------------------------------------------------------------------

const good = () => { m.writeGgufSync(f('good.gguf'), small()); return fs.readFileSync(f('good.gguf')); };

test('truncated anywhere: one error saying so', () => {
  const b = good();
  const g = m.readGgufHeader(f('good.gguf'));
  for (const n of [0, 3, 10, 23, 30, 60, 100, g.dataStart - 1, g.dataStart + 20, g.dataStart + 32 + 15]) {
    fs.writeFileSync(f('trunc.gguf'), b.subarray(0, n));
    expectBad(f('trunc.gguf'), /truncated|too short/);
  }
  // the padding after the last tensor is not needed: a file cut there still reads
  fs.writeFileSync(f('trunc.gguf'), b.subarray(0, g.dataStart + 48));
  assert.equal(Array.from(m.readGgufTensor(m.readGgufHeader(f('trunc.gguf')), g.tensors[1])), [-1, 0.5, 4, 8]);
});

test('wrong magic, unknown version', () => {
  const b = good();
  const x = Buffer.from(b); x.write('GGML', 0, 'latin1');
  fs.writeFileSync(f('magic.gguf'), x);
  expectBad(f('magic.gguf'), /not a GGUF file \(starts with "GGML"/);
  const v = Buffer.from(b); v.writeUInt32LE(9, 4);
  fs.writeFileSync(f('version.gguf'), v);
  expectBad(f('version.gguf'), /GGUF version 9 is not supported/);
});

test('bad alignment: zero, not a multiple of 8, not a uint32; a tensor offset off the alignment', () => {
  // the writer refuses such alignments: patch the value of a good file's general.alignment (64)
  m.writeGgufSync(f('al.gguf'), { metadata: [], tensors: [], alignment: 64 });
  const al = fs.readFileSync(f('al.gguf'));
  const at = al.indexOf(Buffer.from('general.alignment')) + 17;
  for (const [value, re] of [[0, /general.alignment 0/], [12, /general.alignment 12 is not a multiple of 8/]]) {
    const x = Buffer.from(al); x.writeUInt32LE(value, at + 4);
    fs.writeFileSync(f('al-bad.gguf'), x);
    expectBad(f('al-bad.gguf'), re);
  }
  const x = Buffer.from(al); x.writeUInt32LE(GGUF_TYPE.INT32, at);
  fs.writeFileSync(f('al-bad.gguf'), x);
  expectBad(f('al-bad.gguf'), /general.alignment is a int32, not a uint32/);
  // the second tensor's offset (32) moved to 36
  const b = good();
  const off = b.indexOf(Buffer.from('b.weight')) + 8 + 4 + 16 + 4;
  const y = Buffer.from(b); y.writeBigUInt64LE(36n, off);
  fs.writeFileSync(f('off.gguf'), y);
  expectBad(f('off.gguf'), /tensor b.weight is at offset 36, not a multiple of the alignment 32/);
});

test('huge counts and lengths are refused before anything is allocated', () => {
  const b = good();
  const cases = [
    [8, /the tensor count is 18446744073709551615, more than the \d+ the rest of the file \(\d+ bytes\) can hold/],
    [16, /the metadata count is 18446744073709551615/],                          // kv count
    [24, /the length of metadata key 0 is 18446744073709551615/],                 // first key's length
  ];
  for (const [at, re] of cases) {
    const x = Buffer.from(b); x.writeBigUInt64LE(0xffffffffffffffffn, at);
    fs.writeFileSync(f('huge.gguf'), x);
    expectBad(f('huge.gguf'), re);
  }
  // an array claiming 2^40 strings, a dimension of 2^40
  m.writeGgufSync(f('arr.gguf'), { metadata: [['t.a', { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.STRING, value: ['x'] }]], tensors: [] });
  const a = fs.readFileSync(f('arr.gguf'));
  const ca = Buffer.from(a); ca.writeBigUInt64LE(1n << 40n, 24 + 8 + 3 + 4 + 4);
  fs.writeFileSync(f('arr.gguf'), ca);
  expectBad(f('arr.gguf'), /item count of metadata t.a is 1099511627776/);
  const d = Buffer.from(b); d.writeBigUInt64LE(1n << 40n, b.indexOf(Buffer.from('b.weight')) + 8 + 4);
  fs.writeFileSync(f('dim.gguf'), d);
  expectBad(f('dim.gguf'), /tensor b.weight/);
});

test('structural faults: duplicate key or tensor, bad value type, zero or five dimensions, unknown ggml type, overlap, bad bool', () => {
  const b = good();
  const edit = (name, fn, re) => { const x = Buffer.from(b); fn(x); fs.writeFileSync(f(name), x); expectBad(f(name), re); };
  const key2 = b.indexOf(Buffer.from('test.count'));
  m.writeGgufSync(f('dupkey.gguf'), { metadata: [['k.x', u32(1)], ['k.x', u32(2)]], tensors: [] });
  expectBad(f('dupkey.gguf'), /metadata key k.x appears twice/);
  edit('vtype.gguf', (x) => x.writeUInt32LE(42, key2 + 10), /value type 42, not a GGUF type/);
  const tb = b.indexOf(Buffer.from('b.weight')) + 8;
  edit('nd0.gguf', (x) => x.writeUInt32LE(0, tb), /0 dimensions/);
  edit('nd5.gguf', (x) => x.writeUInt32LE(5, tb), /5 dimensions/);
  edit('zero.gguf', (x) => x.writeBigUInt64LE(0n, tb + 4), /zero dimension/);
  edit('gtype.gguf', (x) => x.writeUInt32LE(16, tb + 4 + 16), /ggml type IQ2_XXS, whose layout this reader does not know/);
  edit('overlap.gguf', (x) => x.writeBigUInt64LE(0n, tb + 4 + 16 + 4), /overlaps/);
  m.writeGgufSync(f('dupt.gguf'), { metadata: [], tensors: [small().tensors[0], { ...small().tensors[0] }] });
  expectBad(f('dupt.gguf'), /tensor a appears twice/);
  m.writeGgufSync(f('bool.gguf'), { metadata: [['t.b', { type: GGUF_TYPE.BOOL, value: true }]], tensors: [] });
  const bb = fs.readFileSync(f('bool.gguf')); bb[bb.indexOf(Buffer.from('t.b')) + 3 + 4] = 2; fs.writeFileSync(f('bool.gguf'), bb);
  expectBad(f('bool.gguf'), /a bool holds 2/);
  m.writeGgufSync(f('q8.gguf'), { metadata: [], tensors: [{ name: 'q', dims: [32], type: GGML_TYPE.Q8_0, bytes: new Uint8Array(34) }] });
  const q = fs.readFileSync(f('q8.gguf')); q.writeBigUInt64LE(16n, q.indexOf(Buffer.from('q')) + 1 + 4);
  fs.writeFileSync(f('q8.gguf'), q);
  expectBad(f('q8.gguf'), /rows of 16 values are not whole Q8_0 blocks of 32/);
});

test('a GGUF of another architecture is named as such by loadModel', async () => {
  m.writeGgufSync(f('llama.gguf'), { metadata: [['general.architecture', str('llama')]], tensors: [] });
  try {
    await m.loadModel(f('llama.gguf'), { device: 'cpu' });
    assert.unreachable();
  } catch (e) {
    assert.is(e.code, 'E_UNSUPPORTED');
    assert.match(e.message, /a GGUF model of the 'llama' architecture; mypt-native runs the gpt2 one/);
  }
  // a gpt2 file without its sizes
  m.writeGgufSync(f('nosize.gguf'), small());
  try {
    await m.loadModel(f('nosize.gguf'), { device: 'cpu' });
    assert.unreachable();
  } catch (e) {
    assert.is(e.code, 'E_BAD_FILE', e.message);
    assert.match(e.message, /token_embd.weight \/ position_embd.weight missing/);
  }
});

test.run();
