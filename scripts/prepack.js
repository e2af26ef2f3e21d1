#!/usr/bin/env node
// npm pack / npm publish (package.json "prepack"): put a prebuilt addon into prebuilds/linux-x64/, where
// node-gyp-build looks in an installed package (build/Release first, then prebuilds/<platform>-<arch>/).
//  - build/Release holds an addon newer than every native source: it is copied (stripped) with its
//    plugins (mypt_cublaslt.so), as node.napi.<libc>.node;
//  - otherwise (or with MYPT_PREPACK=prebuild) the full prebuild runs: prebuildify through cmake-js, with
//    the CUDA kernels for sm_80, sm_90 (sm_90a for the Hopper attention) and PTX for newer GPUs when nvcc
//    exists (MYPT_CUDA_ARCHS overrides "80-real;90").
// MYPT_PREPACK=copy packs build/Release even when it is older than a source (test/pack.test.js: the test is
// about the installed package, not the build); MYPT_PREPACK=skip packs without a binary (the package then
// builds from source when installed).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const libc = process.env.LIBC || (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
const dest = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const release = path.join(root, 'build', 'Release');
const addon = path.join(release, 'mypt_native.node');
const mode = process.env.MYPT_PREPACK || 'auto';
const log = (s) => console.log(`prepack: ${s}`);

function newestSource() {
  let newest = fs.statSync(path.join(root, 'CMakeLists.txt')).mtimeMs;
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(cc|h|cu|cuh|c|cpp|hpp)$/.test(e.name)) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  walk(path.join(root, 'binding'));
  walk(path.join(root, 'cuda'));
  return newest;
}

// What the addon holds, asked from a separate process (loading it here would keep it open).
function describe(file) {
  const r = spawnSync(process.execPath, ['-e',
    `const b=require(${JSON.stringify(file)}).backends();console.log(/built without CUDA/.test(b.cudaReason)?'CPU only':'with CUDA')`],
  { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function strip(file) {
  const r = spawnSync('strip', ['--strip-unneeded', file], { stdio: 'ignore' });
  return r.status === 0;
}

function copyBuild() {
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(dest, { recursive: true });
  const out = path.join(dest, `node.napi.${libc}.node`);
  fs.copyFileSync(addon, out);
  const stripped = strip(out);
  const plugins = fs.readdirSync(release).filter((f) => /\.so$/.test(f));
  for (const f of plugins) {
    fs.copyFileSync(path.join(release, f), path.join(dest, f));
    strip(path.join(dest, f));
  }
  const mb = (fs.statSync(out).size / 1e6).toFixed(1);
  log(`copied build/Release (${describe(out) || 'not loadable here'}, ${mb} MB${stripped ? ' stripped' : ''}) to ` +
    `${path.relative(root, out)}${plugins.length ? ` with ${plugins.join(', ')}` : ''}`);
}

function fullPrebuild() {
  const env = { ...process.env };
  const nvcc = ['/usr/local/cuda/bin/nvcc'].find((p) => fs.existsSync(p)) ||
    (spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0 ? 'nvcc' : null);
  if (nvcc && env.MYPT_CUDA !== 'off') {
    env.MYPT_CUDA = 'on';
    env.MYPT_CUDA_ARCHS = env.MYPT_CUDA_ARCHS || '80-real;90';
    log(`building the prebuild with CUDA (archs ${env.MYPT_CUDA_ARCHS}); this takes a while`);
  } else {
    env.MYPT_CUDA = 'off';
    log('building a CPU-only prebuild (no nvcc here)');
  }
  fs.rmSync(dest, { recursive: true, force: true });
  const r = spawnSync('npm', ['run', 'prebuild'], { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error('prepack: error: the prebuild failed (see above); MYPT_PREPACK=skip packs without a binary');
    process.exit(r.status || 1);
  }
  // prebuildify names it <package>.<libc>.node and moves it out of build/Release: name it as copyBuild()
  // does, and put it back so that the clone keeps a build that matches its sources
  const made = fs.readdirSync(dest).find((f) => f.endsWith('.node'));
  if (made) {
    const out = path.join(dest, `node.napi.${libc}.node`);
    if (made !== path.basename(out)) fs.renameSync(path.join(dest, made), out);
    fs.mkdirSync(release, { recursive: true });
    fs.copyFileSync(out, addon);
    log(`made ${path.relative(root, out)} (${describe(out) || 'not loadable here'}, ${(fs.statSync(out).size / 1e6).toFixed(1)} MB)`);
  }
}

if (mode === 'skip') {
  log('MYPT_PREPACK=skip: no prebuilt binary in this package');
} else if (mode === 'copy' && fs.existsSync(addon)) {
  if (fs.statSync(addon).mtimeMs < newestSource()) log('warning: build/Release is older than some native source (MYPT_PREPACK=copy packs it anyway)');
  copyBuild();
} else if (mode !== 'prebuild' && fs.existsSync(addon) && fs.statSync(addon).mtimeMs >= newestSource()) {
  copyBuild();
} else {
  fullPrebuild();
}
