// Files PyTorch 1.13 wrote (test/fixtures/make_torch_fixtures.py) read here, and files written
// here read by PyTorch (the script's `check` mode), both ways, when /usr/bin/python3 has torch.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const m = require('../lib');
const { matches, describe, tempDir } = require('./torch.helpers');

const dir = path.join(__dirname, 'fixtures', 'torch');
const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8'));
const script = path.join(__dirname, 'fixtures', 'make_torch_fixtures.py');
const PY = '/usr/bin/python3';
const torchOk = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

const isPt = (n) => !n.endsWith('.safetensors') && n !== 'conversions';
for (const name of Object.keys(expected).filter(isPt)) {
  test(`reads ${name}.pt as PyTorch 1.13 wrote it`, () => {
    const v = m.loadTorchSync(path.join(dir, `${name}.pt`));
    matches(v, expected[name], name);
  });
}

// The same script run under PyTorch 2.11 / numpy 2.5 (numpy._core names, .format_version,
// .storage_alignment, serialization_id entries), plus hf.safetensors from the safetensors package.
const dir2 = path.join(__dirname, 'fixtures', 'torch2');
const expected2 = JSON.parse(fs.readFileSync(path.join(dir2, 'expected.json'), 'utf8'));
for (const name of Object.keys(expected2).filter(isPt)) {
  test(`reads ${name}.pt as PyTorch 2.11 wrote it`, () => {
    matches(m.loadTorchSync(path.join(dir2, `${name}.pt`)), expected2[name], name);
  });
}

test('reads a file written by the safetensors package (0.8)', () => {
  const { tensors, metadata } = m.loadSafetensorsSync(path.join(dir2, 'hf.safetensors'));
  assert.equal(metadata, { format: 'pt' });
  const want = {
    a: ['float32', [3, 4], [-0.1467950940132141, 0.7861412763595581, 0.9468216300010681, -1.1143440008163452, 1.6907901763916016, -0.8948279023170471,
      -0.3556250333786011, 1.2323857545852661, 0.13817265629768372, -1.6821985244750977, 0.317678302526474, 0.13280697166919708]],
    b: ['int64', [5], [0, 1, 2, 3, 4]], c: ['bfloat16', [2], [0.1376953125, 0.240234375]], d: ['bool', [2], [1, 0]], e: ['float32', [0, 2], []],
  };
  assert.equal([...tensors.keys()].sort(), Object.keys(want));
  for (const [k, [dtype, shape, vals]] of Object.entries(want)) {
    const t = tensors.get(k);
    assert.is(t.dtype, dtype, k);
    assert.equal(t.shape, shape, k);
    assert.equal(Array.from(t.toFloat32()), vals.map((v) => Math.fround(v)), k);
  }
});

test('float32 -> float16 / bfloat16 round exactly as PyTorch (ties to even, subnormals, overflow, NaN)', () => {
  const c = expected.conversions;
  const x = new Float32Array(new Int32Array(c.f32).buffer);
  assert.equal(Array.from(m.float32ToFloat16(x)), c.f16);
  const bf = Array.from(m.float32ToBfloat16(x));
  // NaN payloads may differ; every NaN must stay a NaN
  bf.forEach((b, i) => {
    if (Number.isNaN(x[i])) assert.ok((b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0, `NaN at ${i}`);
    else assert.is(b, c.bf16[i], `bf16 of ${x[i]} (index ${i})`);
  });
  // and back: both decoders are exact
  const f16back = m.float16ToFloat32(Uint16Array.from(c.f16));
  const bfback = m.bfloat16ToFloat32(Uint16Array.from(c.bf16));
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) continue;
    assert.is(m.float32ToFloat16(new Float32Array([f16back[i]]))[0], c.f16[i]);
    assert.is(m.float32ToBfloat16(new Float32Array([bfback[i]]))[0], c.bf16[i]);
  }
});

test('views: offsets and strides materialise contiguous data; tied tensors share a storage', () => {
  for (const file of ['views.pt', 'legacy.pt']) {
    const v = m.loadTorchSync(path.join(dir, file));
    const base = v.get('base');
    assert.is(v.get('transposed').storage, base.storage, file);
    assert.equal(v.get('transposed').stride, [1, 6]);
    assert.is(v.get('sliced').storageOffset, 8);
    assert.equal(Array.from(v.get('sliced').data), [8, 9, 10, 14, 15, 16]);
    assert.equal(Array.from(v.get('stepped').data), [0, 3, 12, 15]);
    assert.equal(Array.from(v.get('expanded').data), [1, 2, 1, 2, 1, 2]);
    assert.is(v.get('wte').storage, v.get('lm_head').storage, file);
    assert.is.not(v.get('wte').storage, base.storage);
    assert.is(v.get('narrow_i32').storageOffset, 10);
    assert.equal(Array.from(v.get('narrow_i32').data), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  }
});

test('model state_dict keeps _metadata; AdamW state has int keys, 0-dim step, betas tuple', () => {
  const sd = m.loadTorchSync(path.join(dir, 'model.pt'));
  assert.ok(sd.ordered);
  assert.ok(sd._metadata instanceof m.PyDict);
  assert.equal([...sd._metadata.keys()], ['', '0', '1', '2']);
  assert.is(sd._metadata.get('0').get('version'), 1);
  const opt = m.loadTorchSync(path.join(dir, 'adamw.pt'));
  assert.equal([...opt.get('state').keys()], [0, 1, 2, 3]);
  const s0 = opt.get('state').get(0);
  assert.equal(s0.get('step').shape, []);
  assert.is(s0.get('step').toFloat32()[0], 2);
  assert.equal(opt.get('param_groups')[0].get('betas'), m.PyTuple.make(0.9, 0.999));
  assert.equal(opt.get('param_groups')[0].get('params'), [0, 1, 2, 3]);
});

test('parameters are flagged; user classes and numpy values are inert records or values', () => {
  const p = m.loadTorchSync(path.join(dir, 'parameter.pt'));
  assert.is(p.get('p').kind, 'parameter');
  assert.is(p.get('p').requiresGrad, true);
  assert.is(p.get('frozen').requiresGrad, false);
  for (const f of ['userclass.pt', 'proto5.pt']) {
    const u = m.loadTorchSync(path.join(dir, f));
    assert.is(u.get('config').fullName, '__main__.ToyConfig');
    assert.ok(u.get('np_array') instanceof m.NumpyArray);
  }
});

test('strict mode refuses user classes and numpy with an error naming the global; accepts state dicts', () => {
  for (const f of ['dtypes', 'views', 'model', 'adamw', 'zerodim', 'parameter', 'nested', 'legacy', 'proto4']) {
    m.loadTorchSync(path.join(dir, `${f}.pt`), { strict: true });
  }
  for (const f of ['userclass.pt', 'proto5.pt']) {
    try {
      m.loadTorchSync(path.join(dir, f), { strict: true });
      assert.unreachable();
    } catch (e) {
      assert.is(e.code, 'E_BAD_FILE');
      assert.match(e.message, /refuses global (__main__\.ToyConfig|numpy\.|__builtin__\.set)/);
    }
  }
});

test('safetensors written by Python reads with metadata and lazy tensors', () => {
  const { tensors, metadata } = m.loadSafetensorsSync(path.join(dir, 'model.safetensors'));
  const exp = expected['model.safetensors'];
  assert.equal(metadata, exp.metadata);
  assert.equal([...tensors.keys()], Object.keys(exp.tensors));
  for (const [k, e] of Object.entries(exp.tensors)) matches(tensors.get(k), e, k);
});

const ROUND_TRIP = ['dtypes', 'views', 'zerodim', 'adamw', 'model', 'nested', 'parameter', 'legacy', 'proto4'];

if (!torchOk) console.log('  skipping the PyTorch round trip: /usr/bin/python3 cannot import torch');
(torchOk ? test : test.skip)('PyTorch reads back exactly what it wrote after a load + save here (torch.load weights_only)', () => {
  // MYPT_KEEP_ROUNDTRIP=DIR keeps the files (to run the check with another PyTorch, e.g. 2.x)
  const keep = process.env.MYPT_KEEP_ROUNDTRIP;
  const out = keep ? (fs.mkdirSync(keep, { recursive: true }), keep) : tempDir('mypt-rt-');
  try {
    for (const name of ROUND_TRIP) {
      const v = m.loadTorchSync(path.join(dir, `${name}.pt`), { keepFloatType: true });
      m.saveTorchSync(path.join(out, `${name}.pt`), v);
    }
    // values made here, described in JSON for Python to compare
    const shared = new Float32Array([0.5, -1.25, 3, 4]);
    const value = new m.PyDict([
      ['f32', { dtype: 'float32', shape: [2, 2], data: shared }],
      ['tied', { dtype: 'float32', shape: [4], data: shared }],
      ['f64', { dtype: 'float64', shape: [2], data: new Float64Array([Math.PI, -0]) }],
      ['f16', { dtype: 'float16', shape: [3], data: m.float32ToFloat16(new Float32Array([1, -2.5, 65504])) }],
      ['bf16', { dtype: 'bfloat16', shape: [1, 2], data: m.float32ToBfloat16(new Float32Array([0.1, -3])) }],
      ['i64', { dtype: 'int64', shape: [3], data: new BigInt64Array([1n, -(2n ** 63n), 2n ** 53n + 1n]) }],
      ['i32', { dtype: 'int32', shape: [], data: new Int32Array([-7]) }],
      ['i16', { dtype: 'int16', shape: [2], data: new Int16Array([-32768, 32767]) }],
      ['i8', { dtype: 'int8', shape: [2], data: new Int8Array([-128, 127]) }],
      ['u8', { dtype: 'uint8', shape: [2], data: new Uint8Array([0, 255]) }],
      ['b', { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) }],
      ['state', new m.PyDict([[0, { step: { dtype: 'float32', shape: [], data: new Float32Array([3]) } }], [7, null]])],
      ['plain', { lr: 0.001, one: new m.PyFloat(1), negz: -0, big: 2n ** 70n, neg: -(2 ** 40), list: [1, 'two', [true, false]], t: m.PyTuple.make(1, 2, 3, 4, 5) }],
      ['size', m.TorchSize.make(2, 3)],
      ['text', 'héllo ✓ 𝄞'],
    ]);
    m.saveTorchSync(path.join(out, 'jsmade.pt'), value);
    fs.writeFileSync(path.join(out, 'jsmade.expect.json'), JSON.stringify(describe(value)));
    // safetensors: the Python-written one re-saved, and one made here
    const st = m.loadSafetensorsSync(path.join(dir, 'model.safetensors'));
    m.saveSafetensorsSync(path.join(out, 'model.safetensors'), st.tensors, st.metadata);
    fs.writeFileSync(path.join(out, 'model.safetensors.expect.json'), JSON.stringify(expected['model.safetensors']));
    const views = m.loadTorchSync(path.join(dir, 'views.pt'));
    const tensors = { sliced: views.get('sliced'), transposed: views.get('transposed'), b: value.get('b'), h: value.get('bf16') };
    m.saveSafetensorsSync(path.join(out, 'jsmade.safetensors'), tensors, { made: 'here' });
    fs.writeFileSync(path.join(out, 'jsmade.safetensors.expect.json'), JSON.stringify({
      metadata: { made: 'here' },
      tensors: Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, describe({ dtype: t.dtype, shape: t.shape, data: t.data })])),
    }));
    const r = spawnSync(PY, [script, 'check', out], { encoding: 'utf8' });
    if (r.status !== 0 || process.env.MYPT_VERBOSE) console.log(r.stdout, r.stderr);
    assert.is(r.status, 0, 'python check failed');
    assert.match(r.stdout, new RegExp(`checked ${ROUND_TRIP.length + 3} files`));
  } finally {
    if (!keep) fs.rmSync(out, { recursive: true, force: true });
  }
});

test.run();
