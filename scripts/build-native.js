#!/usr/bin/env node
// Builds the native addon with cmake-js (Node-API 8 headers from node-api-headers: no download).
// Environment: MYPT_CUDA=auto|on|off (default auto: CUDA is compiled when nvcc is found),
// MYPT_CUBLASLT=auto|on|off, MYPT_DEBUG=1 for a debug build.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');
const fs = require('fs');
const os = require('os');

const root = path.join(__dirname, '..');
// cmake-js and node-addon-api are dependencies: in an installed package npm may hoist them beside it
const find = (id) => { try { return require.resolve(id, { paths: [root] }); } catch (_) { return null; } };
const cmakeJs = find('cmake-js/bin/cmake-js');
if (!cmakeJs) {
  console.error('mypt-native: error: cmake-js is not installed, so the addon cannot be built from source. Run `npm install` in the package folder, or install a prebuilt binary.');
  process.exit(1);
}
const addonApi = find('node-addon-api/package.json');
// nvcc is often installed outside the PATH
if (!process.env.CUDACXX) {
  for (const p of ['/usr/local/cuda/bin/nvcc']) if (fs.existsSync(p)) { process.env.CUDACXX = p; break; }
}
const rebuild = process.argv.includes('--rebuild');
const switches = ['MYPT_CUDA', 'MYPT_CUBLASLT', 'MYPT_CUDA_ARCHS', 'MYPT_NATIVE_TESTS'].filter((k) => process.env[k]);
const opts = ['--log-level', 'warn', ...(process.env.MYPT_DEBUG ? ['--debug'] : []),
  ...switches.map((k) => `--CD${k}=${process.env[k]}`),
  ...(addonApi ? [`--CDNODE_ADDON_API_DIR=${path.dirname(addonApi)}`] : [])];
const env = { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: process.env.CMAKE_BUILD_PARALLEL_LEVEL || String(Math.max(1, os.cpus().length)) };
const run = (command) => spawnSync(process.execPath, [cmakeJs, command, ...opts], { cwd: root, stdio: 'inherit', env });
// `compile` does not configure a build folder again, so a switch that differs from the one the folder
// was configured with would be ignored: configure again first (the folder and its objects are kept).
const cache = path.join(root, 'build', 'CMakeCache.txt');
if (!rebuild && fs.existsSync(cache)) {
  const text = fs.readFileSync(cache, 'utf8');
  const cached = (k) => (text.match(new RegExp(`^${k}:[A-Z]+=(.*)$`, 'm')) || [])[1];
  const changed = switches.filter((k) => String(cached(k)).toLowerCase() !== process.env[k].toLowerCase());
  if (changed.length) {
    console.log(`mypt-native: ${changed.map((k) => `${k}=${process.env[k]}`).join(', ')} differs from the last build's configuration; configuring again`);
    const c = run('configure');
    if (c.status !== 0) process.exit(c.status || 1);
  }
}
const r = run(rebuild ? 'rebuild' : 'compile');
if (r.status !== 0) {
  console.error('mypt-native: the native build failed (see above). A C++17 compiler and CMake >= 3.20 are needed; set MYPT_CUDA=off to skip the CUDA backend.');
  process.exit(r.status || 1);
}
