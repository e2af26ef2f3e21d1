#!/usr/bin/env node
// prebuildify runs PREBUILD_NODE_GYP in place of node-gyp; build with cmake-js instead.
require('child_process').execFileSync(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--log-level', 'warn'], { stdio: 'inherit' });
