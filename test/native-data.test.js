// Batches sampled natively (engine/data.h) against TypeScript's sampler (src/data/batches.ts), the
// trainBatch / estimateLoss that use them, and token files mapped with mapTokens.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { loadAddon } = require('../lib/native');
const { CounterRng, sampleBatch, dropoutSeed, STREAM_TRAIN, STREAM_EVAL_VAL } = require('../lib/data/batches');

const addon = loadAddon();
const V = 61;
const config = (dropout) => ({
  vocab_size: V, block_size: 12, n_layer: 2, n_head: 2, n_embd: 16, mlp_hidden: 0, dropout, activation: 'gelu',
  qkv_bias: true, proj_bias: true, mlp_bias: true, ln_bias: true, tied_head: false, head_bias: true,
  embd_dropout: true, attn_scale: 0, ln_eps: 1e-5,
});
const adamw = { lr: 3e-3, weight_decay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, grad_clip: 1.0 };
const tokens = Int32Array.from({ length: 4000 }, (_, i) => (i * 37 + (i >> 4) * 11 + ((i * i) % 7)) % V);

// Two models with the same parameters.
function twins(dropout, seed = 3) {
  const a = new addon.NativeModel(config(dropout), 'cpu', 0, 'fp32');
  a.initParameters('pytorch', seed);
  const b = new addon.NativeModel(config(dropout), 'cpu', 0, 'fp32');
  b.setParameters(a.getParameters());
  return [a, b];
}

const same = (a, b, what) => assert.ok(Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength),
  Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0, `${what} differ`);

function relErr(a, b) {
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) { d += (a[i] - b[i]) ** 2; n += b[i] ** 2; }
  return Math.sqrt(d / n);
}

function withFile(bytes, fn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-tokens-'));
  const file = path.join(dir, 'tokens.bin');
  fs.writeFileSync(file, bytes);
  return Promise.resolve()
    .then(() => fn(file))
    .finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

// uint16 tokens after `header` bytes of something else
function uint16File(ids, header = 256) {
  const buf = Buffer.alloc(header + 2 * ids.length, 0xab);
  for (let i = 0; i < ids.length; i++) buf.writeUInt16LE(ids[i], header + 2 * i);
  return buf;
}

test('sampleBatch: the native windows are the TypeScript ones (seeds and counters past 2^32, uint16)', () => {
  const u16 = Uint16Array.from({ length: 70001 }, (_, i) => (i * 7919 + (i >> 3)) % 65536);
  const cases = [
    [0, STREAM_TRAIN, 0], [1337, STREAM_TRAIN, 1], [1337, 2, 41], [7, STREAM_EVAL_VAL, 2 ** 32 + 5],
    [2 ** 40 + 123, 4, 2 ** 52 + 1], [2 ** 53, 1, 2 ** 53], [4294967295, 9, 4294967296],
  ];
  for (const [seed, stream, counter] of cases) {
    for (const data of [tokens, u16]) {
      const B = 5, T = 17;
      const want = sampleBatch(Int32Array.from(data), B, T, new CounterRng(seed, stream, counter));
      const got = addon.sampleBatch(data, B, T, seed, stream, counter);
      assert.equal(Array.from(got.x), Array.from(want.tokens.data), `x of ${seed}/${stream}/${counter}`);
      assert.equal(Array.from(got.y), Array.from(want.targets.data), `y of ${seed}/${stream}/${counter}`);
    }
  }
  // the shortest data: one window only
  const tiny = Int32Array.from([4, 5, 6]);
  assert.equal(Array.from(addon.sampleBatch(tiny, 2, 2, 9, 1, 0).x), [4, 5, 4, 5]);
  assert.throws(() => addon.sampleBatch(tiny, 1, 3, 9, 1, 0), /holds 3 tokens; a batch of block_size 3 needs at least 4/);
});

test('trainBatch (grad_accum 1) is setSeed(dropoutSeed) + trainStep on the TypeScript batch, bit for bit', async () => {
  const [a, b] = twins(0.2);
  a.setData('train', tokens);
  const seed = 1234, B = 3, T = 12;
  for (const step of [0, 1, 2 ** 33 + 7]) {
    const r = await a.trainBatch({ ...adamw, batch_size: B, block_size: T, grad_accum: 1, seed, step });
    const batch = sampleBatch(tokens, B, T, new CounterRng(seed, STREAM_TRAIN, step));
    b.setSeed(dropoutSeed(seed, step));
    const s = await b.trainStep(batch.tokens.data, batch.targets.data, B, T, adamw);
    assert.is(r.loss, s.loss, `loss at step ${step}`);
    assert.is(r.gradNorm, s.gradNorm, `norm at step ${step}`);
    same(a.getParameters(), b.getParameters(), `parameters after step ${step}`);
  }
  // the dropout seed matters here: another one gives another loss
  const [c] = twins(0.2);
  const batch = sampleBatch(tokens, B, T, new CounterRng(seed, STREAM_TRAIN, 0));
  c.setSeed(dropoutSeed(seed, 1));
  const other = await c.trainStep(batch.tokens.data, batch.targets.data, B, T, adamw);
  const [d] = twins(0.2);
  d.setData('train', tokens);
  const first = await d.trainBatch({ ...adamw, batch_size: B, block_size: T, grad_accum: 1, seed, step: 0 });
  assert.not.equal(other.loss, first.loss);
});

test('trainBatch with grad_accum 2 is one forward_backward over both micro-batches (fp32 tolerance)', async () => {
  const [a, b] = twins(0);
  a.setData('train', tokens);
  const seed = 77, step = 5, B = 2, T = 12, p = { ...adamw, grad_clip: 0 };
  const r = await a.trainBatch({ ...p, batch_size: B, block_size: T, grad_accum: 2, seed, step });
  const m0 = sampleBatch(tokens, B, T, new CounterRng(seed, STREAM_TRAIN, step * 2));
  const m1 = sampleBatch(tokens, B, T, new CounterRng(seed, STREAM_TRAIN, step * 2 + 1));
  const cat = (u, v) => { const o = new Int32Array(u.length + v.length); o.set(u); o.set(v, u.length); return o; };
  const x = cat(m0.tokens.data, m1.tokens.data), y = cat(m0.targets.data, m1.targets.data);
  const loss = await b.forwardBackward(x, y, 2 * B, T, true, 1, false);
  const norm = await b.optimizerStep(p);
  assert.ok(Math.abs(r.loss - loss) < 1e-5 * loss, `loss ${r.loss} vs ${loss}`);
  assert.ok(Math.abs(r.gradNorm - norm) < 1e-5 * norm, `norm ${r.gradNorm} vs ${norm}`);
  const e = relErr(a.getGradients(), b.getGradients());
  assert.ok(e < 1e-5, `gradients differ by ${e}`);
  // and not the gradient of one micro-batch alone
  const [c] = twins(0);
  await c.forwardBackward(m0.tokens.data, m0.targets.data, B, T, true, 1, false);
  assert.ok(relErr(c.getGradients(), b.getGradients()) > 1e-2);
});

test('trainBatches(lrs) is one trainBatch per learning rate, bit for bit (dropout, grad_accum 2, its own lr each)', async () => {
  const [a, b] = twins(0.2);
  a.setData('train', tokens);
  b.setData('train', tokens);
  const o = { ...adamw, batch_size: 2, block_size: 12, grad_accum: 2, seed: 9 };
  const lrs = [3e-3, 2e-3, 1e-3, 5e-4];
  const run = await a.trainBatches({ ...o, step: 4, lrs });
  assert.is(run.losses.length, lrs.length);
  for (let k = 0; k < lrs.length; k++) {
    const r = await b.trainBatch({ ...o, lr: lrs[k], step: 4 + k });
    assert.is(run.losses[k], r.loss, `loss of step ${4 + k}`);
    assert.is(run.gradNorms[k], r.gradNorm, `norm of step ${4 + k}`);
  }
  same(a.getParameters(), b.getParameters(), 'parameters after the run');
  // the learning rates are each step's own: one rate for all gives other parameters
  const [c] = twins(0.2);
  c.setData('train', tokens);
  await c.trainBatches({ ...o, step: 4, lrs: lrs.map(() => lrs[0]) });
  assert.ok(relErr(c.getParameters(), a.getParameters()) > 1e-4);
  // without step, the run continues the count trainBatch keeps
  const [d, e] = twins(0);
  d.setData('train', tokens);
  e.setData('train', tokens);
  await d.trainBatch({ ...o, lr: 1e-3 });
  const auto = await d.trainBatches({ ...o, lrs: [1e-3, 1e-3] });
  await e.trainBatch({ ...o, lr: 1e-3, step: 0 });
  await e.trainBatch({ ...o, lr: 1e-3, step: 1 });
  const last = await e.trainBatch({ ...o, lr: 1e-3, step: 2 });
  assert.is(auto.losses[1], last.loss);
  // a run longer than one engine call takes (64 steps) is the same steps
  const [f, g] = twins(0.1);
  f.setData('train', tokens);
  g.setData('train', tokens);
  const long = Array.from({ length: 70 }, (_, k) => 1e-3 * (1 - k / 100));
  const lr70 = await f.trainBatches({ ...o, grad_accum: 1, step: 0, lrs: long });
  for (let k = 0; k < long.length; k++) {
    const r = await g.trainBatch({ ...o, grad_accum: 1, lr: long[k], step: k });
    assert.is(lr70.losses[k], r.loss, `loss of step ${k} of 70`);
  }
  same(f.getParameters(), g.getParameters(), 'parameters after 70 steps');
  let fail = null;
  try { await d.trainBatches({ ...o, lrs: [1e-3, 'x'] }); } catch (err) { fail = err; }
  assert.ok(fail, 'a bad learning rate is refused');
  assert.match(fail.message, /lrs\[1\] is not a learning rate >= 0/);
});

test('estimateLoss(split, iters, B, T, seed, counter0) is the TypeScript loop over model.loss', async () => {
  const [a] = twins(0.2);
  a.setData('val', tokens.subarray(0, 900));
  const seed = 5, iters = 3, B = 2, T = 10, counter0 = 4 * iters;
  let s = 0;
  for (let k = 0; k < iters; k++) {
    const batch = sampleBatch(tokens.subarray(0, 900), B, T, new CounterRng(seed, STREAM_EVAL_VAL, counter0 + k));
    s += await a.loss(batch.tokens.data, batch.targets.data, B, T);
  }
  assert.is(await a.estimateLoss('val', iters, B, T, seed, counter0), s / iters);
  assert.not.equal(await a.estimateLoss('val', iters, B, T, seed, counter0 + 1), s / iters);
});

test('setData takes a Uint16Array and a range (start, count) as well as an Int32Array', async () => {
  const [a, b] = twins(0.1);
  const u16 = Uint16Array.from(tokens);
  a.setData('train', u16, 100, 2000);
  b.setData('train', tokens.subarray(100, 2100));
  const o = { ...adamw, batch_size: 2, block_size: 12, grad_accum: 1, seed: 8, step: 3 };
  const ra = await a.trainBatch(o), rb = await b.trainBatch(o);
  assert.is(ra.loss, rb.loss);
  same(a.getParameters(), b.getParameters(), 'parameters');
  const fail = (fn) => { try { fn(); } catch (e) { return e; } assert.unreachable('no error'); };
  const e = fail(() => a.setData('train', u16, 3990, 20));
  assert.is(e.code, 'E_BAD_ARGUMENT');
  assert.match(e.message, /tokens 3990..4010 are outside the Uint16Array \(4000 tokens\)/);
  const bad = fail(() => a.setData('val', Uint16Array.from([1, 2, 300])));
  assert.is(bad.code, 'E_BAD_ARGUMENT');
  assert.match(bad.message, /^val data: token 300 at index 2 of the Uint16Array is outside the vocabulary 0..60$/);
});

test('mapTokens: a uint16 file trains exactly like the same tokens as a Uint16Array, and outlives close()', async () => {
  const ids = Array.from(tokens);
  await withFile(uint16File(ids, 256), async (file) => {
    const map = addon.mapTokens(file, 256, ids.length, 'uint16');
    assert.is(map.length, ids.length);
    assert.is(map.dtype, 'uint16');
    assert.is(map.path, file);
    const [a, b] = twins(0.1);
    a.setData('train', map);
    b.setData('train', Uint16Array.from(ids));
    const o = (step) => ({ ...adamw, batch_size: 3, block_size: 12, grad_accum: 2, seed: 21, step });
    for (const step of [0, 1]) {
      const ra = await a.trainBatch(o(step)), rb = await b.trainBatch(o(step));
      assert.is(ra.loss, rb.loss, `loss at step ${step}`);
    }
    // the model's data keeps the mapping after the handle is closed
    map.close();
    const ra = await a.trainBatch(o(2)), rb = await b.trainBatch(o(2));
    assert.is(ra.loss, rb.loss);
    same(a.getParameters(), b.getParameters(), 'parameters');
    // sampleBatch reads a map like an array, and a sub-range of it like the sub-array
    const m2 = addon.mapTokens(file, 256 + 2 * 10, 500, 'uint16');
    const want = addon.sampleBatch(Uint16Array.from(ids.slice(10, 510)), 4, 9, 3, 1, 77);
    const got = addon.sampleBatch(m2, 4, 9, 3, 1, 77);
    assert.equal(Array.from(got.x), Array.from(want.x));
    const [c] = twins(0);
    c.setData('val', m2, 50, 100);
    const d = twins(0)[0];
    d.setData('val', Uint16Array.from(ids.slice(60, 160)));
    assert.is(await c.estimateLoss('val', 2, 2, 8, 1, 0), await d.estimateLoss('val', 2, 2, 8, 1, 0));
    m2.close();
    let err;
    try { c.setData('train', m2); } catch (e) { err = e; }
    assert.is(err && err.code, 'E_DISPOSED');
  });
});

test('mapTokens: int32 files, and errors that name the file in one line', async () => {
  const ids = Int32Array.from(tokens.subarray(0, 300));
  await withFile(Buffer.from(ids.buffer), async (file) => {
    const map = addon.mapTokens(file, 0, 300, 'int32');
    assert.equal(Array.from(addon.sampleBatch(map, 3, 5, 1, 2, 3).y), Array.from(addon.sampleBatch(ids, 3, 5, 1, 2, 3).y));
    const err = (fn) => { try { fn(); } catch (e) { return e; } assert.unreachable('no error'); };
    const short = err(() => addon.mapTokens(file, 8, 300, 'int32'));
    assert.is(short.code, 'E_BAD_FILE');
    assert.ok(short.message.includes(file) && !short.message.includes('\n'), short.message);
    assert.match(short.message, /holds 1200 bytes; 300 tokens of 4 bytes from byte 8 need 1208/);
    const missing = err(() => addon.mapTokens(file + '.missing', 0, 10, 'uint16'));
    assert.is(missing.code, 'E_IO');
    assert.ok(missing.message.includes(file + '.missing') && !missing.message.includes('\n'), missing.message);
    assert.match(missing.message, /No such file or directory/);
    assert.is(err(() => addon.mapTokens(file, 2, 10, 'int32')).code, 'E_BAD_ARGUMENT');  // misaligned
    assert.is(err(() => addon.mapTokens(file, 0, 10, 'float32')).code, 'E_BAD_ARGUMENT');
    assert.is(err(() => addon.mapTokens(path.dirname(file), 0, 1, 'uint16')).code, 'E_BAD_FILE');
  });
});

test('mapTokens: an id outside the vocabulary is a clear E_BAD_ARGUMENT when its window is drawn', async () => {
  const ids = [1, 2, 3, 4, 500, 6, 7, 8, 9];  // T + 1 tokens for T = 8: the one window holds the bad id
  await withFile(uint16File(ids, 0), async (file) => {
    const map = addon.mapTokens(file, 0, ids.length, 'uint16');
    const [a] = twins(0);
    a.setData('train', map);  // not read here
    let err;
    try {
      await a.trainBatch({ ...adamw, batch_size: 1, block_size: 8, grad_accum: 1, seed: 1, step: 0 });
    } catch (e) { err = e; }
    assert.ok(err, 'trainBatch rejects');
    assert.is(err.code, 'E_BAD_ARGUMENT');
    assert.is(err.message, `train data: token 500 at index 4 of ${file} is outside the vocabulary 0..60`);
    a.setData('val', map, 5, 4);  // 6 7 8 9: fine
    assert.ok(Number.isFinite(await a.estimateLoss('val', 1, 1, 3, 1, 0)));
  });
});

test.run();
