// `convert`: legacy MyPT -> bundle, nanoGPT -> bundle, any -> safetensors, on copies of the PyTorch-made
// fixtures. The original stays byte-identical; outputs reload to the same model (and, for the MyPT bundle,
// load in PyTorch with MyPT's own class, strictly, giving the original logits); deletion rules.
const { test } = require('uvu');
const assert = require('uvu/assert');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { convert, planConversions } = require('../lib/use-cases/convert/convert');
const { detectCheckpointSync } = require('../lib/formats/detect');
const { loadSafetensorsSync } = require('../lib/formats/safetensors');

const F = path.join(__dirname, 'fixtures/foreign');
const L = JSON.parse(fs.readFileSync(path.join(F, 'logits.json'), 'utf8'));
let createModel;
try {
  ({ createModel } = require('../lib/model/gpt'));
} catch (e) {
  console.log(`skipping logits checks: the CPU engine is not available (${e.message.split('\n')[0]})`);
}
const torchOk = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!torchOk) console.log('skipping the PyTorch strict-load check: /usr/bin/python3 cannot import torch');

const sha = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const quiet = () => { const lines = []; return { lines, log: (s) => lines.push(s) }; };
function sandbox() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-convert-'));
  fs.cpSync(path.join(F, 'mypt_legacy/checkpoints'), path.join(dir, 'checkpoints'), { recursive: true });
  fs.cpSync(path.join(F, 'nanogpt'), path.join(dir, 'nanogpt'), { recursive: true });
  fs.cpSync(path.join(F, 'hf_gpt2'), path.join(dir, 'hf_gpt2'), { recursive: true });
  fs.cpSync(path.join(F, 'lecture'), path.join(dir, 'lecture'), { recursive: true });
  return dir;
}
const listing = (d) => fs.readdirSync(d, { recursive: true }).sort();
const rel = (a, b) => {
  let n = 0, s = 0;
  for (let i = 0; i < b.length; i++) { n += (a[i] - b[i]) ** 2; s += b[i] ** 2; }
  return Math.sqrt(n / s);
};
async function logits(d, tokens) {
  const m = createModel({ ...d.config, dropout: 0, device: 'cpu' });
  try { m.setParameters(d.params); return (await m.forward(tokens)).logits; } finally { m.dispose(); }
}

test('--dry-run lists the plan and writes nothing', async () => {
  const dir = sandbox();
  const before = listing(dir);
  const q = quiet();
  const r = await convert({ all: true, checkpoints_dir: path.join(dir, 'checkpoints'), dry_run: true, log: q.log });
  assert.is(r.length, 1);
  assert.is(r[0].status, 'planned');
  assert.is(r[0].source, path.join(dir, 'checkpoints/tiny/latest.pt'));
  assert.match(q.lines[0], /^would convert .*latest\.pt \(mypt-legacy\) -> bundle /);
  assert.equal(listing(dir), before);
  fs.rmSync(dir, { recursive: true });
});

test('legacy MyPT -> bundle: original untouched and kept without a terminal; bundle reloads equal; PyTorch loads it strictly', async () => {
  const dir = sandbox();
  const tiny = path.join(dir, 'checkpoints/tiny');
  const h = sha(path.join(tiny, 'latest.pt'));
  const q = quiet();
  const [r] = await convert({ model_name: 'tiny', checkpoints_dir: path.join(dir, 'checkpoints'), log: q.log, interactive: false });
  assert.is(r.status, 'converted');
  assert.ok(r.verified);
  assert.is(r.deleted, false);
  assert.match(q.lines.join('\n'), /kept the original .*latest\.pt \(no terminal: pass --yes to delete it\)/);
  assert.is(sha(path.join(tiny, 'latest.pt')), h, 'original byte-identical');
  for (const f of ['config.json', 'tokenizer.json', 'training_state.json', 'model.pt', 'optimizer.pt']) assert.ok(fs.existsSync(path.join(tiny, f)), f);
  const b = detectCheckpointSync(tiny, { optimizer: true });
  const src = detectCheckpointSync(path.join(tiny, 'latest.pt'), { optimizer: true });
  assert.is(b.format, 'mypt-bundle');
  assert.is(b.step, 2);
  assert.equal(b.tokenizer, src.tokenizer);
  assert.equal(JSON.parse(fs.readFileSync(path.join(tiny, 'config.json'), 'utf8')), {
    batch_size: 32, block_size: 8, vocab_size: 17, n_embd: 8, n_head: 2, n_layer: 2, dropout: 0.1, bias: true, device: 'cpu',
  });
  assert.is(b.optimizer.step, src.optimizer.step);
  assert.equal([...b.optimizer.exp_avg_sq['h.1.attn.qkv.weight'].data], [...src.optimizer.exp_avg_sq['h.1.attn.qkv.weight'].data]);
  if (torchOk) {
    const py = `
import importlib.util, json, sys, torch
spec = importlib.util.spec_from_file_location('fx', ${JSON.stringify(path.join(F, '..', 'make_foreign_checkpoints.py'))})
fx = importlib.util.module_from_spec(spec); spec.loader.exec_module(fx)
cfg = fx.MyptConfig(**json.load(open(sys.argv[1] + '/config.json')))
m = fx.MyptGPT(cfg)
m.load_state_dict(torch.load(sys.argv[1] + '/model.pt', weights_only=True) if 'weights_only' in torch.load.__code__.co_varnames else torch.load(sys.argv[1] + '/model.pt'))
opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
opt.load_state_dict(torch.load(sys.argv[1] + '/optimizer.pt'))
print(json.dumps(fx.logits_of(m)['logits']))`;
    const p = spawnSync('/usr/bin/python3', ['-c', py, tiny], { encoding: 'utf8' });
    assert.is(p.status, 0, p.stderr);
    const got = JSON.parse(p.stdout);
    assert.ok(rel(got, L['mypt_legacy/latest.pt'].logits) < 1e-6, 'PyTorch logits of the converted bundle');
  }
  fs.rmSync(dir, { recursive: true });
});

test('deletion: --yes deletes after verification; on a terminal the answer decides', async () => {
  const dir = sandbox();
  const ck = path.join(dir, 'checkpoints');
  const [r] = await convert({ checkpoint: path.join(ck, 'tiny/final.pt'), out: path.join(dir, 'fin'), yes: true, log: () => {} });
  assert.ok(r.deleted);
  assert.not.ok(fs.existsSync(path.join(ck, 'tiny/final.pt')));
  assert.ok(fs.existsSync(path.join(ck, 'tiny/latest.pt')), 'only the converted file goes');
  const asked = [];
  const [no] = await convert({ model_name: 'tiny', checkpoints_dir: ck, interactive: true, confirm: async (q) => { asked.push(q); return false; }, log: () => {} });
  assert.is(no.deleted, false);
  assert.match(asked[0], /^Delete the original .*latest\.pt\? \[y\/N\] $/);
  fs.rmSync(path.join(ck, 'tiny/model.pt'));
  fs.rmSync(path.join(ck, 'tiny/config.json'));
  const [yes] = await convert({ model_name: 'tiny', checkpoints_dir: ck, interactive: true, confirm: async () => true, log: () => {} });
  assert.ok(yes.deleted);
  assert.not.ok(fs.existsSync(path.join(ck, 'tiny/latest.pt')));
  fs.rmSync(dir, { recursive: true });
});

test('nanoGPT -> bundle: GPT-2 architecture recorded, meta.pkl vocabulary, PyTorch logits and resume state kept', async () => {
  const dir = sandbox();
  const ckpt = path.join(dir, 'nanogpt/out-shakespeare-char/ckpt.pt');
  const h = sha(ckpt);
  const [r] = await convert({ checkpoint: ckpt, checkpoints_dir: path.join(dir, 'checkpoints'), log: () => {} });
  assert.is(r.target, path.join(dir, 'checkpoints/out-shakespeare-char'));
  assert.is(sha(ckpt), h);
  const cfg = JSON.parse(fs.readFileSync(path.join(r.target, 'config.json'), 'utf8'));
  assert.is(cfg.arch, 'gpt2');
  assert.is(cfg.activation, 'gelu');
  const ts = JSON.parse(fs.readFileSync(path.join(r.target, 'training_state.json'), 'utf8'));
  assert.equal(ts, { step: 3, training_config: { max_iters: 5000, eval_interval: 250, eval_iters: 200, learning_rate: 1e-3, start_step: 0 }, optimizer_file: 'optimizer.pt' });
  const b = detectCheckpointSync(r.target, { optimizer: true });
  assert.is(b.layout, 'nanogpt');
  assert.equal(b.tokenizer.chars, L['nanogpt/chars']);
  assert.equal(b.optimizer.hyper, { lr: 1e-3, betas: [0.9, 0.99], eps: 1e-8, weight_decay: 0.1 });
  if (createModel) {
    const ref = L['nanogpt/out-shakespeare-char'];
    assert.ok(rel(await logits(b, ref.tokens), ref.logits) <= 1e-5);
  }
  fs.rmSync(dir, { recursive: true });
});

test('any -> safetensors: HF GPT-2 .bin, a nanoGPT ckpt and a lecture file; config/tokenizer/step in the metadata', async () => {
  const dir = sandbox();
  fs.rmSync(path.join(dir, 'hf_gpt2/model.safetensors'));
  for (const [src, key] of [['hf_gpt2/pytorch_model.bin', 'hf_gpt2'], ['nanogpt/out-plain/ckpt.pt', 'nanogpt/out-plain'], ['lecture/checkpoints', 'lecture']]) {
    const [r] = await convert({ checkpoint: path.join(dir, src), format: 'safetensors', log: () => {} });
    assert.is(r.status, 'converted', src);
    assert.ok(r.target.endsWith('.safetensors'));
    const st = loadSafetensorsSync(r.target);
    assert.ok(st.metadata['mypt_native.config'], 'config recorded');
    const d = detectCheckpointSync(r.target);
    assert.not.ok([...st.tensors.keys()].some((k) => k.endsWith('.tril') || (d.config.tied_head && k === 'lm_head.weight')), 'no mask buffers or tied duplicates');
    assert.is(d.format, 'safetensors');
    if (createModel) {
      const ref = L[key];
      assert.ok(rel(await logits(d, ref.tokens), ref.logits) <= 1e-5, `${src} logits`);
    }
  }
  const hf = detectCheckpointSync(path.join(dir, 'hf_gpt2/model.safetensors'));
  assert.is(hf.config.activation, 'gelu_tanh');
  assert.equal(hf.tokenizer, { token_kind: 'gpt2', chars: null });
  const [again] = await convert({ checkpoint: path.join(dir, 'hf_gpt2/pytorch_model.bin'), format: 'safetensors', log: () => {} });
  assert.is(again.status, 'skipped');
  assert.match(again.skip, /already exists/);
  fs.rmSync(dir, { recursive: true });
});

test('lecture -> bundle needs a vocabulary: the message says how; --input_file gives it', async () => {
  const dir = sandbox();
  const file = path.join(dir, 'lecture/checkpoints/checkpoint_bigram_input_step000500_11232026_054500.pt');
  const alone = path.join(dir, 'alone', path.basename(file));
  fs.mkdirSync(path.dirname(alone));
  fs.copyFileSync(file, alone);
  let err;
  try { await convert({ checkpoint: alone, out: path.join(dir, 'lec'), log: () => {} }); } catch (e) { err = e; }
  assert.match(err && err.message, /does not store its character vocabulary; pass --input_file/);
  assert.not.ok(fs.existsSync(path.join(dir, 'lec', 'model.pt')));
  const [r] = await convert({ checkpoint: alone, out: path.join(dir, 'lec'), input_file: path.join(dir, 'lecture/input.txt'), log: () => {} });
  assert.ok(r.verified);
  const b = detectCheckpointSync(path.join(dir, 'lec'));
  assert.is(b.layout, 'lecture');
  assert.is(b.config.attn_scale, 'embd');
  assert.equal(b.tokenizer.chars, L['lecture/chars']);
  fs.rmSync(dir, { recursive: true });
});

test('argument errors are one line naming the flags', () => {
  assert.throws(() => planConversions({}), /name what to convert: --all, --model_name NAME or --checkpoint PATH/);
  assert.throws(() => planConversions({ all: true, model_name: 'x' }), /one of them/);
  assert.throws(() => planConversions({ all: true, out: 'x' }), /--out names one output and cannot be used with --all/);
  assert.throws(() => planConversions({ model_name: 'nope', checkpoints_dir: os.tmpdir() }), /no checkpoint for model nope at /);
});

test('CLI: `convert --all` without a terminal keeps originals; a bad call is one line and exit 1', () => {
  const dir = sandbox();
  const bin = path.join(__dirname, '..', 'bin', 'mypt-native.js');
  const run = (...args) => spawnSync(process.execPath, [bin, 'convert', ...args], { cwd: dir, encoding: 'utf8', input: '' });
  const dry = run('--all', '--dry-run');
  assert.is(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /would convert checkpoints\/tiny\/latest\.pt \(mypt-legacy\) -> bundle checkpoints\/tiny/);
  const r = run('--all');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /converted checkpoints\/tiny\/latest\.pt .*reloaded and checked/);
  assert.match(r.stdout, /kept the original checkpoints\/tiny\/latest\.pt \(no terminal: pass --yes to delete it\)/);
  assert.ok(fs.existsSync(path.join(dir, 'checkpoints/tiny/latest.pt')));
  const st = run('--model_name', 'tiny', '--format', 'safetensors', '--yes');
  assert.is(st.status, 0, st.stderr);
  assert.ok(fs.existsSync(path.join(dir, 'checkpoints/tiny/model.safetensors')));
  const bad = run('--model_name', 'ghost');
  assert.is(bad.status, 1);
  assert.is(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /^error: no checkpoint for model ghost at checkpoints\/ghost \(looked for config\.json \+ model\.pt, latest\.pt, final\.pt/);
  const fmt = run('--all', '--format', 'onnx');
  assert.is(fmt.status, 1);
  assert.match(fmt.stderr, /^error: --format onnx: expected pt or safetensors\n$/);
  fs.rmSync(dir, { recursive: true });
});

test.run();
