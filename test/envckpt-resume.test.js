// Resume through each checkpoint path (env-var file, separated pair, unified file) gives the same
// parameters as an uninterrupted run with the same seed; the requested learning rate is applied; new
// files continue the step count; --keep_last turns older checkpoints into model-only ones.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { train } = require('../lib/use-cases/train/train');
const { createCheckpointSaver } = require('../lib/use-cases/train/savers');
const { resumeFromCheckpoint, runInference } = require('../lib/use-cases/load-checkpoint/run');
const { readCheckpoint } = require('../lib/formats/separated/read');
const { listCheckpoints } = require('../lib/use-cases/list/list');
const { loadTorch } = require('../lib/formats/torch');
const { loadCheckpoint } = require('../lib/use-cases/load-checkpoint/load');
const { pyCheck, maxRelErr } = require('./envckpt-pycheck');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'envckpt-resume-'));
const input = path.join(root, 'tiny.txt');
fs.writeFileSync(input, fs.readFileSync(path.join(__dirname, '..', 'data', 'tinyshakespeare.txt'), 'utf8').slice(0, 12000));

const RUN = {
  input_file: input, tokenization: 'char', n_embd: 16, n_head: 2, n_layer: 2, block_size: 16, batch_size: 4,
  dropout: 0, eval_interval: 4, eval_iters: 2, learning_rate: 2e-3, warmup_iters: 0, lr_decay_iters: 0, seed: 7, device: 'cpu', sample_tokens: 0,
  checkpoints_dir: path.join(root, 'bundles'),
};
const quiet = () => {};

function sameParams(a, b, what) {
  for (const [k, t] of Object.entries(a)) {
    const u = b[k].data;
    for (let i = 0; i < t.data.length; i++) {
      if (t.data[i] !== u[i]) assert.unreachable(`${what}: ${k}[${i}] ${t.data[i]} != ${u[i]}`);
    }
  }
}
const copyInto = (files, dir) => { fs.mkdirSync(dir, { recursive: true }); for (const f of files) fs.copyFileSync(f, path.join(dir, path.basename(f))); };

let full;   // the uninterrupted run's files: every 4 steps in all three formats
test('an uninterrupted run writes env-var, separated and unified checkpoints every 4 steps', async () => {
  const dir = path.join(root, 'full');
  const saver = createCheckpointSaver({
    env: { enableCheckpoints: true, checkpointInterval: 4, checkpointDir: dir, modelType: 'from_scratch' },
    saveSeparateOptimizer: true, saveUnified: true, filenamePrefix: 'run', dir, source: 'tiny',
  });
  const r = await train({ ...RUN, model_name: 'full', max_iters: 12, checkpointSaver: saver, saveBundle: false, log: quiet });
  assert.is(r.step, 12);
  full = saver.written;
  const names = full.map((f) => path.basename(f).replace(/_\d{8}_\d{6}/, '_T'));
  assert.equal(names, [
    'checkpoint_from_scratch_tiny_step000004_T.pt', 'run-step000004-model.pt', 'run-step000004-optimizer.pt', 'run-step000004.pt',
    'checkpoint_from_scratch_tiny_step000008_T.pt', 'run-step000008-model.pt', 'run-step000008-optimizer.pt', 'run-step000008.pt',
    'checkpoint_from_scratch_tiny_step000012_T.pt', 'run-step000012-model.pt', 'run-step000012-optimizer.pt', 'run-step000012.pt',
    'run-final-model.pt', 'run-final-optimizer.pt', 'run-final.pt',
  ]);
  const list = await listCheckpoints(dir);
  const final = list[list.length - 1];
  assert.ok(final.final);
  assert.is(final.step, 12);
  assert.ok(final.valLoss > 0, 'the last evaluation is recorded');
  const env = await readCheckpoint(full[8]);
  assert.is(env.data.step, 12);
  assert.is(env.data.optimizer.step, 12);
  assert.is(env.data.hyperparameters.input_file, input);
});

test('files a training run wrote load in PyTorch (weights-only) and give the logits our engine gives', async () => {
  const files = full.filter((f) => /step000012/.test(f));
  const py = pyCheck(files);
  if (!py) return;
  assert.equal(py.map((r) => r.kind), ['envvar', 'separated-model', 'separated-optimizer', 'unified']);
  for (const r of py) assert.not.ok(r.error, r.error);
  assert.is(py[0].layout, 'mypt', 'a MyPT-architecture model keeps MyPT names inside the section 4 dict');
  assert.equal(py[2].optimizer_steps, [12]);
  const c = await loadCheckpoint(files[0], { device: 'cpu', loadOptimizer: false });
  const V = c.config.vocab_size;
  const out = await c.model.forward([[0, 3, 5, 7, 1, 2, 4, 6].map((t) => t % V)]);
  c.model.dispose();
  for (const r of [py[0], py[1], py[3]]) {
    const err = maxRelErr(Array.from(out.logits), r.logits);
    assert.ok(err < 1e-5, `${r.file}: rel err ${err}`);
  }
});

for (const [label, pick, format] of [
  ['env-var file', (f) => f.filter((x) => /checkpoint_from_scratch_tiny_step000008/.test(x)), 'envvar'],
  ['separated pair', (f) => f.filter((x) => /run-step000008-(model|optimizer)/.test(x)), 'separated'],
  ['unified file', (f) => f.filter((x) => /run-step000008\.pt$/.test(x)), 'unified'],
]) {
  test(`resume from the step-8 ${label}: same parameters at step 12 as the uninterrupted run`, async () => {
    const dir = path.join(root, `resume-${format}`);
    const files = pick(full);
    copyInto(files, dir);
    const p = format === 'separated' ? path.join(dir, 'run-step000008') : path.join(dir, path.basename(files[0]));
    const lines = [];
    const r = await resumeFromCheckpoint({ checkpoint_path: p, resume_training_steps: 4, resume_learning_rate: 2e-3, device: 'cpu', log: (l) => lines.push(l) });
    assert.is(r.step, 12);
    assert.is(r.start_step, 8);
    assert.ok(lines.some((l) => /^Loaded .* checkpoint .*: step 8, vocab size \d+, block size 16, batch size 4/.test(l)), lines.join('\n'));
    const mine = await readCheckpoint(r.files.find((f) => /step000012/.test(f) && !/optimizer/.test(f)));
    assert.is(mine.format, format);
    assert.is(mine.data.step, 12, 'the step count continues');
    assert.is(mine.data.optimizer.step, 12);
    const ref = await readCheckpoint(full.find((f) => (format === 'envvar' ? /step000012_/ : format === 'unified' ? /run-step000012\.pt$/ : /run-step000012-model/).test(f)));
    sameParams(ref.data.params, mine.data.params, label);
    sameParams(ref.data.optimizer.exp_avg, mine.data.optimizer.exp_avg, `${label} exp_avg`);
    sameParams(ref.data.optimizer.exp_avg_sq, mine.data.optimizer.exp_avg_sq, `${label} exp_avg_sq`);
  });
}

test('the resumed run applies the requested learning rate and records it', async () => {
  const dir = path.join(root, 'resume-lr');
  const files = full.filter((x) => /run-step000008-(model|optimizer)/.test(x));
  copyInto(files, dir);
  const r = await resumeFromCheckpoint({ checkpoint_path: path.join(dir, 'run-step000008-model.pt'), resume_training_steps: 4, resume_learning_rate: 5e-4, device: 'cpu', log: quiet });
  const opt = await loadTorch(r.files.find((f) => /step000012-optimizer/.test(f)));
  const lr = opt.get('optimizer_states')[0].get('param_groups')[0].get('lr');
  assert.is(Number(lr), 5e-4);
  const mine = await readCheckpoint(path.join(dir, 'run-step000012'));
  const ref = await readCheckpoint(full.find((f) => /run-step000012-model/.test(f)));
  const a = ref.data.params['h.0.attn.qkv.weight'].data, b = mine.data.params['h.0.attn.qkv.weight'].data;
  assert.ok(a.some((x, i) => x !== b[i]), 'a different rate gives different weights');
});

test('inference from a checkpoint prints what it loaded and samples reproducibly', async () => {
  const p = full.find((f) => /checkpoint_from_scratch_tiny_step000012/.test(f));
  const lines = [];
  const a = await runInference({ checkpoint_path: p, prompt: 'ROMEO:', max_new_tokens: 20, seed: 3, device: 'cpu', log: (l) => lines.push(l) });
  const b = await runInference({ checkpoint_path: p, prompt: 'ROMEO:', max_new_tokens: 20, seed: 3, device: 'cpu', log: quiet });
  assert.match(lines[0], /^Loaded envvar checkpoint .*: step 12, vocab size \d+, block size 16, batch size 4, [\d,]+ parameters on cpu; char tokens/);
  assert.is(a.text.length, 20, 'one character per token');
  assert.is(a.text, b.text);
});

test('--keep_last 1: older checkpoints become model-only (separated: optimizer file removed; env-var: state None)', async () => {
  const dir = path.join(root, 'keep');
  const saver = createCheckpointSaver({
    env: { enableCheckpoints: true, checkpointInterval: 4, checkpointDir: dir, modelType: 'from_scratch' },
    saveSeparateOptimizer: true, filenamePrefix: 'k', keepLast: 1, dir, source: 'tiny',
  });
  await train({ ...RUN, model_name: 'keep', max_iters: 12, checkpointSaver: saver, saveBundle: false, log: quiet });
  const list = await listCheckpoints(dir);
  const rows = list.map((e) => [e.name.replace(/_\d{8}_\d{6}/, '_T'), e.format, e.optimizer])
    .sort((a, b) => (a[0].match(/\d{6}|final/)[0] + a[0]).localeCompare(b[0].match(/\d{6}|final/)[0] + b[0]));
  assert.equal(rows, [
    ['checkpoint_from_scratch_tiny_step000004_T.pt', 'envvar', false],
    ['k-step000004', 'model-only', false],
    ['checkpoint_from_scratch_tiny_step000008_T.pt', 'envvar', false],
    ['k-step000008', 'model-only', false],
    ['checkpoint_from_scratch_tiny_step000012_T.pt', 'envvar', true],
    ['k-step000012', 'separated', true],
    ['k-final', 'separated', true],
  ]);
  const small = list.find((e) => e.name === 'k-step000004').size, big = list.find((e) => e.name === 'k-step000012').size;
  assert.ok(small * 2.5 < big, `model-only ${small} B vs with optimizer ${big} B`);
  const old = await loadTorch(list.find((e) => /step000004_/.test(e.name)).path);
  assert.is(old.get('optimizer_state_dict'), null);
  assert.ok(old.get('model_state_dict').size > 0);
});

test('--save_separate_optimizer --save_model_only: model files only, each loadable for inference and refused for resume', async () => {
  const dir = path.join(root, 'modelonly');
  const saver = createCheckpointSaver({ saveSeparateOptimizer: true, saveModelOnly: true, checkpointInterval: 6, dir, filenamePrefix: 'm' });
  await train({ ...RUN, model_name: 'mo', max_iters: 6, checkpointSaver: saver, saveBundle: false, log: quiet });
  assert.equal(saver.written.map((f) => path.basename(f)), ['m-step000006-model.pt', 'm-final-model.pt']);
  assert.equal(fs.readdirSync(dir).sort(), ['m-final-model.pt', 'm-step000006-model.pt']);
  const r = await readCheckpoint(path.join(dir, 'm-final'), { loadOptimizer: false });
  assert.is(r.format, 'model-only');
  assert.is(r.data.step, 6);
  try {
    await resumeFromCheckpoint({ checkpoint_path: path.join(dir, 'm-final'), device: 'cpu', log: quiet });
    assert.unreachable();
  } catch (e) {
    assert.match(e.message, /^cannot resume from .*m-final: its optimizer file .*m-final-optimizer\.pt is missing/);
  }
});

test('resuming a file the env-var trainer itself wrote (lecture model, vocabulary beside it) continues in its layout', async () => {
  const dir = path.join(root, 'orig');
  const FIX = path.join(__dirname, 'fixtures', 'envckpt');
  copyInto([path.join(FIX, 'checkpoint_from_scratch_tiny_text_step0002_11232026_054500.pt'), path.join(FIX, 'tokenizer.json')], dir);
  const text = path.join(dir, 'text.txt');
  fs.writeFileSync(text, 'hello world\nthe tiny vocab, ok?\n'.repeat(40));
  const r = await resumeFromCheckpoint({
    checkpoint_path: path.join(dir, 'checkpoint_from_scratch_tiny_text_step0002_11232026_054500.pt'), input_file: text,
    resume_training_steps: 4, resume_learning_rate: 1e-3, checkpoint_interval: 2, eval_iters: 2, device: 'cpu', log: quiet,
  });
  assert.equal(r.files.map((f) => path.basename(f).replace(/_\d{8}_\d{6}/, '_T')), [
    'checkpoint_from_scratch_tiny_text_step000004_T.pt', 'checkpoint_from_scratch_tiny_text_step000006_T.pt']);
  const back = await readCheckpoint(r.files[1]);
  assert.is(back.data.config.attn_scale, 'embd');
  assert.is(back.data.optimizer.step, 6);
  const py = pyCheck([r.files[1]]);
  if (py) {
    assert.not.ok(py[0].error, py[0].error);
    assert.is(py[0].layout, 'envvar', "the lecture trainer's own names (ffwd, blocks.{L} LayerNorm)");
    assert.is(py[0].optimizer_step, 6);
    assert.is(py[0].lr, 1e-3);
    assert.equal(py[0].tokenizer.chars.length, 20);
  }
});

test.run();
