// Bad inputs give a MyptError with a code and a message naming what is wrong, never a crash.
const { test } = require('uvu');
const assert = require('uvu/assert');
const mypt = require('../lib');

const cfg = { vocab_size: 10, block_size: 6, n_layer: 1, n_head: 2, n_embd: 8 };

async function fails(code, pattern, fn) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${code}`);
  assert.instance(err, mypt.MyptError, `${err && err.message}`);
  assert.is(err.code, code, err.message);
  assert.match(err.message, pattern);
}

test('token ids outside the vocabulary', async () => {
  const m = mypt.createModel(cfg);
  await fails('E_BAD_ARGUMENT', /id 10 at index 2 is outside the vocabulary 0..9/, () => m.forward([[1, 2, 10]]));
  await fails('E_BAD_ARGUMENT', /targets: token id -1 at \[0\]\[1\]/, () => m.loss([[1, 2]], [[1, -1]]));
  await fails('E_BAD_ARGUMENT', /prompt token id 99/, () => m.generate([99], { max_new_tokens: 2 }));
  await fails('E_BAD_ARGUMENT', /train data: token 12/, () => m.setData('train', Int32Array.from([1, 12])));
  await fails('E_BAD_ARGUMENT', /non-negative integer id/, () => m.forward([[1, 2.5]]));
});

test('sequence longer than block_size, ragged and mismatched batches', async () => {
  const m = mypt.createModel(cfg);
  await fails('E_BAD_ARGUMENT', /sequence length 7 is longer than block_size 6/, () => m.forward([[1, 2, 3, 4, 5, 6, 7]]));
  await fails('E_BAD_ARGUMENT', /row 1 has 2 tokens, row 0 has 3/, () => m.forward([[1, 2, 3], [1, 2]]));
  await fails('E_BAD_ARGUMENT', /shape \[2,2\] does not match 3 values/, () => m.forward({ data: Int32Array.from([1, 2, 3]), shape: [2, 2] }));
  await fails('E_BAD_ARGUMENT', /differs from the tokens/, () => m.loss([[1, 2]], [[1, 2, 3]]));
  await fails('E_BAD_ARGUMENT', /block_size 7 must be/, () => m.trainBatch({ batch_size: 1, block_size: 7, lr: 1e-3 }));
  await fails('E_BAD_ARGUMENT', /train data holds 0 tokens/, () => m.trainBatch({ batch_size: 1, block_size: 4, lr: 1e-3 }));
});

test('setParameters checks every name and shape', async () => {
  const m = mypt.createModel(cfg);
  const p = m.getParameters();
  const { wte, ...missing } = p;
  await fails('E_BAD_ARGUMENT', /tensor wte is missing/, () => m.setParameters(missing));
  await fails('E_BAD_ARGUMENT', /wpe has shape \[8,6\], the model needs \[6,8\]/,
    () => m.setParameters({ ...p, wpe: { shape: [8, 6], data: p.wpe.data } }));
  await fails('E_BAD_ARGUMENT', /wte data must be a Float32Array of 80 values/,
    () => m.setParameters({ ...p, wte: { shape: [10, 8], data: new Float32Array(3) } }));
  await fails('E_BAD_ARGUMENT', /extra.weight is not a tensor of this model/,
    () => m.setParameters({ ...p, 'extra.weight': { shape: [1], data: new Float32Array(1) } }));
  await fails('E_BAD_ARGUMENT', /step must be a non-negative integer/, () => m.setOptimizerState({ step: -1 }));
});

test('configs are validated once, naming the field', async () => {
  await fails('E_BAD_CONFIG', /n_embd \(10\) must be a multiple of n_head \(3\)/, () => mypt.createModel({ ...cfg, n_embd: 10, n_head: 3 }));
  await fails('E_BAD_CONFIG', /vocab_size must be an integer/, () => mypt.createModel({ ...cfg, vocab_size: 0 }));
  await fails('E_BAD_CONFIG', /dropout must be a number in \[0, 1\)/, () => mypt.createModel({ ...cfg, dropout: 1 }));
  await fails('E_BAD_CONFIG', /activation must be/, () => mypt.createModel({ ...cfg, activation: 'swish' }));
  await fails('E_BAD_CONFIG', /n_embed is not a model option/, () => mypt.createModel({ ...cfg, n_embed: 8 }));
  await fails('E_BAD_CONFIG', /precision 'bf16' needs device 'cuda'/, () => mypt.createModel({ ...cfg, precision: 'bf16' }));
  await fails('E_BAD_CONFIG', /n_layer must be an integer/, () => mypt.resolveModelConfig({ ...cfg, n_layer: undefined }));
});

test('a disposed model rejects every call; dispose during a call is safe', async () => {
  const m = mypt.createModel(cfg);
  const pending = m.generate([1], { max_new_tokens: 200 });
  m.dispose();
  m.dispose();
  try {
    await pending; // finishes or is stopped; either way no crash
  } catch (e) {
    assert.is(e.code, 'E_DISPOSED');
  }
  await fails('E_DISPOSED', /disposed/, () => m.forward([[1]]));
  await fails('E_DISPOSED', /disposed/, () => m.getParameters());
});

test('CUDA, when absent, is a clear error', async () => {
  if (mypt.backends().cuda) return;
  await fails('E_NO_CUDA', /device 'cuda' is not available/, () => mypt.createModel({ ...cfg, device: 'cuda' }));
});

test('generation: max_new_tokens beyond 2^31-1 and NaN options are refused; NaN weights are named, not sampled', async () => {
  const m = mypt.createModel(cfg);
  await fails('E_BAD_ARGUMENT', /max_new_tokens is 4294967297, which is out of range/, () => m.generate([1], { max_new_tokens: 2 ** 32 + 1 }));
  await fails('E_BAD_ARGUMENT', /temperature is NaN, which is out of range/, () => m.generate([1], { max_new_tokens: 2, temperature: NaN }));
  const p = m.getParameters();
  p.wte.data[cfg.n_embd * 1] = NaN; // token 1's embedding
  m.setParameters(p);
  for (const temperature of [0, 1]) {
    await fails('E_NATIVE', /non-finite logits \(NaN or Inf\)/, () => m.generate([1], { max_new_tokens: 2, temperature }));
  }
  m.dispose();
});

test.run();
