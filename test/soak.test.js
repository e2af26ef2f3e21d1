// Soak (issue #22), only with MYPT_SOAK=1 (not in CI's default run): 2,000 generate calls on one model and
// 20 train / save / load cycles in one process; resident memory must stay flat (it prints the figures:
// RSS after a warm-up and at the end; on a GPU host, run with MYPT_SOAK_DEVICE=cuda).
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const api = require('..');

const ON = process.env.MYPT_SOAK === '1';
const DEVICE = process.env.MYPT_SOAK_DEVICE || 'cpu';
const mb = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const settle = async () => { if (global.gc) global.gc(); await new Promise((r) => setTimeout(r, 50)); };

test('2,000 generate calls and 20 train/save/load cycles: RSS flat', async () => {
  if (!ON) { console.log('  (skipped: set MYPT_SOAK=1 to run the soak test)'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'soak-'));
  const opts = { model_name: 's', checkpoints_dir: dir, eval_interval: 5, eval_iters: 1, n_layer: 2, n_embd: 32, n_head: 2, batch_size: 4,
    block_size: 16, sample_tokens: 0, device: DEVICE };
  await api.train({ ...opts, max_iters: 5 });
  const model = await api.loadModel(path.join(dir, 's'), { device: DEVICE });
  const first = await model.generate('Th', { max_new_tokens: 20, seed: 1 });
  const marks = [];
  for (let i = 0; i < 2000; i++) {
    const t = await model.generate('Th', { max_new_tokens: 20, seed: 1 });
    if (t !== first) assert.unreachable(`call ${i} gave other text`);
    if (i === 199) { await settle(); marks.push(['generate 200', mb()]); }
  }
  await settle(); marks.push(['generate 2000', mb()]);
  model.dispose();
  for (let c = 0; c < 20; c++) {
    await api.train({ ...opts, max_iters: 10 + 5 * c });
    const m = await api.loadModel(path.join(dir, 's'), { device: DEVICE });
    await m.generate('a', { max_new_tokens: 5 });
    m.dispose();
    if (c === 2) { await settle(); marks.push(['cycle 3', mb()]); }
  }
  await settle(); marks.push(['cycle 20', mb()]);
  console.log(`  RSS MB: ${marks.map(([k, v]) => `${k}: ${v}`).join(', ')}`);
  const [g200, g2000, c3, c20] = marks.map((m) => m[1]);
  assert.ok(g2000 - g200 < 64, `generate: RSS grew ${g2000 - g200} MB over 1,800 calls`);
  assert.ok(c20 - c3 < 64, `train/save/load: RSS grew ${c20 - c3} MB over 17 cycles`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
