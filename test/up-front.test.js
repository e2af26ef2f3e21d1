// Up-front checks come before any status line (issue #22): a run that is refused (no GPU for --device cuda,
// sizes that cannot fit in memory, a text too short for one batch) prints exactly one `error:` line on
// stderr and nothing on stdout: no "No checkpoint found. Starting from scratch.", no "Found checkpoint ...,
// resuming", no "Initializing from base model". Fresh runs, resumes and fine-tunes are each tried.
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

test.run();
