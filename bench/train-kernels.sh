#!/usr/bin/env bash
# Where one training step's GPU time goes, kernel by kernel (GPU host; Nsight Compute, no nsys):
#   bench/train-kernels.sh [124M|350M] [B] [T]      (bf16, the bench's GPT-2 shapes)
# ncu times each kernel of the last step alone (clocks and caches left as they are, the step graph's nodes
# one by one); the table sums them per kernel name. The wall time per step comes from train-profile.js
# without ncu: the difference is launch gaps, host work and what ncu's one-at-a-time replay changes.
set -uo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-124M}
B=${2:-16}
T=${3:-1024}
NCU=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}
CSV=${OUT:-/tmp}/train-kernels.csv
node bench/train-profile.js --model "$MODEL" --B "$B" --T "$T" --steps 5 2>&1 | tail -6
# two steps before the measured one: the first runs the kernels one by one, the second captures the step graph
"$NCU" --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --print-units base \
  node bench/train-profile.js --model "$MODEL" --B "$B" --T "$T" --warmup 2 --steps 1 >"$CSV" 2>/dev/null ||
  { echo "ncu failed"; tail -5 "$CSV"; exit 1; }
node -e "
const lines = require('fs').readFileSync('$CSV', 'utf8').split('\n').filter((l) => l.startsWith('\"'));
const head = JSON.parse('[' + lines[0] + ']');
const iName = head.indexOf('Kernel Name'), iVal = head.indexOf('Metric Value');
const rows = lines.slice(1).map((l) => JSON.parse('[' + l + ']'));
// the optimizer's update kernel ends each step: the last step is what follows the second-to-last of them
const ends = rows.map((r, i) => (/adamw/.test(r[iName]) ? i : -1)).filter((i) => i >= 0);
const step = rows.slice(ends.length >= 2 ? ends[ends.length - 2] + 1 : 0, ends.length ? ends[ends.length - 1] + 1 : rows.length);
const by = new Map();
let total = 0;
for (const r of step) {
  const name = r[iName].replace(/\(.*$/, '').replace(/^void /, '').slice(0, 80);
  const ns = Number(String(r[iVal]).replace(/,/g, ''));  // ncu writes 11,648
  const e = by.get(name) || { n: 0, ns: 0 };
  e.n++; e.ns += ns; total += ns; by.set(name, e);
}
console.log('kernels in the last step:', step.length, ' GPU ms', (total / 1e6).toFixed(3));
for (const [k, e] of [...by].sort((a, b) => b[1].ns - a[1].ns))
  console.log(String((e.ns / 1e6).toFixed(3)).padStart(8), 'ms', String(e.n).padStart(5), 'x', (e.ns / e.n / 1e3).toFixed(1).padStart(8), 'us each ', k);
"
