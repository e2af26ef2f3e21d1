#!/usr/bin/env node
// Runs GPT-2 124M (or 350M) train steps on the GPU for a profiler to watch: --warmup steps (3), then --steps steps,
// each step's wall time printed, then the device memory the model holds. With Nsight Compute (kernel by kernel;
// adamw_kernel ends a step):
//   ncu --clock-control none --csv --metrics gpu__time_duration.sum node bench/train-profile.js --steps 1
// (bench/train-kernels.sh does that and sums the last step's kernels by name)
//   node bench/train-profile.js [--steps 5] [--warmup 3] [--B 16] [--T 1024] [--model 124M|350M] [--recompute 0|1|2]
//     [--activation gelu|gelu_tanh]   (default: the bench shape's, gelu_tanh as in PyTorch's reference)
//     [--run N]   N > 1: each printed time is a run of N steps in one trainBatches call (as train hands the GPU
//                 its steps), divided by N
'use strict';
const { createModel } = require('../lib');
const { GPT2_124M, GPT2_350M } = require('../lib/use-cases/bench/cases');

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const steps = Number(arg('--steps', 5)), warmup = Number(arg('--warmup', 3)), B = Number(arg('--B', 16)), T = Number(arg('--T', 1024));
const big = arg('--model', '124M') === '350M';
// the bench's shapes (src/use-cases/bench/cases.ts), at block size T
const cfg = { ...(big ? GPT2_350M : GPT2_124M), block_size: T, device: 'cuda', precision: 'bf16', dropout: 0, seed: 1 };
if (arg('--activation')) cfg.activation = arg('--activation');
const recompute = Number(arg('--recompute', 0));
const run = Number(arg('--run', 1));
const inUse = () => { const m = require('../lib/native').loadAddon().deviceMemory('cuda', 0); return m.totalBytes - m.freeBytes; };

(async () => {
  const before = inUse();
  const model = createModel(cfg);
  model.setRecompute(recompute);
  const data = new Int32Array(1 << 20).map((_, i) => (i * 7919 + 13) % cfg.vocab_size);
  model.setData('train', data);
  const opts = { batch_size: B, block_size: T, lr: 3e-4, weight_decay: 0.1, grad_clip: 1.0 };
  for (let i = 0; i < warmup; i++) await model.trainBatch(opts);
  const { lr, ...rest } = opts;
  for (let i = 0; i < steps; i++) {
    const t0 = process.hrtime.bigint();
    if (run > 1) await model.trainBatches({ ...rest, lrs: new Array(run).fill(lr) });
    else await model.trainBatch(opts);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6 / run;
    console.log(`step ${i}: ${ms.toFixed(2)} ms${run > 1 ? ` (a run of ${run} steps, per step)` : ''}`);
  }
  console.log(`${big ? '350M' : '124M'} B${B} T${T} recompute ${recompute}: ${((inUse() - before) / 2 ** 20).toFixed(0)} MB in use after the steps`);
  model.dispose();
})().catch((e) => { console.error(e.message); process.exit(1); });
