// The CUDA backend through the public API, against PyTorch's golden data (test/fixtures/golden, the same
// cases as engine.golden.test.js) and against the CPU backend: fp32 mode within 1e-5 (logits, loss) and
// 1e-4 (gradients, parameters after 3 clipped AdamW steps); bf16 mode within bf16's rounding; a 200-step
// training run with dropout whose losses track the CPU run step by step; greedy generation giving the
// CPU's tokens. Every test is skipped, with the reason printed, where no GPU is usable.
const { test } = require('uvu');
const assert = require('uvu/assert');
const mypt = require('../../lib');

const backends = mypt.backends();
const gpu = backends.cuda;
const maybe = gpu ? test : test.skip;
if (!gpu) console.log(`  skipping the CUDA tests: ${backends.cudaReason || 'no CUDA device'}`);
else console.log(`  CUDA device: ${backends.devices[0].name}`);

const { index, slice, build: buildCase } = require('../helpers/golden');
const { relErr } = require('../helpers/relerr');
const build = (c, precision) => buildCase(c, { device: 'cuda', precision });

const { adamw } = index;
const tol = {
  fp32: { logits: 1e-5, loss: 1e-5, grads: 1e-4, after: 1e-4 },
  // bf16 weights and activations against fp32 golden data, on models 8 wide: nothing averages the
  // rounding (2^-8 per operand) out, and ReLU masks flip where pre-activations are near 0. Small tensors
  // whose gradient is a sum with cancellation are far off (measured on mypt_relu_T_below: h.0.ln1.bias
  // 0.36, wte 0.11), so in bf16 the gradients are judged together (one relative error over all of them).
  // The wide-model bf16 checks are in test/native/check_cuda_ops.cu (5e-3 with GELU, 3e-2 with ReLU).
  bf16: { logits: 3e-2, loss: 1e-2, grads: 2e-1, after: 5e-2 },
};
const worst = { fp32: {}, bf16: {} };
const note = (p, k, v) => { worst[p][k] = Math.max(worst[p][k] || 0, v); };

for (const precision of ['fp32', 'bf16']) {
  for (const c of index.cases) {
    maybe(`cuda ${precision} ${c.name}: logits, loss and every gradient against PyTorch`, async () => {
      const { model, tokens, targets } = build(c, precision);
      assert.ok(model.device.startsWith('cuda'), model.device);
      const f = await model.forward(tokens);
      const e = relErr(f.logits, slice(c.logits));
      note(precision, 'logits', e);
      assert.ok(e <= tol[precision].logits, `logits relative error ${e}`);
      const l = await model.loss(tokens, targets);
      const el = Math.abs(l - c.loss) / Math.abs(c.loss);
      note(precision, 'loss', el);
      assert.ok(el <= tol[precision].loss, `loss ${l} vs ${c.loss}`);
      await model.forwardBackward(tokens, targets, { train: true });
      const grads = model.getGradients();
      if (precision === 'fp32') {
        for (const [name, g] of Object.entries(c.grads)) {
          const err = relErr(grads[name].data, slice(g));
          note(precision, 'grads', err);
          assert.ok(err <= tol[precision].grads, `${name}: relative error ${err}`);
        }
      } else {
        const ours = [], ref = [];
        for (const [name, g] of Object.entries(c.grads)) {
          ours.push(...grads[name].data);
          ref.push(...slice(g));
        }
        const err = relErr(ours, ref);
        note(precision, 'grads', err);
        assert.ok(err <= tol[precision].grads, `all gradients: relative error ${err}`);
      }
      model.dispose();
    });

    maybe(`cuda ${precision} ${c.name}: parameters after ${adamw.steps} clipped AdamW steps against PyTorch`, async () => {
      const { model, tokens, targets } = build(c, precision);
      if (c.config.arch !== 'gpt2') model.setDecayMask(() => true);
      for (let s = 0; s < adamw.steps; s++) {
        const loss = await model.trainStep({ tokens, targets, lr: adamw.lr, weight_decay: adamw.weight_decay,
          betas: adamw.betas, eps: adamw.eps, grad_clip: adamw.grad_clip });
        const el = Math.abs(loss - c.step_losses[s]) / c.step_losses[s];
        assert.ok(el <= tol[precision].loss * 3, `step ${s} loss ${loss} vs ${c.step_losses[s]}`);
      }
      const after = model.getParameters();
      for (const [name, e] of Object.entries(c.after)) {
        let ours = after[name].data, ref = slice(e);
        if (name.endsWith('attn.qkv.bias')) {
          // the key bias has an exactly-zero gradient; Adam turns rounding noise into +-lr steps (see
          // engine.golden.test.js): compare q and v parts only
          const C = c.config.n_embd;
          ours = Float32Array.from([...ours.subarray(0, C), ...ours.subarray(2 * C)]);
          ref = Float32Array.from([...ref.subarray(0, C), ...ref.subarray(2 * C)]);
        }
        const err = relErr(ours, ref);
        note(precision, 'after', err);
        assert.ok(err <= tol[precision].after, `${name}: relative error ${err}`);
      }
      model.dispose();
    });
  }
}

// A char-level corpus with structure to learn: a repeated phrase with noise.
function corpus(n, vocab, seed) {
  let s = seed >>> 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
  const phrase = Array.from({ length: 23 }, (_, i) => (i * 7 + 3) % vocab);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = rnd() < 0.1 ? Math.floor(rnd() * vocab) : phrase[i % phrase.length];
  return out;
}

maybe('cuda fp32: a 200-step training run with dropout tracks the CPU run step by step', async () => {
  const config = { vocab_size: 32, block_size: 32, n_layer: 2, n_head: 2, n_embd: 64, dropout: 0.1, seed: 7 };
  const data = corpus(20000, 32, 1);
  const cpu = mypt.createModel({ ...config, device: 'cpu' });
  const cuda = mypt.createModel({ ...config, device: 'cuda', precision: 'fp32' });
  cuda.setParameters(cpu.getParameters());
  cpu.setData('train', data);
  cuda.setData('train', data);
  let maxDiff = 0, first = 0, lastC = 0, lastG = 0;
  for (let s = 0; s < 200; s++) {
    const opts = { batch_size: 8, block_size: 32, lr: 1e-3, weight_decay: 0.1, grad_clip: 1.0 };
    const a = await cpu.trainBatch(opts);
    const b = await cuda.trainBatch(opts);
    if (s === 0) first = a.loss;
    lastC = a.loss;
    lastG = b.loss;
    maxDiff = Math.max(maxDiff, Math.abs(a.loss - b.loss) / a.loss);
  }
  console.log(`  200 steps: loss ${first.toFixed(4)} -> cpu ${lastC.toFixed(4)}, cuda ${lastG.toFixed(4)}; max relative step difference ${maxDiff.toExponential(2)}`);
  assert.ok(lastC < first * 0.6, 'the CPU run learned');
  assert.ok(maxDiff < 1e-3, `cuda losses drift from the CPU's by ${maxDiff}`);
  cpu.dispose();
  cuda.dispose();
});

maybe('cuda fp32 without dropout: steps replayed as one CUDA graph give the eager steps bit for bit and track the CPU, across changes of shape, accumulation, evaluation, recomputation and generation', async () => {
  const config = { vocab_size: 32, block_size: 32, n_layer: 2, n_head: 2, n_embd: 64, dropout: 0, seed: 7 };
  const data = corpus(20000, 32, 1);
  // the schedule: a shape, an evaluation of another batch size (its buffers grow), another shape, gradient
  // accumulation, recomputed activations, a generation (the decoder's buffers are allocated), and the first
  // shape again
  const plan = (s) => ({ batch_size: s < 12 || s >= 36 ? 8 : 4, block_size: s >= 12 && s < 18 ? 16 : 32,
    grad_accum: s >= 18 && s < 24 ? 2 : 1, lr: 1e-3, weight_decay: 0.1, grad_clip: 1.0 });
  const run = async (device, graph) => {
    process.env.MYPT_TRAIN_GRAPH = graph ? '1' : '0';
    const m = mypt.createModel({ ...config, device, precision: 'fp32', seed: 7 });
    m.setData('train', data);
    const losses = [];
    for (let s = 0; s < 42; s++) {
      if (s === 8) losses.push(await m.estimateLoss('train', 2, 16, 32));
      if (s === 24) m.setRecompute(2);
      if (s === 30) m.setRecompute(0);
      if (s === 33) await m.generate([1, 2, 3], { max_new_tokens: 4, temperature: 0 });
      const r = await m.trainBatch(plan(s));
      losses.push(r.loss, r.gradNorm);
    }
    const p = m.getParameters();
    m.dispose();
    return { losses, p };
  };
  try {
    const eager = await run('cuda', false);
    const graphed = await run('cuda', true);
    const cpu = await run('cpu', true);
    assert.equal(graphed.losses, eager.losses, 'graph replays give the eager losses and norms bit for bit');
    for (const k of Object.keys(eager.p)) assert.equal(Array.from(graphed.p[k].data), Array.from(eager.p[k].data), k);
    let maxDiff = 0;
    for (let i = 0; i < cpu.losses.length; i++) maxDiff = Math.max(maxDiff, Math.abs(cpu.losses[i] - graphed.losses[i]) / Math.abs(cpu.losses[i]));
    console.log(`  graphed steps against the CPU: max relative difference ${maxDiff.toExponential(2)}`);
    assert.ok(maxDiff < 1e-4, `graphed steps drift from the CPU by ${maxDiff}`);
  } finally {
    delete process.env.MYPT_TRAIN_GRAPH;
  }
});

maybe('cuda: snapshot buffers (page-locked) receive the same parameters and moments as fresh arrays', async () => {
  const config = { vocab_size: 32, block_size: 32, n_layer: 2, n_head: 2, n_embd: 64, seed: 7 };
  const cuda = mypt.createModel({ ...config, device: 'cuda', precision: 'bf16' });
  cuda.setData('train', corpus(5000, 32, 2));
  await cuda.trainBatch({ batch_size: 4, block_size: 32, lr: 1e-3 });
  const buf = cuda.snapshotBuffers(true);
  const p = cuda.getParameters(buf), o = cuda.getOptimizerState(buf);
  const fp = cuda.getParameters(), fo = cuda.getOptimizerState();
  for (const k of Object.keys(fp)) {
    assert.equal(Array.from(p[k].data), Array.from(fp[k].data), k);
    assert.equal(Array.from(o.exp_avg_sq[k].data), Array.from(fo.exp_avg_sq[k].data), k);
  }
  assert.ok(fo.exp_avg_sq[Object.keys(fp)[0]].data.some((x) => x > 0), 'the moments were trained');
  cuda.dispose();
  assert.ok(buf.params.length > 0, 'the buffers outlive the model');
});

maybe('cuda bf16: the same run learns like the CPU (final loss within 3%)', async () => {
  const config = { vocab_size: 32, block_size: 32, n_layer: 2, n_head: 2, n_embd: 64, dropout: 0.1, seed: 7 };
  const data = corpus(20000, 32, 1);
  const cpu = mypt.createModel({ ...config, device: 'cpu' });
  const cuda = mypt.createModel({ ...config, device: 'cuda', precision: 'bf16' });
  cuda.setParameters(cpu.getParameters());
  cpu.setData('train', data);
  cuda.setData('train', data);
  let a, b;
  for (let s = 0; s < 200; s++) {
    const opts = { batch_size: 8, block_size: 32, lr: 1e-3, weight_decay: 0.1, grad_clip: 1.0 };
    a = await cpu.trainBatch(opts);
    b = await cuda.trainBatch(opts);
  }
  const ec = await cpu.estimateLoss('train', 4, 8, 32);
  const eg = await cuda.estimateLoss('train', 4, 8, 32);
  console.log(`  bf16 200 steps: last batch cpu ${a.loss.toFixed(4)} cuda ${b.loss.toFixed(4)}; estimateLoss cpu ${ec.toFixed(4)} cuda ${eg.toFixed(4)}`);
  assert.ok(Math.abs(ec - eg) / ec < 0.03, `bf16 final loss ${eg} vs cpu ${ec}`);
  cpu.dispose();
  cuda.dispose();
});

maybe('cuda: greedy generation gives the CPU tokens (fp32), sampling repeats with a seed', async () => {
  const config = { vocab_size: 40, block_size: 16, n_layer: 2, n_head: 2, n_embd: 64, seed: 3 };
  const cpu = mypt.createModel({ ...config, device: 'cpu' });
  const cuda = mypt.createModel({ ...config, device: 'cuda', precision: 'fp32' });
  cuda.setParameters(cpu.getParameters());
  const prompt = [1, 2, 3];
  const a = await cpu.generate(prompt, { max_new_tokens: 30, temperature: 0 });
  const b = await cuda.generate(prompt, { max_new_tokens: 30, temperature: 0 });
  assert.equal(b, a);
  const s1 = await cuda.generate(prompt, { max_new_tokens: 20, temperature: 0.9, top_k: 10, top_p: 0.9, seed: 5 });
  const s2 = await cuda.generate(prompt, { max_new_tokens: 20, temperature: 0.9, top_k: 10, top_p: 0.9, seed: 5 });
  assert.equal(s1, s2);
  assert.is(s1.length, 20);
  // greedy and plain sampling are drawn inside generate()'s head (sampling.cuh's HeadSample); the lone
  // decoder slot samples after its head with sample_token: the same ids
  // generate()'s passes leave the next one its token's embedding (decode_pass.cuh's chained passes), the slot's
  // embed their token: the same ids in fp32 and bf16, past block_size too (30 tokens after 3, a block of 16)
  const bf = mypt.createModel({ ...config, device: 'cuda', precision: 'bf16' });
  bf.setParameters(cpu.getParameters());
  for (const m of [cuda, bf]) {
    const dec = m.openDecoder(2);
    for (const o of [{ temperature: 1, seed: 8 }, { temperature: 0.7, seed: 9 }, { temperature: 0 }]) {
      const opts = { max_new_tokens: 30, ...o };
      assert.equal(await dec.generate(prompt, opts), await m.generate(prompt, opts), JSON.stringify(o));
    }
  }
  // the steady state's graph is kept from call to call (gpt_decode.cuh): new weights are read by it all the same
  const cpu2 = mypt.createModel({ ...config, seed: 4, device: 'cpu' });
  cuda.setParameters(cpu2.getParameters());
  assert.equal(await cuda.generate(prompt, { max_new_tokens: 30, temperature: 0 }),
    await cpu2.generate(prompt, { max_new_tokens: 30, temperature: 0 }));
  cpu.dispose();
  cpu2.dispose();
  cuda.dispose();
  bf.dispose();
});

maybe('cuda: past 256 cached positions a token is one kernel: greedy equal to the CPU, a lone decoder slot equal to generate', async () => {
  // decode_pass.cuh's kPersistentFrom: tokens at positions 240..279 cross from the few-row kernels to the
  // persistent kernel (decode_persistent.cuh), the CUDA graph captured again on the way
  const config = { vocab_size: 64, block_size: 320, n_layer: 2, n_head: 2, n_embd: 64, seed: 11 };
  const cpu = mypt.createModel({ ...config, device: 'cpu' });
  const cuda = mypt.createModel({ ...config, device: 'cuda', precision: 'fp32' });
  cuda.setParameters(cpu.getParameters());
  let s = 5;
  const prompt = Array.from({ length: 240 }, () => (s = (s * 1103515245 + 12345) % 2 ** 31) % 64);
  const a = await cpu.generate(prompt, { max_new_tokens: 40, temperature: 0 });
  const b = await cuda.generate(prompt, { max_new_tokens: 40, temperature: 0 });
  assert.equal(b, a);
  const opts = { max_new_tokens: 40, temperature: 0.9, top_k: 20, seed: 9 };
  const dec = cuda.openDecoder(2);
  assert.equal(await dec.generate(prompt, opts), await cuda.generate(prompt, opts));
  // a prompt past 256 positions: the first graph is the persistent kernel's
  const long = prompt.concat(prompt.slice(0, 50));
  assert.equal(await cuda.generate(long, { max_new_tokens: 20, temperature: 0 }), await cpu.generate(long, { max_new_tokens: 20, temperature: 0 }));
  cpu.dispose();
  cuda.dispose();
});

// gradients of one forwardBackward as one array (every tensor, in name order)
async function gradsOf(model, tokens, targets) {
  const loss = await model.forwardBackward(tokens, targets, { train: false });
  const g = model.getGradients();
  const names = Object.keys(g).sort();
  const grads = new Float32Array(names.reduce((n, k) => n + g[k].data.length, 0));
  let at = 0;
  for (const k of names) { grads.set(g[k].data, at); at += g[k].data.length; }
  return { loss, grads };
}

maybe('cuda: the classifier in chunks of rows and recomputed activations give the CPU gradients (fp32), the same gradients as keeping everything', async () => {
  // V = 8192: a 1 MB chunk cap (MYPT_CLASSIFIER_CHUNK_MB) is 32 fp32 rows, so the 256 rows run in 4 chunks of 64
  const config = { arch: 'gpt2', vocab_size: 8192, block_size: 64, n_layer: 2, n_head: 2, n_embd: 64, seed: 5 };
  const B = 4, T = 64;
  let s = 9;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) % 8192;
  const tokens = Int32Array.from({ length: B * T }, rnd), targets = Int32Array.from({ length: B * T }, rnd);
  const shaped = (a) => ({ data: a, shape: [B, T] });
  const cpu = mypt.createModel({ ...config, device: 'cpu' });
  const ref = await gradsOf(cpu, shaped(tokens), shaped(targets));
  for (const precision of ['fp32', 'bf16']) {
    for (const activation of precision === 'fp32' ? ['gelu'] : ['gelu', 'gelu_tanh']) {
      const make = (chunkMB) => {
        if (chunkMB) process.env.MYPT_CLASSIFIER_CHUNK_MB = String(chunkMB);
        try {
          const m = mypt.createModel({ ...config, activation, device: 'cuda', precision });
          m.setParameters(cpu.getParameters());
          return m;
        } finally { delete process.env.MYPT_CLASSIFIER_CHUNK_MB; }
      };
      const whole = make(0), chunked = make(1);
      const a = await gradsOf(whole, shaped(tokens), shaped(targets));
      const b = await gradsOf(chunked, shaped(tokens), shaped(targets));
      const what = `${precision} ${activation}`;
      // the same products, the head's weight gradient summed over 4 chunks instead of inside one GEMM
      assert.ok(Math.abs(a.loss - b.loss) <= 1e-6 * Math.abs(a.loss), `${what}: chunked loss ${b.loss} vs ${a.loss}`);
      const ec = relErr(b.grads, a.grads);
      assert.ok(ec <= (precision === 'fp32' ? 1e-5 : 1e-2), `${what}: chunked gradients differ by ${ec}`);
      if (precision === 'fp32') {
        const e = relErr(b.grads, ref.grads);
        assert.ok(e <= 1e-4, `${what}: chunked gradients vs the CPU: ${e}`);
        assert.ok(Math.abs(b.loss - ref.loss) <= 1e-5 * ref.loss, `${what}: loss ${b.loss} vs the CPU's ${ref.loss}`);
      } else {
        // bf16 beside the CPU's fp32 gradients of the same activation (gelu_tanh: cuBLASLt's GELU and dGELU
        // epilogues where the plugin loads, the benchmark's GPT-2)
        let r = ref;
        if (activation !== 'gelu') {
          const c = mypt.createModel({ ...config, activation, device: 'cpu' });
          c.setParameters(cpu.getParameters());
          r = await gradsOf(c, shaped(tokens), shaped(targets));
          c.dispose();
        }
        const e = relErr(b.grads, r.grads);
        console.log(`  ${what}: gradients vs the CPU's ${e.toExponential(2)}, loss ${b.loss.toFixed(5)} vs ${r.loss.toFixed(5)}`);
        assert.ok(e <= 5e-2, `${what}: gradients vs the CPU: ${e}`);
        assert.ok(Math.abs(b.loss - r.loss) <= 1e-2 * r.loss, `${what}: loss ${b.loss} vs the CPU's ${r.loss}`);
      }
      for (const level of [1, 2]) {
        chunked.setRecompute(level);
        const r = await gradsOf(chunked, shaped(tokens), shaped(targets));
        assert.is(r.loss, b.loss, `${what} recompute ${level}: the forward is unchanged`);
        if (activation === 'gelu') {
          // the same kernels on the same inputs: bit for bit
          const diff = r.grads.findIndex((x, i) => x !== b.grads[i]);
          assert.is(diff, -1, `${what} recompute ${level}: gradient ${diff} is ${r.grads[diff]}, kept activations give ${b.grads[diff]}`);
        } else {
          // cuBLASLt's fused GELU epilogue in the forward, our GELU kernel on the stored bf16 input in the backward
          const e = relErr(r.grads, b.grads);
          assert.ok(e <= 1e-2, `${what} recompute ${level}: gradients differ by ${e}`);
        }
      }
      chunked.setRecompute(0);
      const back = await gradsOf(chunked, shaped(tokens), shaped(targets));
      assert.is(back.loss, b.loss);
      whole.dispose();
      chunked.dispose();
    }
  }
  assert.throws(() => cpu.setRecompute(3), /level must be 0, 1 or 2/);
  cpu.dispose();
});

test('cuda worst relative errors vs PyTorch (printed for the record)', () => {
  if (gpu) console.log(`  cuda worst relative errors: ${JSON.stringify(worst)}`);
});

// cuBLASLt's algorithm for a problem is chosen once a process (timed among the heuristic's candidates by
// default), not once a model: a second model finds the first one's choices, so two models given the same
// weights and tokens give the same logits bit for bit. The plugin logs each choice it times, naming the
// problem by the store's key (MYPT_GEMM_TUNE_LOG=1); with a store per model every problem would appear twice.
const ltMaybe = gpu && backends.cublasLt ? test : test.skip;
ltMaybe('cuda: GEMM algorithms chosen once a process; two models give the same logits bit for bit', () => {
  const script = `
    const mypt = require(${JSON.stringify(require.resolve('../../lib'))});
    (async () => {
      const cfg = { vocab_size: 512, block_size: 128, n_layer: 1, n_head: 4, n_embd: 256, device: 'cuda', precision: 'bf16', seed: 3 };
      const a = mypt.createModel(cfg), b = mypt.createModel(cfg);
      b.setParameters(a.getParameters());
      const tokens = Array.from({ length: 8 }, (_, r) => Array.from({ length: 128 }, (_, i) => (i * 37 + r * 11) % 512));
      const fa = (await a.forward(tokens)).logits, fb = (await b.forward(tokens)).logits;
      let diff = -1;
      for (let i = 0; i < fa.length; i++) if (fa[i] !== fb[i]) { diff = i; break; }
      console.log(JSON.stringify({ n: fa.length, diff }));
      a.dispose(); b.dispose();
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const { spawnSync } = require('child_process');
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, MYPT_GEMM_TUNE: '1', MYPT_GEMM_TUNE_LOG: '1' } });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.is(out.n, 8 * 128 * 512);
  assert.is(out.diff, -1, `the models' logits first differ at ${out.diff}`);
  const problems = r.stderr.split('\n').filter((l) => l.startsWith('gemm tune')).map((l) => l.split(':')[0]);
  console.log(`  ${problems.length} GEMM problems timed, each once`);
  assert.ok(problems.length > 0, `no GEMM choice timed: ${r.stderr}`);
  assert.is(new Set(problems).size, problems.length, `a problem timed twice: ${problems.join('; ')}`);
});

test.run();
