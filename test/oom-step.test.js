// An out-of-memory inside a training step on the CPU (issue #22), the twin of test/gpu/oom.test.js: the
// process runs under `ulimit -v` (4 GB of address space) with the up-front estimate skipped
// (MYPT_SKIP_MEMORY_CHECK=1), so the engine's allocation for the activations fails inside the step. It must
// be one `error:` line (E_OUT_OF_MEMORY with the flags to lower), exit 1, and the bundle saved before stays
// byte for byte the same; through the API the step rejects with E_OUT_OF_MEMORY, leaves the parameters
// untouched, and the model trains afterwards. The same for `eval`'s batches.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const LIB = path.join(__dirname, '..');
const LIMIT_KB = 4 * 1024 * 1024;
const linux = process.platform === 'linux';
const maybe = linux ? test : test.skip;
if (!linux) console.log('  skipping the in-step out-of-memory tests: they need ulimit -v (Linux)');

/** node with args under a 4 GB address-space limit */
const limited = (args, opts) => spawnSync('/bin/sh', ['-c', `ulimit -v ${LIMIT_KB} && exec "$0" "$@"`, process.execPath, ...args], { encoding: 'utf8', ...opts });
const snapshot = (d) => Object.fromEntries(fs.readdirSync(d).sort().map((f) => [f, fs.readFileSync(path.join(d, f)).toString('base64')]));
const TINY = ['--n_layer', '1', '--n_embd', '16', '--n_head', '2', '--block_size', '8', '--eval_iters', '1', '--sample_tokens', '0', '--device', 'cpu'];

maybe('train: an allocation that fails inside a step is one error: line, exit 1, and the bundle stays whole', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oom-step-'));
  try {
    const base = spawnSync(process.execPath, [BIN, 'train', '--model_name', 'm', '--max_iters', '4', '--eval_interval', '2', '--batch_size', '2', ...TINY],
      { cwd: dir, encoding: 'utf8' });
    assert.is(base.status, 0, base.stderr);
    const bundle = path.join(dir, 'checkpoints', 'm');
    const before = snapshot(bundle);
    // 2,000,000 x 8 tokens: about 25 GB of activations by the estimate, far over the 4 GB limit
    const refused = limited([BIN, 'train', '--model_name', 'm', '--max_iters', '8', '--batch_size', '2000000', '--device', 'cpu'], { cwd: dir });
    assert.is(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, /^error: --batch_size 2000000 x --block_size 8 needs about [\d.]+ GiB to train/, 'the estimate refuses it first');
    const r = limited([BIN, 'train', '--model_name', 'm', '--max_iters', '8', '--batch_size', '2000000', '--device', 'cpu'],
      { cwd: dir, env: { ...process.env, MYPT_SKIP_MEMORY_CHECK: '1' } });
    assert.is(r.status, 1, `exit 1 (signal ${r.signal}); stderr: ${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.is(lines.length, 1, `one stderr line, got ${JSON.stringify(lines)}`);
    assert.is(lines[0], 'error: out of host memory (an allocation failed: std::bad_alloc) (lower --batch_size or --block_size, or the model size: '
      + '--n_layer, --n_embd; --grad_accum N keeps the tokens a step at a smaller --batch_size)');
    assert.match(r.stdout, /^Found checkpoint at checkpoints\/m, resuming training\./, 'the step was reached (the run resumed)');
    assert.not.match(r.stdout, /^step \d+\/|Saved /m, 'no step finished, nothing saved');
    assert.equal(snapshot(bundle), before, 'every file of the bundle byte for byte as before');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

maybe('the API: trainBatch that cannot get its memory rejects with E_OUT_OF_MEMORY, the parameters untouched; the model trains after', () => {
  const script = `
    const mypt = require(${JSON.stringify(LIB)});
    (async () => {
      const V = 65;
      const model = mypt.createModel({ vocab_size: V, n_layer: 2, n_embd: 64, n_head: 4, block_size: 64, device: 'cpu', seed: 1 });
      model.setData('train', Int32Array.from({ length: 20000 }, (_, i) => (i * 7 + (i >> 4)) % V));
      const before = model.getParameters();
      let err = null;
      try { await model.trainBatch({ batch_size: 200000, block_size: 64, lr: 1e-3, seed: 1, step: 0 }); } catch (e) { err = e; }
      const after = model.getParameters();
      const same = Object.keys(before).every((k) => before[k].data.every((x, i) => Object.is(x, after[k].data[i])));
      const r = await model.trainBatch({ batch_size: 4, block_size: 64, lr: 1e-3, seed: 1, step: 0 });
      model.dispose();
      console.log(JSON.stringify({ isMypt: err instanceof mypt.MyptError, code: err && err.code, message: err && err.message, same, loss: r.loss }));
    })();`;
  const r = limited(['-e', script]);
  assert.is(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.ok(o.isMypt, 'a MyptError');
  assert.is(o.code, 'E_OUT_OF_MEMORY', o.message);
  assert.match(o.message, /^out of host memory/);
  assert.ok(o.same, 'the parameters are as before the failed step');
  assert.ok(Number.isFinite(o.loss) && Math.abs(o.loss - Math.log(65)) < 0.5, `a normal step after it: loss ${o.loss}`);
});

maybe('eval: a batch whose logits cannot be allocated is one error: line naming --batch_size and --block_size', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oom-eval-'));
  try {
    fs.writeFileSync(path.join(dir, 'g.txt'), fs.readFileSync(path.join(__dirname, '..', 'data', 'tinyshakespeare.txt'), 'utf8').slice(0, 200000));
    const run = (args) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8' });
    assert.is(run(['prepare', '--input', 'g.txt', '--out', 'shards', '--val_fraction', '0.5']).status, 0);
    const t = run(['train', '--model_name', 'g', '--tokenization', 'gpt2', '--input_file', 'g.txt', '--n_layer', '1', '--n_embd', '16', '--n_head', '2',
      '--block_size', '64', '--batch_size', '1', '--max_iters', '1', '--eval_iters', '1', '--sample_tokens', '0', '--device', 'cpu']);
    assert.is(t.status, 0, t.stderr);
    const ok = limited([BIN, 'eval', '--checkpoint', 'checkpoints/g', '--data', 'shards', '--batch_size', '8', '--device', 'cpu'], { cwd: dir });
    assert.is(ok.status, 0, `a normal batch fits the limit: ${ok.stderr}`);
    // every window of the val split at once (about 450 of 64 tokens): their logits alone, x 50,257 floats, are over 5 GB
    const r = limited([BIN, 'eval', '--checkpoint', 'checkpoints/g', '--data', 'shards', '--batch_size', '100000', '--device', 'cpu'], { cwd: dir });
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr, 'error: out of host memory (an allocation failed: std::bad_alloc) (lower --batch_size (now 100000) or --block_size (now 64))\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
