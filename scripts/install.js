#!/usr/bin/env node
// npm install: use a prebuilt binary when node-gyp-build finds one that loads (prebuilds/<platform>-<arch>/
// or an existing build), else compile from source with cmake-js. MYPT_BUILD_FROM_SOURCE=1 always compiles.
'use strict';
const path = require('path');
const root = path.join(__dirname, '..');
if (!process.env.MYPT_BUILD_FROM_SOURCE && !process.env.npm_config_build_from_source) {
  try {
    require('node-gyp-build')(root);
    console.log('mypt-native: using the prebuilt addon');
    process.exit(0);
  } catch (_) {
    // none matches this machine: build it
  }
}
require('./build-native.js');
