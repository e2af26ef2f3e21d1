// The addon's own report of its backends (backends() of binding/napi/addon.cc).
const { test } = require('uvu');
const assert = require('uvu/assert');
const { loadAddon } = require('../lib/native');

test('backends() says whether the cuBLASLt plugin was found and loaded, and why not', () => {
  const b = loadAddon().backends();
  assert.is(b.cpu, true);
  assert.type(b.cublasLt, 'boolean');
  assert.type(b.cublasLtReason, 'string');
  if (b.cublasLt) assert.is(b.cublasLtReason, '');
  else assert.ok(b.cublasLtReason.length > 0, 'a reason is given when the plugin is not loaded');
  if (!b.cuda && b.cudaReason.startsWith('built without CUDA')) {
    assert.is(b.cublasLt, false);
    assert.is(b.cublasLtReason, b.cudaReason);
  }
});

test('backends() says whether NCCL was found (and its version), and why not', () => {
  const b = loadAddon().backends();
  assert.type(b.nccl, 'boolean');
  assert.type(b.ncclReason, 'string');
  assert.type(b.ncclVersion, 'string');
  if (b.nccl) {
    assert.is(b.ncclReason, '');
    assert.match(b.ncclVersion, /^\d+\.\d+\.\d+$/);
  } else {
    assert.ok(b.ncclReason.length > 0, 'a reason is given when NCCL is not loaded');
    assert.is(b.ncclVersion, '');
  }
  if (!b.cuda && b.cudaReason.startsWith('built without CUDA')) assert.is(b.ncclReason, b.cudaReason);
});

test('backends() names the files in use and the CUDA versions and architectures of this build', () => {
  const b = loadAddon().backends();
  for (const k of ['cublasLtPath', 'ncclPath', 'cudaRuntimeVersion', 'cudaDriverVersion', 'cudaArchs']) assert.type(b[k], 'string', k);
  // a path exactly when the library is loaded, and then an existing file
  assert.is(b.cublasLtPath !== '', b.cublasLt);
  assert.is(b.ncclPath !== '', b.nccl);
  if (b.cublasLt) assert.ok(require('fs').existsSync(b.cublasLtPath), b.cublasLtPath);
  if (b.nccl) assert.ok(require('fs').existsSync(b.ncclPath), b.ncclPath);
  if (b.cudaReason.startsWith('built without CUDA')) {
    assert.equal([b.cudaRuntimeVersion, b.cudaDriverVersion, b.cudaArchs], ['', '', '']);
  } else {
    assert.match(b.cudaRuntimeVersion, /^\d+\.\d+$/);
    assert.match(b.cudaArchs, /^\d+[a-z-]*(,\d+[a-z-]*)*$/);
    if (b.cuda) assert.match(b.cudaDriverVersion, /^\d+\.\d+$/);
  }
});

test('groupId: a CPU group id is a port; a CUDA one without CUDA or NCCL is a one-line error', () => {
  const mypt = require('../lib');
  assert.match(Buffer.from(mypt.groupId('cpu')).toString(), /^mypt-tcp:\d+$/);
  const b = loadAddon().backends();
  if (!b.cuda || !b.nccl) assert.throws(() => mypt.groupId('cuda'), (e) => e.code === 'E_NO_CUDA');
});

test.run();
