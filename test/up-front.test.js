// Up-front checks come before any status line (issue #22): a run that is refused (no GPU for --device cuda,
// sizes that cannot fit in memory, a text too short for one batch) prints exactly one `error:` line on
// stderr and nothing on stdout: no "No checkpoint found. Starting from scratch.", no "Found checkpoint ...,
// resuming", no "Initializing from base model". Fresh runs, resumes and fine-tunes are each tried; so are
// load-checkpoint (MODE=resume and inference) and prepare, and counts too large for the engine.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const api = require('..');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'upfront-'));
const cli = (args, cwd) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd });
const TINY = ['--n_layer', '1', '--n_embd', '16', '--n_head', '2', '--block_size', '8', '--batch_size', '2', '--eval_iters', '1', '--sample_tokens', '0'];
const gpu = api.backends().cuda;

/** exit 1, stdout empty, stderr exactly one line that starts with `error:` and matches `re` */
function refused(r, re) {
  assert.is(r.status, 1, `exit code (stderr: ${r.stderr})`);
  assert.is(r.stdout, '', 'nothing on stdout before the error');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.is(lines.length, 1, `one stderr line, got: ${JSON.stringify(lines)}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], re);
}

/** a bundle at <dir>/checkpoints/base, two steps of a tiny char model */
function baseBundle(dir) {
  const r = cli(['train', '--model_name', 'base', '--max_iters', '2', '--eval_interval', '2', ...TINY], dir);
  assert.is(r.status, 0, r.stderr);
  return path.join(dir, 'checkpoints', 'base');
}

const files = (d) => fs.readdirSync(d).sort().map((f) => [f, fs.readFileSync(path.join(d, f)).toString('base64')]);

(gpu ? test.skip : test)('train --device cuda without a GPU: exactly one error: line, nothing on stdout (fresh and resumed)', () => {
  const dir = tmp();
  refused(cli(['train', '--device', 'cuda', '--max_iters', '2'], dir), /device 'cuda' is not available/);
  refused(cli(['train', '--device', 'cuda'], dir), /device 'cuda' is not available/);
  assert.not.ok(fs.existsSync(path.join(dir, 'checkpoints', 'default')), 'no bundle folder made');
  const base = baseBundle(dir);
  const before = files(base);
  refused(cli(['train', '--model_name', 'base', '--device', 'cuda', '--max_iters', '4'], dir), /device 'cuda' is not available/);
  refused(cli(['train', '--model_name', 'ft', '--init_from_model', 'base', '--device', 'cuda', '--max_iters', '4'], dir), /device 'cuda' is not available/);
  assert.equal(files(base), before, 'the bundle is unchanged');
  fs.rmSync(dir, { recursive: true });
});

test('sizes that cannot fit: one error: line before any status line (fresh, resume, fine-tune)', () => {
  const dir = tmp();
  const oom = /--batch_size 1000000000 x --block_size \d+ needs about [\d.]+ GiB to train.*lower --batch_size or --block_size/;
  refused(cli(['train', '--batch_size', '1000000000', '--max_iters', '20'], dir), oom);
  const base = baseBundle(dir);
  const before = files(base);
  refused(cli(['train', '--model_name', 'base', '--batch_size', '1000000000', '--max_iters', '4'], dir), oom);
  refused(cli(['train', '--model_name', 'ft', '--init_from_model', 'base', '--batch_size', '1000000000', '--max_iters', '4'], dir), oom);
  assert.equal(files(base), before, 'the bundle is unchanged');
  assert.not.ok(fs.existsSync(path.join(dir, 'checkpoints', 'ft')), 'no fine-tune bundle made');
  fs.rmSync(dir, { recursive: true });
});

test('a text too short for one batch: one error: line, no status line first', () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'tiny.txt'), 'abc');
  refused(cli(['train', '--input_file', 'tiny.txt', '--max_iters', '2'], dir), /^error: --input_file tiny\.txt: the train split has 2 tokens, fewer than block_size \+ 1 = 65/);
  fs.rmSync(dir, { recursive: true });
});

test('the status lines held back during the checks still come, in order, once the checks pass', () => {
  const dir = tmp();
  const r = cli(['train', '--max_iters', '2', '--eval_interval', '2', ...TINY], dir);
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const at = (re) => lines.findIndex((l) => re.test(l));
  assert.is(at(/^No checkpoint found\. Starting from scratch\.$/), 0);
  assert.ok(at(/^Using config: /) > 0 && at(/^Learning rate: /) > at(/^Using config: /), r.stdout);
  fs.rmSync(dir, { recursive: true });
});

// load-checkpoint: "Selected ...", "Loaded ..." and "Resuming at step ..." wait for the checks of the run
const FIX = path.join(__dirname, 'fixtures', 'envckpt');
const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
  !/^(MODE|DEVICE|PROMPT|MAX_NEW_TOKENS|TEMPERATURE|TOP_K|CHECKPOINT_\w+|RESUME_\w+|ENABLE_CHECKPOINTS|TRAINING_STEPS|MODEL_TYPE)$/.test(k)));
const lc = (args, env, cwd) => spawnSync(process.execPath, [BIN, 'load-checkpoint', ...args], { encoding: 'utf8', cwd, env: { ...clean, ...env } });

test('load-checkpoint MODE=resume: a run refused by its checks prints its one error: line alone', () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'tiny.txt'), 'abc');
  const F6 = path.join(FIX, 'checkpoint_from_scratch_tiny_text_step000004_11232026_054512.pt');
  refused(lc([], { CHECKPOINT_PATH: F6, MODE: 'resume' }, dir), /MODE=resume needs the training text: .* records no input file \(pass --input_file PATH\)$/);
  // train()'s own data check, after the checkpoint was loaded and handed over
  refused(lc(['--input_file', 'tiny.txt'], { CHECKPOINT_PATH: path.join(FIX, 'separated'), MODE: 'resume' }, dir),
    /^error: --input_file tiny\.txt: the train split has 2 tokens, fewer than block_size \+ 1/);
  assert.equal(fs.readdirSync(dir), ['tiny.txt'], 'nothing written');
  fs.rmSync(dir, { recursive: true });
});

(gpu ? test.skip : test)('load-checkpoint --device cuda without a GPU: one error: line (resume and inference, a folder to select from)', () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'text.txt'), 'abcdefgh '.repeat(500));
  refused(lc(['--input_file', 'text.txt', '--device', 'cuda'], { CHECKPOINT_PATH: path.join(FIX, 'separated'), MODE: 'resume' }, dir), /device 'cuda' is not available/);
  refused(lc(['--device', 'cuda'], { CHECKPOINT_PATH: path.join(FIX, 'separated'), MODE: 'inference' }, dir), /device 'cuda' is not available/);
  fs.rmSync(dir, { recursive: true });
});

test('counts the engine takes as 32-bit integers: refused by flag before the run (no bundle saved at step 0)', () => {
  const dir = tmp();
  refused(cli(['train', '--grad_accum', '1000000000000', '--max_iters', '1'], dir), /^error: --grad_accum 1000000000000: must be at most 2147483647$/);
  refused(cli(['train', '--eval_iters', '1000000000000', '--max_iters', '1'], dir), /^error: --eval_iters 1000000000000: must be at most 2147483647$/);
  refused(cli(['train', '--total_batch_size', '1000000000000000', '--batch_size', '1', '--block_size', '8', '--max_iters', '1'], dir),
    /^error: --total_batch_size 1000000000000000: gives 125000000000000 micro-batches per process, more than 2147483647$/);
  assert.not.ok(fs.existsSync(path.join(dir, 'checkpoints', 'default')), 'no bundle');
  fs.rmSync(dir, { recursive: true });
});

test('--recompute outside 0-2: one error: line naming the flag and the levels, before the run', () => {
  const dir = tmp();
  refused(cli(['train', '--recompute', '3', '--max_iters', '1'], dir), /^error: --recompute 3: expected 0 \(keep every activation\), 1 \(recompute the MLP activation\) or 2 \(also the LayerNorms\)$/);
  refused(cli(['train', '--recompute', 'all', '--max_iters', '1'], dir), /^error: --recompute all: not a number$/);
  assert.not.ok(fs.existsSync(path.join(dir, 'checkpoints', 'default')), 'no bundle');
  fs.rmSync(dir, { recursive: true });
});

test('prepare --workers beyond the tokenizer\'s 1024 threads: one error: line naming the flag, before any line or folder', () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'c.txt'), 'some text to tokenize. '.repeat(50));
  refused(cli(['prepare', '--input', 'c.txt', '--out', 'shards', '--workers', '100000'], dir), /^error: --workers 100000: must be a whole number from 1 to 1024$/);
  assert.not.ok(fs.existsSync(path.join(dir, 'shards')), 'no --out folder made');
  fs.rmSync(dir, { recursive: true });
});

test('train --nproc_per_node 2: a missing text or an unwritable checkpoints folder is refused by the launcher, before any worker', () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'f'), 'x');
  refused(cli(['train', '--nproc_per_node', '2', '--device', 'cpu', '--max_iters', '2', '--input_file', 'nope.txt'], dir), /^error: --input_file nope\.txt: no such file$/);
  refused(cli(['train', '--nproc_per_node', '2', '--device', 'cpu', '--max_iters', '2', '--checkpoints_dir', 'f'], dir), /^error: --checkpoints_dir f: .*f is a file, not a folder$/);
  fs.rmSync(dir, { recursive: true });
});

test('serve: a --max_batch whose key/value caches cannot fit in memory is refused before listening, naming the flag', async () => {
  // 2 x 4096 sequences x 1 layer x 8192 tokens x 128 wide x 4 bytes = 32 GiB of caches (more than this test may assume it lacks)
  const cfg = { vocab_size: 65, block_size: 8192, n_layer: 1, n_head: 2, n_embd: 128, device: 'cpu' };
  const need = 2 * 4096 * cfg.n_layer * cfg.block_size * cfg.n_embd * 4;
  if (need <= os.totalmem()) { console.log('  (skipped: this machine has more RAM than the caches need)'); return; }
  const model = api.createModel(cfg);
  try {
    let err;
    try {
      const started = await api.serve({ model, max_batch: 4096, port: 0, log: () => {} });
      await started.close();
    } catch (e) { err = e; }
    assert.ok(err, 'refused');
    assert.is(err.code, 'E_OUT_OF_MEMORY', err.message);
    assert.match(err.message, /^--max_batch 4096: the key\/value caches of 4096 sequences of 8192 tokens need about 32\.0 GiB beside the weights; this machine has [\d.]+ GiB of RAM .*\(lower --max_batch\)$/);
    assert.ok(Number.isFinite(await model.loss({ data: new Int32Array([1, 2]), shape: [1, 2] }, { data: new Int32Array([2, 3]), shape: [1, 2] })),
      'a model passed in is not disposed');
  } finally {
    model.dispose();
  }
});

test.run();
