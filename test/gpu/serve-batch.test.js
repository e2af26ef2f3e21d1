// Continuous batching on the GPU (cuda/gpt_slots.cu through engine/decoder.h): many sequences decoded
// together give the tokens generate() gives each alone (fp32: greedy equal to the CPU's, sampled equal to
// the GPU's generate with the same seed), across joins, long prompts and windows past block_size; and the
// server answers 32 streaming clients in full on the GPU with batching on. Throughput: bench --suite serve
// --device cuda. Every test is skipped, with the reason printed, where no GPU is usable.
const { test } = require('uvu');
const assert = require('uvu/assert');
const mypt = require('../../lib');

const backends = mypt.backends();
const gpu = backends.cuda;
const maybe = gpu ? test : test.skip;
if (!gpu) console.log(`  skipping the GPU batching tests: ${backends.cudaReason || 'no CUDA device'}`);

const config = { vocab_size: 64, block_size: 32, n_layer: 2, n_head: 4, n_embd: 64, seed: 3 };
function prompts(n) {
  let s = 7;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31);
  return Array.from({ length: n }, (_, i) => Array.from({ length: 1 + (i * 7) % 40 }, () => next() % 64));
}

maybe('cuda fp32 decoder, 8 slots, 16 sequences: greedy equal to the CPU, sampled equal to generate()', async () => {
  const cpu = mypt.createModel({ ...config, device: 'cpu' });
  const cuda = mypt.createModel({ ...config, device: 'cuda', precision: 'fp32' });
  cuda.setParameters(cpu.getParameters());
  const dec = cuda.openDecoder(8);
  const ps = prompts(16);
  const greedy = await Promise.all(ps.map((p, i) => dec.generate(p, { max_new_tokens: 10 + i * 3, temperature: 0 })));
  for (let i = 0; i < ps.length; i++) assert.equal(greedy[i], await cpu.generate(ps[i], { max_new_tokens: 10 + i * 3, temperature: 0 }), `greedy ${i}`);
  const opts = (i) => ({ max_new_tokens: 40, temperature: 0.9, top_k: i % 2 ? 10 : 0, top_p: i % 3 ? 0.9 : 1, seed: 50 + i });
  const sampled = await Promise.all(ps.map((p, i) => dec.generate(p, opts(i))));
  for (let i = 0; i < ps.length; i++) assert.equal(sampled[i], await cuda.generate(ps[i], opts(i)), `sampled ${i}`);
  cpu.dispose();
  cuda.dispose();
});

maybe('cuda bf16 decoder: every sequence complete, ids in the vocabulary, a cancelled one stops early', async () => {
  const cuda = mypt.createModel({ ...config, device: 'cuda', precision: 'bf16' });
  const dec = cuda.openDecoder(4);
  const stop = new AbortController();
  let n = 0;
  const cut = dec.generate([1, 2], { max_new_tokens: 500, seed: 1, signal: stop.signal, onToken: () => { if (++n === 5) stop.abort(); } });
  const all = await Promise.all(prompts(10).map((p, i) => dec.generate(p, { max_new_tokens: 20 + i, seed: i })));
  all.forEach((ids, i) => {
    assert.is(ids.length, 20 + i);
    assert.ok(ids.every((t) => Number.isInteger(t) && t >= 0 && t < 64));
  });
  assert.ok((await cut).length < 500);
  cuda.dispose();
});

maybe('serve on the GPU: batching on, 32 streaming clients answered in full, seeded text equal to generate()', async () => {
  const tok = mypt.createTokenizer('char', Array.from({ length: 64 }, (_, i) => String.fromCharCode(32 + i)).join(''));
  const model = mypt.createModel({ ...config, block_size: 256, device: 'cuda', precision: 'fp32' }, { tokenizer: tok });
  const s = await mypt.serve({ model, port: 0, max_batch: 32 });
  try {
    const h = await (await fetch(`${s.url}/health`)).json();
    assert.is(h.batching, 32);
    const one = async (i) => {
      const res = await fetch(`${s.url}/v1/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'ABC', max_tokens: 100, seed: i, stream: true }),
      });
      const text = await res.text();
      const events = text.split('\n\n').filter(Boolean);
      assert.is(events[events.length - 1], 'data: [DONE]');
      return events.slice(0, -1).map((e) => JSON.parse(e.slice(6)).choices[0].text).join('');
    };
    const texts = await Promise.all(Array.from({ length: 32 }, (_, i) => one(i)));
    texts.forEach((t) => assert.is(t.length, 100));
    for (const i of [0, 31]) assert.is(texts[i], await model.generate('ABC', { max_new_tokens: 100, seed: i }));
  } finally {
    await s.close();
    model.dispose();
  }
});

// A lone sequence runs generate()'s own kernels on its slot (cuda/gpt_slots.cu step_alone), in steady state
// as a CUDA graph: in bf16, where the batched kernels may differ in the last bits, its ids are generate()'s
// exactly; across prompt lengths, a window past block_size, new parameters between runs (the graph of the
// previous run is dropped) and a sequence left alone in slot 1 after its neighbour in slot 0 ended.
maybe('cuda bf16 decoder, one sequence at a time: ids equal generate() exactly', async () => {
  const cuda = mypt.createModel({ ...config, device: 'cuda', precision: 'bf16' });
  const dec = cuda.openDecoder(4);
  const cases = [[1], [5, 9, 2, 7, 1], prompts(6)[5], Array.from({ length: 40 }, (_, i) => (i * 11) % 64)];
  const opts = [{ max_new_tokens: 50, temperature: 0 }, { max_new_tokens: 50, temperature: 0.9, top_k: 20, seed: 4 },
    { max_new_tokens: 3, temperature: 1, seed: 9 }];
  const check = async (tag) => {
    for (const [i, p] of cases.entries()) {
      for (const [j, o] of opts.entries()) assert.equal(await dec.generate(p, o), await cuda.generate(p, o), `${tag} prompt ${i} opts ${j}`);
    }
  };
  await check('first');
  const other = mypt.createModel({ ...config, seed: 11, device: 'cpu' });
  cuda.setParameters(other.getParameters());
  await check('new parameters');
  other.dispose();
  cuda.dispose();
});

maybe('cuda fp32 decoder: a sequence left alone in slot 1, then one in slot 0, equal generate()', async () => {
  const cuda = mypt.createModel({ ...config, device: 'cuda', precision: 'fp32' });
  const dec = cuda.openDecoder(4);
  const o = (n, seed) => ({ max_new_tokens: n, temperature: 0.8, seed });
  const [a, b] = await Promise.all([dec.generate([3], o(4, 1)), dec.generate([4, 5], o(60, 2))]);
  assert.equal(a, await cuda.generate([3], o(4, 1)));
  assert.equal(b, await cuda.generate([4, 5], o(60, 2)));
  assert.equal(await dec.generate([6], o(60, 3)), await cuda.generate([6], o(60, 3)));
  cuda.dispose();
});

test.run();
