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
node -e "
const lines = require('fs').readFileSync('$CSV', 'utf8').split('\n').filter((l) => l.startsWith('\"'));
const head = JSON.parse('[' + lines[0] + ']');
const iName = head.indexOf('Kernel Name'), iVal = head.indexOf('Metric Value');
const rows = lines.slice(1).map((l) => JSON.parse('[' + l + ']'));
// the last $TOK - 1 tokens are graph replays: take the kernels after the first sampling call of the last token's
const by = new Map();
let total = 0;
const steady = rows.slice(Math.floor(rows.length / 2));
for (const r of steady) {
  const name = r[iName].replace(/\(.*$/, '').replace(/^void /, '').slice(0, 70);
  const ns = Number(String(r[iVal]).replace(/,/g, ''));  // ncu writes 11,648
  const e = by.get(name) || { n: 0, ns: 0 };
  e.n++; e.ns += ns; total += ns; by.set(name, e);
}
const samples = (by.get([...by.keys()].find((k) => /sample|argmax/.test(k))) || { n: 1 }).n;
console.log('kernels in the second half:', steady.length, ' tokens there ~', samples, ' GPU us per token', (total / samples / 1e3).toFixed(1));
for (const [k, e] of [...by].sort((a, b) => b[1].ns - a[1].ns))
  console.log(String((e.ns / samples / 1e3).toFixed(2)).padStart(8), 'us/token', String(e.n / samples).padStart(5), 'x', (e.ns / e.n / 1e3).toFixed(2).padStart(7), 'us each ', k);
"
