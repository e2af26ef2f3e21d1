// PyTorch's golden data (test/fixtures/make_golden.py): the cases of tiny GPTs with their tensors, and a
// model built from one case's parameters on any device.
const fs = require('fs');
const path = require('path');
const mypt = require('../../lib');

const dir = path.join(__dirname, '..', 'fixtures', 'golden');
const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
const bin = fs.readFileSync(path.join(dir, 'data.bin'));
const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
const slice = (e) => all.subarray(e.offset, e.offset + e.numel);

/** The case's model with PyTorch's weights, and its tokens and targets; `extra` adds config (device...). */
function build(c, extra = {}) {
  const model = mypt.createModel({ ...c.config, ...extra });
  const named = {};
  for (const [name, e] of Object.entries(c.params)) named[name] = { shape: e.shape, data: slice(e) };
  model.setParameters(named);
  const tokens = { data: Int32Array.from(c.tokens), shape: [c.B, c.T] };
  const targets = { data: Int32Array.from(c.targets), shape: [c.B, c.T] };
  return { model, tokens, targets };
}

module.exports = { index, slice, build };
