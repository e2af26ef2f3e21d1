#!/usr/bin/env node
// prebuildify runs PREBUILD_NODE_GYP in place of node-gyp; build with cmake-js instead, with the same
// switches as scripts/build-native.js (MYPT_CUDA, MYPT_CUDA_ARCHS, ...) from the environment.
const switches = ['MYPT_CUDA', 'MYPT_CUBLASLT', 'MYPT_CUDA_ARCHS'].filter((k) => process.env[k]).map((k) => `--CD${k}=${process.env[k]}`);
require('child_process').execFileSync(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--log-level', 'warn', ...switches], { stdio: 'inherit' });
