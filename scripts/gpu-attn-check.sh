#!/usr/bin/env bash
# Builds and runs the GPU attention check (test/native/check_attention.cu) on a GPU host:
#   scripts/gpu-attn-check.sh            build, run the checks and the timings, compute-sanitizer
#                                         (memcheck, racecheck) on small shapes, PyTorch's attention
#                                         figures (../shared/tools/anchor_bench.py attn) when torch is there
#   scripts/gpu-attn-check.sh build      only build (no GPU needed): build-attn/check_attention
# Environment: NVCC (default nvcc), ANCHOR_BENCH (path of anchor_bench.py), SKIP_SANITIZER=1, EXTRA args to the check.
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
     ${CXX:-g++} -std=c++17 -O3 -fno-math-errno -pthread -I../binding -c "$f" -o "$o" || exit 1
   done && ar rcs libcore.a *.o) || return 1
  "$NVCC" -std=c++17 -O3 --expt-relaxed-constexpr -lineinfo \
    -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
    -Ibinding -Icuda -DMYPT_WITH_CPU_OPS cuda/attention.cu cuda/device.cu test/native/check_attention.cu \
    build-attn/libcore.a -o "$BIN" -lpthread -ldl
}
if [ "${1:-}" = build ]; then build; exit $?; fi
[ -x "$BIN" ] || build || exit 1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader || true
rc=0
"$BIN" ${EXTRA:-} || rc=1
if [ -z "${SKIP_SANITIZER:-}" ] && command -v compute-sanitizer >/dev/null; then
  compute-sanitizer --tool memcheck --error-exitcode 3 "$BIN" --quick >/tmp/san-mem.log 2>&1; m=$?
  tail -n 3 /tmp/san-mem.log; echo "memcheck exit $m"
  compute-sanitizer --tool racecheck --error-exitcode 3 "$BIN" --quick >/tmp/san-race.log 2>&1; r=$?
  tail -n 3 /tmp/san-race.log; echo "racecheck exit $r"
  [ $m = 0 ] && [ $r = 0 ] || rc=1
fi
AB=${ANCHOR_BENCH:-}
[ -n "$AB" ] || for f in shared/tools/anchor_bench.py ../shared/tools/anchor_bench.py /work/shared/tools/anchor_bench.py; do [ -f "$f" ] && AB=$f && break; done
if [ -n "$AB" ] && python3 -c 'import torch' 2>/dev/null; then
  PYTHONUNBUFFERED=1 python3 "$AB" attn || true
fi
exit $rc
