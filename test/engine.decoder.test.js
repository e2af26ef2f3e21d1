// The multi-slot decoder (continuous batching, binding/engine/decoder.h + binding/cpu/decoder.cc): many
// sequences decoded together give each one exactly the ids generate() gives it alone with the same
// settings (engine.generate.test.js ties generate() to a full-forward reference loop), whether they join
// together or later, with short prompts (the few-rows path), long ones (GEMM), prompts and completions past
// block_size (the window recomputed), greedy or sampled; cancelling one leaves the others as they were.
const { test } = require('uvu');
const assert = require('uvu/assert');
const mypt = require('../lib');

const configs = {
  mypt: { vocab_size: 50, block_size: 16, n_layer: 2, n_head: 2, n_embd: 40, seed: 3 },
  gpt2: { vocab_size: 50, block_size: 16, n_layer: 2, n_head: 4, n_embd: 48, arch: 'gpt2', init: 'pytorch', seed: 4 },
};

function prompts(n, seed) {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31);
  return Array.from({ length: n }, (_, i) => Array.from({ length: 1 + (i * 7) % 21 }, () => next() % 50));
}
const settings = (i) => ({
  max_new_tokens: 3 + (i * 5) % 24, seed: 100 + i,
  ...[{ temperature: 0 }, { temperature: 1 }, { temperature: 0.8, top_k: 5 }, { temperature: 1.1, top_p: 0.6 }][i % 4],
});

for (const [name, cfg] of Object.entries(configs)) {
  for (const slots of [1, 3, 8]) {
    test(`${name}, ${slots} slots: 12 sequences at once, each equal to generate() alone`, async () => {
      const model = mypt.createModel(cfg);
      const dec = model.openDecoder(slots);
      assert.is(dec.slots, slots);
      const ps = prompts(12, slots + 1);
      const streamed = ps.map(() => []);
      const got = await Promise.all(ps.map((p, i) => dec.generate(p, { ...settings(i), onToken: (id) => streamed[i].push(id) })));
      for (let i = 0; i < ps.length; i++) {
        const want = await model.generate(ps[i], settings(i));
        assert.equal(got[i], want, `sequence ${i} (prompt of ${ps[i].length})`);
        assert.equal(streamed[i], want);
      }
      assert.is(dec.pending, 0);
      model.dispose();
    });
  }
}

test('sequences that join a running batch later, and one cancelled midway, leave the others unchanged', async () => {
  const model = mypt.createModel(configs.mypt);
  const dec = model.openDecoder(4);
  const ps = prompts(6, 9);
  const long = { max_new_tokens: 200, temperature: 1, seed: 1 };
  const first = dec.generate(ps[0], long);
  const stop = new AbortController();
  let seen = 0;
  const cut = dec.generate(ps[1], { ...long, seed: 2, signal: stop.signal, onToken: () => { if (++seen === 10) stop.abort(); } });
  const later = [];
  await new Promise((r) => setTimeout(r, 1));
  for (let i = 2; i < 6; i++) later.push(dec.generate(ps[i], settings(i)));
  assert.equal(await first, await model.generate(ps[0], long));
  const partial = await cut;
  assert.ok(partial.length >= 10 && partial.length < 200, `cancelled after ${partial.length}`);
  assert.equal(partial, (await model.generate(ps[1], { ...long, seed: 2 })).slice(0, partial.length));
  const rest = await Promise.all(later);
  for (let i = 2; i < 6; i++) assert.equal(rest[i - 2], await model.generate(ps[i], settings(i)));
  model.dispose();
});

test('bad input: slots out of range, a token outside the vocabulary, an empty prompt; max_new_tokens 0', async () => {
  const model = mypt.createModel(configs.mypt);
  for (const s of [0, -1, 1.5]) {
    try { model.openDecoder(s); assert.unreachable(); } catch (e) { assert.is(e.code, 'E_BAD_ARGUMENT'); }
  }
  const dec = model.openDecoder(2);
  try { await dec.generate([1, 50], { max_new_tokens: 3 }); assert.unreachable(); } catch (e) {
    assert.is(e.code, 'E_BAD_ARGUMENT');
    assert.match(e.message, /outside the vocabulary/);
  }
  try { await dec.generate([], { max_new_tokens: 3 }); assert.unreachable(); } catch (e) { assert.is(e.code, 'E_BAD_ARGUMENT'); }
  assert.equal(await dec.generate([1], { max_new_tokens: 0 }), []);
  // still works after the refusals
  assert.equal(await dec.generate([1, 2], { max_new_tokens: 5, seed: 3 }), await model.generate([1, 2], { max_new_tokens: 5, seed: 3 }));
  model.dispose();
});

test.run();
