// The one mapping of C++ exceptions to error codes (binding/napi/errors.h), seen from every kind of call:
// constructors, synchronous methods, async jobs.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const { loadAddon } = require('../lib/native');

const addon = loadAddon();
const cfg = {
  vocab_size: 10, block_size: 8, n_layer: 1, n_head: 2, n_embd: 8, mlp_hidden: 0, dropout: 0, activation: 'relu',
  qkv_bias: false, proj_bias: true, mlp_bias: true, ln_bias: true, tied_head: false, head_bias: true,
  embd_dropout: false, attn_scale: 0, ln_eps: 1e-5,
};
const adamw = { lr: 1e-3, weight_decay: 0, beta1: 0.9, beta2: 0.99, eps: 1e-8, grad_clip: 0 };

async function code(fn) {
  try {
    await fn();
  } catch (e) {
    return `${e.code}: ${e.message}`;
  }
  return 'no error';
}

test('invalid_argument: E_BAD_CONFIG from a constructor, E_BAD_ARGUMENT from a call (sync or async)', async () => {
  assert.match(await code(() => new addon.NativeModel({ ...cfg, n_head: 3 }, 'cpu', 0, 'fp32')),
    /^E_BAD_CONFIG: n_embd must be a multiple of n_head$/);
  const m = new addon.NativeModel(cfg, 'cpu', 0, 'fp32');
  assert.match(await code(() => m.setDecayMask(new Uint8Array(2))), /^E_BAD_ARGUMENT: decay mask has 2 entries/);
  assert.match(await code(() => m.forward(Int32Array.from([1, 12]), 1, 2)), /^E_BAD_ARGUMENT: token id 12 at index 1/);
  assert.match(await code(() => m.trainBatch({ ...adamw, batch_size: 1, block_size: 4, grad_accum: 1, seed: 1, step: 0 })),
    /^E_BAD_ARGUMENT: train data holds 0 tokens/);
  assert.match(await code(() => m.trainBatch({ ...adamw, batch_size: 1, block_size: 4, seed: -1 })),
    /^E_BAD_ARGUMENT: seed must be an integer in \[0, 2\^53\]$/);
  assert.match(await code(() => m.estimateLoss('val', 0, 1, 4)), /^E_BAD_ARGUMENT: iters must be a positive integer$/);
  assert.match(await code(() => new addon.ModdedModel({ preset: 'tiny' }, {})),
    /^E_BAD_CONFIG: modded config: 'preset' must be 'small' or 'medium'$/);
});

test('a disposed model: E_DISPOSED from sync and async calls', async () => {
  const m = new addon.NativeModel(cfg, 'cpu', 0, 'fp32');
  m.dispose();
  assert.match(await code(() => m.getParameters()), /^E_DISPOSED: /);
  assert.match(await code(() => m.loss(Int32Array.from([1]), Int32Array.from([2]), 1, 1)), /^E_DISPOSED: /);
});

test('a backend this build or machine lacks: E_NO_CUDA from models, modded models and benchmarks', async () => {
  const b = addon.backends();
  if (b.cuda) return;  // a GPU machine: test/gpu covers the CUDA paths
  assert.match(await code(() => new addon.NativeModel(cfg, 'cuda', 0, 'bf16')), /^E_NO_CUDA: device 'cuda' is not available: /);
  assert.match(await code(() => addon.benchOp({ op: 'matmul', device: 'cuda', M: 2, K: 2, N: 2, warmup: 0, repeats: 1 })),
    /^E_NO_CUDA: /);
  const modded = {
    preset: 'small', n_layer: 2, dim: 8, n_head: 1, head_dim: 8, embed_rows: 16, head_rows: 16, scalars_len: 10,
  };
  const w = {
    embed: new Float32Array(128), 'value_embeds.0': new Float32Array(128), 'value_embeds.1': new Float32Array(128),
    'value_embeds.2': new Float32Array(128), lm_head: new Float32Array(128), scalars: new Float32Array(10),
  };
  for (const i of [0, 1]) {
    Object.assign(w, {
      [`blocks.${i}.attn.qkv`]: new Float32Array(192), [`blocks.${i}.attn.o`]: new Float32Array(64),
      [`blocks.${i}.mlp.fc`]: new Float32Array(256), [`blocks.${i}.mlp.proj`]: new Float32Array(256),
    });
  }
  assert.ok(new addon.ModdedModel(modded, w, { device: 'cpu' }), 'the weights are complete');
  assert.match(await code(() => new addon.ModdedModel(modded, w, { device: 'cuda' })), /^E_NO_CUDA: /);
});

test('an allocation the host cannot make: E_OUT_OF_MEMORY naming the bytes asked for', async () => {
  // 2^24 x 2^16 embedding and head: 8 TiB of parameters; only where the kernel refuses what it cannot back
  let mode = '';
  try { mode = fs.readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim(); } catch { /* not Linux */ }
  if (mode !== '0' && mode !== '2') return;
  const huge = { ...cfg, vocab_size: 1 << 24, n_embd: 1 << 16, n_head: 1, block_size: 1 };
  assert.match(await code(() => new addon.NativeModel(huge, 'cpu', 0, 'fp32')),
    /^E_OUT_OF_MEMORY: out of host memory: the parameters asked for \d+\.\d+ TiB \(\d+ bytes\)$/);
});

test.run();
