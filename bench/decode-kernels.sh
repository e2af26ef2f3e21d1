#!/usr/bin/env bash
# Where one batch-1 decoding token's GPU time goes, kernel by kernel (GPU host; Nsight Compute, no nsys):
#   bench/decode-kernels.sh [n_layer] [tokens]      (GPT-2 124M shapes, bf16, greedy)
# ncu times each kernel node of the decode graph alone (clocks and caches left as they are); the table sums
# them per kernel name and per token. The wall time per token comes from decode-profile.js without ncu:
# the difference is launch gaps and host work.
set -uo pipefail
cd "$(dirname "$0")/.."
NL=${1:-12}
TOK=${2:-6}
NCU=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}
CSV=${OUT:-/tmp}/decode-kernels.csv
cat >/tmp/decode-kernels.js <<JS
const { createModel } = require('$PWD/lib');
(async () => {
  const m = createModel({ arch: 'gpt2', vocab_size: 50304, block_size: 1024, n_layer: $NL, n_head: 12, n_embd: 768,
    bias: true, device: 'cuda', precision: 'bf16', dropout: 0, seed: 1 });
  await m.generate([0], { max_new_tokens: $TOK, temperature: 0 });
  m.dispose();
})();
JS
"$NCU" --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --print-units base \
  node /tmp/decode-kernels.js >"$CSV" 2>/dev/null || { echo "ncu failed"; tail -5 "$CSV"; exit 1; }
# the later tokens are graph replays: the second half of the kernels, per sampling kernel (one a token)
node bench/ncu-sum.js "$CSV" --unit 'sample|argmax' --window half
