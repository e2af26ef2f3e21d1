// Gradient accumulation and fine-tuning on the GPU (fp32): one trainBatch over 4 micro-batches equals one
// trainStep over the batch of the same 4x2 windows (the accumulation `train --gradient_accumulation_steps`
// runs), trainBatches (the train loop's runs of steps) equals one trainBatch a step, and the tiny GPT-2 of test/fixtures/tiny_gpt2, read as `train --init_from` reads it, gives PyTorch's
// loss and loss after one AdamW step. Every test is skipped, with the reason printed, where no GPU is usable.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');
const mypt = require('../../lib');
const { CounterRng, sampleBatch, STREAM_TRAIN } = require('../../lib/data/batches');
const { locateInitFrom, readInitFrom } = require('../../lib/use-cases/train/init-from');
const { relErr } = require('../helpers/relerr');

const backends = mypt.backends();
const gpu = backends.cuda;
const maybe = gpu ? test : test.skip;
if (!gpu) console.log(`  skipping the CUDA grad-accum tests: ${backends.cudaReason || 'no CUDA device'}`);

const flat = (named) => {
  const keys = Object.keys(named).sort();
  const out = new Float32Array(keys.reduce((s, k) => s + named[k].data.length, 0));
  let o = 0;
  for (const k of keys) { out.set(named[k].data, o); o += named[k].data.length; }
  return out;
};

maybe('cuda: 4 micro-batches of 2 (trainBatch grad_accum 4) == one step on the batch of 8 (fp32)', async () => {
  const V = 97, B = 2, T = 32, N = 4, seed = 11;
  const cfg = { vocab_size: V, block_size: T, n_layer: 2, n_head: 4, n_embd: 64, arch: 'gpt2', dropout: 0, device: 'cuda', seed: 3 };
  const data = Int32Array.from({ length: 5000 }, (_, i) => (i * 31 + (i >> 3) * 7 + ((i * i) % 11)) % V);
  const a = mypt.createModel(cfg), b = mypt.createModel(cfg);
  try {
    b.setParameters(a.getParameters());
    const before = flat(a.getParameters());
    a.setData('train', data);
    const opt = { lr: 1e-2, weight_decay: 0.1, betas: [0.8, 0.95] };
    const r = await a.trainBatch({ ...opt, batch_size: B, block_size: T, grad_accum: N, seed, step: 0 });
    const x = new Int32Array(N * B * T), y = new Int32Array(N * B * T);
    for (let k = 0; k < N; k++) {
      const m = sampleBatch(data, B, T, new CounterRng(seed, STREAM_TRAIN, k));
      x.set(m.tokens.data, k * B * T);
      y.set(m.targets.data, k * B * T);
    }
    const loss = await b.trainStep({ ...opt, tokens: { data: x, shape: [N * B, T] }, targets: { data: y, shape: [N * B, T] } });
    const pa = flat(a.getParameters()), pb = flat(b.getParameters());
    const e = relErr(pa, pb);
    console.log(`  cuda: loss ${r.loss} vs ${loss}; parameters after the step ${e.toExponential(2)} relative (moved ${relErr(pb, before).toExponential(2)})`);
    assert.ok(Math.abs(r.loss - loss) < 1e-5 * loss, `loss ${r.loss} vs ${loss}`);
    assert.ok(e < 1e-5, `parameters differ by ${e}`);
    assert.ok(relErr(pb, before) > 1e-3);
  } finally {
    a.dispose();
    b.dispose();
  }
});

maybe('cuda: the tiny GPT-2 (HF layout) gives PyTorch\'s loss and loss after one AdamW step (1e-4)', async () => {
  const fix = path.join(__dirname, '..', 'fixtures', 'tiny_gpt2');
  const expected = JSON.parse(fs.readFileSync(path.join(fix, 'expected.json'), 'utf8'));
  const { checkpoint, tokenizer } = readInitFrom(locateInitFrom(path.join(fix, 'model')), '--init_from tiny');
  const m = mypt.createModel({ ...checkpoint.config, dropout: 0, device: 'cuda', precision: 'fp32', seed: 1 }, { tokenizer });
  try {
    m.setParameters(checkpoint.params);
    const B = expected.tokens.length, T = expected.tokens[0].length;
    const x = { data: Int32Array.from(expected.tokens.flat()), shape: [B, T] };
    const y = { data: Int32Array.from(expected.targets.flat()), shape: [B, T] };
    const a = expected.adamw;
    const first = await m.trainStep({ tokens: x, targets: y, lr: a.lr, betas: a.betas, eps: a.eps, weight_decay: a.weight_decay });
    const after = await m.loss(x, y);
    console.log(`  cuda: loss ${first} (PyTorch ${expected.loss}), after one step ${after} (PyTorch ${expected.loss_after_step})`);
    assert.ok(Math.abs(first - expected.loss) < 1e-4, `loss ${first} vs ${expected.loss}`);
    assert.ok(Math.abs(after - expected.loss_after_step) < 1e-4, `after ${after} vs ${expected.loss_after_step}`);
  } finally {
    m.dispose();
  }
});

// trainBatches queues each step before the one before it has ended (the staging buffers guarded by events,
// one wait at the end): its losses, norms and parameters are those of one trainBatch a step, bit for bit, with
// the step graph (dropout 0, bf16; grad_accum 1 and 2) and with dropout (no graph).
for (const [dropout, accum, precision] of [[0, 1, 'bf16'], [0, 2, 'bf16'], [0.1, 2, 'fp32']]) {
  maybe(`cuda: trainBatches == one trainBatch a step, bit for bit (dropout ${dropout}, grad_accum ${accum}, ${precision})`, async () => {
    const V = 97, B = 4, T = 64, seed = 5;
    const cfg = { vocab_size: V, block_size: T, n_layer: 2, n_head: 4, n_embd: 64, arch: 'gpt2', dropout, device: 'cuda', precision, seed: 3 };
    const data = Int32Array.from({ length: 20000 }, (_, i) => (i * 31 + (i >> 3) * 7 + ((i * i) % 11)) % V);
    const a = mypt.createModel(cfg), b = mypt.createModel(cfg);
    try {
      b.setParameters(a.getParameters());
      a.setData('train', data);
      b.setData('train', data);
      const opt = { weight_decay: 0.1, betas: [0.9, 0.95], grad_clip: 1.0 };
      const lrs = [1e-3, 2e-3, 3e-3, 3e-3, 2e-3, 1e-3, 5e-4, 1e-4];
      const o = { ...opt, batch_size: B, block_size: T, grad_accum: accum, seed };
      const run = await a.trainBatches({ ...o, step: 0, lrs });
      const one = [];
      for (let k = 0; k < lrs.length; k++) one.push(await b.trainBatch({ ...o, lr: lrs[k], step: k }));
      for (let k = 0; k < lrs.length; k++) {
        assert.is(run.losses[k], one[k].loss, `loss of step ${k}`);
        assert.is(run.gradNorms[k], one[k].gradNorm, `norm of step ${k}`);
      }
      const pa = flat(a.getParameters()), pb = flat(b.getParameters());
      assert.is(relErr(pa, pb), 0, 'parameters after the steps');
      assert.ok(run.losses[7] < run.losses[0], `the loss fell: ${run.losses[0]} -> ${run.losses[7]}`);
      // a run after a run and after an evaluation (which uploads through the same staging buffers)
      await a.estimateLoss('train', 2, B, T, { seed, counter0: 0 });
      await b.estimateLoss('train', 2, B, T, { seed, counter0: 0 });
      const more = await a.trainBatches({ ...o, step: 8, lrs: [1e-3, 1e-3] });
      const m8 = await b.trainBatch({ ...o, lr: 1e-3, step: 8 }), m9 = await b.trainBatch({ ...o, lr: 1e-3, step: 9 });
      assert.equal(more.losses, [m8.loss, m9.loss]);
    } finally {
      a.dispose();
      b.dispose();
    }
  });
}

test.run();
