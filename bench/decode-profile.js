#!/usr/bin/env node
// Where batch-1 decoding's time goes, without a profiler: tokens/s of GPT-2 124M shapes at 1 and 12 layers
// (the difference is the per-layer cost, the rest the fixed cost: classifier, sampling, read-back), greedy
// and sampled, with and without an onToken callback, after a PROMPT-token prompt (1: the few-row kernels;
// 300: the persistent kernel, from 256 cached positions).
//   node bench/decode-profile.js [--device cuda] [--tokens 200] [--prompt 1] [--layers 1,12] [--precision bf16,fp32]
'use strict';
const { createModel } = require('../lib');
const { GPT2_124M } = require('../lib/use-cases/bench/cases');

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const device = arg('--device', 'cuda');
const N = Number(arg('--tokens', 200));
const P = Number(arg('--prompt', 1));
const layers = String(arg('--layers', '1,12')).split(',').map(Number);
const precisions = arg('--precision', device === 'cuda' ? 'bf16,fp32' : 'fp32').split(',');
const prompt = Array.from({ length: P }, (_, i) => (i * 7919) % 50257);

async function time(model, opts, reps = 3) {
  await model.generate(prompt, { max_new_tokens: N, ...opts });
  const ms = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    await model.generate(prompt, { max_new_tokens: N, ...opts });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)];
}

(async () => {
  const rows = [];
  for (const n_layer of layers) {
    for (const precision of precisions) {
      const model = createModel({ ...GPT2_124M, n_layer, device, precision, dropout: 0, seed: 1 });  // the bench's
      for (const [name, opts] of [['greedy', { temperature: 0 }], ['greedy+onToken', { temperature: 0, onToken: () => {} }],
        ['t=1', { temperature: 1, seed: 3 }], ['t=1 top_k=50', { temperature: 1, top_k: 50, seed: 3 }],
        ['t=1 top_p=0.9', { temperature: 1, top_p: 0.9, seed: 3 }]]) {
        const ms = await time(model, opts);
        rows.push({ n_layer, precision, sampling: name, ms_per_token: +(ms / N).toFixed(4), tok_s: Math.round(N / (ms / 1e3)) });
      }
      model.dispose();
    }
  }
  console.table(rows);
})().catch((e) => { console.error(e); process.exit(1); });
