// Resume with dropout > 0 continues bit-identically: the dropout masks of step N are a pure function of
// (seed, N) (train.ts seeds the engine before each step), so 8 straight steps equal 4 + save + resume 4,
// through a bundle (train --model_name again) and through a separated pair (resumeFromCheckpoint); and the
// train loop's runs of steps (one trainBatches call each, as on a GPU) train as one step a call does.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { train } = require('../lib/use-cases/train/train');
const { createCheckpointSaver } = require('../lib/use-cases/train/savers');
const { resumeFromCheckpoint } = require('../lib/use-cases/load-checkpoint/run');
const { readCheckpoint } = require('../lib/formats/separated/read');
const { loadModel } = require('../lib');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wiring-resume-'));
const input = path.join(root, 'tiny.txt');
fs.writeFileSync(input, fs.readFileSync(path.join(__dirname, '..', 'data', 'tinyshakespeare.txt'), 'utf8').slice(0, 12000));

const RUN = {
  input_file: input, tokenization: 'char', n_embd: 16, n_head: 2, n_layer: 2, block_size: 16, batch_size: 4,
  dropout: 0.2, eval_interval: 4, eval_iters: 2, learning_rate: 2e-3, warmup_iters: 0, lr_decay_iters: 0, seed: 11, device: 'cpu',
  sample_tokens: 0, checkpoints_dir: path.join(root, 'bundles'), log: () => {},
};

function paramsOf(name) {
  return loadModel(name, { checkpoints_dir: RUN.checkpoints_dir, device: 'cpu' }).then((m) => {
    try { return m.getParameters(); } finally { m.dispose(); }
  });
}

function sameBits(a, b, what) {
  assert.equal(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: the same tensors`);
  for (const [k, t] of Object.entries(a)) {
    const x = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    const y = new Uint32Array(b[k].data.buffer, b[k].data.byteOffset, b[k].data.length);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) assert.unreachable(`${what}: ${k}[${i}] ${t.data[i]} != ${b[k].data[i]}`);
  }
}
const differs = (a, b) => Object.keys(a).some((k) => a[k].data.some((x, i) => x !== b[k].data[i]));

test('dropout 0.2, bundle: 8 straight steps == 4 steps + save + resume 4 (bit for bit)', async () => {
  await train({ ...RUN, model_name: 'straight', max_iters: 8 });
  await train({ ...RUN, model_name: 'halves', max_iters: 4 });
  const r = await train({ ...RUN, model_name: 'halves', max_iters: 8 });
  assert.ok(r.resumed);
  assert.is(r.start_step, 4);
  const straight = await paramsOf('straight');
  sameBits(straight, await paramsOf('halves'), 'resumed bundle');
  await train({ ...RUN, dropout: 0, model_name: 'nodrop', max_iters: 8 });
  assert.ok(differs(straight, await paramsOf('nodrop')), 'dropout 0.2 really changed the training');
});

test('runs of steps (trainBatches, as on a GPU; MYPT_TRAIN_RUN=3 on the CPU) train exactly as one step a call', async () => {
  // 10 steps, evaluations every 4 with warm-up and decay: runs of 3 are cut at steps 4 and 8 and at the end
  const run = { ...RUN, max_iters: 10, warmup_iters: 2, lr_decay_iters: 10, min_lr: 1e-4 };
  const record = () => { const ev = []; return { ev, onProgress: (e) => { if (e.type === 'step' || e.type === 'eval') ev.push({ ...e, seconds: 0 }); } }; };
  const one = record();
  await train({ ...run, model_name: 'one-a-call', onProgress: one.onProgress });
  const runs = record();
  process.env.MYPT_TRAIN_RUN = '3';
  try {
    await train({ ...run, model_name: 'runs-of-3', onProgress: runs.onProgress });
  } finally {
    delete process.env.MYPT_TRAIN_RUN;
  }
  assert.is(one.ev.filter((e) => e.type === 'step').length, 10);
  assert.equal(runs.ev, one.ev, 'the same steps (loss, lr) and evaluations, in the same order');
  sameBits(await paramsOf('one-a-call'), await paramsOf('runs-of-3'), 'parameters after the runs');
});

test('dropout 0.2, separated pair: resumeFromCheckpoint from step 4 == the straight run at step 8', async () => {
  const dir = path.join(root, 'sep');
  const saver = createCheckpointSaver({ saveSeparateOptimizer: true, checkpointInterval: 4, dir, filenamePrefix: 'run' });
  await train({ ...RUN, model_name: 'sep', max_iters: 8, checkpointSaver: saver, saveBundle: false });
  const again = path.join(root, 'sep-resume');
  fs.mkdirSync(again);
  for (const part of ['model', 'optimizer']) fs.copyFileSync(path.join(dir, `run-step000004-${part}.pt`), path.join(again, `run-step000004-${part}.pt`));
  const r = await resumeFromCheckpoint({ checkpoint_path: path.join(again, 'run-step000004'), resume_training_steps: 4, resume_learning_rate: 2e-3, device: 'cpu' });
  assert.is(r.step, 8);
  const ref = await readCheckpoint(path.join(dir, 'run-step000008'));
  assert.is(ref.data.config.dropout, 0.2, 'the checkpoint records the dropout it trained with');
  const mine = await readCheckpoint(path.join(again, 'run-step000008'));
  sameBits(ref.data.params, mine.data.params, 'resumed separated pair');
});

test.run();
