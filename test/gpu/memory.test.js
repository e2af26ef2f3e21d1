// deviceMemory's allocatedBytes (what the bench's train_step row reports beside PyTorch's
// torch.cuda.max_memory_allocated): it counts a model's own buffers, at least the bytes their contents need
// (bf16: fp32 weights 4N + their bf16 copy 2N; after a step the fp32 gradients 4N and AdamW's moments 8N too),
// and comes back to exactly where it was once the model is disposed. Skipped, with the reason, without a GPU.
const { test } = require('uvu');
const assert = require('uvu/assert');
const mypt = require('../../lib');
const { loadAddon } = require('../../lib/native');

const backends = mypt.backends();
const maybe = backends.cuda ? test : test.skip;
if (!backends.cuda) console.log(`  skipping the CUDA memory tests: ${backends.cudaReason || 'no CUDA device'}`);

const allocated = () => loadAddon().deviceMemory('cuda', 0).allocatedBytes;

async function disposed() {
  for (let i = 0; i < 200 && loadAddon().liveHandles().models > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.is(loadAddon().liveHandles().models, 0, 'the models of this test were freed');
}

maybe('allocatedBytes: a bf16 model holds 6N bytes or more, 18N after a step, and none after dispose', async () => {
  await disposed();
  const a0 = allocated();
  assert.type(a0, 'number');
  const model = mypt.createModel({ arch: 'gpt2', vocab_size: 96, block_size: 64, n_layer: 2, n_head: 4, n_embd: 128,
    device: 'cuda', precision: 'bf16', dropout: 0, seed: 1 });
  const N = model.numParams;
  const a1 = allocated();
  assert.ok(a1 - a0 >= 6 * N, `after createModel: ${a1 - a0} bytes for ${N} parameters`);
  model.setData('train', Int32Array.from({ length: 4096 }, (_, i) => (i * 7) % 96));
  await model.trainBatch({ batch_size: 4, block_size: 64, lr: 1e-3 });
  const a2 = allocated();
  assert.ok(a2 - a0 >= 18 * N, `after a step: ${a2 - a0} bytes for ${N} parameters`);
  // and no more than the buffers a step can need: a generous bound on the activations of this tiny shape
  assert.ok(a2 - a0 < 18 * N + (64 << 20), `after a step: ${a2 - a0} bytes`);
  model.dispose();
  await disposed();
  assert.is(allocated(), a0);
});

test.run();
