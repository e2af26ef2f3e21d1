// One loaded model used by overlapping calls (issue #22): two generate calls at once give what each gives
// alone; dispose() while one runs gives a clear E_DISPOSED (never a crash, never a silently short text);
// calls after dispose() are E_DISPOSED. The same for modded-nanogpt models (loadModdedModel).
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

// Both model kinds, disposed at a known point: from the callback of the 5th token, so the call is surely
// mid-way. The call must reject with E_DISPOSED (the same code and message for both kinds), never resolve
// with the few tokens made before; the native model is freed once the call has ended (liveHandles).
const { loadModdedModel } = api;
const { loadAddon } = require('../lib/native');
const MODDED = path.join(__dirname, 'fixtures', 'modded', 'small.pt');
const kinds = [
  ['GPT (loadModel)', () => api.loadModel(path.join(dir, 'c'), { device: 'cpu' }), [5, 6, 7]],
  ['modded (loadModdedModel)', () => loadModdedModel(MODDED), [1, 2, 3]],
];
const settle = () => new Promise((r) => setTimeout(r, 50));
for (const [name, open, prompt] of kinds) {
  test(`${name}: dispose() from the 5th token's callback rejects the call with E_DISPOSED; the native model is freed`, async () => {
    await settle(); // a job's native state is let go just after its promise settles
    const live0 = loadAddon().liveHandles();
    const m = await open();
    const whole = await m.generate(prompt, { max_new_tokens: 200, seed: 1 });
    assert.is(whole.length, 200);
    let n = 0, result, err;
    try {
      result = await m.generate(prompt, { max_new_tokens: 200, seed: 1, onToken: () => { if (++n === 5) m.dispose(); } });
    } catch (e) { err = e; }
    assert.is(result, undefined, `no short result (got ${result && result.length} of 200 ids)`);
    assert.instance(err, api.MyptError);
    assert.is(err.code, 'E_DISPOSED', err.message);
    assert.is(err.message, 'the model was disposed while generating; the text is incomplete (dispose the model after its calls end)');
    let after;
    try { await m.generate(prompt, { max_new_tokens: 2 }); } catch (e) { after = e; }
    assert.is(after && after.code, 'E_DISPOSED');
    await settle();
    assert.equal(loadAddon().liveHandles(), live0, 'the native model is freed');
  });

  test(`${name}: dispose() at a random moment gives E_DISPOSED or, had it finished, the whole result (20 tries)`, async () => {
    const m0 = await open();
    const whole = await m0.generate(prompt, { max_new_tokens: 300, seed: 1 });
    m0.dispose();
    let disposedMidway = 0;
    for (let i = 0; i < 20; i++) {
      const m = await open();
      const p = m.generate(prompt, { max_new_tokens: 300, seed: 1 });
      setTimeout(() => m.dispose(), i % 5);
      let result, err;
      try { result = await p; } catch (e) { err = e; }
      if (err) { assert.is(err.code, 'E_DISPOSED', err.message); disposedMidway++; } else assert.equal(result, whole, 'a call that finished first gives the whole result');
    }
    console.log(`  ${name}: ${disposedMidway} of 20 calls disposed mid-way, the others finished whole`);
  });
}

test.run();
