// bench/nanogpt-side-by-side.js reads the two trainers' logs. The fixtures are the logs of a real CPU run of
// bench/nanogpt-side-by-side.sh (nanoGPT's train.py under PyTorch 1.13, and mypt-native train with
// CI=1, whose progress lines "step 1/20 | loss ..." must not be taken for evaluations), and the table it printed.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { parseLog, summarizeRun } = require('../bench/nanogpt-side-by-side');

const DIR = path.join(__dirname, 'fixtures', 'side-by-side');
const read = (f) => fs.readFileSync(path.join(DIR, f), 'utf8');
const OPTS = { tokensPerIter: 4 * 64, skip: 5, evalInterval: 10 };

test("nanoGPT's log: every iteration line and every evaluation", () => {
  const log = parseLog(read('nanogpt-stdout.txt'));
  assert.is(log.iters.length, 21, 'iterations 0..20: nanoGPT trains max_iters + 1 steps');
  assert.equal(log.iters[0], { iter: 0, loss: 10.8309, ms: 1112.73 });
  assert.equal(log.iters[20].iter, 20);
  assert.equal(log.evals, [
    { step: 0, train: 10.8173, val: 10.819 },
    { step: 10, train: 10.4276, val: 10.4149 },
    { step: 20, train: 10.2958, val: 10.2739 },
  ]);
});

test("mypt-native's log: iteration lines, evaluations, not the progress lines", () => {
  const log = parseLog(read('mypt-stdout.txt'));
  assert.is(log.iters.length, 20);
  assert.equal(log.iters[0], { iter: 0, loss: 10.8209, ms: 145.37 });
  assert.equal(log.evals.map((e) => e.step), [0, 10, 20]);
  assert.equal(log.evals[2], { step: 20, train: 10.3405, val: 10.3256 });
});

test('steady-state tokens/s leaves out the first iterations and the evaluation iterations', () => {
  const log = parseLog(read('nanogpt-stdout.txt'));
  const r = summarizeRun(log, OPTS);
  const timed = log.iters.filter((x) => x.iter >= 5 && x.iter % 10 !== 0);
  assert.equal(timed.map((x) => x.iter), [5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  const seconds = timed.reduce((a, x) => a + x.ms, 0) / 1000;
  assert.ok(Math.abs(r.tokens_per_s - (14 * 256) / seconds) < 1e-9);
  assert.equal([r.iters_timed, r.iters_logged, r.first_timed, r.last_timed], [14, 21, 5, 19]);
  assert.equal([r.best_val, r.best_step, r.final_val, r.final_step], [10.2739, 20, 10.2739, 20]);
});

test('a best val loss before the last evaluation, nan losses, and a log with no timed iteration', () => {
  const text = [
    'step 0: train loss 10.9000, val loss 10.9000',
    'iter 0: loss 10.9, time 900.00ms, mfu -100.00%',
    'iter 1: loss nan, time 100.00ms, lr 1.000e-4, 2,560 tokens/s',
    'step 2: train loss 3.0000, val loss 3.5000',
    'step 4: train loss 2.0000, val loss 3.7000',
  ].join('\n');
  const r = summarizeRun(parseLog(text), { tokensPerIter: 256, skip: 1, evalInterval: 0 });
  assert.equal([r.best_val, r.best_step, r.final_val, r.final_step], [3.5, 2, 3.7, 4]);
  assert.is(r.tokens_per_s, 2560);
  assert.is(summarizeRun(parseLog(text), { tokensPerIter: 256, skip: 5, evalInterval: 0 }).tokens_per_s, null);
});

test('the command line prints the table the CPU run printed', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bench', 'nanogpt-side-by-side.js'),
    '--nanogpt', path.join(DIR, 'nanogpt-stdout.txt'), '--mypt', path.join(DIR, 'mypt-stdout.txt'),
    '--tokens_per_iter', '256', '--skip', '5', '--eval_interval', '10'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const table = (s) => s.split('\n').filter((l) => /^(tokens\/s|ms per|best val|last val|iterations)/.test(l)).join('\n');
  assert.is(table(r.stdout), table(read('side-by-side.txt')));
  assert.match(r.stdout, /tokens\/s \(steady state\)\s+1,12\d\s+3,14\d\s+2\.\d\dx/);
  const bad = spawnSync(process.execPath, [path.join(__dirname, '..', 'bench', 'nanogpt-side-by-side.js'),
    '--nanogpt', path.join(DIR, 'side-by-side.txt'), '--mypt', path.join(DIR, 'mypt-stdout.txt'),
    '--tokens_per_iter', '256', '--skip', '5', '--eval_interval', '10'], { encoding: 'utf8' });
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /^error: .*side-by-side\.txt: no "iter N: loss X, time Yms" line/);
});

test.run();
