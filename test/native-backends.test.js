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

test.run();
