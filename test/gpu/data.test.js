// train --data and eval on the GPU: llm.c shards trained with sequential batches (the position saved and
// resumed), random batches from several mapped shards, and eval's loss on the GPU beside the CPU's (bf16
// rounding). Skipped, with the reason printed, where no GPU is usable.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const mypt = require('../../lib');
const { train } = require('../../lib/use-cases/train/train');
const { prepare } = require('../../lib/use-cases/prepare/prepare');
const { evaluate } = require('../../lib/use-cases/eval/eval');
const { loadBundle } = require('../../lib/formats/mypt/bundle');

const backends = mypt.backends();
const maybe = backends.cuda ? test : test.skip;
if (!backends.cuda) console.log(`  skipping the GPU data tests: ${backends.cudaReason || 'no CUDA device'}`);

const shakespeare = fs.readFileSync(path.join(__dirname, '..', '..', 'data', 'tinyshakespeare.txt'), 'utf8');
const tiny = { n_layer: 2, n_head: 2, n_embd: 64, block_size: 32, batch_size: 8, eval_iters: 4, dropout: 0, learning_rate: 3e-3, warmup_iters: 0, lr_decay_iters: 0, sample_tokens: 0, device: 'cuda' };

maybe('cuda: --data llmc shards, sequential batches resumed from training_state.json; random over several shards; eval beside the CPU', async () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-gpu-data-'));
  fs.writeFileSync(path.join(d, 'a.txt'), shakespeare.slice(0, 200000));
  const data = path.join(d, 'shards');
  await prepare({ input: path.join(d, 'a.txt'), out: data, format: 'llmc', shard_tokens: 20000, val_fraction: 0.05 });
  const checkpoints_dir = path.join(d, 'ck');
  const first = await train({ ...tiny, data, sampling: 'sequential', checkpoints_dir, model_name: 'seq', max_iters: 10, eval_interval: 10 });
  const st = (await loadBundle(path.join(checkpoints_dir, 'seq'))).trainingState.training_config.data;
  assert.equal(st.position, { epoch: 0, index: 0, offset: 10 * 8 * 32 });
  const lines = [];
  const second = await train({ ...tiny, data, sampling: 'sequential', checkpoints_dir, model_name: 'seq', max_iters: 40, eval_interval: 40, log: (l) => lines.push(l) });
  assert.ok(lines.some((l) => /Resuming sequential batches at epoch 0, shard 1 of \d+, token 2,560/.test(l)), lines.join('\n'));
  assert.ok(second.val_loss < first.val_loss, `${second.val_loss} < ${first.val_loss}`);
  const rnd = await train({ ...tiny, data, checkpoints_dir, model_name: 'rnd', max_iters: 20, eval_interval: 20 });
  assert.ok(Number.isFinite(rnd.val_loss));
  const ckpt = path.join(checkpoints_dir, 'seq');
  const g = await evaluate({ checkpoint: ckpt, data, device: 'cuda', max_batches: 20 });
  const c = await evaluate({ checkpoint: ckpt, data, device: 'cpu', max_batches: 20 });
  assert.is(g.windows, c.windows);
  assert.ok(Math.abs(g.loss - c.loss) < 1e-2 * c.loss, `cuda ${g.loss} vs cpu ${c.loss}`);
});

test.run();
