// Fine-tuning pretrained GPT-2 (`train --init_from gpt2|...|PATH`), proven on a tiny GPT-2 made by real
// PyTorch code in Hugging Face's layout (test/fixtures/make_tiny_gpt2.py): the loss of a batch, and the loss
// after one AdamW step on it, equal PyTorch's (1e-5, CPU); the CLI finds the model in a Hugging Face cache
// (HF_HOME), never the network, keeps its architecture and vocabulary, takes --dropout, and fine-tunes; absent,
// one error line says where it looked and how to get the files.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { createModel } = require('../lib');
const { locateInitFrom, readInitFrom, hubCaches } = require('../lib/use-cases/train/init-from');
const { loadBundle } = require('../lib/formats/mypt/bundle');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const FIX = path.join(__dirname, 'fixtures', 'tiny_gpt2');
const MODEL = path.join(FIX, 'model');
const CORPUS = path.join(FIX, 'corpus.txt');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-ft-'));

/** A Hugging Face hub cache under `home` holding the fixture as `repo`, laid out as huggingface_hub does:
 *  blobs/<hash> files, snapshots/<commit>/<name> relative symlinks to them, refs/main naming the commit; an
 *  older snapshot without weights beside it. */
function hubCache(home, repo = 'models--gpt2') {
  const dir = path.join(home, 'hub', repo);
  const snap = path.join(dir, 'snapshots', '6c0e6080953db56375760c0471a8c5f2929baf11');
  for (const d of [snap, path.join(dir, 'snapshots', '11c5a3d5811f50298f278a704980280950aedb10'), path.join(dir, 'refs'), path.join(dir, 'blobs')]) {
    fs.mkdirSync(d, { recursive: true });
  }
  fs.writeFileSync(path.join(dir, 'refs', 'main'), path.basename(snap));
  fs.readdirSync(MODEL).forEach((f, i) => {
    const blob = `${i}0f4c9e1b2a3d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9`;
    fs.copyFileSync(path.join(MODEL, f), path.join(dir, 'blobs', blob));
    fs.symlinkSync(path.join('..', '..', 'blobs', blob), path.join(snap, f));
  });
  return snap;
}

/** The CLI with only the Hugging Face locations given here (no real cache, no network). */
function cli(args, env = {}, cwd = tmp) {
  const clean = { ...process.env };
  for (const k of ['HF_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'XDG_CACHE_HOME']) delete clean[k];
  const r = spawnSync(process.execPath, [BIN, 'train', ...args], { cwd, encoding: 'utf8', timeout: 120000,
    env: { ...clean, HOME: path.join(tmp, 'home'), CI: '1', ...env } });
  return { ...r, out: r.stdout + r.stderr };
}
const FLAGS = ['--input_file', CORPUS, '--batch_size', '4', '--eval_iters', '4', '--learning_rate', '3e-3', '--device', 'cpu',
  '--sample_tokens', '0', '--warmup_iters', '0', '--lr_decay_iters', '0', '--checkpoints_dir', path.join(tmp, 'ck')];

test('the tiny GPT-2 read as --init_from reads it: PyTorch\'s loss, and its loss after one AdamW step (1e-5, CPU)', async () => {
  const { checkpoint, tokenizer } = readInitFrom(locateInitFrom(MODEL), `--init_from ${MODEL}`);
  assert.is(checkpoint.format, 'hf-gpt2');
  assert.is(tokenizer.kind, 'char');
  assert.is(tokenizer.vocabSize, expected.vocab_size);
  const m = createModel({ ...checkpoint.config, dropout: 0, device: 'cpu', seed: 1 }, { tokenizer });
  try {
    m.setParameters(checkpoint.params);
    const B = expected.tokens.length, T = expected.tokens[0].length;
    const x = { data: Int32Array.from(expected.tokens.flat()), shape: [B, T] };
    const y = { data: Int32Array.from(expected.targets.flat()), shape: [B, T] };
    const loss = await m.loss(x, y);
    const a = expected.adamw;
    const first = await m.trainStep({ tokens: x, targets: y, lr: a.lr, betas: a.betas, eps: a.eps, weight_decay: a.weight_decay });
    const after = await m.loss(x, y);
    console.log(`  loss ${loss.toFixed(6)} (PyTorch ${expected.loss.toFixed(6)}, |diff| ${Math.abs(loss - expected.loss).toExponential(1)}), after one AdamW step ${after.toFixed(6)} (PyTorch ${expected.loss_after_step.toFixed(6)}, |diff| ${Math.abs(after - expected.loss_after_step).toExponential(1)})`);
    assert.ok(Math.abs(loss - expected.loss) < 1e-5, `loss ${loss} vs PyTorch ${expected.loss}`);
    assert.ok(Math.abs(first - expected.loss) < 1e-5, `first step's loss ${first} vs PyTorch ${expected.loss}`);
    assert.ok(Math.abs(after - expected.loss_after_step) < 1e-5, `loss after one step ${after} vs PyTorch ${expected.loss_after_step}`);
    assert.ok(expected.loss - expected.loss_after_step > 0.1); // the step matters
  } finally {
    m.dispose();
  }
});

const torchReason = (() => {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'PyTorch (with numpy) is not installed for /usr/bin/python3';
})();
if (torchReason) console.log(`  skipping the live PyTorch comparison: ${torchReason}`);

(torchReason ? test.skip : test)("train({ init_from }): the loss of its first step is PyTorch's on the same batch (the batch train draws, asked of PyTorch now)", async () => {
  const { train } = require('../lib');
  const { tokenizeAndSplit } = require('../lib/data');
  const { CounterRng, sampleBatch, STREAM_TRAIN } = require('../lib/data/batches');
  const seed = 17, B = 3;
  const losses = [];
  const r = await train({ init_from: MODEL, input_file: CORPUS, max_iters: 1, batch_size: B, dropout: 0, device: 'cpu', seed, sample_tokens: 0,
    eval_iters: 1, checkpoints_dir: path.join(tmp, 'api'), model_name: 'first', onProgress: (e) => { if (e.type === 'step') losses.push(e.loss); } });
  assert.is(r.step, 1);
  // the batch of step 0 as the engine draws it (src/data/batches.ts mirrors it): the train split of the corpus in the model's vocabulary
  const { tokenizer } = readInitFrom(MODEL, 'x');
  const { train: split } = tokenizeAndSplit(tokenizer, fs.readFileSync(CORPUS, 'utf8'));
  const b = sampleBatch(split, B, 16, new CounterRng(seed, STREAM_TRAIN, 0));
  const rows = (t) => Array.from({ length: B }, (_, i) => Array.from(t.data.subarray(i * 16, (i + 1) * 16)));
  const py = spawnSync('/usr/bin/python3', [path.join(__dirname, 'fixtures', 'make_tiny_gpt2.py'), '--loss'],
    { input: JSON.stringify({ tokens: rows(b.tokens), targets: rows(b.targets) }), encoding: 'utf8' });
  assert.is(py.status, 0, py.stderr);
  const ref = JSON.parse(py.stdout).loss;
  console.log(`  train()'s first step: loss ${losses[0].toFixed(7)}, PyTorch on the same batch ${ref.toFixed(7)} (|diff| ${Math.abs(losses[0] - ref).toExponential(1)})`);
  assert.ok(Math.abs(losses[0] - ref) < 1e-5, `first step loss ${losses[0]} vs PyTorch ${ref}`);
});

test('train --init_from gpt2 finds it in HF_HOME/hub (models--gpt2/snapshots/<refs/main>), keeps its architecture, takes --dropout, fine-tunes', () => {
  const hf = path.join(tmp, 'hf');
  const snap = hubCache(hf);
  const r = cli([...FLAGS, '--init_from', 'gpt2', '--model_name', 'ft', '--max_iters', '30', '--eval_interval', '30', '--dropout', '0.1',
    '--n_layer', '6', '--log_interval', '10'], { HF_HOME: hf });
  assert.is(r.status, 0, r.out);
  assert.ok(r.stdout.includes(`Initializing from gpt2 (${snap})`), r.out);
  assert.match(r.out, /warning: fine-tuning keeps the architecture of gpt2; ignoring --n_layer 6 \(gpt2: 2\)/);
  const losses = [...r.stdout.matchAll(/step (\d+): train loss (\d+\.\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(losses.map((l) => l[0]), [0, 30]);
  console.log(`  fine-tuning the tiny GPT-2 from the HF cache: train loss ${losses[0][1]} -> ${losses[1][1]} in 30 steps`);
  assert.ok(losses[1][1] < losses[0][1] - 0.2, r.out);
  assert.match(r.stdout, /^iter 0: loss \d/m);
  const b = loadBundle(path.join(tmp, 'ck', 'ft'));
  return b.then((bundle) => {
    assert.equal([bundle.config.n_layer, bundle.config.n_embd, bundle.config.n_head, bundle.config.block_size, bundle.config.vocab_size], [2, 8, 2, 16, expected.vocab_size]);
    assert.is(bundle.config.dropout, 0.1);
    assert.is(bundle.config.arch, 'gpt2');
    const vocab = JSON.parse(fs.readFileSync(path.join(MODEL, 'tokenizer.json'), 'utf8')).model.vocab;
    assert.equal(bundle.tokenizer.chars, Object.keys(vocab).sort((p, q) => vocab[p] - vocab[q]));
    assert.is(bundle.trainingState.step, 30);
  });
});

test('--init_from gpt2-medium: the openai-community repo name and HUGGINGFACE_HUB_CACHE are searched too; a ./gpt2 folder comes first', () => {
  const cache = path.join(tmp, 'hubcache');
  const snap = hubCache(cache, 'models--openai-community--gpt2-medium');
  const hubDir = path.join(cache, 'hub');
  assert.is(locateInitFrom('gpt2-medium', { HUGGINGFACE_HUB_CACHE: hubDir }, path.join(tmp, 'nohome'), tmp), snap);
  fs.rmSync(path.join(hubDir, 'models--openai-community--gpt2-medium', 'refs'), { recursive: true }); // no refs/main: the snapshot with weights
  assert.is(locateInitFrom('gpt2-medium', { HUGGINGFACE_HUB_CACHE: hubDir }, path.join(tmp, 'nohome'), tmp), snap);
  const cwd = path.join(tmp, 'cwd');
  fs.mkdirSync(path.join(cwd, 'gpt2'), { recursive: true });
  for (const f of fs.readdirSync(MODEL)) fs.copyFileSync(path.join(MODEL, f), path.join(cwd, 'gpt2', f));
  assert.is(locateInitFrom('gpt2', { HF_HOME: path.join(tmp, 'hf') }, path.join(tmp, 'nohome'), cwd), path.join(cwd, 'gpt2'));
  assert.equal(hubCaches({ HF_HOME: '/a', HF_HUB_CACHE: '/b' }, '/h'), ['/b', '/a/hub', '/h/.cache/huggingface/hub']);
});

test('absent: one error line naming the folders searched and how to get the files; nothing written', () => {
  const r = cli([...FLAGS, '--init_from', 'gpt2-xl', '--model_name', 'none', '--max_iters', '1'], { HF_HOME: path.join(tmp, 'empty') });
  assert.is(r.status, 1, r.out);
  const lines = r.stderr.trim().split('\n');
  assert.is(lines.length, 1, r.stderr);
  assert.match(lines[0], /^error: --init_from gpt2-xl: no local copy of gpt2-xl \(looked in /);
  for (const where of [path.join(tmp, 'gpt2-xl'), path.join(tmp, 'empty', 'hub', 'models--gpt2-xl', 'snapshots', '*'),
    path.join(tmp, 'home', '.cache', 'huggingface', 'hub', 'models--openai-community--gpt2-xl')]) {
    assert.ok(lines[0].includes(where), `${where} not named in: ${lines[0]}`);
  }
  assert.match(lines[0], /huggingface-cli download gpt2-xl/);
  assert.not.ok(fs.existsSync(path.join(tmp, 'ck', 'none')));
  const p = cli([...FLAGS, '--init_from', path.join(tmp, 'nope.pt'), '--model_name', 'none', '--max_iters', '1']);
  assert.is(p.status, 1);
  assert.match(p.stderr, /^error: --init_from \S+nope\.pt: no such file or folder/);
  const both = cli([...FLAGS, '--init_from', MODEL, '--init_from_model', 'ft', '--model_name', 'none', '--max_iters', '1']);
  assert.is(both.status, 1);
  assert.match(both.stderr, /^error: --init_from \S+: give --init_from or --init_from_model, not both/);
});

test('--init_from PATH: a Hugging Face folder, a bundle; a vocab.json that is not GPT-2\'s is refused', () => {
  const r = cli([...FLAGS, '--init_from', MODEL, '--model_name', 'frompath', '--max_iters', '2', '--eval_interval', '2']);
  assert.is(r.status, 0, r.out);
  const s = cli([...FLAGS, '--init_from', path.join(tmp, 'ck', 'ft'), '--model_name', 'frombundle', '--max_iters', '2', '--eval_interval', '2']);
  assert.is(s.status, 0, s.out);
  assert.match(s.stdout, /mypt-bundle, char tokens/);
  // nanoGPT's ckpt.pt (compiled, its meta.pkl vocabulary beside in data/): the text must be in that vocabulary
  const nano = path.join(__dirname, 'fixtures', 'foreign', 'nanogpt', 'out-shakespeare-char', 'ckpt.pt');
  const text = path.join(tmp, 'nano.txt');
  fs.writeFileSync(text, 'Before we proceed any further, hear me speak.\n'.repeat(40));
  const n = cli([...FLAGS.slice(2), '--input_file', text, '--init_from', nano, '--model_name', 'fromnano', '--max_iters', '2', '--eval_interval', '2']);
  assert.is(n.status, 0, n.out);
  assert.match(n.stdout, /nanogpt, char tokens \(vocab 27\)/);
  // the weights without the character tokenizer.json are GPT-2 BPE weights: a vocab.json beside must be GPT-2's
  const odd = path.join(tmp, 'odd');
  fs.mkdirSync(odd);
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(MODEL, f), path.join(odd, f));
  fs.writeFileSync(path.join(odd, 'vocab.json'), JSON.stringify({ a: 0, b: 1 }));
  const t = cli([...FLAGS, '--init_from', odd, '--model_name', 'odd', '--max_iters', '1']);
  assert.is(t.status, 1, t.out);
  assert.match(t.stderr, /^error: \S+vocab\.json: a BPE vocabulary of 2 tokens that is not GPT-2's/);
  fs.rmSync(path.join(odd, 'vocab.json'));
  fs.writeFileSync(path.join(odd, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE', vocab: { a: 0, b: 1, c: 2 }, merges: [] } }));
  const u = cli([...FLAGS, '--init_from', odd, '--model_name', 'odd', '--max_iters', '1']);
  assert.match(u.stderr, /^error: \S+tokenizer\.json: a BPE vocabulary of 3 tokens that is not GPT-2's/);
  // GPT-2's own files beside are honoured (the weights here have 44 rows, so the text must stay below id 44: it is not
  // trained, only read), and a tokenizer.json of the character kind gives the vocabulary
  const { hfTokenizerFiles } = require('../lib/formats/hf/tokenizer');
  const files = hfTokenizerFiles({ token_kind: 'gpt2', chars: null }, 16);
  fs.rmSync(path.join(odd, 'tokenizer.json'));
  for (const f of ['vocab.json', 'merges.txt', 'tokenizer.json']) fs.writeFileSync(path.join(odd, f), files[f]);
  const { checkpoint, tokenizer } = readInitFrom(odd, '--init_from odd');
  assert.is(tokenizer.kind, 'gpt2');
  assert.is(checkpoint.format, 'hf-gpt2');
});

test("nanoGPT's --block_size crop, --init_from resume and scratch", async () => {
  const r = cli([...FLAGS, '--init_from', MODEL, '--block_size', '8', '--model_name', 'crop', '--max_iters', '1']);
  assert.is(r.status, 0, r.out);
  assert.match(r.stdout, /Cropping the context of \S+ from 16 to --block_size 8/);
  const b = await loadBundle(path.join(tmp, 'ck', 'crop'));
  assert.is(b.config.block_size, 8);
  assert.equal(b.params.wpe.shape, [8, 8]);
  const none = cli([...FLAGS, '--init_from', 'resume', '--model_name', 'nothing', '--max_iters', '1']);
  assert.is(none.status, 1);
  assert.match(none.stderr, /^error: --init_from resume: no checkpoint at \S+nothing/);
  const again = cli([...FLAGS, '--init_from', 'resume', '--model_name', 'crop', '--max_iters', '2']);
  assert.is(again.status, 0, again.out);
  assert.match(again.stdout, /Found checkpoint at \S+crop, resuming training/);
  const fresh = cli([...FLAGS, '--init_from', 'scratch', '--tokenization', 'char', '--model_name', 'scratch', '--max_iters', '1']);
  assert.is(fresh.status, 0, fresh.out);
  assert.match(fresh.stdout, /No checkpoint found\. Starting from scratch\./);
});

test('the env-var workflow: MODEL_TYPE=gpt2 GPT2_MODEL_NAME=gpt2-medium fine-tunes it, files named checkpoint_gpt2_{source}_gpt2medium_step...', async () => {
  const hf = path.join(tmp, 'hf-env');
  hubCache(hf, 'models--gpt2-medium');
  const ck = path.join(tmp, 'envck');
  const env = { HF_HOME: hf, MODEL_TYPE: 'gpt2', GPT2_MODEL_NAME: 'gpt2-medium', ENABLE_CHECKPOINTS: 'true', CHECKPOINT_INTERVAL: '2', CHECKPOINT_DIR: ck, TRAINING_STEPS: '4' };
  const r = cli([...FLAGS, '--model_name', 'envft', '--eval_interval', '4'], env);
  assert.is(r.status, 0, r.out);
  assert.match(r.stdout, /Initializing from gpt2-medium \(\S+models--gpt2-medium\S+\): hf-gpt2, char tokens/);
  const files = fs.readdirSync(ck).sort();
  assert.is(files.length, 2, files.join(' '));
  files.forEach((f, i) => assert.match(f, new RegExp(`^checkpoint_gpt2_corpus_gpt2medium_step00000${2 * (i + 1)}_\\d{8}_\\d{6}\\.pt$`)));
  const { loadModel } = require('../lib');
  const a = await loadModel(path.join(ck, files[1]), { device: 'cpu' });
  const b = await loadModel(path.join(tmp, 'ck', 'envft'), { device: 'cpu' });
  try {
    assert.is(a.config.arch, 'gpt2');
    assert.is(a.config.activation, 'gelu_tanh');
    const pa = a.getParameters(), pb = b.getParameters();
    for (const k of Object.keys(pb)) assert.equal(pa[k].data, pb[k].data, k);
  } finally { a.dispose(); b.dispose(); }
  const bad = cli([...FLAGS, '--model_name', 'envbad'], { GPT2_MODEL_NAME: 'gpt2-medium' });
  assert.match(bad.stderr, /^error: GPT2_MODEL_NAME=gpt2-medium needs MODEL_TYPE=gpt2/);
  const odd = cli([...FLAGS, '--model_name', 'envbad'], { MODEL_TYPE: 'gpt2', GPT2_MODEL_NAME: 'gpt3' });
  assert.match(odd.stderr, /^error: GPT2_MODEL_NAME=gpt3 is not valid: accepted values are gpt2, gpt2-medium, gpt2-large, gpt2-xl/);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
