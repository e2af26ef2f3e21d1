#!/usr/bin/env bash
# Stages node, node_modules and lib into .gpu/ with ../shared/tools/gpu-stage.sh (or $GPU_STAGE), keeping
# of node_modules only what a GPU host loads: the production dependencies, the test runner (uvu) and, with
# SLIM_KEEP_OPENAI=1, the openai client (the server's GPU tests). node_modules travels as one xz tarball
# (.gpu/node_modules.tar.xz), unpacked by .gpu/env.sh, so that a run carries under 64 MiB.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
bash "${GPU_STAGE:-../shared/tools/gpu-stage.sh}" >/dev/null
# the folders of these packages and of everything they depend on (node's resolution: nested first, then hoisted)
closure() {
  node -e '
const fs = require("fs"), path = require("path");
const seen = new Set();
function visit(name, from) {
  for (let d = from; ; d = path.dirname(d)) {
    const dir = path.join(d, "node_modules", name);
    if (fs.existsSync(path.join(dir, "package.json"))) {
      if (seen.has(dir)) return;
      seen.add(dir);
      const pj = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
      for (const dep of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) visit(dep, dir);
      return;
    }
    if (d === path.dirname(d)) return;
  }
}
const root = process.cwd();
const pj = require(path.join(root, "package.json"));
for (const n of [...Object.keys(pj.dependencies || {}), ...process.argv.slice(1)]) visit(n, root);
for (const d of [...seen].sort()) console.log(path.relative(root, d));
' "$@"
}
extra=(uvu node-api-headers); [ "${SLIM_KEEP_OPENAI:-}" = 1 ] && extra+=(openai)
keep=$(closure "${extra[@]}")
rm -rf .gpu/node_modules .gpu/node_modules.tar.xz
tar -C . -cf - $keep | xz -T0 -6 > .gpu/node_modules.tar.xz
cat > .gpu/env.sh <<'ENV'
# source me on the GPU host from the project root
mkdir -p /tmp/nodebin
[ -x /tmp/nodebin/node ] || { xz -dc .gpu/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node; }
export PATH=/tmp/nodebin:$PATH
[ -d .gpu/node_modules ] || { mkdir -p .gpu/nm && xz -dc .gpu/node_modules.tar.xz | tar -C .gpu/nm -xf - && mv .gpu/nm/node_modules .gpu/node_modules && rmdir .gpu/nm; }
[ -d node_modules ] || ln -s .gpu/node_modules node_modules
[ -d lib ] || ln -s .gpu/lib lib
ENV
du -sh .gpu | awk '{print "staged .gpu/: " $1}'
