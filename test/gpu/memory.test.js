// deviceMemory's allocatedBytes (what the bench's train_step row reports beside PyTorch's
// torch.cuda.max_memory_allocated): it counts a model's own buffers, at least the bytes their contents need
// (bf16: the fp32 masters split in two 16-bit halves, 4N, as an fp32 model's 4N; after a step the fp32
// gradients 4N and AdamW's moments 8N too), and comes back to exactly where it was once the model is
// disposed. The split masters give back the exact fp32 values set. Skipped, with the reason, without a GPU.
const { test } = require('uvu');
const assert = require('uvu/assert');
const mypt = require('../../lib');
const { loadAddon } = require('../../lib/native');

const backends = mypt.backends();
const maybe = backends.cuda ? test : test.skip;
if (!backends.cuda) console.log(`  skipping the CUDA memory tests: ${backends.cudaReason || 'no CUDA device'}`);

const allocated = () => loadAddon().deviceMemory('cuda', 0).allocatedBytes;

const shape = { arch: 'gpt2', vocab_size: 96, block_size: 64, n_layer: 2, n_head: 4, n_embd: 128, device: 'cuda',
  dropout: 0, seed: 1 };

async function disposed() {
  for (let i = 0; i < 200 && loadAddon().liveHandles().models > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.is(loadAddon().liveHandles().models, 0, 'the models of this test were freed');
}

maybe('allocatedBytes: a bf16 model holds 4N bytes or more, 16N after a step, and none after dispose', async () => {
  await disposed();
  const a0 = allocated();
  assert.type(a0, 'number');
  const model = mypt.createModel({ ...shape, precision: 'bf16' });
  const N = model.numParams;
  const a1 = allocated();
  assert.ok(a1 - a0 >= 4 * N, `after createModel: ${a1 - a0} bytes for ${N} parameters`);
  model.setData('train', Int32Array.from({ length: 4096 }, (_, i) => (i * 7) % 96));
  await model.trainBatch({ batch_size: 4, block_size: 64, lr: 1e-3 });
  const a2 = allocated();
  assert.ok(a2 - a0 >= 16 * N, `after a step: ${a2 - a0} bytes for ${N} parameters`);
  // and no more than the buffers a step can need: a generous bound on the activations of this tiny shape
  assert.ok(a2 - a0 < 16 * N + (64 << 20), `after a step: ${a2 - a0} bytes`);
  model.dispose();
  await disposed();
  assert.is(allocated(), a0);
});

maybe('allocatedBytes: a bf16 model holds its masters in as many bytes as an fp32 model (4N, no bf16 copy beside them)', async () => {
  await disposed();
  const held = {};
  for (const precision of ['fp32', 'bf16']) {
    const a0 = allocated();
    const model = mypt.createModel({ ...shape, precision });
    held[precision] = allocated() - a0;
    model.dispose();
    await disposed();
  }
  assert.is(held.bf16, held.fp32, `bf16 ${held.bf16} bytes, fp32 ${held.fp32} bytes`);
});

maybe('bf16: setParameters then getParameters gives back every fp32 value exactly (bf16 ties and extremes included)', async () => {
  const model = mypt.createModel({ ...shape, precision: 'bf16' });
  const named = model.getParameters();
  let s = 12345, i = 0, total = 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0));
  const want = {};
  for (const [name, t] of Object.entries(named)) {
    const bits = new Uint32Array(t.data.length);
    for (let k = 0; k < bits.length; k++, i++) {
      let b = rnd();
      if ((b & 0x7f800000) === 0x7f800000) b &= 0xbfffffff;  // finite patterns only: no NaN or infinity
      if (i % 7 === 0) b = ((b & 0xffff0000) | 0x8000) >>> 0;  // exactly between two bf16 values
      if (i === 0) b = 0x7f7fffff;  // the largest float, which rounds to infinity in bf16
      if (i === 1) b = 0x80000000;  // -0
      if (i === 2) b = 0x00000001;  // the smallest denormal
      bits[k] = b;
    }
    want[name] = bits;
    total += bits.length;
    t.data.set(new Float32Array(bits.buffer));
  }
  model.setParameters(named);
  const back = model.getParameters();
  let differ = 0;
  for (const [name, bits] of Object.entries(want)) {
    const got = new Uint32Array(Float32Array.from(back[name].data).buffer);
    for (let k = 0; k < bits.length; k++) if (got[k] !== bits[k]) differ++;
  }
  assert.is(differ, 0, `${differ} of ${total} parameters came back different`);
  model.dispose();
});

test.run();
