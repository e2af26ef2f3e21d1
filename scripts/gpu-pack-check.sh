#!/usr/bin/env bash
# On the GPU host: install the packed package (a tarball from `npm pack` of a CUDA build) into an empty
# folder and run it from there as a user would: doctor, a short train and a generate on CUDA.
#   scripts/gpu-pack-check.sh [mypt-native-*.tgz]     (default: the newest one in the repository root)
# With the registry reachable, `npm install TARBALL`; offline (the usual GPU host) the tarball is unpacked
# into node_modules/mypt-native beside the dependencies of this checkout's node_modules (or the .gpu/
# stage's), which is what npm would have put there, and its install script is run by hand.
# Logs and doctor's report go to $OUT (or /tmp). Exit 0 when the installed package trained on the GPU.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
LOG=${OUT:-/tmp}
if ! command -v node >/dev/null && [ -f "$REPO/.gpu/env.sh" ]; then source "$REPO/.gpu/env.sh"; fi
TGZ=${1:-$(ls -t "$REPO"/mypt-native-*.tgz 2>/dev/null | head -1)}
[ -f "$TGZ" ] || { echo "error: no tarball: pass one made by \`npm pack\` (after a CUDA build)"; exit 2; }
TGZ=$(cd "$(dirname "$TGZ")" && pwd)/$(basename "$TGZ")
D=$(mktemp -d)
cd "$D" || exit 2
echo '{"name":"app","version":"1.0.0","private":true}' >package.json
if command -v npm >/dev/null && timeout 15 npm ping >/dev/null 2>&1; then
  echo "installing $TGZ with npm"
  npm install --no-audit --no-fund --foreground-scripts "$TGZ" 2>&1 | tee "$LOG/pack-install.log" | grep -E "^mypt-native:|added|ERR" || true
  CLI=(npx --no-install mypt-native)
else
  echo "offline: unpacking $TGZ beside the dependencies of $REPO/node_modules"
  mkdir -p node_modules/mypt-native
  tar xzf "$TGZ" -C node_modules/mypt-native --strip-components=1 || exit 2
  for d in "$REPO"/node_modules/* "$REPO"/node_modules/.bin; do
    n=$(basename "$d"); [ "$n" = mypt-native ] || [ -e "node_modules/$n" ] || ln -s "$(readlink -f "$d")" "node_modules/$n"
  done
  (cd node_modules/mypt-native && node scripts/install.js) | tee "$LOG/pack-install.log"
  CLI=(node node_modules/mypt-native/bin/mypt-native.js)
fi
rc=0
"${CLI[@]}" doctor | tee "$LOG/pack-doctor.txt"
"${CLI[@]}" doctor --json >"$LOG/pack-doctor.json" || rc=1
node -e "
const d = require('$LOG/pack-doctor.json');
const bad = [];
if (d.binary.kind !== 'prebuilt') bad.push('the binary in use is not the prebuilt one: ' + d.binary.path);
if (!d.binary.cuda) bad.push('the prebuilt binary has no CUDA');
if (!d.gpu.available) bad.push('CUDA is not available: ' + d.gpu.reason);
console.log(bad.length ? 'pack-check: ' + bad.join('; ') : 'pack-check: the installed prebuilt binary uses ' + d.gpu.devices.map((g) => g.name).join(', ') + (d.libraries.cublasLt.loaded ? ' with cuBLASLt ' + d.libraries.cublasLt.path : ' (no cuBLASLt)'));
process.exit(bad.length ? 1 : 0);" || rc=1
head -c 200000 "$REPO/data/tinyshakespeare.txt" >corpus.txt
"${CLI[@]}" train --model_name packed --input_file corpus.txt --device cuda --max_iters 50 --eval_interval 25 --eval_iters 2 \
  --batch_size 16 --block_size 64 --n_layer 2 --n_head 4 --n_embd 128 --seed 1 2>&1 | tee "$LOG/pack-train.log" | grep -E "step [0-9]+:|error" || rc=1
grep -q "step 50:" "$LOG/pack-train.log" || { echo "pack-check: train on cuda did not reach step 50"; rc=1; }
"${CLI[@]}" generate --model_name packed --prompt "ROMEO:" --max_new_tokens 60 --seed 1 --device cuda 2>&1 | tee "$LOG/pack-generate.txt" || rc=1
cd / && rm -rf "$D"
echo "pack-check: $([ $rc = 0 ] && echo ok || echo FAILED)"
exit $rc
