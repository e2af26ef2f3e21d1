#!/usr/bin/env bash
# On the GPU host (which has transformers): exports models with `mypt-native export --format hf --reference`
# and checks each folder in transformers itself with test/fixtures/check_hf_export.py (same ids, same logits).
#   scripts/gpu-hf-check.sh        (Node from the .gpu/ stage when the host has none)
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null && [ -f .gpu/env.sh ]; then source .gpu/env.sh; fi
D=$(mktemp -d)
rc=0
node -e "
const m = require('./lib');
const { saveCheckpoint } = require('./test/export.helpers');
const model = m.createModel({ vocab_size: 50257, block_size: 64, n_layer: 2, n_head: 2, n_embd: 64, arch: 'gpt2', activation: 'gelu_tanh', tied_head: true });
saveCheckpoint('$D/gpt2.safetensors', model, { token_kind: 'gpt2', chars: null });" || exit 2
node bin/mypt-native.js train --model_name hfchar --checkpoints_dir "$D/ck" --arch gpt2 --max_iters 30 --eval_interval 30 --eval_iters 1 --batch_size 4 --device cpu >/dev/null 2>&1 || echo "char train failed"
char=$(ls -d "$D"/ck/hfchar* 2>/dev/null | head -1)
for spec in "gpt2:$D/gpt2.safetensors:float32" "gpt2-bf16:$D/gpt2.safetensors:bfloat16" "char:$char:float32"; do
  IFS=: read -r name ckpt dtype <<<"$spec"
  [ -n "$ckpt" ] || { echo "$name: no checkpoint"; rc=1; continue; }
  node bin/mypt-native.js export --checkpoint "$ckpt" --format hf --dtype "$dtype" --out "$D/hf-$name" --reference "$D/ref-$name.json" >/dev/null || { echo "$name: export failed"; rc=1; continue; }
  echo -n "$name ($dtype): "; python3 test/fixtures/check_hf_export.py "$D/hf-$name" "$D/ref-$name.json" || rc=1
done
exit $rc
