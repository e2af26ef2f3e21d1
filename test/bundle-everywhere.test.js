// A valid bundle is a checkpoint to every command (issue #22): `convert --to separated`, the env-var
// workflow's load-checkpoint and loadCheckpoint read it; `convert --format safetensors --out FOLDER` writes
// into the folder; an --out that exists is an error, not a silent skip; bench --device cuda without a GPU
// is one error line and a failing exit.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const api = require('..');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-all-'));
const cli = (args, env = {}) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, ...env } });
const bundle = path.join(dir, 'checkpoints', 't');

test.before(async () => {
  await api.train({ model_name: 't', checkpoints_dir: path.join(dir, 'checkpoints'), max_iters: 3, eval_interval: 3, eval_iters: 1,
    n_layer: 1, n_embd: 16, n_head: 2, batch_size: 2, block_size: 8, sample_tokens: 0, device: 'cpu' });
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('loadCheckpoint reads a bundle folder: its weights, step and tokenizer', async () => {
  const c = await api.loadCheckpoint(bundle, { device: 'cpu' });
  const b = await api.loadBundle(bundle);
  assert.is(c.format, 'bundle');
  assert.is(c.global_step, 3);
  assert.is(c.has_optimizer_state, true);
  assert.is(c.tokenizer.kind, 'char');
  const p = c.model.getParameters();
  for (const [k, t] of Object.entries(b.params)) assert.equal(Array.from(p[k].data ?? p[k]).slice(0, 5), Array.from(t.data ?? t).slice(0, 5), k);
  c.model.dispose();
});

test('convert --to separated and load-checkpoint take a bundle', () => {
  const r = cli(['convert', '--checkpoint', 'checkpoints/t', '--to', 'separated']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /bundle -> separated: write checkpoints\/t-model\.pt, checkpoints\/t-optimizer\.pt/);
  const g = cli(['load-checkpoint'], { CHECKPOINT_PATH: 'checkpoints/t', MAX_NEW_TOKENS: '5', MODE: 'inference' });
  assert.is(g.status, 0, g.stderr);
  assert.match(g.stdout, /^Loaded bundle checkpoint checkpoints\/t: step 3, vocab size \d+, block size 8, batch size 2/m);
});

test('convert --format safetensors --out FOLDER writes into the folder; an existing --out file is an error', () => {
  fs.mkdirSync(path.join(dir, 'st'));
  const r = cli(['convert', '--checkpoint', 'checkpoints/t', '--format', 'safetensors', '--out', 'st']);
  assert.is(r.status, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(dir, 'st', 'model.safetensors')), r.stdout);
  const st = api.loadSafetensorsSync(path.join(dir, 'st', 'model.safetensors'));
  assert.ok(st.tensors.size > 0);
  const again = cli(['convert', '--checkpoint', 'checkpoints/t', '--format', 'safetensors', '--out', 'st']);
  assert.is(again.status, 1);
  assert.is(again.stderr.trim(), `error: --out st: ${path.join('st', 'model.safetensors')} already exists (remove it or name another file)`);
});

test('bench --device cuda without a GPU: one error line, exit 1, no rows', () => {
  if (api.backends().cuda) return;
  const r = cli(['bench', '--device', 'cuda', '--quick']);
  assert.is(r.status, 1);
  assert.is(r.stdout, '');
  assert.match(r.stderr.trim(), /^error: device 'cuda' is not available: [^\n]+$/);
});

test('convert --help names --head_dim, the flag the modded error asks for', () => {
  const r = cli(['convert', '--help']);
  assert.match(r.stdout, /--head_dim/);
});

test.run();
