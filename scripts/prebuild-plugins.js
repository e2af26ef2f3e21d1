#!/usr/bin/env node
// After prebuildify: copy the cuBLASLt plugin (built when cuBLASLt was found) beside the prebuilt addon,
// where the CUDA backend looks for it (the addon's own folder); without it a prebuild uses the slower
// built-in GEMM kernels.
'use strict';
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..');
const plugin = path.join(root, 'build', 'Release', 'mypt_cublaslt.so');
const dest = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (fs.existsSync(plugin) && fs.existsSync(dest)) {
  fs.copyFileSync(plugin, path.join(dest, 'mypt_cublaslt.so'));
  console.log(`prebuild: copied mypt_cublaslt.so into ${path.relative(root, dest)}/`);
} else {
  console.log('prebuild: no cuBLASLt plugin in this build (the CUDA backend, if any, uses its built-in GEMMs)');
}
