#!/usr/bin/env bash
# Stages a git ref's native sources for a before/after comparison in one GPU-host call (scripts/gpu-all.sh ab):
#   scripts/gpu-stage-base.sh [REF]        (default: main)
# writes REF's version of every file under cuda/, binding/ and CMakeLists.txt that differs from the working
# tree into .gpu/base/ (files the working tree added are listed in .gpu/base/ADDED and left out of the
# baseline build's tree), and the ref's commit into .gpu/base/REF. Run after scripts/gpu-stage-slim.sh.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
REF=${1:-main}
git rev-parse --verify -q "$REF^{commit}" >/dev/null || { echo "error: $REF is not a commit here" >&2; exit 1; }
rm -rf .gpu/base
mkdir -p .gpu/base
: >.gpu/base/ADDED
n=0
while IFS= read -r f; do
  if git cat-file -e "$REF:$f" 2>/dev/null; then
    mkdir -p ".gpu/base/$(dirname "$f")"
    git show "$REF:$f" >".gpu/base/$f"
  else
    echo "$f" >>.gpu/base/ADDED
  fi
  n=$((n + 1))
done < <( { git diff --name-only "$REF" -- cuda binding CMakeLists.txt; git ls-files --others --exclude-standard -- cuda binding; } | sort -u)
git rev-parse "$REF" >.gpu/base/REF
echo "staged $REF ($(cut -c1-10 .gpu/base/REF)): $n native files differ from the working tree"
