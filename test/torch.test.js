// Round trips of saveTorch/loadTorch in JS alone (fixtures from PyTorch: torch.fixtures.test.js).
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const m = require('../lib');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-torch-'));
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

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
