// The MyPT workflow end to end: a bundle MyPT made samples and resumes here with PyTorch's numbers;
// resume continues exactly as an uninterrupted run; the built-in default run at a reduced iteration count.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync, spawn } = require('child_process');
const { loadBundle } = require('../lib/formats/mypt/bundle');
const { canonicalToMypt } = require('../lib/formats/layouts/mypt');
const { createModel } = require('../lib/model/gpt');
const { train, loadModel, generate, generateStream, getModelInfo } = require('../lib');

const FIX = path.join(__dirname, 'fixtures', 'mypt_bundle');
const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const CORPUS = path.join(__dirname, '..', 'data', 'tinyshakespeare.txt');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-wf-'));
const { relErr } = require('./helpers/relerr');

test("a bundle MyPT made loads here and gives PyTorch's logits", async () => {
  const m = await loadModel(FIX);
  try {
    const r = await m.forward(expected.tokens);
    assert.equal(r.shape, expected.logits_shape);
    const e = relErr(r.logits, expected.logits);
    assert.ok(e < 1e-5, `relative error ${e}`);
    assert.is(m.tokenizer.kind, 'char');
    assert.is(m.decode(expected.tokens[0]), 'First Ci');
    assert.is(m.checkpoint.format, 'mypt-bundle');
    assert.is(m.checkpoint.step, 2);
    // text in -> new text out; ids in -> new ids out; the stream yields the same text
    const text = await m.generate('ROMEO', { max_new_tokens: 25, seed: 11 });
    const ids = await m.generate(m.encode('ROMEO'), { max_new_tokens: 25, seed: 11 });
    assert.is(m.decode(ids), text);
    let streamed = '';
    for await (const piece of m.generateStream('ROMEO', { max_new_tokens: 25, seed: 11 })) streamed += piece;
    assert.is(streamed, text);
  } finally {
    m.dispose();
  }
});

test("a bundle MyPT made resumes here: one AdamW step with its optimizer state equals PyTorch's", async () => {
  const b = await loadBundle(FIX, { optimizer: true });
  assert.is(b.optimizer.step, 2);
  const m = createModel(b.modelConfig);
  try {
    m.setParameters(b.params);
    m.setOptimizerState(b.optimizer);
    const rb = expected.resume_batch;
    const loss = await m.trainStep({ tokens: rb.x, targets: rb.y, lr: rb.lr, weight_decay: 0.01 });
    assert.ok(Math.abs(loss - rb.loss) < 1e-5, `loss ${loss} vs ${rb.loss}`);
    const sd = canonicalToMypt(m.getParameters(), m.config);
    for (const [k, want] of Object.entries(expected.after_resume_step)) {
      const e = relErr(sd.get(k).data, want);
      assert.ok(e < 1e-5, `${k}: relative error ${e}`);
    }
    for (const [k, [sum, sq]] of Object.entries(expected.after_resume_sums)) {
      const d = sd.get(k).data;
      let s = 0, q = 0;
      for (const x of d) { s += x; q += x * x; }
      assert.ok(Math.abs(q - sq) <= 1e-5 * Math.max(1, sq), `${k}: sum of squares ${q} vs ${sq}`);
      assert.ok(Math.abs(s - sum) <= 1e-4 * Math.max(1, Math.sqrt(sq * d.length)), `${k}: sum ${s} vs ${sum}`);
    }
    assert.is(m.getOptimizerState().step, 3);
  } finally {
    m.dispose();
  }
});

test("train resumes a bundle MyPT made: step, optimizer and learning rate continue; PyTorch loads the result", async () => {
  const dir = tmp();
  const checkpoints_dir = path.join(dir, 'checkpoints');
  fs.mkdirSync(path.join(checkpoints_dir, 'mypt'), { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'training_state.json', 'model.pt', 'optimizer.pt']) {
    fs.copyFileSync(path.join(FIX, f), path.join(checkpoints_dir, 'mypt', f));
  }
  const input_file = path.join(dir, 'input.txt');
  fs.writeFileSync(input_file, fs.readFileSync(CORPUS, 'utf8').slice(0, 20000)); // the fixture's corpus
  const lines = [];
  const r = await train({ input_file, checkpoints_dir, model_name: 'mypt', max_iters: 5, eval_iters: 2, sample_tokens: 0, log: (l) => lines.push(l) });
  assert.ok(r.resumed);
  assert.is(r.start_step, 2);
  assert.is(r.step, 5);
  assert.is(lines.filter((l) => l.startsWith('warning')).length, 0, lines.join('\n'));
  const b = await loadBundle(path.join(checkpoints_dir, 'mypt'), { optimizer: true });
  assert.is(b.optimizer.step, 5);
  assert.is(b.trainingState.training_config.learning_rate, 0.001, "the bundle's recorded rate is kept when none is given");
  assert.is(b.config.batch_size, 4);
  if (spawnSync('/usr/bin/python3', ['-c', 'import torch']).status !== 0) { console.log('  skip PyTorch load: no torch'); return; }
  const tokFile = path.join(dir, 'tokens.json');
  fs.writeFileSync(tokFile, JSON.stringify({ tokens: expected.tokens }));
  const py = spawnSync('/usr/bin/python3', [path.join(__dirname, 'fixtures', 'make_mypt_bundle.py'), 'check', path.join(checkpoints_dir, 'mypt'), tokFile], { encoding: 'utf8' });
  assert.is(py.status, 0, py.stderr);
  const got = JSON.parse(py.stdout);
  assert.is(got.optimizer_step, 5);
  const m = await loadModel(path.join(checkpoints_dir, 'mypt'));
  try {
    const ours = (await m.forward(expected.tokens)).logits;
    assert.ok(relErr(ours, got.logits) < 1e-5);
  } finally {
    m.dispose();
  }
});

test('train resumes a legacy MyPT latest.pt (kept) and saves a bundle', async () => {
  if (spawnSync('/usr/bin/python3', ['-c', 'import torch']).status !== 0) { console.log('  skip: making a legacy file needs torch'); return; }
  const dir = tmp();
  const checkpoints_dir = path.join(dir, 'checkpoints');
  const mk = spawnSync('/usr/bin/python3', [path.join(__dirname, 'fixtures', 'make_mypt_bundle.py'), 'legacy', FIX, path.join(checkpoints_dir, 'old')], { encoding: 'utf8' });
  assert.is(mk.status, 0, mk.stderr);
  const input_file = path.join(dir, 'input.txt');
  fs.writeFileSync(input_file, fs.readFileSync(CORPUS, 'utf8').slice(0, 20000));
  const lines = [];
  const r = await train({ input_file, checkpoints_dir, model_name: 'old', max_iters: 3, eval_iters: 1, sample_tokens: 0, log: (l) => lines.push(l) });
  assert.ok(lines[0].startsWith('Found legacy checkpoint'), lines[0]);
  assert.is(r.start_step, 2);
  assert.is(r.step, 3);
  const names = fs.readdirSync(path.join(checkpoints_dir, 'old')).sort();
  for (const f of ['config.json', 'latest.pt', 'model.pt', 'optimizer.pt', 'tokenizer.json', 'training_state.json']) assert.ok(names.includes(f), f);
  const b = await loadBundle(path.join(checkpoints_dir, 'old'), { optimizer: true });
  assert.is(b.optimizer.step, 3);
});

function smallCorpus(dir) {
  const f = path.join(dir, 'input.txt');
  fs.writeFileSync(f, fs.readFileSync(CORPUS, 'utf8').slice(0, 60000));
  return f;
}
const tiny = { n_layer: 2, n_head: 2, n_embd: 32, block_size: 16, batch_size: 4, eval_iters: 2, dropout: 0, learning_rate: 3e-3, warmup_iters: 0, lr_decay_iters: 0, sample_tokens: 0, device: 'cpu' };

test('resume continues exactly: N steps straight == N/2 + save + resume N/2 (same seed, identical parameters)', async () => {
  const dir = tmp();
  const input_file = smallCorpus(dir);
  const checkpoints_dir = path.join(dir, 'checkpoints');
  const straight = await train({ ...tiny, input_file, checkpoints_dir, model_name: 'straight', max_iters: 12, eval_interval: 4, seed: 7 });
  assert.is(straight.step, 12);
  const first = await train({ ...tiny, input_file, checkpoints_dir, model_name: 'resumed', max_iters: 6, eval_interval: 4, seed: 7 });
  assert.is(first.step, 6);
  const lines = [];
  const second = await train({ ...tiny, input_file, checkpoints_dir, model_name: 'resumed', max_iters: 12, eval_interval: 4, seed: 7, log: (l) => lines.push(l) });
  assert.ok(second.resumed);
  assert.is(second.start_step, 6);
  assert.is(second.step, 12);
  assert.ok(lines.some((l) => l.startsWith('Found checkpoint at')), lines.join('\n'));
  const a = await loadBundle(path.join(checkpoints_dir, 'straight'), { optimizer: true });
  const b = await loadBundle(path.join(checkpoints_dir, 'resumed'), { optimizer: true });
  for (const k of Object.keys(a.params)) assert.equal(Array.from(b.params[k].data), Array.from(a.params[k].data), k);
  assert.is(b.optimizer.step, 12);
  for (const k of Object.keys(a.params)) assert.equal(Array.from(b.optimizer.exp_avg_sq[k].data), Array.from(a.optimizer.exp_avg_sq[k].data), k);
  assert.is(b.trainingState.step, 12);
  assert.is(b.trainingState.training_config.start_step, 6);
  // the loss history continues where it stopped
  const metrics = fs.readFileSync(path.join(checkpoints_dir, 'resumed', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(metrics.map((m) => m.step), [0, 4, 6, 8, 12]);
  assert.is(second.val_loss, straight.val_loss);
});

test('resume: architecture from config.json with one warning naming each differing flag; new learning rate applied and recorded', async () => {
  const dir = tmp();
  const input_file = smallCorpus(dir);
  const checkpoints_dir = path.join(dir, 'checkpoints');
  await train({ ...tiny, input_file, checkpoints_dir, model_name: 'm', max_iters: 2, eval_interval: 2 });
  const lines = [];
  const r = await train({ ...tiny, input_file, checkpoints_dir, model_name: 'm', max_iters: 4, eval_interval: 2, n_layer: 3, n_embd: 48, n_head: 2, learning_rate: 1e-4, log: (l) => lines.push(l) });
  const warnings = lines.filter((l) => l.startsWith('warning:'));
  assert.is(warnings.length, 1, lines.join('\n'));
  assert.match(warnings[0], /--n_layer 3 \(bundle: 2\)/);
  assert.match(warnings[0], /--n_embd 48 \(bundle: 32\)/);
  assert.not.match(warnings[0], /--n_head/);
  assert.is(r.step, 4);
  const b = await loadBundle(path.join(checkpoints_dir, 'm'), { optimizer: true });
  assert.is(b.config.n_layer, 2);
  assert.is(b.trainingState.training_config.learning_rate, 1e-4);
  assert.is(b.optimizer.hyper.lr, 1e-4);
});

test('--init_from_model fine-tunes from another bundle and checks the tokenizer', async () => {
  const dir = tmp();
  const input_file = smallCorpus(dir);
  const checkpoints_dir = path.join(dir, 'checkpoints');
  await train({ ...tiny, input_file, checkpoints_dir, model_name: 'base', max_iters: 2, eval_interval: 2 });
  const r = await train({ ...tiny, input_file, checkpoints_dir, model_name: 'ft', init_from_model: 'base', max_iters: 2, eval_interval: 2 });
  assert.is(r.start_step, 0);
  assert.is(r.step, 2);
  let err;
  try { await train({ ...tiny, input_file, checkpoints_dir, model_name: 'ft2', init_from_model: 'base', tokenization: 'gpt2', max_iters: 1 }); } catch (e) { err = e; }
  assert.ok(err && err.name === 'MyptError', String(err));
  assert.match(err.message, /base model 'base' uses char tokens/);
  const other = path.join(dir, 'other.txt');
  fs.writeFileSync(other, 'zzz\u00e9'.repeat(500));
  err = undefined;
  try { await train({ ...tiny, input_file: other, checkpoints_dir, model_name: 'ft3', init_from_model: 'base', max_iters: 1 }); } catch (e) { err = e; }
  assert.match(err.message, /"\u00e9" \(U\+00E9\) is not in this model's character vocabulary/);
  assert.not.ok(fs.existsSync(path.join(checkpoints_dir, 'ft3')), 'nothing written on a failed start');
});

function cli(args, cwd, env = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: '1', ...env } });
}

test('the built-in default run end to end (reduced to 20 steps), then generate, inspect, presets', () => {
  const cwd = tmp();
  const r = cli(['train', '--max_iters', '20', '--eval_interval', '10', '--eval_iters', '2', '--sample_tokens', '60'], cwd);
  assert.is(r.status, 0, r.stderr + r.stdout);
  const out = r.stdout;
  assert.match(out, /No checkpoint found\. Starting from scratch\./);
  for (const s of [0, 10, 20]) assert.match(out, new RegExp(`^step ${s}: train loss \\d+\\.\\d{4}, val loss \\d+\\.\\d{4}$`, 'm'));
  assert.match(out, /^Saved model weights to checkpoints\/default\/model\.pt$/m);
  assert.match(out, /^Saved training state to checkpoints\/default\/training_state\.json$/m);
  assert.match(out, /^step 20\/20 \| loss \d+\.\d{4} \| [\d,]+ tok\/s \| ETA/m);
  assert.match(out, /---------- sample ----------\n[\s\S]{20,}\n----------------------------/);
  const b = path.join(cwd, 'checkpoints', 'default');
  assert.equal(fs.readdirSync(b).sort(), ['config.json', 'loss.svg', 'metrics.jsonl', 'model.pt', 'optimizer.pt', 'tokenizer.json', 'training_state.json']);
  const cfg = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8'));
  assert.equal(Object.keys(cfg), ['batch_size', 'block_size', 'vocab_size', 'n_embd', 'n_head', 'n_layer', 'dropout', 'bias', 'device']);
  assert.is(cfg.vocab_size, 65);
  const ts = JSON.parse(fs.readFileSync(path.join(b, 'training_state.json'), 'utf8'));
  assert.is(ts.step, 20);
  assert.equal(Object.keys(ts), ['step', 'training_config', 'optimizer_file']);
  assert.equal(Object.keys(ts.training_config).slice(0, 5), ['max_iters', 'eval_interval', 'eval_iters', 'learning_rate', 'start_step']);
  const metrics = fs.readFileSync(path.join(b, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(metrics.map((m) => m.step), [0, 10, 20]);
  const svg = fs.readFileSync(path.join(b, 'loss.svg'), 'utf8');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.is((svg.match(/<polyline /g) || []).length, 2);

  const g1 = cli(['generate', '--prompt', 'ROMEO:', '--max_new_tokens', '40', '--seed', '5'], cwd);
  const g2 = cli(['generate', '--prompt', 'ROMEO:', '--max_new_tokens', '40', '--seed', '5'], cwd);
  assert.is(g1.status, 0, g1.stderr);
  assert.ok(g1.stdout.startsWith('ROMEO:'));
  assert.is(g1.stdout, g2.stdout, 'same seed, same text');
  assert.ok(g1.stdout.length > 30);

  const bad = cli(['generate', '--prompt', 'caf\u00e9'], cwd);
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /^error: character "\u00e9" \(U\+00E9\) is not in this model's character vocabulary of 65/);
  assert.is(bad.stderr.trim().split('\n').length, 1, 'one line, no stack trace');

  const ins = cli(['inspect', 'default'], cwd);
  assert.is(ins.status, 0, ins.stderr);
  for (const s of ['=== FORMAT ===', '=== CONFIG ===', '=== TOKENIZER ===', '=== TRAINING STATE ===', 'Last recorded training step: 20', 'parameters:', 'model.pt']) assert.ok(ins.stdout.includes(s), s);
  const js = JSON.parse(cli(['inspect', '--json', '--checkpoint', 'checkpoints/default'], cwd).stdout);
  assert.is(js.training.step, 20);
  assert.is(js.tokenizer.vocab_size, 65);
  assert.equal(js.dtypes, ['float32']);

  const p = cli(['presets'], cwd);
  assert.is(p.status, 0);
  for (const k of ['default', 'tiny', 'small', '150M', '250M_1024']) assert.match(p.stdout, new RegExp(`^${k} `, 'm'));
});

test('bad flags and values: one line naming the flag, exit 1, no stack trace; lookups create nothing', () => {
  const cwd = tmp();
  const cases = [
    [['train', '--max_iters', 'ten'], /--max_iters ten: not a number/],
    [['train', '--n_head', '5'], /--n_head 5: n_embd 128 is not divisible by n_head 5/],
    [['train', '--device', 'tpu'], /--device tpu: expected auto, cpu, cuda/],
    [['train', '--preset', 'huge'], /--preset huge: no such preset/],
    [['train', '--input_file', 'missing.txt'], /--input_file missing.txt: no such file/],
    [['train', '--learning_rat', '1'], /Unknown argument: --learning_rat$/m],
    // yargs parses --no-X as X = false: the message still names the flag as typed
    [['train', '--no-such-flag'], /Unknown argument: --no-such-flag$/m],
    // a path where a flag is expected: the flag that takes it
    [['generate', 'model.pt'], /^error: Unknown argument: model\.pt \(generate takes no positional arguments: name a checkpoint with --checkpoint model\.pt\)$/m],
    [['train', 'extra'], /^error: Unknown argument: extra \(see mypt-native train --help\)$/m],
    [['generate', '--model_name', 'nope'], /no checkpoint for model nope at checkpoints\/nope/],
    [['inspect', 'nope'], /no checkpoint for model nope/],
  ];
  for (const [args, re] of cases) {
    const r = cli(args, cwd);
    assert.is(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.not.match(r.stderr, /\n\s+at /);
  }
  assert.equal(fs.readdirSync(cwd), [], 'nothing created on disk');
});

test('Ctrl-C (SIGINT) finishes the current step, saves, and exits 0', async () => {
  const cwd = tmp();
  const child = spawn(process.execPath, [BIN, 'train', '--max_iters', '100000', '--eval_interval', '100000', '--eval_iters', '1', '--n_layer', '1', '--n_embd', '32', '--batch_size', '2'], { cwd, env: { ...process.env, CI: '1' } });
  let out = '';
  const done = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await new Promise((resolve) => child.stdout.on('data', (d) => {
    out += d;
    if (/^step \d+\/100000/m.test(out)) resolve();
  }));
  child.kill('SIGINT');
  child.stdout.on('data', (d) => (out += d));
  const { code } = await done;
  assert.is(code, 0, out);
  assert.match(out, /Interrupted: saving at step \d+/);
  const ts = JSON.parse(fs.readFileSync(path.join(cwd, 'checkpoints', 'default', 'training_state.json'), 'utf8'));
  assert.ok(ts.step > 0 && ts.step < 100000, `step ${ts.step}`);
  const b = await loadBundle(path.join(cwd, 'checkpoints', 'default'), { optimizer: true });
  assert.is(b.optimizer.step, ts.step, 'step = optimizer steps done');
});

test('API: generate() and getModelInfo() on a bundle; same seed gives the same text', async () => {
  const a = await generate({ checkpoint: FIX, prompt: 'ROMEO', max_new_tokens: 30, seed: 3 });
  const b = await generate({ checkpoint: FIX, prompt: 'ROMEO', max_new_tokens: 30, seed: 3 });
  assert.is(a, b);
  assert.is(a.length, 30);
  let s = '';
  for await (const piece of generateStream({ checkpoint: FIX, prompt: 'ROMEO', max_new_tokens: 30, seed: 3 })) s += piece;
  assert.is(s, a);
  const info = await getModelInfo(FIX);
  assert.is(info.training.step, 2);
  assert.is(info.num_params, Object.values((await loadBundle(FIX)).params).reduce((n, t) => n + t.data.length, 0));
});

test('inspect and generate take checkpoint files of other tools (legacy MyPT, nanoGPT)', async () => {
  const legacy = path.join(__dirname, 'fixtures', 'foreign', 'mypt_legacy', 'checkpoints', 'tiny', 'final.pt');
  const nano = path.join(__dirname, 'fixtures', 'foreign', 'nanogpt', 'out-shakespeare-char');
  if (!fs.existsSync(legacy) || !fs.existsSync(nano)) { console.log('  skip: foreign fixtures absent'); return; }
  const info = await getModelInfo(legacy);
  assert.is(info.format, 'mypt-legacy');
  assert.is(info.training.step, 3);
  assert.is(info.tokenizer.kind, 'char');
  assert.equal(info.dtypes, ['float32']);
  const r = cli(['inspect', '--json', nano], os.tmpdir());
  assert.is(r.status, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).format, 'nanogpt');
  const a = await generate({ checkpoint: nano, prompt: 'a', max_new_tokens: 10, seed: 1 });
  assert.is(a, await generate({ checkpoint: nano, prompt: 'a', max_new_tokens: 10, seed: 1 }));
  assert.is(a.length, 10);
});

test.run();
