// The modded-nanogpt models on the GPU (cuda/modded_runner.cu) against PyTorch's logits of each layout
// (test/fixtures/modded, make_modded.py) and against the CPU engine (itself checked against PyTorch in
// test/modded.test.js): fp32 within 1e-4 relative, bf16 within bf16's rounding; greedy generation through
// the growing KV cache gives the CPU's tokens. Every test is skipped, with the reason printed, where no
// GPU is usable.
const { test } = require('uvu');
const assert = require('uvu/assert');
const path = require('path');
const { loadModdedModel } = require('../../lib');
const { loadAddon } = require('../../lib/native');
const { FIX, ref, relErr } = require('../modded-util');

const backends = loadAddon().backends();
const gpu = backends.cuda;
const maybe = gpu ? test : test.skip;
if (!gpu) console.log(`  skipping the modded CUDA tests: ${backends.cudaReason || 'no CUDA device'}`);

// bf16 weights and activations against fp32 logits, on models 32 wide (nothing averages the rounding out)
const TOL = { fp32: 1e-4, bf16: 3e-2 };

// [name, fixture key, load options]
const CASES = [
  ['plain causal', 'logits', {}],
  ['document mask', 'logits_doc42', { doc_token: 42 }],
  ['document mask + sliding window', 'logits_window_b4_w4_doc42', { doc_token: 42, attn_block: 4, long_window_blocks: 4 }],
];

for (const precision of ['fp32', 'bf16']) {
  for (const kind of ['small', 'medium']) {
    for (const [what, key, opts] of CASES) {
      maybe(`cuda ${precision} ${kind}, ${what}: logits equal PyTorch's`, async () => {
        const r = ref(kind);
        const m = await loadModdedModel(path.join(FIX, `${kind}.pt`), { ...opts, device: 'cuda', precision });
        try {
          assert.ok(m.device.startsWith('cuda') && m.device.includes(precision), m.device);
          const { logits, shape } = await m.forward(r.tokens);
          assert.equal(shape, [1, r.tokens.length, r.padded_vocab]);
          const e = relErr(logits, r[key]);
          console.log(`    ${precision} ${kind} ${what}: ${e.toExponential(2)}`);
          assert.ok(e < TOL[precision], `relative error ${e}`);
        } finally {
          m.dispose();
        }
      });
    }
  }
}

maybe('cuda: the small weights under the medium forward, and the S0-era soft-cap, as PyTorch', async () => {
  const r = ref('small');
  for (const [opts, key] of [[{ forward: 'medium' }, 'logits_medium_forward'], [{ softcap: 'sigmoid30' }, 'logits_sigmoid30']]) {
    const m = await loadModdedModel(path.join(FIX, 'small.pt'), { ...opts, device: 'cuda', precision: 'fp32' });
    const e = relErr((await m.forward(r.tokens)).logits, r[key]);
    m.dispose();
    assert.ok(e < TOL.fp32, `${key}: relative error ${e}`);
  }
});

function argmaxRow(a, row, V, n) {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[row * V + j] > a[row * V + best]) best = j;
  return best;
}

// The CPU's and the GPU's greedy ids agree, or part at a genuine near-tie of the CPU's own logits.
async function assertSameGreedy(cpu, gpuIds, cpuIds, prompt, r) {
  for (let k = 0; k < cpuIds.length; k++) {
    if (gpuIds[k] === cpuIds[k]) continue;
    const seq = prompt.concat(cpuIds.slice(0, k));
    const { logits } = await cpu.forward(seq);
    const row = logits.subarray((seq.length - 1) * r.padded_vocab, seq.length * r.padded_vocab).slice(0, r.vocab);
    const sorted = Array.from(row).sort((a, b) => b - a);
    assert.ok(sorted[0] - sorted[1] < 1e-3, `step ${k}: gpu ${gpuIds[k]} vs cpu ${cpuIds[k]}, margin ${sorted[0] - sorted[1]}`);
    return k;
  }
  return cpuIds.length;
}

for (const kind of ['small', 'medium']) {
  maybe(`cuda fp32 ${kind}: greedy generation past the first cache size (1,200 tokens, windows, documents) = the CPU's`, async () => {
    const r = ref(kind);
    const opts = { doc_token: 42, attn_block: 4, long_window_blocks: 4 };
    const cpu = await loadModdedModel(path.join(FIX, `${kind}.pt`), { ...opts, device: 'cpu' });  // loaders default to 'auto'
    const g = await loadModdedModel(path.join(FIX, `${kind}.pt`), { ...opts, device: 'cuda', precision: 'fp32' });
    try {
      const prompt = r.tokens.slice(0, 8);
      const n = 1200;  // the cache starts at prompt + 1024 positions and grows once
      const seen = [];
      const gIds = await g.generate(prompt, { max_new_tokens: n, temperature: 0, onToken: (id) => seen.push(id) });
      const cIds = await cpu.generate(prompt, { max_new_tokens: n, temperature: 0 });
      assert.is(gIds.length, n);
      assert.equal(seen, gIds);
      const same = await assertSameGreedy(cpu, gIds, cIds, prompt, r);
      console.log(`    ${kind}: ${same} of ${n} greedy tokens identical${same < n ? ' (then a near-tie)' : ''}`);
      assert.ok(same >= 100, `only ${same} tokens agree`);
      // the last token is the argmax of a full GPU forward pass of the sequence (cache = recomputation)
      const seq = prompt.concat(gIds.slice(0, same - 1));
      const { logits } = await g.forward(seq);
      assert.is(gIds[same - 1], argmaxRow(logits, seq.length - 1, r.padded_vocab, r.vocab));
    } finally {
      cpu.dispose();
      g.dispose();
    }
  });
}

maybe('cuda: sampling with a seed repeats itself, stays in the real vocab, and stops when asked', async () => {
  const r = ref('small');
  const m = await loadModdedModel(path.join(FIX, 'small.pt'), { device: 'cuda' });
  try {
    const o = { max_new_tokens: 64, temperature: 1, top_k: 20, seed: 7 };
    const a = await m.generate(r.tokens.slice(0, 4), o);
    const b = await m.generate(r.tokens.slice(0, 4), o);
    assert.equal(a, b);
    assert.ok(a.every((id) => id >= 0 && id < r.vocab), a.join(','));
    assert.ok(new Set(a).size > 5, 'sampling, not greedy');
    const c = new AbortController();
    const got = [];
    const s = await m.generate(r.tokens.slice(0, 4), { ...o, signal: c.signal, onToken: (id) => { got.push(id); if (got.length === 5) c.abort(); } });
    assert.equal(s, got.slice(0, 5));
  } finally {
    m.dispose();
  }
});

maybe('cuda: `generate --device cuda` on a modded file prints what the API samples on the GPU, and names the GPU', async () => {
  const { spawnSync } = require('child_process');
  const BIN = path.join(__dirname, '..', '..', 'bin', 'mypt-native.js');
  const file = path.join(FIX, 'medium.pt');
  const g = spawnSync(process.execPath, [BIN, 'generate', '--checkpoint', file, '--prompt', 'Q', '--max_new_tokens', '12',
    '--temperature', '0', '--device', 'cuda'], { encoding: 'utf8' });
  assert.is(g.status, 0, g.stderr);
  const m = await loadModdedModel(file, { device: 'cuda' });  // bf16, as the CLI
  const text = await m.generateText('Q', { max_new_tokens: 12, temperature: 0 });
  m.dispose();
  assert.is(g.stdout, `Q${text}\n`);
  assert.match(g.stderr, 'modded-nanogpt medium layout, medium forward pass, GPT-2 tokenizer, on cuda:0');
});

// A wider random model (head_dim 128 as the scripts, 2 heads, the scripts' depths) built through the
// addon, so the GEMMs take the tensor-core paths and the rotary table has its real shape: the GPU
// against the CPU. Random scalars, so that every lambda and skip weight matters.
const { randomModdedWeights } = require('../../lib/use-cases/bench/modded');
function randomModel(kind) {
  const shape = { layout: kind, n_layer: kind === 'small' ? 12 : 16, dim: 256, n_head: 2, head_dim: 128, vocab: 640, padded_vocab: 640 };
  const config = { preset: kind, n_layer: shape.n_layer, dim: 256, n_head: 2, head_dim: 128, embed_rows: 640, head_rows: 640,
    scalars_len: 5 * shape.n_layer, doc_token: 3, attn_block: 64, long_window_blocks: 2 };
  const w = randomModdedWeights(shape, 'random');
  // a head well past its init range, so the soft-capped logits spread over most of (0, 30) / (-15, 15):
  // near the init they all sit close to one value and a relative error would hide mistakes
  const head = kind === 'small' ? 100 : 10;
  w.lm_head = w.lm_head.map((x) => x * head);
  return { config, w, V: 640 };
}

for (const kind of ['small', 'medium']) {
  maybe(`cuda ${kind}, head_dim 128, 300 tokens with documents and 64-token windows: fp32 and bf16 against the CPU`, async () => {
    const native = loadAddon();
    const { config, w, V } = randomModel(kind);
    const tokens = new Int32Array(300);
    for (let t = 0; t < 300; t++) tokens[t] = t % 97 === 50 ? 3 : (t * 7919) % V;
    const cpu = new native.ModdedModel(config, w);
    const ref32 = await cpu.forward(tokens);
    cpu.dispose();
    for (const precision of ['fp32', 'bf16']) {
      const g = new native.ModdedModel(config, w, { device: 'cuda', index: 0, precision });
      const out = await g.forward(tokens);
      g.dispose();
      const e = relErr(out, ref32);
      console.log(`    ${kind} D=128 ${precision}: ${e.toExponential(2)}`);
      assert.ok(e < (precision === 'fp32' ? 1e-4 : 3e-2), `${precision}: relative error ${e}`);
    }
  });
}

test.run();
