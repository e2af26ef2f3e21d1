#!/usr/bin/env bash
# Everything a GPU host run needs, in one call (plain CMake, offline; Node from the .gpu/ stage when the
# host has none: scripts/gpu-stage-slim.sh first, and carry .gpu):
#   scripts/gpu-all.sh [build] [checks] [node] [bench] [decode] [sanitizer] [attn] [torch]   (default: build checks node)
#     build      configure + build the addon, the cuBLASLt plugin and the check programs (one build, -j all cores)
#     checks     check_cuda_ops --no-bench, check_modded_ops (kernels and engines against the CPU)
#     node       the node GPU tests (test/gpu)
#     bench      npm run bench -- --device cuda --compare pytorch (BENCH_ARGS, e.g. "--quick --suite train")
#     decode     the bench's generate suite (no peer) and bench/decode-profile.js at GPT-2 124M bf16
#     sanitizer  compute-sanitizer memcheck + racecheck on the checks' small shapes (built-in GEMMs for racecheck)
#     attn       scripts/gpu-attn-check.sh's checks and timings of the attention kernels beside SDPA
#     torch      ../shared/tools/anchor_bench.py (TORCH_SUITES) for PyTorch's own figures
#     ab         before/after in this one call: builds the baseline staged by scripts/gpu-stage-base.sh REF
#                (.gpu/base, or AB_STAGE) in /tmp/mypt-base (or AB_BUILD), then runs each AB_CMDS line (default: the train and decode
#                profiles) AB_ROUNDS times (2), alternating this tree and the baseline's. Only the native code
#                differs: the baseline runs this tree's lib/, bench/ and test/ (so a command both sides run must
#                exist in both addons)
# Logs go to $OUT (or /tmp/gpu-all); the summary lines are printed as each step ends. Exit 0 when all passed.
# GPU_ONLY=TEXT (e.g. H200): do nothing, and exit 0, unless the first GPU's name contains TEXT (a call that
# is after one card's figures and got another).
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-/tmp/gpu-all}
mkdir -p "$LOG"
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(build checks node)
has() { local s; for s in "${steps[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
if ! command -v node >/dev/null && [ -f .gpu/env.sh ]; then
  source .gpu/env.sh
  if [ -L lib ]; then rm -f lib && cp -r .gpu/lib lib; fi  # the addon is found relative to lib/'s real path
fi
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader 2>/dev/null | head -1)
echo "$gpu"
if [ -n "${GPU_ONLY:-}" ] && [[ "$gpu" != *"$GPU_ONLY"* ]]; then echo "gpu-all: the GPU's name lacks GPU_ONLY=$GPU_ONLY: nothing run"; exit 0; fi
rc=0
B=build-gpu
if has build; then
  NH=$PWD/node_modules
  t0=$(date +%s)
  cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DMYPT_CUDA=on -DMYPT_CUDA_ARCHS="${MYPT_CUDA_ARCHS:-90}" -DMYPT_NATIVE_TESTS=ON \
    -DNODE_API_HEADERS_DIR="$NH/node-api-headers/include" -DNODE_ADDON_API_DIR="$NH/node-addon-api" >"$LOG/cmake.log" 2>&1 ||
    { tail -20 "$LOG/cmake.log"; exit 2; }
  grep -E "mypt-native:" "$LOG/cmake.log"
  targets=(mypt_native check_cuda_ops check_modded_ops check_attention)
  grep -q "cuBLASLt plugin ON" "$LOG/cmake.log" && targets+=(mypt_cublaslt)
  cmake --build $B -j"$(nproc)" --target "${targets[@]}" >"$LOG/build.log" 2>&1 || { grep -E "error" -A3 "$LOG/build.log" | head -40; exit 2; }
  mkdir -p build/Release && cp $B/mypt_native.node build/Release/
  [ -f $B/mypt_cublaslt.so ] && cp $B/mypt_cublaslt.so build/Release/ && cp $B/mypt_cublaslt.so $B/ 2>/dev/null
  echo "built ${targets[*]} in $(( $(date +%s) - t0 )) s"
  node -e "const b=require('./lib').backends(); console.log('backends:', JSON.stringify({cuda:b.cuda, devices:b.devices.map(d=>d.name), cublasLt:b.cublasLt, reason:b.cudaReason||b.cublasLtReason}))"
fi
if has checks; then
  "$B/check_cuda_ops" --no-bench >"$LOG/check_cuda_ops.log" 2>&1 || rc=1
  grep -E "FAIL|SUMMARY" "$LOG/check_cuda_ops.log" | tail -12
  "$B/check_modded_ops" >"$LOG/check_modded_ops.log" 2>&1 || rc=1
  grep -E "FAIL|SUMMARY" "$LOG/check_modded_ops.log" | tail -6
fi
if has node; then
  node test/run.js test/gpu >"$LOG/node-gpu.log" 2>&1 || rc=1
  grep -E "CUDA device|skipping|worst|FAIL|✘|passed, " "$LOG/node-gpu.log" | tail -25
fi
if has bench; then
  eval "bargs=(${BENCH_ARGS:-})"  # as a shell reads them: --case "train_step B16" is one case
  node bin/mypt-native.js bench --device cuda --compare pytorch "${bargs[@]}" --json "$LOG/bench-cuda.json" >"$LOG/bench.txt" 2>&1 || rc=1
  cat "$LOG/bench.txt" | tail -40
fi
if has decode; then
  node bin/mypt-native.js bench --device cuda --quick --suite generate --json "$LOG/bench-generate.json" >"$LOG/bench-generate.txt" 2>&1 || rc=1
  grep -E "generate/|error" "$LOG/bench-generate.txt"
  node bench/decode-profile.js --tokens 200 --layers 12 --precision bf16 >"$LOG/decode-profile.txt" 2>&1 || rc=1
  grep -E "bf16|rror" "$LOG/decode-profile.txt"
fi
if has sanitizer && command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    for prog in "check_cuda_ops --quick" check_modded_ops; do
      log="$LOG/sanitizer-$tool-${prog%% *}.log"
      env=(); [ $tool = racecheck ] && env=(MYPT_CUBLASLT=0)  # cuBLAS's own kernels report hazards of their own
      env "${env[@]}" timeout ${SAN_T:-240} compute-sanitizer --tool $tool --error-exitcode 3 "$B/"$prog >"$log" 2>&1
      s=$?
      echo "compute-sanitizer $tool on $prog: exit $s; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)"
      [ $s = 0 ] || rc=1
    done
  done
fi
if has attn; then
  LOGS="$LOG" SKIP_SANITIZER=${SKIP_SANITIZER:-} scripts/gpu-attn-check.sh >"$LOG/attn.log" 2>&1 || rc=1
  grep -vE "^\s*$" "$LOG/attn.log" | tail -40
fi
if has torch; then
  AB=${ANCHOR_BENCH:-}
  [ -n "$AB" ] || for f in .tools/anchor_bench.py ../shared/tools/anchor_bench.py; do [ -f "$f" ] && AB=$f && break; done
  [ -n "$AB" ] && PYTHONUNBUFFERED=1 timeout ${TORCH_T:-300} python3 "$AB" ${TORCH_SUITES:-train_eager train_compile gen} >"$LOG/torch.log" 2>&1
  grep -vE "^\s*$|Warning|warn" "$LOG/torch.log" | tail -25
fi
if has ab; then
  STAGE=${AB_STAGE:-.gpu/base}
  if [ ! -f $STAGE/REF ]; then
    echo "ab: no baseline staged (scripts/gpu-stage-base.sh REF)"; rc=1
  else
    BASE=${AB_BUILD:-/tmp/mypt-base} NH=$PWD/node_modules
    rm -rf $BASE && mkdir -p $BASE && cp -r cuda binding src CMakeLists.txt package.json lib test bench $BASE/ && ln -s "$NH" $BASE/node_modules
    (cd $STAGE && find . -type f ! -name REF ! -name ADDED -exec cp --parents {} $BASE/ \;)
    while IFS= read -r f; do [ -n "$f" ] && rm -f "$BASE/$f"; done <$STAGE/ADDED
    t0=$(date +%s)
    if cmake -S $BASE -B $BASE/bb -DCMAKE_BUILD_TYPE=Release -DMYPT_CUDA=on -DMYPT_CUDA_ARCHS="${MYPT_CUDA_ARCHS:-90}" \
         -DNODE_API_HEADERS_DIR="$NH/node-api-headers/include" -DNODE_ADDON_API_DIR="$NH/node-addon-api" >"$LOG/ab-cmake.log" 2>&1 &&
       cmake --build $BASE/bb -j"$(nproc)" --target mypt_native $(grep -q "cuBLASLt plugin ON" "$LOG/ab-cmake.log" && echo mypt_cublaslt) >"$LOG/ab-build.log" 2>&1; then
      mkdir -p $BASE/build/Release && cp $BASE/bb/mypt_native.node $BASE/build/Release/ && cp $BASE/bb/mypt_cublaslt.so $BASE/build/Release/ 2>/dev/null
      echo "ab: baseline $(cut -c1-10 $STAGE/REF) built in $(( $(date +%s) - t0 )) s"
      cmds=${AB_CMDS:-"node bench/train-profile.js --steps 6
node bench/decode-profile.js --tokens 200 --layers 12 --precision bf16"}
      while IFS= read -r c; do
        [ -n "$c" ] || continue
        for r in $(seq 1 "${AB_ROUNDS:-2}"); do
          for side in this base; do
            dir=$PWD; [ $side = base ] && dir=$BASE
            echo "== $side ($r): $c"
            (cd "$dir" && timeout ${AB_T:-120} bash -c "$c" 2>&1 | tail -${AB_TAIL:-8})
          done
        done
      done <<<"$cmds"
    else
      echo "ab: the baseline did not build"; cat "$LOG/ab-cmake.log" "$LOG/ab-build.log" 2>/dev/null | grep -iE "error" -A3 | head -20; rc=1
    fi
  fi
fi
echo "gpu-all: $([ $rc = 0 ] && echo ALL PASSED || echo FAILURES)"
exit $rc
