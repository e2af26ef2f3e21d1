// A save that runs out of room (issue #22): the previous bundle stays whole and the error says why. The
// full disk is simulated with a file-size limit (bash's ulimit -f, SIGXFSZ ignored so the write fails with
// EFBIG), which needs no root and no tmpfs; the writer's words for ENOSPC are checked in rough-edges.test.js.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const api = require('..');

const hasBash = spawnSync('bash', ['-c', 'ulimit -f 100'], { encoding: 'utf8' }).status === 0;
const OPTS = { model_name: 'b', max_iters: 2, eval_interval: 2, eval_iters: 1, n_layer: 2, n_embd: 64, n_head: 2, batch_size: 2, block_size: 16,
  sample_tokens: 0, device: 'cpu', seed: 5 };

test('a save past a file-size limit: E_IO naming the cause; the previous bundle is unchanged and loads', async () => {
  if (!hasBash) { console.log('  (skipped: no bash for ulimit)'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'full-'));
  await api.train({ ...OPTS, checkpoints_dir: dir });
  const bundle = path.join(dir, 'b');
  const before = Object.fromEntries(fs.readdirSync(bundle).map((n) => [n, fs.readFileSync(path.join(bundle, n))]));
  assert.ok(before['model.pt'].length > 200 * 1024, 'model.pt is larger than the limit below');
  const script = `
    process.on('SIGXFSZ', () => {});
    require(${JSON.stringify(path.join(__dirname, '..'))}).train(${JSON.stringify({ ...OPTS, checkpoints_dir: dir, max_iters: 4 })})
      .then(() => { console.log('saved'); }, (e) => { console.log(JSON.stringify({ code: e.code, message: e.message })); });`;
  const r = spawnSync('bash', ['-c', `ulimit -f 200; exec "${process.execPath}" -e "$0"`, script], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.is(out.code, 'E_IO', r.stdout);
  assert.match(out.message, /the file is larger than this system allows \(EFBIG\)/);
  assert.match(out.message, /untouched/);
  for (const [n, b] of Object.entries(before)) assert.ok(fs.readFileSync(path.join(bundle, n)).equals(b), `${n} unchanged`);
  assert.equal(fs.readdirSync(dir).sort(), ['b'], 'no staging folder or temporary file left');
  const loaded = await api.loadBundle(bundle);
  assert.is(loaded.trainingState.step, 2);
  fs.rmSync(dir, { recursive: true });
});

test('separated checkpoint files written during training past a file-size limit: E_IO, the earlier files unchanged', async () => {
  if (!hasBash) { console.log('  (skipped: no bash for ulimit)'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'full-sep-'));
  const opts = (maxIters) => ({ ...OPTS, eval_interval: 100, max_iters: maxIters, checkpoints_dir: dir, saveBundle: false });
  const saver = { saveSeparateOptimizer: true, checkpointInterval: 2, dir };
  const pkg = JSON.stringify(path.join(__dirname, '..'));
  const run = (maxIters) => `require(${pkg}).train({ ...${JSON.stringify(opts(maxIters))}, checkpointSaver: require(${pkg}).createCheckpointSaver(${JSON.stringify(saver)}),
      onProgress: (e) => { if (e.type === 'step') global.lastStep = e.step; } })`;
  await api.train({ ...opts(2), checkpointSaver: api.createCheckpointSaver(saver) });   // the step-2 pair and the final pair
  const before = Object.fromEntries(fs.readdirSync(dir).map((n) => [n, fs.readFileSync(path.join(dir, n))]));
  assert.ok(Object.keys(before).length >= 4, Object.keys(before).join(', '));
  // from scratch again toward step 8: the step-2 files are rewritten while step 3 trains and that write fails;
  // the run stops at the next step that looks (3) or at the next save, which waits for it (4), not at its end
  const script = `
    process.on('SIGXFSZ', () => {});
    ${run(8)}.then(() => { console.log('saved'); }, (e) => { console.log(JSON.stringify({ code: e.code, message: e.message, lastStep: global.lastStep })); });`;
  const r = spawnSync('bash', ['-c', `ulimit -f 200; exec "${process.execPath}" -e "$0"`, script], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.is(out.code, 'E_IO', r.stdout);
  assert.match(out.message, /EFBIG/);
  assert.ok(out.lastStep >= 3 && out.lastStep <= 4, `stopped after step ${out.lastStep}`);
  assert.equal(fs.readdirSync(dir).sort(), Object.keys(before).sort(), 'no temporary file left, nothing added');
  for (const [n, b] of Object.entries(before)) assert.ok(fs.readFileSync(path.join(dir, n)).equals(b), `${n} unchanged`);
  fs.rmSync(dir, { recursive: true });
});

test.run();
