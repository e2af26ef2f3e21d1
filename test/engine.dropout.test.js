// Dropout: off in eval, seeded and reproducible in training, masks at the requested rate.
const { test } = require('uvu');
const assert = require('uvu/assert');
const mypt = require('../lib');
const { loadAddon } = require('../lib/native');

const base = { vocab_size: 17, block_size: 8, n_layer: 2, n_head: 2, n_embd: 16 };
const x = [[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16]];
const y = [[2, 3, 4, 5, 6, 7, 8, 9], [10, 11, 12, 13, 14, 15, 16, 0]];

function pair(extra, seed = 5) {
  const plain = mypt.createModel({ ...base, ...extra, dropout: 0, seed });
  const drop = mypt.createModel({ ...base, ...extra, dropout: 0.3, seed });
  drop.setParameters(plain.getParameters());
  return { plain, drop };
}

for (const arch of ['mypt', 'gpt2']) {
  test(`${arch}: eval (forward, loss, train=false) ignores dropout`, async () => {
    const { plain, drop } = pair({ arch });
    const a = await plain.forward(x), b = await drop.forward(x);
    assert.equal(Array.from(b.logits), Array.from(a.logits));
    const l0 = await plain.loss(x, y);
    assert.is(await drop.loss(x, y), l0);
    assert.is(await drop.forwardBackward(x, y, { train: false }), l0);
  });

  test(`${arch}: training applies dropout; the same seed gives the same masks, call after call`, async () => {
    const one = pair({ arch }, 11), two = pair({ arch }, 11), other = pair({ arch }, 12);
    const evalLoss = await one.drop.loss(x, y);
    const a1 = await one.drop.forwardBackward(x, y), a2 = await one.drop.forwardBackward(x, y);
    const b1 = await two.drop.forwardBackward(x, y), b2 = await two.drop.forwardBackward(x, y);
    const c1 = await other.drop.forwardBackward(x, y);
    assert.ok(Math.abs(a1 - evalLoss) > 1e-4, 'train loss differs from eval loss');
    assert.ok(a1 !== a2, 'each training pass draws new masks');
    assert.is(b1, a1);
    assert.is(b2, a2);
    assert.ok(c1 !== a1, 'another seed, other masks');
    const ga = one.drop.getGradients(), gb = two.drop.getGradients();
    for (const k of Object.keys(ga)) assert.equal(Array.from(gb[k].data), Array.from(ga[k].data), k);
  });
}

test('dropout masks keep 1 - p of the elements, independent of seed and offset', () => {
  const addon = loadAddon();
  for (const p of [0.1, 0.5]) {
    const m = addon.dropoutMask(1 << 20, p, 1234, 0);
    let kept = 0;
    for (const v of m) kept += v;
    const rate = kept / m.length;
    assert.ok(Math.abs(rate - (1 - p)) < 0.003, `p=${p}: kept ${rate}`);
  }
  const a = addon.dropoutMask(4096, 0.5, 1, 0), b = addon.dropoutMask(4096, 0.5, 2, 0), c = addon.dropoutMask(4096, 0.5, 1, 1);
  let same = 0, shifted = 0;
  for (let i = 0; i < 4096; i++) { same += a[i] === b[i] ? 1 : 0; shifted += i + 1 < 4096 && c[i] === a[i + 1] ? 1 : 0; }
  assert.ok(same > 1800 && same < 2300, 'another seed is an unrelated mask');
  assert.is(shifted, 4095, 'the offset shifts the counter');
  assert.equal(Array.from(addon.dropoutMask(16, 0, 9, 0)), new Array(16).fill(1), 'p = 0 keeps all');
});

test('the expected training loss over many masks is near the eval loss scale (inverted dropout)', async () => {
  // with inverted dropout the activations keep their mean: the mean train loss stays near the eval
  // loss, far from what an unscaled mask (x * 0.7) gives
  const { drop } = pair({ arch: 'mypt' }, 3);
  const evalLoss = await drop.loss(x, y);
  let sum = 0;
  const n = 40;
  for (let i = 0; i < n; i++) sum += await drop.forwardBackward(x, y);
  assert.ok(Math.abs(sum / n - evalLoss) < 0.35 * evalLoss, `mean train loss ${sum / n} vs eval ${evalLoss}`);
});

test.run();
