#!/usr/bin/env bash
# Builds and runs the GPU attention check (test/native/check_attention.cu) on a GPU host:
#   scripts/gpu-attn-check.sh            build (unless build-attn/check_attention already runs), the checks
#                                         on small shapes, all checks and the timings, compute-sanitizer
#                                         (memcheck, racecheck) on small shapes, then PyTorch's SDPA at the
#                                         timed shapes in one table (test/native/attention_sdpa_table.py) and
#                                         anchor_bench.py attn when torch is there
#   scripts/gpu-attn-check.sh build      only build (no GPU needed): build-attn/check_attention
#                                         (the Hopper kernels of cuda/attention_sm90.cu for sm_90a, the rest
#                                         for sm_80 and sm_90; ptxas's report in build-attn/ptxas-sm90.log)
# Environment: NVCC (default nvcc), ANCHOR_BENCH (path of anchor_bench.py), SKIP_SANITIZER=1, EXTRA args to
# the check, LOGS (folder for the logs; default $OUT, else build-attn).
set -u
cd "$(dirname "$0")/.."
NVCC=${NVCC:-nvcc}
BIN=build-attn/check_attention
build() {
  mkdir -p build-attn
  # the engine (cuda/device.cu's error mapping needs it) and the CPU backend, whose attention is checked
  # against the same double-precision reference
  (cd build-attn && rm -f *.o libcore.a && for f in ../binding/engine/*.cc ../binding/cpu/*.cc; do
     o="$(basename "$(dirname "$f")")_$(basename "$f" .cc).o"
     ${CXX:-g++} -std=c++17 -O3 -fno-math-errno -pthread -I../binding -c "$f" -o "$o" &
   done; wait; ar rcs libcore.a *.o) || return 1
  local f=(-std=c++17 -O3 --expt-relaxed-constexpr -lineinfo -Ibinding -Icuda)
  local a=(-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90)
  # the Hopper kernels: sm_90a only (wgmma, setmaxnreg); the objects compile in parallel
  "$NVCC" "${f[@]}" -gencode=arch=compute_90a,code=sm_90a -DMYPT_ATTN_SM90=1 -Xptxas -v \
    -c cuda/attention_sm90.cu -o build-attn/attention_sm90.o 2>build-attn/ptxas-sm90.log & p1=$!
  "$NVCC" "${f[@]}" "${a[@]}" -c cuda/attention.cu -o build-attn/attention.o & p2=$!
  "$NVCC" "${f[@]}" "${a[@]}" -c cuda/device.cu -o build-attn/device.o & p4=$!
  "$NVCC" "${f[@]}" "${a[@]}" -DMYPT_WITH_CPU_OPS -c test/native/check_attention.cu -o build-attn/check_attention.o & p3=$!
  wait $p1 && wait $p2 && wait $p3 && wait $p4 || return 1
  grep -E "spill|Used|C75" build-attn/ptxas-sm90.log | grep -v " 0 bytes spill" || true
  "$NVCC" "${a[@]}" build-attn/attention_sm90.o build-attn/attention.o build-attn/device.o build-attn/check_attention.o \
    build-attn/libcore.a -o "$BIN" -lpthread -ldl
}
if [ "${1:-}" = build ]; then build; exit $?; fi
LOGS=${LOGS:-${OUT:-build-attn}}
mkdir -p "$LOGS"
if ! { [ -x "$BIN" ] && "$BIN" --ref-selftest >/dev/null 2>&1; }; then build || exit 1; fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader || true
rc=0
# Phases with their own time limits (seconds; env QUICK_T, CHECK_T, BENCH_T, SAN_T, PY_T), so that a hung
# kernel costs one phase: after a timeout in the small checks, the rest is skipped.
echo "== checks, small shapes"
timeout ${QUICK_T:-40} "$BIN" --quick >"$LOGS/check-quick.log" 2>&1; q=$?
grep -E "FAIL|CHECKS|WORST|device|rror" "$LOGS/check-quick.log"; echo "quick exit $q"
if [ $q = 124 ]; then echo "the small checks hung: stopping"; exit 1; fi
[ $q = 0 ] || rc=1
echo "== checks"
timeout ${CHECK_T:-150} "$BIN" --no-bench ${EXTRA:-} >"$LOGS/check.log" 2>&1 || rc=1
grep -E "FAIL|CHECKS|WORST|rror" "$LOGS/check.log"
echo "== timings"
timeout ${BENCH_T:-120} "$BIN" --bench-only ${EXTRA:-} >"$LOGS/bench.log" 2>&1 || rc=1
grep -E "BENCH|variant|rror" "$LOGS/bench.log"
if [ -z "${SKIP_SANITIZER:-}" ] && command -v compute-sanitizer >/dev/null; then
  timeout ${SAN_T:-90} compute-sanitizer --tool memcheck --error-exitcode 3 "$BIN" --quick >"$LOGS/san-mem.log" 2>&1; m=$?
  grep -E "ERROR SUMMARY|CHECKS" "$LOGS/san-mem.log" | tail -n 2; echo "memcheck exit $m"
  timeout ${SAN_T:-90} compute-sanitizer --tool racecheck --error-exitcode 3 "$BIN" --quick >"$LOGS/san-race.log" 2>&1; r=$?
  grep -E "RACECHECK SUMMARY|ERROR SUMMARY|CHECKS" "$LOGS/san-race.log" | tail -n 2; echo "racecheck exit $r"
  [ $m = 0 ] && [ $r = 0 ] || rc=1
fi
AB=${ANCHOR_BENCH:-}
[ -n "$AB" ] || for f in shared/tools/anchor_bench.py ../shared/tools/anchor_bench.py /work/shared/tools/anchor_bench.py; do [ -f "$f" ] && AB=$f && break; done
if [ -z "${SKIP_TORCH:-}" ] && python3 -c 'import torch' 2>/dev/null; then
  if [ -n "$AB" ]; then
    AB=$(realpath "$AB")
    (cd "$LOGS" && OUT="$LOGS" PYTHONUNBUFFERED=1 timeout ${PY_T:-100} python3 "$AB" attn 2>&1 | tail -n 1)
  fi
  PYTHONUNBUFFERED=1 timeout ${PY_T:-100} python3 test/native/attention_sdpa_table.py "$LOGS/bench.log" | tee "$LOGS/table.md"
fi
exit $rc
