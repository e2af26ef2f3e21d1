#!/usr/bin/env bash
# Data-parallel training on a host of several GPUs (issue #18): the figures the CPU tests cannot give.
#   scripts/multi-gpu.sh [scaling] [curve] [kill]      (default: all three)
#   scaling  GPT-2 124M (12 x 768, 12 heads), B16 T1024 per GPU, bf16, on 1, 2, 4, 8 GPUs (those present):
#            steady tokens/s (from the cumulative rate at the middle and the end of the run), and the
#            scaling efficiency tokens/s(N) / (N * tokens/s(1))
#   curve    the same model, 2 GPUs against 1 GPU with --grad_accum 2 (the same global batch and data):
#            train/val loss every 25 steps, side by side, and their largest relative difference
#   kill     a 2-GPU run whose rank 1 is killed (SIGKILL) mid-run: seconds until the job ends, and its message
# Logs, bundles and multi-gpu-summary.txt go to $OUT (or /tmp/mypt-multi-gpu). Environment: SIZES (world
# sizes, default "1 2 4 8" up to the GPUs present), STEPS (scaling steps, default 60), CURVE_STEPS (300),
# MYPT (the command, default "node bin/mypt-native.js"), PORT (default 29500), REDUCE_DTYPE (fp32|bf16).
# The addon must be built with CUDA and NCCL found (backends()): run `scripts/gpu-node.sh test` first (it
# builds with plain CMake, then runs test/gpu, test/gpu/nccl.test.js included). Without Node on the host,
# Node and node_modules come from the .gpu/ stage (scripts/gpu-stage-slim.sh), as for gpu-node.sh.
# NVLink multicast stays off: the variables below are exported, and the launcher sets them in every worker.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null && [ -f .gpu/env.sh ]; then
  source .gpu/env.sh
  if [ -L lib ]; then rm -f lib && cp -r .gpu/lib lib; fi
fi
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 CI=1
OUTDIR=${OUT:-/tmp/mypt-multi-gpu}
mkdir -p "$OUTDIR"
SUMMARY="$OUTDIR/multi-gpu-summary.txt"
: >"$SUMMARY"
say() { echo "$@" | tee -a "$SUMMARY"; }
MYPT=${MYPT:-node bin/mypt-native.js}
PORT=${PORT:-29500}
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
say "host: $NGPU GPU(s): $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | sort | uniq -c | tr -s ' ' | paste -sd';')"
node -e "const b=require('./lib').backends(); console.log('backends:', JSON.stringify({cuda:b.cuda, devices:b.devices.length, nccl:b.nccl, ncclVersion:b.ncclVersion, ncclReason:b.ncclReason, cublasLt:b.cublasLt}))" | tee -a "$SUMMARY"
node -e "process.exit(require('./lib').backends().nccl ? 0 : 1)" || { say "NCCL is not available: stop"; exit 2; }
GPT2=(--arch gpt2 --tokenization gpt2 --n_layer 12 --n_head 12 --n_embd 768 --block_size 1024 --batch_size 16 --dropout 0
  --device cuda --learning_rate 6e-4 --warmup_iters 20 --lr_decay_iters 100000 --min_lr 6e-5 --weight_decay 0.1 --grad_clip 1
  --sample_tokens 0 --checkpoints_dir "$OUTDIR/ckpt" ${REDUCE_DTYPE:+--reduce_dtype $REDUCE_DTYPE})
rc=0

# tokens/s between the two evaluations of a run: the cumulative rates at steps S1 and S2 (metrics.jsonl)
steady() {
  node -e '
    const [file, tokPerStep] = [process.argv[1], Number(process.argv[2])];
    const m = require("fs").readFileSync(file, "utf8").trim().split("\n").map(JSON.parse).filter((r) => r.tokens_per_s > 0);
    const [a, b] = m.slice(-2);
    const sec = (r) => (r.step * tokPerStep) / r.tokens_per_s;
    console.log(Math.round(((b.step - a.step) * tokPerStep) / (sec(b) - sec(a))));' "$1" "$2"
}

scaling() {
  local steps=${STEPS:-60} sizes=${SIZES:-1 2 4 8} base=""
  say "== scaling: GPT-2 124M, B16 T1024 per GPU, bf16, $steps steps (steady rate over the second half)"
  say "$(printf '%6s %14s %14s %10s' GPUs tokens/s per-GPU efficiency)"
  for n in $sizes; do
    [ "$n" -le "$NGPU" ] || continue
    rm -rf "$OUTDIR/ckpt/scale$n"
    $MYPT train "${GPT2[@]}" --model_name "scale$n" --gpus "$n" --master_port "$PORT" --max_iters "$steps" \
      --eval_interval $((steps / 2)) --eval_iters 1 --save_model_only >"$OUTDIR/scale$n.log" 2>&1 || { say "  $n GPUs: failed (see $OUTDIR/scale$n.log)"; rc=1; continue; }
    local tps; tps=$(steady "$OUTDIR/ckpt/scale$n/metrics.jsonl" $((16 * 1024 * n)))
    [ -n "$base" ] || base=$tps
    say "$(printf '%6d %14d %14d %9.1f%%' "$n" "$tps" $((tps / n)) "$(awk -v t="$tps" -v n="$n" -v b="$base" 'BEGIN { print 100 * t / (n * b) }')")"
  done
}

curve() {
  local steps=${CURVE_STEPS:-300}
  say "== loss curve: 2 GPUs vs 1 GPU with --grad_accum 2, $steps steps, eval every 25 (20 batches)"
  rm -rf "$OUTDIR/ckpt/curve2" "$OUTDIR/ckpt/curve1"
  local common=("${GPT2[@]}" --max_iters "$steps" --eval_interval 25 --eval_iters 20 --save_model_only)
  $MYPT train "${common[@]}" --model_name curve2 --gpus 2 --master_port "$PORT" >"$OUTDIR/curve2.log" 2>&1 || { say "  2 GPUs: failed"; rc=1; return; }
  $MYPT train "${common[@]}" --model_name curve1 --gpus 1 --grad_accum 2 --master_port "$PORT" >"$OUTDIR/curve1.log" 2>&1 || { say "  1 GPU: failed"; rc=1; return; }
  node -e '
    const read = (n) => require("fs").readFileSync(`${process.argv[1]}/ckpt/${n}/metrics.jsonl`, "utf8").trim().split("\n").map(JSON.parse);
    const a = read("curve2"), b = read("curve1");
    let worst = 0;
    console.log("  step   train(2 GPUs) train(1 GPU x2)   val(2 GPUs)  val(1 GPU x2)");
    a.forEach((r, i) => {
      const s = b[i];
      worst = Math.max(worst, Math.abs(r.train_loss - s.train_loss) / s.train_loss, Math.abs(r.val_loss - s.val_loss) / s.val_loss);
      console.log(`  ${String(r.step).padStart(4)} ${r.train_loss.toFixed(4).padStart(15)} ${s.train_loss.toFixed(4).padStart(15)} ${r.val_loss.toFixed(4).padStart(13)} ${s.val_loss.toFixed(4).padStart(14)}`);
    });
    console.log(`  largest relative difference: ${(100 * worst).toFixed(3)}% (bf16: the ranks sum gradients in another order, so the runs drift apart slowly)`);' "$OUTDIR" | tee -a "$SUMMARY"
}

kill_test() {
  say "== a killed rank: 2 GPUs, rank 1 gets SIGKILL mid-run"
  rm -rf "$OUTDIR/ckpt/kill"
  local log="$OUTDIR/kill.log"
  $MYPT train "${GPT2[@]}" --model_name kill --gpus 2 --master_port "$PORT" --max_iters 100000 --eval_interval 100000 --eval_iters 1 \
    --save_model_only >"$log" 2>&1 &
  local job=$!
  for _ in $(seq 600); do grep -q "Saved training state" "$log" && break; sleep 0.5; done
  sleep 20  # training under way
  local pid; pid=$(grep -o 'rank 1 started (pid [0-9]*' "$log" | grep -o '[0-9]*$')
  local t0; t0=$(date +%s.%N)
  kill -9 "$pid"
  wait "$job"; local code=$?
  local t1; t1=$(date +%s.%N)
  say "  the job ended $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s after the kill, exit code $code"
  grep -E "^error|\[rank" "$log" | tail -5 | tee -a "$SUMMARY"
  [ "$code" -ne 0 ] || rc=1
}

for what in "${@:-scaling curve kill}"; do
  for w in $what; do
    case $w in
      scaling) scaling ;;
      curve) curve ;;
      kill) kill_test ;;
      *) echo "unknown: $w (scaling, curve, kill)"; exit 2 ;;
    esac
  done
done
say "summary: $SUMMARY"
exit $rc
