// Generation: seeded sampling, greedy = argmax of the full forward, and the KV-cache path agreeing with
// a reference loop (full forward of the cropped context + the same sampler re-implemented here).
const { test } = require('uvu');
const assert = require('uvu/assert');
const mypt = require('../lib');

// splitmix64 (binding/engine/dropout.h) and Rng (binding/engine/sampling.cc), in BigInt
const M64 = (1n << 64n) - 1n;
function mix64(z) {
  z = (z + 0x9e3779b97f4a7c15n) & M64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}
function rng(seed) {
  let count = 0n;
  const s = BigInt(seed);
  return () => Number(mix64(s ^ mix64(count++)) >> 11n) / 2 ** 53;
}

// temperature -> top_k -> top_p -> draw (engine.h SampleParams)
function sample(logits, { temperature = 1, top_k = 0, top_p = 1 }, uniform) {
  const V = logits.length;
  if (temperature <= 0) return logits.indexOf(Math.max(...logits));
  const l = Array.from(logits, (v) => Math.fround(v / temperature));
  const kth = top_k > 0 && top_k < V ? [...l].sort((a, b) => b - a)[top_k - 1] : -Infinity;
  const m = Math.max(...l);
  let p = l.map((v) => (v < kth ? 0 : Math.exp(v - m)));
  const sum = p.reduce((a, b) => a + b, 0);
  p = p.map((v) => v / sum);
  if (top_p < 1) {
    const order = [...p.keys()].sort((a, b) => p[b] - p[a] || a - b);
    let cum = 0, keep = 0;
    while (keep < V && (keep === 0 || cum < top_p)) cum += p[order[keep++]];
    order.slice(keep).forEach((j) => { p[j] = 0; });
    order.slice(0, keep).forEach((j) => { p[j] /= cum; });
  }
  const u = uniform();
  let acc = 0, last = 0;
  for (let j = 0; j < V; j++) {
    if (p[j] <= 0) continue;
    acc += p[j];
    last = j;
    if (u < acc) return j;
  }
  return last;
}

async function reference(model, prompt, opts) {
  const ctx = [...prompt], out = [], uniform = rng(opts.seed);
  const B = model.config.block_size, V = model.config.vocab_size;
  for (let s = 0; s < opts.max_new_tokens; s++) {
    const win = ctx.slice(-B);
    const { logits } = await model.forward([win]);
    const id = sample(logits.subarray((win.length - 1) * V, win.length * V), opts, uniform);
    ctx.push(id);
    out.push(id);
  }
  return out;
}

const configs = {
  mypt: { vocab_size: 23, block_size: 8, n_layer: 2, n_head: 2, n_embd: 16, seed: 3 },
  gpt2: { vocab_size: 23, block_size: 8, n_layer: 2, n_head: 4, n_embd: 16, arch: 'gpt2', init: 'pytorch', seed: 4 },
};

for (const [name, cfg] of Object.entries(configs)) {
  const cases = [
    { max_new_tokens: 20, temperature: 0, seed: 1 },
    { max_new_tokens: 20, temperature: 1, seed: 7 },
    { max_new_tokens: 20, temperature: 0.8, top_k: 5, seed: 8 },
    { max_new_tokens: 20, temperature: 1.2, top_p: 0.7, seed: 9 },
  ];
  for (const opts of cases) {
    test(`${name}: generate (KV cache, crop past block_size) equals the full-forward loop ${JSON.stringify(opts)}`, async () => {
      const model = mypt.createModel(cfg);
      const prompt = [1, 2, 3];
      const ids = await model.generate(prompt, opts);
      assert.is(ids.length, opts.max_new_tokens);
      assert.equal(ids, await reference(model, prompt, opts));
      model.dispose();
    });
  }
}

test('a prompt longer than block_size is cropped to its last block_size tokens', async () => {
  const model = mypt.createModel(configs.gpt2);
  const prompt = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8];
  const opts = { max_new_tokens: 6, temperature: 0.9, seed: 5 };
  assert.equal(await model.generate(prompt, opts), await reference(model, prompt, opts));
  assert.equal(await model.generate(prompt, opts), await model.generate(prompt.slice(-8), opts));
});

test('same seed, same ids; another seed, other ids; onToken streams every id in order', async () => {
  const model = mypt.createModel(configs.mypt);
  const streamed = [];
  const a = await model.generate([5], { max_new_tokens: 30, seed: 42, onToken: (id) => streamed.push(id) });
  const b = await model.generate(Int32Array.from([5]), { max_new_tokens: 30, seed: 42 });
  const c = await model.generate([5], { max_new_tokens: 30, seed: 43 });
  assert.equal(a, b);
  assert.equal(streamed, a);
  assert.not.equal(c, a);
});

test('an AbortSignal stops generation early; a throwing onToken rejects', async () => {
  const model = mypt.createModel({ ...configs.mypt, block_size: 64 });
  const ctl = new AbortController();
  let seen = 0;
  const ids = await model.generate([1], { max_new_tokens: 5000, signal: ctl.signal, onToken: () => { if (++seen === 3) ctl.abort(); } });
  assert.ok(ids.length < 5000, `stopped after ${ids.length}`);
  let err;
  try {
    await model.generate([1], { max_new_tokens: 50, onToken: () => { throw new Error('callback failed'); } });
  } catch (e) {
    err = e;
  }
  assert.ok(err && err.message === 'callback failed');
});

test.run();
