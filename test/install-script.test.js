// scripts/install.js (npm's install step): one line naming the binary it uses; when a source build is needed
// and tools are missing, it names each one with how to get it, and builds nothing.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const SCRIPT = path.join(ROOT, 'scripts', 'install.js');

test('a binary that loads: exactly one line, naming the file node-gyp-build picks and what it holds', () => {
  const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8', env: { ...process.env, MYPT_BUILD_FROM_SOURCE: '', npm_config_build_from_source: '' } });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, '');
  const file = path.relative(ROOT, require('node-gyp-build').path(ROOT));
  const b = require(require('node-gyp-build').path(ROOT)).backends();
  assert.is(r.stdout, `mypt-native: using ${file} (${/built without CUDA/.test(b.cudaReason) ? 'CPU only' : 'CPU and CUDA'})\n`);
});

test('a source build without cmake, a compiler or make: each named with how to get it, exit 1, nothing built', () => {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'nodeonly-'));
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const before = fs.existsSync(path.join(ROOT, 'build', 'install.log'));
  try {
    const r = spawnSync(path.join(bin, 'node'), [SCRIPT], { encoding: 'utf8', env: { PATH: bin, HOME: os.homedir(), MYPT_BUILD_FROM_SOURCE: '1' } });
    assert.is(r.status, 1);
    assert.is(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.is(lines[0], 'mypt-native: error: cannot build the native addon from source; missing:');
    assert.match(lines[1], /^ {2}- cmake >= 3\.20: (apt-get|apk) .*cmake, or `pip install cmake`$/);
    assert.match(lines[2], /^ {2}- a C\+\+17 compiler \(g\+\+ >= 9 or clang\+\+ >= 10; or set CXX\): .*g\+\+$/);
    assert.match(lines[3], /^ {2}- make or ninja: .*make$/);
    assert.match(lines[4], /then run `npm rebuild mypt-native` \(nvcc, from the CUDA toolkit, is optional/);
    assert.is(lines.length, 5);
    assert.is(fs.existsSync(path.join(ROOT, 'build', 'install.log')), before, 'no build was started');
  } finally {
    fs.rmSync(bin, { recursive: true, force: true });
  }
});

test.run();
