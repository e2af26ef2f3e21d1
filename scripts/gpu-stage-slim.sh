#!/usr/bin/env bash
# Stages node, node_modules and lib into .gpu/ with ../shared/tools/gpu-stage.sh (or $GPU_STAGE), then
# drops what a GPU host never loads (the TypeScript compiler, type declarations, the build drivers,
# js-tiktoken's ESM copy and its other encodings' ranks), so that a run carries under 64 MiB.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
bash "${GPU_STAGE:-../shared/tools/gpu-stage.sh}" >/dev/null
nm=.gpu/node_modules
rm -rf $nm/typescript $nm/@types $nm/prebuildify $nm/cmake-js $nm/tar $nm/node-api-headers/def 2>/dev/null || true
rm -f $nm/js-tiktoken/dist/index.js
find $nm/js-tiktoken/dist/ranks -type f ! -name 'gpt2*' -delete 2>/dev/null || true
du -sh .gpu | awk '{print "staged .gpu/: " $1}'
