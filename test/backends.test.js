const { test } = require('uvu');
const assert = require('uvu/assert');
const mypt = require('../lib');

test('backends() reports the CPU always and CUDA as a boolean with devices', () => {
  const b = mypt.backends();
  assert.is(b.cpu, true);
  assert.type(b.cuda, 'boolean');
  assert.ok(Array.isArray(b.devices));
  assert.is(b.cuda, b.devices.length > 0);
  if (!b.cuda) assert.ok(b.cudaReason.length > 0, 'a reason is given when CUDA is unavailable');
});

test.run();
