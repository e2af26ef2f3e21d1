// `train --data DIR`: training from memory-mapped token shards. Checked: nanoGPT's shakespeare_char output
// (test/fixtures/make_nanogpt_char.py, the steps of its prepare.py) trains bit for bit like --input_file on
// the same text (both split 90/10 and sort the characters); a run resumed halfway equals a straight run for
// random (nanoGPT) and sequential (llm.c) sampling, the sequential position coming from training_state.json;
// sequential batches walk the shards in a seeded order; a bad folder is one named error.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { train } = require('../lib/use-cases/train/train');
const { prepare } = require('../lib/use-cases/prepare/prepare');
const { loadBundle } = require('../lib/formats/mypt/bundle');
const { TokenShards } = require('../lib/data');
const { MyptError } = require('../lib/errors');
const { evaluate } = require('../lib/use-cases/eval/eval');
const { loadModel } = require('../lib/use-cases/open/open');

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'mypt-native.js');
const PY = '/usr/bin/python3';
const hasNumpy = spawnSync(PY, ['-c', 'import numpy']).status === 0;
const shakespeare = fs.readFileSync(path.join(ROOT, 'data', 'tinyshakespeare.txt'), 'utf8');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-train-data-'));
const tiny = { n_layer: 1, n_head: 2, n_embd: 32, block_size: 16, batch_size: 4, eval_iters: 2, dropout: 0.1, learning_rate: 3e-3, warmup_iters: 0, lr_decay_iters: 0, sample_tokens: 0, device: 'cpu', tokenization: undefined };

async function sameParams(dirA, dirB) {
  const a = await loadBundle(dirA, { optimizer: true });
  const b = await loadBundle(dirB, { optimizer: true });
  for (const k of Object.keys(a.params)) assert.equal(Array.from(b.params[k].data), Array.from(a.params[k].data), k);
  return { a, b };
}

test('--data on nanoGPT\'s shakespeare_char output trains exactly as --input_file on the same text', async () => {
  if (!hasNumpy) { console.log('  skip: /usr/bin/python3 has no numpy for the nanoGPT-shaped data'); return; }
  const d = tmp();
  const input_file = path.join(d, 'input.txt');
  fs.writeFileSync(input_file, shakespeare.slice(0, 40000));
  const data = path.join(d, 'shakespeare_char');
  const py = spawnSync(PY, [path.join(__dirname, 'fixtures', 'make_nanogpt_char.py'), input_file, data], { encoding: 'utf8' });
  assert.is(py.status, 0, py.stderr);
  const checkpoints_dir = path.join(d, 'ck');
  const lines = [];
  const fromData = await train({ ...tiny, data, checkpoints_dir, model_name: 'data', max_iters: 8, eval_interval: 4, seed: 3, log: (l) => lines.push(l) });
  const fromText = await train({ ...tiny, input_file, tokenization: 'char', checkpoints_dir, model_name: 'text', max_iters: 8, eval_interval: 4, seed: 3 });
  assert.ok(lines.some((l) => /nanogpt shards .* memory-mapped/.test(l)), lines.join('\n'));
  assert.is(fromData.val_loss, fromText.val_loss);
  assert.is(fromData.train_loss, fromText.train_loss);
  await sameParams(path.join(checkpoints_dir, 'text'), path.join(checkpoints_dir, 'data'));
  const b = await loadBundle(path.join(checkpoints_dir, 'data'));
  assert.is(b.tokenizer.token_kind, 'char'); // from meta.pkl
  assert.equal(b.trainingState.training_config.data, { dir: path.resolve(data), format: 'nanogpt', sampling: 'random' });
});

for (const sampling of ['random', 'sequential']) {
  test(`--sampling ${sampling}: 4 steps + resume 4 steps == 8 steps straight (llm.c shards, several of them)`, async () => {
    const d = tmp();
    fs.writeFileSync(path.join(d, 'a.txt'), shakespeare.slice(0, 30000));
    const data = path.join(d, 'shards');
    await prepare({ input: path.join(d, 'a.txt'), out: data, format: 'llmc', shard_tokens: 1500, val_fraction: 0.1, workers: 1 });
    const checkpoints_dir = path.join(d, 'ck');
    const o = { ...tiny, data, sampling, checkpoints_dir, eval_interval: 4, seed: 11, grad_accum: 2 };
    const straight = await train({ ...o, model_name: 'straight', max_iters: 8 });
    await train({ ...o, model_name: 'resumed', max_iters: 4 });
    const half = await loadBundle(path.join(checkpoints_dir, 'resumed'));
    if (sampling === 'sequential') {
      // 4 steps x 2 micro-batches x 4 rows x 16 tokens = 512 tokens: within the first shard of the order
      assert.equal(half.trainingState.training_config.data.position, { epoch: 0, index: 0, offset: 512 });
    } else {
      assert.is(half.trainingState.training_config.data.position, undefined);
    }
    const lines = [];
    const second = await train({ ...o, model_name: 'resumed', max_iters: 8, log: (l) => lines.push(l) });
    assert.is(second.start_step, 4);
    if (sampling === 'sequential') assert.ok(lines.some((l) => /Resuming sequential batches at epoch 0, shard 1 of \d+, token 512/.test(l)), lines.join('\n'));
    assert.is(second.val_loss, straight.val_loss);
    await sameParams(path.join(checkpoints_dir, 'straight'), path.join(checkpoints_dir, 'resumed'));
  });
}

test('sequential batches: B*T + 1 tokens at the position, moving B*T; short tails skipped; a seeded order per epoch', async () => {
  const d = tmp();
  const shards = [];
  for (let s = 0; s < 3; s++) {
    const ids = Uint16Array.from({ length: 50 }, (_, i) => s * 1000 + i);
    const f = path.join(d, `s${s}.bin`);
    fs.writeFileSync(f, Buffer.from(ids.buffer));
    shards.push({ path: f, byteOffset: 0, count: ids.length });
  }
  const t = new TokenShards(shards, 'test');
  const order0 = t.order(5, 0);
  assert.equal([...order0].sort(), [0, 1, 2]);
  let pos = { epoch: 0, index: 0, offset: 0 };
  const seen = [];
  for (let k = 0; k < 7; k++) {
    const b = t.nextSequential(5, pos, 2, 10); // 21 tokens a batch: two per 50-token shard, the last 10 skipped
    seen.push([b.x[0], b.x[10], b.y[19]]);
    pos = b.pos;
  }
  const base = order0.map((s) => s * 1000);
  assert.equal(seen.slice(0, 6), [
    [base[0], base[0] + 10, base[0] + 20], [base[0] + 20, base[0] + 30, base[0] + 40],
    [base[1], base[1] + 10, base[1] + 20], [base[1] + 20, base[1] + 30, base[1] + 40],
    [base[2], base[2] + 10, base[2] + 20], [base[2] + 20, base[2] + 30, base[2] + 40],
  ]);
  assert.is(pos.epoch, 1); // the 7th batch opened epoch 1 with its own order
  assert.is(seen[6][0], t.order(5, 1)[0] * 1000);
  // random sampling picks shards in proportion to their tokens
  const weighted = new TokenShards([{ ...shards[0], count: 10 }, { ...shards[1], count: 30 }], 'w');
  const counts = [0, 0];
  for (let s = 0; s < 4000; s++) counts[weighted.pick(1, s)]++;
  assert.ok(Math.abs(counts[1] / 4000 - 0.75) < 0.03, String(counts));
  t.close();
  weighted.close();
});

test('bad --data: a missing folder, no shards, a wrong header, a mismatched tokenizer, both --input_file and --data', async () => {
  const d = tmp();
  const err = async (opts, code, re) => {
    try { await train({ ...tiny, checkpoints_dir: path.join(d, 'ck'), max_iters: 1, ...opts }); } catch (e) {
      assert.instance(e, MyptError);
      assert.is(e.code, code, e.message);
      assert.match(e.message, re);
      return;
    }
    assert.unreachable('no error');
  };
  await err({ data: path.join(d, 'nope') }, 'E_IO', /--data .*nope: no such folder/);
  fs.mkdirSync(path.join(d, 'empty'));
  await err({ data: path.join(d, 'empty') }, 'E_BAD_FILE', /no token shards here/);
  fs.mkdirSync(path.join(d, 'llmc'));
  const h = Buffer.alloc(1024 + 20);
  h.writeInt32LE(20240520, 0); h.writeInt32LE(1, 4); h.writeInt32LE(99, 8);
  fs.writeFileSync(path.join(d, 'llmc', 'x_train_000001.bin'), h);
  await err({ data: path.join(d, 'llmc') }, 'E_BAD_FILE', /header says 99 tokens .* holds 1044 bytes/);
  fs.writeFileSync(path.join(d, 'a.txt'), shakespeare.slice(0, 3000));
  await prepare({ input: path.join(d, 'a.txt'), out: path.join(d, 'char'), tokenization: 'char', val_fraction: 0.2 });
  await err({ data: path.join(d, 'char'), tokenization: 'gpt2' }, 'E_BAD_ARGUMENT', /--tokenization gpt2: --data .* holds char tokens/);
  await err({ data: path.join(d, 'char'), input_file: path.join(d, 'a.txt') }, 'E_BAD_ARGUMENT', /not both/);
  await err({ input_file: path.join(d, 'a.txt'), sampling: 'sequential' }, 'E_BAD_ARGUMENT', /--sampling sequential: chooses how batches come from --data DIR/);
  await err({ data: path.join(d, 'char'), block_size: 1000, n_layer: 1 }, 'E_BAD_ARGUMENT', /val shard holds 600 tokens, fewer than block_size \+ 1 = 1001/);
  const cli = spawnSync(process.execPath, [BIN, 'train', '--data', path.join(d, 'empty'), '--device', 'cpu'], { encoding: 'utf8' });
  assert.is(cli.status, 1);
  assert.match(cli.stderr, /^error: --data .*empty: no token shards here/);
  assert.is(cli.stderr.trim().split('\n').length, 1);
});

test('eval: the mean loss over every window of the split (moving by block_size), perplexity exp(loss); CLI line', async () => {
  const d = tmp();
  fs.writeFileSync(path.join(d, 'a.txt'), shakespeare.slice(0, 12000));
  const data = path.join(d, 'ng');
  await prepare({ input: path.join(d, 'a.txt'), out: data, tokenization: 'char', format: 'nanogpt', val_fraction: 0.1 });
  const checkpoints_dir = path.join(d, 'ck');
  await train({ ...tiny, data, checkpoints_dir, model_name: 'm', max_iters: 6, eval_interval: 6, seed: 2 });
  const ckpt = path.join(checkpoints_dir, 'm');
  const r = await evaluate({ checkpoint: ckpt, data, batch_size: 7, device: 'cpu' });
  // the windows, built here from val.bin's bytes: 1200 tokens -> floor((1200 - 1) / 16) = 74 windows
  const raw = fs.readFileSync(path.join(data, 'val.bin'));
  const val = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
  assert.is(val.length, 1200);
  const model = await loadModel(ckpt, { device: 'cpu' });
  let sum = 0, n = 0;
  for (let off = 0; off + 17 <= val.length; off += 16) {
    sum += await model.loss([Array.from(val.subarray(off, off + 16))], [Array.from(val.subarray(off + 1, off + 17))]);
    n++;
  }
  model.dispose();
  assert.is(n, 74);
  assert.is(r.windows, 74);
  assert.is(r.tokens, 74 * 16);
  assert.ok(Math.abs(r.loss - sum / n) < 1e-6 * Math.abs(r.loss), `${r.loss} vs ${sum / n}`);
  assert.is(r.perplexity, Math.exp(r.loss));
  const capped = await evaluate({ checkpoint: ckpt, data, split: 'train', batch_size: 4, max_batches: 2, device: 'cpu' });
  assert.is(capped.windows, 8);
  const cli = spawnSync(process.execPath, [BIN, 'eval', '--checkpoint', ckpt, '--data', data, '--device', 'cpu'], { encoding: 'utf8' });
  assert.is(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`^val: loss ${r.loss.toFixed(4)}, perplexity ${r.perplexity.toFixed(2)} over 1,184 tokens in 74 windows of 16`));
  // a gpt2 folder against a char model: one named error
  fs.writeFileSync(path.join(d, 'b.txt'), shakespeare.slice(0, 3000));
  await prepare({ input: path.join(d, 'b.txt'), out: path.join(d, 'g'), val_fraction: 0.5 });
  const bad = spawnSync(process.execPath, [BIN, 'eval', '--checkpoint', ckpt, '--data', path.join(d, 'g'), '--device', 'cpu'], { encoding: 'utf8' });
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /^error: --data .* holds gpt2 tokens .* reads char tokens/);
});

test.run();
