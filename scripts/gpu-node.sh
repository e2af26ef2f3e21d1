#!/usr/bin/env bash
# On a GPU host without npm (e.g. the offline H100 host): build the addon and the cuBLASLt plugin with
# plain CMake, then run the node GPU tests and, with `bench`, `mypt-native bench --device cuda --compare
# pytorch`. Node and node_modules come from the .gpu/ stage (scripts/gpu-stage-slim.sh) when Node is absent.
#   scripts/gpu-node.sh [test] [bench]        logs go to $OUT (or /tmp)
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-/tmp}
if ! command -v node >/dev/null && [ -f .gpu/env.sh ]; then
  source .gpu/env.sh
  if [ -L lib ]; then rm -f lib && cp -r .gpu/lib lib; fi  # the addon is found relative to lib/'s real path
fi
NH=$PWD/node_modules
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DMYPT_CUDA=on -DMYPT_CUDA_ARCHS="${MYPT_CUDA_ARCHS:-90}" \
  -DNODE_API_HEADERS_DIR="$NH/node-api-headers/include" -DNODE_ADDON_API_DIR="$NH/node-addon-api" >"$LOG/cmake.log" 2>&1 ||
  { tail -20 "$LOG/cmake.log"; exit 2; }
grep -E "mypt-native:" "$LOG/cmake.log"
targets=(mypt_native)
grep -q "cuBLASLt plugin ON" "$LOG/cmake.log" && targets+=(mypt_cublaslt)
cmake --build build-gpu -j"$(nproc)" --target "${targets[@]}" >"$LOG/build.log" 2>&1 || { grep -A3 error "$LOG/build.log" | head -40; exit 2; }
mkdir -p build/Release && cp build-gpu/mypt_native.node build/Release/
[ -f build-gpu/mypt_cublaslt.so ] && cp build-gpu/mypt_cublaslt.so build/Release/
node -e "const b=require('./lib/native').loadAddon().backends(); console.log('backends:', JSON.stringify({cuda:b.cuda, devices:b.devices.map(d=>d.name), reason:b.cudaReason, cublasLt:b.cublasLt, cublasLtReason:b.cublasLtReason, nccl:b.nccl, ncclVersion:b.ncclVersion, ncclReason:b.ncclReason}))"
rc=0
for what in "${@:-test}"; do
  case $what in
    test) node test/run.js test/gpu >"$LOG/node-gpu.log" 2>&1 || rc=1
          grep -E "FAIL|skipping|passed, " "$LOG/node-gpu.log" | tail -15 ;;
    bench) node bin/mypt-native.js bench --device cuda --compare pytorch --json "$LOG/bench-cuda.json" 2>&1 | tee "$LOG/bench-cuda.txt" || rc=1 ;;
  esac
done
exit $rc
