// Option layering (built-in default, MyPT defaults under --preset/--config_file, flags), the learning-rate
// schedule (nanoGPT's formula), batch windows, config helpers and the loss plot.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { resolveTrainOptions } = require('../lib/use-cases/train/options');
const { lrAt } = require('../lib/use-cases/train/schedule');
const { CounterRng, sampleBatch } = require('../lib/data/batches');
const { splitTokens } = require('../lib/data');
const { loadConfig, saveConfig, listPresets } = require('../lib');
const { renderLossSvg } = require('../lib/use-cases/train/plot');

const CORPUS = '/corpus.txt';

test('no preset: the built-in default run; flags win', () => {
  const r = resolveTrainOptions({ max_iters: 20 }, CORPUS);
  assert.ok(r.builtinDefault);
  const v = r.values;
  assert.is(v.tokenization, 'char');
  assert.is(v.device, 'cpu');
  assert.is(v.n_layer, 4);
  assert.is(v.n_embd, 128);
  assert.is(v.max_iters, 20);
  assert.is(r.source.max_iters, 'flag');
  assert.is(r.source.n_layer, 'default');
  assert.is(v.input_file, CORPUS);
  assert.is(v.model_name, 'default');
});

test("--preset small gives MyPT's own train.py defaults", () => {
  const v = resolveTrainOptions({ preset: 'small' }, CORPUS).values;
  const want = { tokenization: 'gpt2', max_iters: 1000, eval_interval: 50, eval_iters: 200, learning_rate: 3e-4, batch_size: 32,
    block_size: 256, n_embd: 384, n_head: 6, n_layer: 6, dropout: 0.2, bias: false, device: 'auto', weight_decay: 0.01, grad_clip: 0,
    warmup_iters: 0, lr_decay_iters: 0 };
  for (const [k, x] of Object.entries(want)) assert.is(v[k], x, k);
  assert.is(v.min_lr, 3e-4 / 10);
  const tiny = resolveTrainOptions({ preset: 'tiny', n_layer: 2 }, CORPUS);
  assert.is(tiny.values.n_embd, 192);
  assert.is(tiny.source.n_embd, 'preset tiny');
  assert.is(tiny.values.n_layer, 2);
});

test('--config_file is read as MyPT does (name/description ignored), flags win', () => {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-cfg-')), 'my.json');
  fs.writeFileSync(f, JSON.stringify({ name: 'X', description: 'd', batch_size: 8, block_size: 32, vocab_size: 50304, n_embd: 64, n_head: 4, n_layer: 3, dropout: 0.1, bias: true }));
  const r = resolveTrainOptions({ config_file: f, n_head: 8 }, CORPUS);
  assert.is(r.values.n_layer, 3);
  assert.is(r.values.bias, true);
  assert.is(r.values.n_head, 8);
  assert.is(r.source.block_size, `config_file ${f}`);
});

test('every bad value is one MyptError naming the flag', () => {
  const cases = [
    [{ n_embd: 100, n_head: 3 }, /--n_head 3: n_embd 100 is not divisible/],
    [{ dropout: 1 }, /--dropout 1: must be a number in \[0, 1\)/],
    [{ learning_rate: 0 }, /--learning_rate 0/],
    [{ batch_size: 0 }, /--batch_size 0: must be at least 1/],
    [{ model_name: '../x' }, /--model_name \.\.\/x/],
    [{ preset: 'nope' }, /--preset nope: no such preset/],
    [{ warmup_iters: 10, lr_decay_iters: 5 }, /--lr_decay_iters 5: must be >= --warmup_iters 10/],
  ];
  for (const [o, re] of cases) {
    try {
      resolveTrainOptions(o, CORPUS);
      assert.unreachable(JSON.stringify(o));
    } catch (e) {
      assert.is(e.name, 'MyptError', String(e));
      assert.match(e.message, re);
    }
  }
});

test("learning rate: constant by default; warmup + cosine exactly nanoGPT's get_lr", () => {
  const c = { learning_rate: 1e-3, warmup_iters: 0, lr_decay_iters: 0, min_lr: 1e-4 };
  assert.is(lrAt(0, c), 1e-3);
  assert.is(lrAt(5000, c), 1e-3);
  const s = { learning_rate: 1e-3, warmup_iters: 100, lr_decay_iters: 2000, min_lr: 1e-4 };
  const nano = (it) => {
    if (it < 100) return 1e-3 * (it + 1) / (100 + 1);
    if (it > 2000) return 1e-4;
    const ratio = (it - 100) / (2000 - 100);
    return 1e-4 + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (1e-3 - 1e-4);
  };
  for (const it of [0, 1, 50, 99, 100, 101, 1000, 1999, 2000, 2001, 3000]) assert.ok(Math.abs(lrAt(it, s) - nano(it)) < 1e-15, `it ${it}`);
});

test("batches: MyPT's windows (y is x shifted by one), in range, a pure function of (seed, stream, step)", () => {
  const data = Int32Array.from({ length: 1000 }, (_, i) => i);
  const a = sampleBatch(data, 8, 16, new CounterRng(1337, 1, 42));
  const b = sampleBatch(data, 8, 16, new CounterRng(1337, 1, 42));
  const c = sampleBatch(data, 8, 16, new CounterRng(1337, 1, 43));
  assert.equal(Array.from(a.tokens.data), Array.from(b.tokens.data));
  assert.not.equal(Array.from(a.tokens.data), Array.from(c.tokens.data));
  for (let r = 0; r < 8; r++) {
    const x = a.tokens.data.subarray(r * 16, r * 16 + 16);
    const y = a.targets.data.subarray(r * 16, r * 16 + 16);
    assert.ok(x[0] >= 0 && x[0] < 1000 - 16);
    for (let t = 0; t < 16; t++) { assert.is(x[t], x[0] + t); assert.is(y[t], x[t] + 1); }
  }
  // start positions cover the whole range roughly uniformly
  const rng = new CounterRng(7, 1, 0);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 20000; i++) counts[Math.floor(rng.below(1000) / 100)]++;
  for (const n of counts) assert.ok(n > 1800 && n < 2200, `bucket ${n}`);
});

test('90/10 split of the token stream as int(0.9 * n)', () => {
  const s = splitTokens(Int32Array.from({ length: 1115394 }, (_, i) => i % 65));
  assert.is(s.train.length, 1003854);
  assert.is(s.val.length, 111540);
});

test('config helpers: saveConfig writes MyPT key order, loadConfig reads leniently', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-cfgh-'));
  const file = saveConfig(d, { n_layer: 2, n_head: 2, n_embd: 32, block_size: 16, vocab_size: 65, dropout: 0, extra_key: 1 });
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.startsWith('{\n  "batch_size": 32,\n  "block_size": 16,'));
  assert.match(text, /"dropout": 0\.0,/);
  const c = loadConfig(d);
  assert.is(c.n_layer, 2);
  assert.is(c.device, 'cpu');
});

test('presets: MyPT sizes with name and description', () => {
  const p = Object.fromEntries(listPresets().map((x) => [x.key, x]));
  assert.equal([p.tiny.values.n_layer, p.tiny.values.n_embd, p.tiny.values.block_size, p.tiny.values.batch_size], [4, 192, 128, 16]);
  assert.equal([p['150M'].values.n_layer, p['150M'].values.n_head, p['150M'].values.n_embd], [16, 12, 768]);
  for (const x of Object.values(p)) assert.ok(x.name && x.description, x.key);
});

test('loss.svg: an SVG with a train and a val line through every point', () => {
  const svg = renderLossSvg([{ step: 0, train_loss: 4.2, val_loss: 4.3 }, { step: 100, train_loss: 2.5, val_loss: 2.6 }, { step: 200, train_loss: 2.0, val_loss: 2.2 }]);
  assert.match(svg, /^<svg xmlns/);
  const lines = svg.match(/<polyline [^>]*points="([^"]+)"/g);
  assert.is(lines.length, 2);
  assert.is(lines[0].split(' ').filter((p) => /\d,\d/.test(p)).length, 3);
  assert.ok(svg.trim().endsWith('</svg>'));
});

test.run();
