// One loaded model used by overlapping calls (issue #22): two generate calls at once give what each gives
// alone; dispose() while one runs gives a clear E_DISPOSED (never a crash, never a silently short text);
// calls after dispose() are E_DISPOSED.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const api = require('..');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conc-'));
test.before(async () => {
  await api.train({ model_name: 'c', checkpoints_dir: dir, max_iters: 2, eval_interval: 2, eval_iters: 1, n_layer: 1, n_embd: 16, n_head: 2,
    batch_size: 2, block_size: 8, sample_tokens: 0, device: 'cpu' });
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('two generate calls at once on one model: each gives its own, deterministic text', async () => {
  const m = await api.loadModel(path.join(dir, 'c'), { device: 'cpu' });
  const a = await m.generate('Th', { max_new_tokens: 60, seed: 1 });
  const b = await m.generate('He', { max_new_tokens: 60, seed: 2 });
  const [a2, b2, a3] = await Promise.all([
    m.generate('Th', { max_new_tokens: 60, seed: 1 }), m.generate('He', { max_new_tokens: 60, seed: 2 }), m.generate('Th', { max_new_tokens: 60, seed: 1 }),
  ]);
  assert.is(a2, a); assert.is(b2, b); assert.is(a3, a);
  m.dispose();
});

test('dispose() during generate: the call ends with E_DISPOSED (or, if it had finished, the whole text)', async () => {
  const m = await api.loadModel(path.join(dir, 'c'), { device: 'cpu' });
  const whole = await m.generate('Th', { max_new_tokens: 3000, seed: 1 });
  const p = m.generate('Th', { max_new_tokens: 3000, seed: 1 });
  setTimeout(() => m.dispose(), 2);
  let result, err;
  try { result = await p; } catch (e) { err = e; }
  if (err) {
    assert.is(err.code, 'E_DISPOSED', err.message);
    assert.match(err.message, /disposed/);
  } else {
    assert.is(result, whole, 'a call that finished first gives the whole text');
  }
  let after;
  try { await m.generate('x', { max_new_tokens: 2 }); } catch (e) { after = e; }
  assert.is(after && after.code, 'E_DISPOSED');
  m.dispose(); // twice is harmless
});

test.run();
