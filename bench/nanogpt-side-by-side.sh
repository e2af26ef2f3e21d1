#!/usr/bin/env bash
# nanoGPT's own, unmodified train.py and `mypt-native train` on the same tokens and the same configuration, one
# after the other on this machine, then one table: steady-state tokens/s and the best validation loss of each,
# and the exact commands run (bench/nanogpt-side-by-side.js reads the logs).
#   bench/nanogpt-side-by-side.sh [NANOGPT_DIR]          (or NANOGPT_DIR=...: a karpathy/nanoGPT checkout)
#
# The data: the bundled Tiny Shakespeare, GPT-2 BPE, the last 10% of the ids for validation, written by
# `mypt-native prepare --format nanogpt` as nanoGPT's train.bin / val.bin; train.py reads them through
# --dataset=<absolute folder> (os.path.join('data', '/abs') is '/abs'), mypt-native through --data.
# Settings, from the environment (defaults: GPT-2 124M on one GPU, about 1-2 minutes a trainer on an H100):
#   DEVICE=cuda COMPILE=True DTYPE=bfloat16    nanoGPT's device, torch.compile and autocast dtype; mypt-native
#                                              computes in bf16 on a GPU (fp32 master weights), fp32 on the CPU
#   ITERS=300 EVAL_INTERVAL=100 EVAL_ITERS=20  steps, evaluations (at 0, 100, ..., ITERS), batches per estimate
#   N_LAYER=12 N_HEAD=12 N_EMBD=768 BLOCK_SIZE=1024 BATCH_SIZE=16 BIAS=False DROPOUT=0.0
#   LR=6e-4 MIN_LR=LR/10 WARMUP_ITERS=ITERS/10 (cosine decay to MIN_LR at ITERS) WEIGHT_DECAY=0.1 BETA2=0.95 GRAD_CLIP=1.0
#   SKIP=10        the first iterations left out of tokens/s (compilation, warm-up)
#   PYTHON=python3 WORK=a new folder under /tmp (data, logs, checkpoints)  OUT=also copy the table and logs here
# A CPU smoke run (minutes on two cores):
#   DEVICE=cpu COMPILE=False DTYPE=float32 N_LAYER=2 N_HEAD=2 N_EMBD=64 BLOCK_SIZE=64 BATCH_SIZE=4 ITERS=20 \
#     EVAL_INTERVAL=10 EVAL_ITERS=5 SKIP=5 bench/nanogpt-side-by-side.sh /tmp/nanogpt
# nanoGPT trains one step more than mypt-native (its loop runs iterations 0..ITERS and evaluates before the
# last); the evaluations are at the same steps. mypt-native writes its bundle in the background while training
# goes on, so that cost lands in the iterations after an evaluation, which are timed; nanoGPT's save is inside
# the evaluation's iteration, which is not.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

NANOGPT_DIR=${1:-${NANOGPT_DIR:-}}
[ -n "$NANOGPT_DIR" ] || { echo "error: name a nanoGPT checkout: bench/nanogpt-side-by-side.sh DIR (or NANOGPT_DIR=DIR)" >&2; exit 1; }
[ -d "$NANOGPT_DIR" ] || { echo "error: $NANOGPT_DIR is not a folder" >&2; exit 1; }
NANOGPT_DIR=$(cd "$NANOGPT_DIR" && pwd)
for f in train.py model.py configurator.py; do
  [ -f "$NANOGPT_DIR/$f" ] || { echo "error: $NANOGPT_DIR/$f not found: NANOGPT_DIR must be a karpathy/nanoGPT checkout" >&2; exit 1; }
done

DEVICE=${DEVICE:-cuda}
COMPILE=${COMPILE:-True}
DTYPE=${DTYPE:-bfloat16}
ITERS=${ITERS:-300}
EVAL_INTERVAL=${EVAL_INTERVAL:-100}
EVAL_ITERS=${EVAL_ITERS:-20}
N_LAYER=${N_LAYER:-12}
N_HEAD=${N_HEAD:-12}
N_EMBD=${N_EMBD:-768}
BLOCK_SIZE=${BLOCK_SIZE:-1024}
BATCH_SIZE=${BATCH_SIZE:-16}
BIAS=${BIAS:-False}
DROPOUT=${DROPOUT:-0.0}
LR=${LR:-6e-4}
MIN_LR=${MIN_LR:-$(awk "BEGIN { print $LR / 10 }")}
WARMUP_ITERS=${WARMUP_ITERS:-$((ITERS / 10))}
WEIGHT_DECAY=${WEIGHT_DECAY:-0.1}
BETA2=${BETA2:-0.95}
GRAD_CLIP=${GRAD_CLIP:-1.0}
SKIP=${SKIP:-10}
PYTHON=${PYTHON:-python3}
WORK=${WORK:-$(mktemp -d /tmp/nanogpt-side-by-side.XXXXXX)}
mkdir -p "$WORK"
case $BIAS in True) MYPT_BIAS=--bias ;; False) MYPT_BIAS=--no-bias ;; *) echo "error: BIAS must be True or False" >&2; exit 1 ;; esac

# Node: on a GPU host without it, the .gpu/ stage (scripts/gpu-stage-slim.sh), as scripts/gpu-node.sh does
if ! command -v node >/dev/null && [ -f .gpu/env.sh ]; then
  source .gpu/env.sh
  if [ -L lib ]; then rm -f lib && cp -r .gpu/lib lib; fi  # the addon is found relative to lib/'s real path
fi
command -v node >/dev/null || { echo "error: no node on the PATH (and no .gpu/env.sh)" >&2; exit 1; }
[ -f lib/cli/main.js ] || { echo "error: lib/ is not built: npm run build:ts (or scripts/gpu-node.sh on a GPU host)" >&2; exit 1; }
if [ "$DEVICE" != cpu ]; then
  node -e "const b = require('./lib/native').loadAddon().backends(); if (!b.cuda) { console.error('error: mypt-native cannot use the GPU: ' + b.cudaReason + ' (build the addon with CUDA: scripts/gpu-node.sh)'); process.exit(1); }"
fi
"$PYTHON" -c 'import numpy, torch' || { echo "error: $PYTHON cannot import numpy and torch (nanoGPT's train.py needs them)" >&2; exit 1; }
TORCH=$("$PYTHON" -c 'import torch; print(torch.__version__)')

echo "work folder: $WORK"
DATA=$WORK/data
if [ ! -f "$DATA/manifest.json" ]; then
  node bin/mypt-native.js prepare --input data/tinyshakespeare.txt --out "$DATA" --format nanogpt --tokenization gpt2 \
    --val_fraction 0.1 >"$WORK/prepare.log" 2>&1 || { tail -5 "$WORK/prepare.log"; exit 1; }
fi
grep -E '^(train|val):' "$WORK/prepare.log" 2>/dev/null || true
rm -rf "$WORK/nanogpt-out" "$WORK/mypt-checkpoints"  # a fresh start each (mypt-native would resume a bundle)

NANO=("$PYTHON" train.py --init_from=scratch --dataset="$DATA" --out_dir="$WORK/nanogpt-out"
  --n_layer="$N_LAYER" --n_head="$N_HEAD" --n_embd="$N_EMBD" --block_size="$BLOCK_SIZE" --bias="$BIAS" --dropout="$DROPOUT"
  --batch_size="$BATCH_SIZE" --gradient_accumulation_steps=1
  --learning_rate="$LR" --max_iters="$ITERS" --decay_lr=True --warmup_iters="$WARMUP_ITERS" --lr_decay_iters="$ITERS" --min_lr="$MIN_LR"
  --weight_decay="$WEIGHT_DECAY" --beta1=0.9 --beta2="$BETA2" --grad_clip="$GRAD_CLIP"
  --eval_interval="$EVAL_INTERVAL" --eval_iters="$EVAL_ITERS" --log_interval=1 --always_save_checkpoint=False --wandb_log=False
  --device="$DEVICE" --dtype="$DTYPE" --compile="$COMPILE")
MYPT=(node bin/mypt-native.js train --data "$DATA" --arch gpt2
  --n_layer "$N_LAYER" --n_head "$N_HEAD" --n_embd "$N_EMBD" --block_size "$BLOCK_SIZE" "$MYPT_BIAS" --dropout "$DROPOUT"
  --batch_size "$BATCH_SIZE" --gradient_accumulation_steps 1
  --learning_rate "$LR" --max_iters "$ITERS" --warmup_iters "$WARMUP_ITERS" --lr_decay_iters "$ITERS" --min_lr "$MIN_LR"
  --weight_decay "$WEIGHT_DECAY" --beta1 0.9 --beta2 "$BETA2" --grad_clip "$GRAD_CLIP"
  --eval_interval "$EVAL_INTERVAL" --eval_iters "$EVAL_ITERS" --log_interval 1 --seed 1337 --sample_tokens 0
  --device "$DEVICE" --checkpoints_dir "$WORK/mypt-checkpoints" --model_name side-by-side)
{ printf 'cd %q && ' "$NANOGPT_DIR"; printf '%q ' "${NANO[@]}"; } >"$WORK/nanogpt.cmd"
{ printf 'cd %q && CI=1 ' "$ROOT"; printf '%q ' "${MYPT[@]}"; } >"$WORK/mypt.cmd"

# run NAME LOG DIR CMD...: the command in DIR, its output to LOG, the evaluation lines on the screen; sets WALL
run() {
  local name=$1 log=$2 dir=$3
  shift 3
  echo "== $name (log: $log)"
  local t0 rc
  t0=$(date +%s.%N)
  set +e
  (cd "$dir" && PYTHONUNBUFFERED=1 CI=1 exec "$@") 2>&1 | tee "$log" | grep --line-buffered -E '^step [0-9]+: '
  rc=${PIPESTATUS[0]}
  set -e
  WALL=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
  if [ "$rc" != 0 ]; then
    echo "error: $name exited with $rc; the end of its log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
}
run "nanoGPT train.py (torch $TORCH, compile=$COMPILE, $DEVICE)" "$WORK/nanogpt.log" "$NANOGPT_DIR" "${NANO[@]}"
NANO_WALL=$WALL
run "mypt-native train ($DEVICE)" "$WORK/mypt.log" "$ROOT" "${MYPT[@]}"
MYPT_WALL=$WALL

echo
echo "GPT-2 ${N_LAYER}x${N_EMBD} (${N_HEAD} heads), batch ${BATCH_SIZE} x ${BLOCK_SIZE}, $ITERS iterations on $DEVICE, Tiny Shakespeare (GPT-2 BPE)" | tee "$WORK/side-by-side.txt"
node bench/nanogpt-side-by-side.js --nanogpt "$WORK/nanogpt.log" --mypt "$WORK/mypt.log" \
  --tokens_per_iter $((BATCH_SIZE * BLOCK_SIZE)) --skip "$SKIP" --eval_interval "$EVAL_INTERVAL" \
  --nanogpt_cmd "$WORK/nanogpt.cmd" --mypt_cmd "$WORK/mypt.cmd" --nanogpt_wall "$NANO_WALL" --mypt_wall "$MYPT_WALL" \
  --json "$WORK/side-by-side.json" | tee -a "$WORK/side-by-side.txt"
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT" && cp "$WORK"/side-by-side.txt "$WORK"/side-by-side.json "$WORK"/nanogpt.log "$WORK"/mypt.log "$OUT"/
fi
