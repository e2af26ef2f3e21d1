#!/usr/bin/env node
// npm install: use the prebuilt binary when one fits and loads here (prebuilds/<platform>-<arch>/, or an
// existing build), else compile from source with cmake-js (a regular dependency). Prints one line on
// success (which binary is in use); when a source build is needed but a tool is missing, it names the tool
// and how to get it. MYPT_BUILD_FROM_SOURCE=1 (or npm's --build-from-source) always compiles.
// Needs nothing from devDependencies, so it works in an installed package and under script allow-lists
// (where npm does not run it at all, the prebuilt binary is still found at require time).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const rel = (p) => path.relative(root, p) || p;
const musl = process.platform === 'linux' && (fs.existsSync('/etc/alpine-release') ||
  (process.report && process.report.getReport && !process.report.getReport().header.glibcVersionRuntime));
const forced = !!(process.env.MYPT_BUILD_FROM_SOURCE || process.env.npm_config_build_from_source);

// The addon node-gyp-build picks, loaded in a child process: null when none fits, else { file } or
// { file, error } when it does not load (a glibc too old, a missing library).
function prebuilt() {
  let file;
  try {
    file = require('node-gyp-build').path(root);
  } catch (_) {
    return null;
  }
  const r = spawnSync(process.execPath, ['-e',
    `const b=require(${JSON.stringify(file)}).backends();process.stdout.write(/built without CUDA/.test(b.cudaReason)?'CPU only':'CPU and CUDA')`],
  { encoding: 'utf8' });
  if (r.status !== 0) return { file, error: (r.stderr || '').split('\n').find((l) => /Error/.test(l)) || `exit ${r.status}` };
  return { file, kind: r.stdout };
}

function has(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout || r.stderr || '').split('\n')[0] : null;
}

// What a source build needs that this machine lacks: [] when all is there.
function missingTools() {
  const missing = [];
  const apt = musl ? 'apk add' : 'apt-get install (or dnf install)';
  try {
    require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch (_) {
    missing.push('cmake-js (an npm dependency of mypt-native): reinstall without --omit=prod / --no-optional');
  }
  const cmake = has('cmake');
  const m = cmake && cmake.match(/(\d+)\.(\d+)/);
  if (!cmake) missing.push(`cmake >= 3.20: ${apt} cmake, or \`pip install cmake\``);
  else if (m && (+m[1] < 3 || (+m[1] === 3 && +m[2] < 20))) missing.push(`cmake >= 3.20 (found ${cmake}): \`pip install cmake\``);
  const cxx = process.env.CXX ? has(process.env.CXX) : has('c++') || has('g++') || has('clang++');
  if (!cxx) missing.push(`a C++17 compiler (g++ >= 9 or clang++ >= 10; or set CXX): ${apt} g++`);
  if (!has('make') && !has('ninja')) missing.push(`make or ninja: ${apt} make`);
  return missing;
}

function nvcc() {
  if (process.env.MYPT_CUDA === 'off') return null;
  if (process.env.CUDACXX && has(process.env.CUDACXX)) return process.env.CUDACXX;
  for (const p of ['/usr/local/cuda/bin/nvcc']) if (fs.existsSync(p)) return p;
  return has('nvcc') ? 'nvcc' : null;
}

if (!forced) {
  const found = prebuilt();
  if (found && !found.error) {
    console.log(`mypt-native: using ${rel(found.file)} (${found.kind})`);
    process.exit(0);
  }
  if (found) console.log(`mypt-native: ${rel(found.file)} does not load here (${found.error}); building from source`);
  else if (musl) console.log('mypt-native: no prebuilt binary for musl (Alpine); building from source');
  else console.log(`mypt-native: no prebuilt binary for ${process.platform}-${process.arch}; building from source`);
}
const missing = missingTools();
if (process.env.MYPT_CUDA === 'on' && !nvcc()) missing.push('nvcc (MYPT_CUDA=on asks for the CUDA backend): install the CUDA toolkit (developer.nvidia.com/cuda-downloads) and put its bin/ on the PATH, or set CUDACXX');
if (missing.length) {
  console.error('mypt-native: error: cannot build the native addon from source; missing:');
  for (const m of missing) console.error(`  - ${m}`);
  console.error('  then run `npm rebuild mypt-native` (nvcc, from the CUDA toolkit, is optional: without it the build is CPU only)');
  process.exit(1);
}
const cuda = nvcc();
const noNvcc = !cuda && process.env.MYPT_CUDA !== 'off';
if (noNvcc) process.env.MYPT_CUDA = 'off';
if (cuda && !process.env.CUDACXX && cuda !== 'nvcc') process.env.CUDACXX = cuda;
// The build's own output goes to build/install.log, shown (its end) only when the build fails.
const logFile = path.join(root, 'build', 'install.log');
fs.mkdirSync(path.dirname(logFile), { recursive: true });
const r = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { encoding: 'utf8', env: process.env, maxBuffer: 256 << 20 });
fs.writeFileSync(logFile, `${r.stdout || ''}${r.stderr || ''}`);
if (r.status !== 0) {
  console.error(`${r.stdout || ''}${r.stderr || ''}`.trim().split('\n').slice(-40).join('\n'));
  console.error(`mypt-native: error: the source build failed (the whole log: ${logFile}); fix what it names, then run \`npm rebuild mypt-native\``);
  process.exit(r.status || 1);
}
console.log(`mypt-native: built build/Release/mypt_native.node from source (${cuda ? 'CPU and CUDA' : process.env.MYPT_CUDA === 'off' && !noNvcc ? 'CPU only: MYPT_CUDA=off' : 'CPU only: no nvcc found'})`);
