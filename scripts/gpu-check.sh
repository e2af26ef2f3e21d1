#!/usr/bin/env bash
# The GPU test suite of the CUDA backend, in one command, on a GPU host (plain cmake, offline):
#   scripts/gpu-check.sh            build, kernel + whole-model checks against the CPU, the flash-attention
#                                   checks, compute-sanitizer memcheck + racecheck (small shapes), timings
#                                   at the ANCHORS.md shapes, then PyTorch's figures for the same shapes
#   scripts/gpu-check.sh quick      build, checks at small shapes only (no sanitizer, no timings)
# Environment: SKIP_ATTN=1 (no attention check), SANITIZER_TOOLS (default "memcheck racecheck"), BUILD (default build-gpu), MYPT_CUDA_ARCHS (default 90), NODE_HEADERS (folder holding
# include/ of node-api-headers and node-addon-api/, to build the addon too), ANCHOR_BENCH (path of
# anchor_bench.py), SKIP_SANITIZER=1, SKIP_TORCH=1, LOG (folder for logs; default $OUT or /tmp).
# Exit status: 0 when every check passed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-gpu}
LOG=${LOG:-${OUT:-/tmp}}
mkdir -p "$LOG"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader 2>/dev/null || true
args=(-DCMAKE_BUILD_TYPE=Release -DMYPT_NATIVE_TESTS=ON -DMYPT_CUDA=on -DMYPT_CUDA_ARCHS="${MYPT_CUDA_ARCHS:-90}")
targets=(check_cuda_ops check_modded_ops check_attention)
if [ -n "${NODE_HEADERS:-}" ] && [ -d "$NODE_HEADERS/include" ]; then
  args+=(-DNODE_API_HEADERS_DIR="$NODE_HEADERS/include" -DNODE_ADDON_API_DIR="$NODE_HEADERS/node-addon-api")
  targets+=(mypt_native)
fi
cmake -S . -B "$BUILD" "${args[@]}" >"$LOG/cmake.log" 2>&1 || { tail -30 "$LOG/cmake.log"; exit 2; }
grep -E "mypt-native:" "$LOG/cmake.log"
if grep -q "cuBLASLt plugin ON" "$LOG/cmake.log"; then targets+=(mypt_cublaslt); fi
cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]}" >"$LOG/build.log" 2>&1 || { grep -E "error" -A3 "$LOG/build.log" | head -60; exit 2; }
echo "built: ${targets[*]}"
rc=0
if [ "${1:-}" = quick ]; then
  "$BUILD/check_cuda_ops" --quick | tee "$LOG/check_cuda_ops.log" | grep -v '^PASS' || true
  [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  "$BUILD/check_modded_ops" | tee "$LOG/check_modded_ops.log" | grep -v '^PASS' || true
  [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  exit $rc
fi
"$BUILD/check_cuda_ops" --no-bench >"$LOG/check_cuda_ops.log" 2>&1 || rc=1
grep -v '^PASS' "$LOG/check_cuda_ops.log"
"$BUILD/check_modded_ops" >"$LOG/check_modded_ops.log" 2>&1 || rc=1
grep -v '^PASS' "$LOG/check_modded_ops.log"
"$BUILD/check_cuda_ops" --bench-only 2>&1 | tee "$LOG/bench.log" | grep -E "BENCH|FAIL"
if [ -z "${SKIP_ATTN:-}" ]; then
  "$BUILD/check_attention" >"$LOG/check_attention.log" 2>&1 || rc=1
  grep -E "FAIL|CHECKS|^BENCH" "$LOG/check_attention.log" | tail -8
fi
AB=${ANCHOR_BENCH:-}
[ -n "$AB" ] || for f in .tools/anchor_bench.py ../shared/tools/anchor_bench.py /work/shared/tools/anchor_bench.py; do [ -f "$f" ] && AB=$f && break; done
if [ -z "${SKIP_TORCH:-}" ] && [ -n "$AB" ] && python3 -c 'import torch' 2>/dev/null; then
  echo "== PyTorch on the same GPU ($AB) =="
  PYTHONUNBUFFERED=1 timeout ${TORCH_TIMEOUT:-240} python3 "$AB" ${TORCH_SUITES:-matmul adam train_eager train_compile} >"$LOG/torch.log" 2>&1
  grep -vE "^\s*$|Warning|warn" "$LOG/torch.log" | tail -25
fi
# The node tests of the CUDA backend (test/gpu), when Node.js is there (NODE_STAGE: a folder holding
# node.xz and node_modules/, for GPU hosts without Node) and the addon was built.
if [ -n "${NODE_STAGE:-}" ] && [ -f "$NODE_STAGE/node.xz" ]; then
  mkdir -p /tmp/nodebin
  [ -x /tmp/nodebin/node ] || { xz -dc "$NODE_STAGE/node.xz" > /tmp/nodebin/node && chmod +x /tmp/nodebin/node; }
  export PATH=/tmp/nodebin:$PATH
  [ -e node_modules ] || ln -s "$NODE_STAGE/node_modules" node_modules
fi
if command -v node >/dev/null && [ -f "$BUILD/mypt_native.node" ] && [ -d lib ]; then
  mkdir -p build/Release
  cp "$BUILD/mypt_native.node" build/Release/
  [ -f "$BUILD/mypt_cublaslt.so" ] && cp "$BUILD/mypt_cublaslt.so" build/Release/
  node test/run.js test/gpu >"$LOG/node-gpu.log" 2>&1 || rc=1
  grep -E "CUDA device|skipping|steps|worst|FAIL|✘|passed, " "$LOG/node-gpu.log" | tail -20
fi
if [ -z "${SKIP_SANITIZER:-}" ] && command -v compute-sanitizer >/dev/null; then
  for tool in ${SANITIZER_TOOLS:-memcheck racecheck}; do
    for prog in "check_cuda_ops --quick" check_modded_ops; do
      log="$LOG/sanitizer-$tool-${prog%% *}.log"
      compute-sanitizer --tool $tool --error-exitcode 3 "$BUILD/"$prog >"$log" 2>&1
      s=$?
      echo "compute-sanitizer $tool on $prog: exit $s; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)"
      [ $s = 0 ] || rc=1
    done
  done
fi
echo "gpu-check: $([ $rc = 0 ] && echo ALL PASSED || echo FAILURES)"
exit $rc
