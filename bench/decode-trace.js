#!/usr/bin/env node
// Batch-1 decoding of GPT-2 124M shapes for a profiler to watch (nsys): 200 new tokens after a PROMPT-token
// prompt (1: the few-row kernels; 300: the persistent kernel from 256 positions), each run's tokens/s printed.
//   nsys profile --cuda-graph-trace=node node bench/decode-trace.js [--prompt 1] [--tokens 200] [--runs 3]
'use strict';
const { createModel } = require('../lib');

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const P = Number(arg('--prompt', 1)), N = Number(arg('--tokens', 200)), runs = Number(arg('--runs', 3));

(async () => {
  const model = createModel({ arch: 'gpt2', vocab_size: 50304, block_size: 1024, n_layer: 12, n_head: 12, n_embd: 768,
    bias: true, device: 'cuda', precision: 'bf16', dropout: 0, seed: 1 });
  const prompt = Array.from({ length: P }, (_, i) => (i * 7919 + 13) % 50257);
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    await model.generate(prompt, { max_new_tokens: N, temperature: 1, seed: 3 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`prompt ${P}: ${N} tokens in ${ms.toFixed(1)} ms, ${(N / (ms / 1e3)).toFixed(0)} tok/s`);
  }
  model.dispose();
})().catch((e) => { console.error(e.message); process.exit(1); });
