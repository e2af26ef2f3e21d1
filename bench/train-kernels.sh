#!/usr/bin/env bash
# Where one training step's GPU time goes, kernel by kernel (GPU host; Nsight Compute, no nsys):
#   bench/train-kernels.sh [124M|350M] [B] [T]      (bf16, the bench's GPT-2 shapes)
# ncu times each kernel of the last step alone (clocks and caches left as they are); the table sums them per
# kernel name. The step runs eagerly under ncu (MYPT_TRAIN_GRAPH=0: the same kernels; on an H100, ncu's
# replay of the step graph's nodes one by one failed with LaunchFailed at the LayerNorm backward). The wall
# time per step comes from train-profile.js without ncu (with the graph): the difference is launch gaps, host
# work and what ncu's one-at-a-time replay changes.
set -uo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-124M}
B=${2:-16}
T=${3:-1024}
NCU=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}
CSV=${OUT:-/tmp}/train-kernels.csv
node bench/train-profile.js --model "$MODEL" --B "$B" --T "$T" --steps 5 2>&1 | tail -6
# two steps before the measured one (warm caches and allocations)
MYPT_TRAIN_GRAPH=${MYPT_TRAIN_GRAPH:-0} "$NCU" --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --print-units base \
  node bench/train-profile.js --model "$MODEL" --B "$B" --T "$T" --warmup 2 --steps 1 >"$CSV" 2>/dev/null ||
  { echo "ncu failed"; tail -5 "$CSV"; exit 1; }
node bench/ncu-sum.js "$CSV" --unit adamw --window last
