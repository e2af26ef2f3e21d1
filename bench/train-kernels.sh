#!/usr/bin/env bash
# Where one training step's GPU time goes, kernel by kernel (GPU host; Nsight Compute, no nsys):
#   bench/train-kernels.sh [124M|350M] [B] [T]      (bf16, the bench's GPT-2 shapes)
# ncu times each kernel of the last step alone (clocks and caches left as they are); the table sums them per
# kernel name. The step runs as its CUDA graph under ncu, as it trains (MYPT_TRAIN_GRAPH=0 for the eager step:
# the same kernels; ncu's replay of the graph's nodes failed with LaunchFailed at the LayerNorm backward until
# the kernels' shared-memory limits were raised once, outside any capture: device.cu allow_dynamic_smem). The
# wall time per step comes from train-profile.js without ncu: the difference is launch gaps, host work and
# what ncu's one-at-a-time replay changes.
set -uo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-124M}
B=${2:-16}
T=${3:-1024}
NCU=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}
CSV=${OUT:-/tmp}/train-kernels.csv
node bench/train-profile.js --model "$MODEL" --B "$B" --T "$T" --steps 5 2>&1 | tail -6
# two steps before the measured one (warm caches and allocations)
MYPT_TRAIN_GRAPH=${MYPT_TRAIN_GRAPH:-1} "$NCU" --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --print-units base \
  node bench/train-profile.js --model "$MODEL" --B "$B" --T "$T" --warmup 2 --steps 1 >"$CSV" 2>/dev/null ||
  { echo "ncu failed"; tail -5 "$CSV"; exit 1; }
node bench/ncu-sum.js "$CSV" --unit adamw --window last
