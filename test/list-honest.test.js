// What `list` says is true (issue #22): a step file records the val loss of its own step or none (never an
// older evaluation's); a run stopped early leaves step files, not `final` ones; a bundle whose model.pt is
// truncated is listed as damaged, with the reason.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const api = require('..');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const TINY = { n_layer: 1, n_embd: 16, n_head: 2, batch_size: 2, block_size: 8, eval_iters: 1, sample_tokens: 0, device: 'cpu', seed: 3 };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'list-'));

test('separated step files: the val loss of their own step, or none', async () => {
  const dir = tmp();
  const saver = api.createCheckpointSaver({ saveSeparateOptimizer: true, checkpointInterval: 2, dir, filenamePrefix: 'ck' });
  const evals = new Map();
  await api.train({ ...TINY, max_iters: 8, eval_interval: 4, checkpoints_dir: dir, model_name: 'x', checkpointSaver: saver, saveBundle: false,
    onProgress: (e) => { if (e.type === 'eval') evals.set(e.step, e.val_loss); } });
  const entries = await api.listCheckpoints(dir);
  const byStep = new Map(entries.filter((e) => !e.final).map((e) => [e.step, e.valLoss]));
  assert.equal([...byStep.keys()].sort((a, b) => a - b), [2, 4, 6, 8]);
  assert.is(byStep.get(2), null, 'no evaluation at step 2: no loss (not step 0\'s)');
  assert.is(byStep.get(6), null);
  assert.ok(Math.abs(byStep.get(4) - evals.get(4)) < 1e-6, `step 4: ${byStep.get(4)} vs ${evals.get(4)}`);
  assert.ok(Math.abs(byStep.get(8) - evals.get(8)) < 1e-6);
  fs.rmSync(dir, { recursive: true });
});

test('a run stopped early leaves its last step file, no "final" files', async () => {
  const dir = tmp();
  const saver = api.createCheckpointSaver({ saveSeparateOptimizer: true, checkpointInterval: 4, dir, filenamePrefix: 'ck' });
  const ac = new AbortController();
  const r = await api.train({ ...TINY, max_iters: 40, eval_interval: 20, checkpoints_dir: dir, model_name: 'x', checkpointSaver: saver, saveBundle: false,
    signal: ac.signal, onProgress: (e) => { if (e.type === 'step' && e.step === 5) ac.abort(); } });
  assert.is(r.interrupted, true);
  const entries = await api.listCheckpoints(dir);
  assert.equal(entries.filter((e) => e.final), [], entries.map((e) => e.name).join(', '));
  assert.equal(entries.map((e) => e.step), [4, r.step]);
  assert.ok(fs.readdirSync(dir).every((n) => !/final/.test(n)));
  fs.rmSync(dir, { recursive: true });
});

test('a bundle with a truncated model.pt is listed as damaged, naming the file and the cause', async () => {
  const dir = tmp();
  await api.train({ ...TINY, max_iters: 2, eval_interval: 2, checkpoints_dir: dir, model_name: 'ok' });
  fs.cpSync(path.join(dir, 'ok'), path.join(dir, 'cut'), { recursive: true });
  const f = path.join(dir, 'cut', 'model.pt');
  fs.truncateSync(f, fs.statSync(f).size - 100);
  const entries = await api.listCheckpoints(dir);
  assert.is(entries.find((e) => e.name === 'ok/').problem, undefined);
  assert.match(entries.find((e) => e.name === 'cut/').problem, /cut[\\/]model\.pt: not a complete zip archive/);
  const r = spawnSync(process.execPath, [BIN, 'list', dir], { encoding: 'utf8' });
  assert.is(r.status, 0);
  assert.match(r.stdout, /^cut\/\s+mypt-bundle \(damaged\)/m);
  assert.match(r.stdout, /^damaged: cut\/ cannot be loaded: .*model\.pt: not a complete zip archive/m);
  fs.rmSync(dir, { recursive: true });
});

test.run();
