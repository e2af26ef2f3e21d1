// `mypt-native doctor`: reports the binary node-gyp-build picks and what the addon says, and when no binary
// loads, says so with the next step and exit 1 (never a stack trace).
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'mypt-native.js');

test('doctor --json: the platform, the binary in use (node-gyp-build\'s pick) and the addon\'s own backends()', () => {
  const r = spawnSync(process.execPath, [BIN, 'doctor', '--json'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.is(d.platform.os, process.platform);
  assert.is(d.platform.arch, process.arch);
  assert.is(d.node.version, process.version);
  assert.is(d.binary.path, require('node-gyp-build').path(ROOT));
  assert.ok(fs.existsSync(d.binary.path));
  assert.is(d.binary.loaded, true);
  const b = require(d.binary.path).backends();
  assert.is(d.binary.cuda, !/built without CUDA/.test(b.cudaReason));
  assert.is(d.gpu.available, b.cuda);
  assert.is(d.gpu.reason, b.cudaReason);
  assert.is(d.gpu.devices.length, b.devices.length);
  assert.is(d.libraries.cublasLt.loaded, b.cublasLt);
  assert.is(d.libraries.nccl.loaded, b.nccl);
  if (!b.cublasLt) assert.is(d.libraries.cublasLt.reason, b.cublasLtReason);
  if (b.cublasLt) assert.is(d.libraries.cublasLt.path, b.cublasLtPath);
  // CUDA usable without cuBLASLt: the advice names how to get it
  if (b.cuda && !b.cublasLt) assert.ok(d.advice.some((a) => /cuBLASLt is not loaded/.test(a) && /MYPT_CUBLASLT_LIB/.test(a)));
  assert.is(d.ok, d.advice.length === 0);
});

test('doctor as text names the binary file and whether it is a prebuilt one', () => {
  const r = spawnSync(process.execPath, [BIN, 'doctor'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const file = require('node-gyp-build').path(ROOT);
  assert.match(r.stdout, new RegExp(`^binary     ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\((prebuilt|source build), (CPU only|CPU and CUDA)\\)$`, 'm'));
  assert.match(r.stdout, /^platform   /m);
  assert.match(r.stdout, /^cublasLt   /m);
});

test('a package without any binary: doctor says the addon does not load and what to run, exit 1, no stack trace', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doctor-'));
  try {
    for (const f of ['bin', 'lib', 'package.json']) fs.cpSync(path.join(ROOT, f), path.join(dir, f), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    const r = spawnSync(process.execPath, [path.join(dir, 'bin', 'mypt-native.js'), 'doctor', '--json'], { encoding: 'utf8' });
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr, '');
    const d = JSON.parse(r.stdout);
    assert.is(d.binary.loaded, false);
    assert.is(d.binary.path, '');
    assert.is(d.ok, false);
    assert.is(d.advice.length, 1);
    assert.match(d.advice[0], /^the native addon does not load \(No native build was found/);
    assert.match(d.advice[0], /npm rebuild mypt-native/);
    const t = spawnSync(process.execPath, [path.join(dir, 'bin', 'mypt-native.js'), 'doctor'], { encoding: 'utf8' });
    assert.is(t.status, 1);
    assert.match(t.stdout, /^binary     none found$/m);
    assert.match(t.stdout, /^to do:\n  - the native addon does not load/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
