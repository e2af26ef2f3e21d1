// Foreign checkpoints made by PyTorch (test/fixtures/make_foreign_checkpoints.py, each tool's own model class
// and save dict) load through the registry and give PyTorch's logits on the CPU engine; those holding
// optimizer state resume: one AdamW step here lands on the logits PyTorch's resumed step gives.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { detectCheckpointSync, resolveCheckpoint, formatOf } = require('../lib/formats/detect');
const { saveTorchSync, PyDict } = require('../lib/formats/torch');

const F = path.join(__dirname, 'fixtures/foreign');
const L = JSON.parse(fs.readFileSync(path.join(F, 'logits.json'), 'utf8'));

let createModel;
let noEngine;
try {
  ({ createModel } = require('../lib/model/gpt'));
  createModel({ vocab_size: 2, block_size: 2, n_layer: 1, n_head: 1, n_embd: 2 }).dispose();
} catch (e) {
  noEngine = `the CPU engine is not available (${e.message.split('\n')[0]})`;
  console.log(`skipping logits checks: ${noEngine}`);
}

const rel = (a, b) => {
  let n = 0, d = 0;
  for (let i = 0; i < b.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  return Math.sqrt(n / d);
};
function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-formats-'));
}

async function logitsOf(d, tokens) {
  const m = createModel({ ...d.config, dropout: 0, device: 'cpu' });
  try {
    m.setParameters(d.params);
    return (await m.forward(tokens)).logits;
  } finally {
    m.dispose();
  }
}

const SOURCES = [
  // [logits key, target (file or folder), format, layout]
  ['mypt_legacy/latest.pt', 'mypt_legacy/checkpoints/tiny', 'mypt-legacy', 'mypt'],
  ['mypt_legacy/final.pt', 'mypt_legacy/checkpoints/tiny/final.pt', 'mypt-legacy', 'mypt'],
  ['mypt_fused', 'mypt_fused/checkpoints/fused', 'mypt-bundle', 'mypt-fused'],
  ['nanogpt/out-shakespeare-char', 'nanogpt/out-shakespeare-char/ckpt.pt', 'nanogpt', 'nanogpt'],
  ['nanogpt/out-plain', 'nanogpt/out-plain', 'nanogpt', 'nanogpt'],
  ['hf_gpt2', 'hf_gpt2/pytorch_model.bin', 'hf-gpt2', 'hf-gpt2'],
  ['hf_gpt2', 'hf_gpt2/model.safetensors', 'hf-gpt2', 'hf-gpt2'],
  ['lecture', 'lecture/checkpoints', 'envvar', 'lecture'],
];

for (const [key, target, format, layout] of SOURCES) {
  test(`${target}: detected as ${format}/${layout}; CPU logits equal PyTorch's (rel <= 1e-5)`, async () => {
    const d = detectCheckpointSync(path.join(F, target));
    assert.is(d.format, format);
    assert.is(d.layout, layout);
    const ref = L[key];
    assert.is(d.config.vocab_size, ref.shape[2]);
    if (noEngine) return;
    const r = rel(await logitsOf(d, ref.tokens), ref.logits);
    assert.ok(r <= 1e-5, `relative error ${r}`);
  });
}

for (const [key, target] of [
  ['mypt_legacy/final.pt', 'mypt_legacy/checkpoints/tiny/final.pt'],
  ['nanogpt/out-shakespeare-char', 'nanogpt/out-shakespeare-char/ckpt.pt'],
  ['nanogpt/out-plain', 'nanogpt/out-plain/ckpt.pt'],
  ['lecture', 'lecture/checkpoints/checkpoint_bigram_input_step000500_11232026_054500.pt'],
]) {
  test(`${target}: resume: restored AdamW moments + one step give PyTorch's resumed logits`, async () => {
    const d = detectCheckpointSync(path.join(F, target), { optimizer: true });
    assert.ok(d.hasOptimizer && d.optimizer, 'optimizer state read');
    assert.ok(d.optimizer.step > 0);
    if (noEngine) return;
    const ref = L[`${key}/resumed`];
    const m = createModel({ ...d.config, dropout: 0, device: 'cpu' });
    try {
      m.setParameters(d.params);
      m.setOptimizerState(d.optimizer);
      const h = d.optimizer.hyper;
      const loss = await m.trainStep({ tokens: ref.x, targets: ref.y, lr: h.lr, betas: h.betas, eps: h.eps, weight_decay: h.weight_decay });
      assert.ok(Math.abs(loss - ref.loss) <= 1e-5 * Math.abs(ref.loss), `loss ${loss} vs ${ref.loss}`);
      const r = rel((await m.forward(ref.tokens)).logits, ref.logits);
      assert.ok(r <= 1e-5, `relative error after the resumed step ${r}`);
    } finally {
      m.dispose();
    }
  });
}

test('MyPT legacy: config, char tokenizer and step from the file; latest.pt preferred over final.pt', () => {
  const d = detectCheckpointSync(path.join(F, 'mypt_legacy/checkpoints/tiny'));
  assert.is(d.path, path.join(F, 'mypt_legacy/checkpoints/tiny/latest.pt'));
  assert.is(d.step, 2);
  assert.equal(d.tokenizer, { token_kind: 'char', chars: L['mypt_legacy/chars'] });
  assert.is(d.config.bias, true);
  assert.is(d.config.dropout, 0.1);
  const byName = detectCheckpointSync('tiny', { checkpointsDir: path.join(F, 'mypt_legacy/checkpoints') });
  assert.is(byName.path, d.path);
});

test('detection order: bundle first, then latest.pt, then final.pt', () => {
  const dir = tmpdir();
  const legacy = path.join(F, 'mypt_legacy/checkpoints/tiny');
  fs.copyFileSync(path.join(legacy, 'final.pt'), path.join(dir, 'final.pt'));
  assert.is(resolveCheckpoint(dir).path, path.join(dir, 'final.pt'));
  assert.is(detectCheckpointSync(dir).step, 3);
  fs.copyFileSync(path.join(legacy, 'latest.pt'), path.join(dir, 'latest.pt'));
  assert.is(resolveCheckpoint(dir).path, path.join(dir, 'latest.pt'));
  const bundle = path.join(F, 'mypt_fused/checkpoints/fused');
  for (const f of fs.readdirSync(bundle)) fs.copyFileSync(path.join(bundle, f), path.join(dir, f));
  assert.equal(resolveCheckpoint(dir), { kind: 'bundle', path: dir });
  assert.is(detectCheckpointSync(dir).format, 'mypt-bundle');
  fs.rmSync(dir, { recursive: true });
});

test('later MyPT bundle: wrapped bf16 model.pt, fused qkv, GELU; the dtype record kept', () => {
  const d = detectCheckpointSync(path.join(F, 'mypt_fused/checkpoints/fused'));
  assert.is(d.config.activation, 'gelu');
  assert.is(d.config.arch, 'mypt');
  assert.is(d.extra.checkpoint_dtype, 'bf16');
  assert.is(d.extra.model_dtype, 'float32');
  assert.equal(d.tokenizer.chars, [...'abcdefgh\n']);
});

test('nanoGPT: _orig_mod. stripped, tied head, model_args, iter_num, tensor best_val_loss, meta.pkl vocabulary', () => {
  const d = detectCheckpointSync(path.join(F, 'nanogpt/out-shakespeare-char/ckpt.pt'));
  assert.is(d.config.tied_head, true);
  assert.is(d.config.head_bias, false);
  assert.is(d.config.activation, 'gelu');
  assert.is(d.config.bias, false);
  assert.not.ok('head.weight' in d.params);
  assert.is(d.step, 3);
  assert.is(d.extra.best_val_loss, 2.5);
  assert.is(d.extra.model_args.n_head, 2);
  assert.equal(d.tokenizer, { token_kind: 'char', chars: L['nanogpt/chars'] });
  assert.match(d.tokenizerSource, /data[/\\]shakespeare_char[/\\]meta\.pkl/);
  const plain = detectCheckpointSync(path.join(F, 'nanogpt/out-plain'));
  assert.is(plain.config.bias, true);
  assert.is(plain.tokenizer, undefined);
  assert.match(plain.tokenizerProblem, /no meta\.pkl with the character vocabulary \(looked at .*meta\.pkl/);
});

test('nanoGPT optimizer: two groups mapped by name (decay = matrices), both moments per canonical name', () => {
  const d = detectCheckpointSync(path.join(F, 'nanogpt/out-plain'), { optimizer: true });
  const o = d.optimizer;
  assert.is(o.step, 3);
  assert.equal(o.hyper, { lr: 1e-3, betas: [0.9, 0.99], eps: 1e-8, weight_decay: 0.1 });
  // every canonical tensor got its moments (none left zero after 3 steps with gradients everywhere)
  for (const [name, t] of Object.entries(o.exp_avg_sq)) assert.ok(t.data.some((x) => x > 0), `${name} has second moments`);
});

test('HF GPT-2: Conv1D weights transposed back; .bin (transformer. prefix, mask buffers) and .safetensors agree', () => {
  const a = detectCheckpointSync(path.join(F, 'hf_gpt2/pytorch_model.bin'));
  const b = detectCheckpointSync(path.join(F, 'hf_gpt2/model.safetensors'));
  assert.equal(a.config, b.config);
  assert.is(a.config.activation, 'gelu_tanh');
  assert.equal(a.tokenizer, { token_kind: 'gpt2', chars: null });
  assert.equal(a.params['h.1.attn.qkv.weight'].shape, [24, 8]);
  for (const k of Object.keys(a.params)) assert.equal([...a.params[k].data], [...b.params[k].data], k);
  assert.is(formatOf(path.join(F, 'hf_gpt2/pytorch_model.bin')).format, 'hf-gpt2');
});

test('lecture trainer: n_embd^-0.5 scale, ffwd and blocks.{L} names; vocabulary sources and the message when none exists', () => {
  const file = path.join(F, 'lecture/checkpoints/checkpoint_bigram_input_step000500_11232026_054500.pt');
  const d = detectCheckpointSync(file);
  assert.is(d.config.attn_scale, 'embd');
  assert.is(d.step, 500);
  assert.equal(d.tokenizer.chars, L['lecture/chars']);
  assert.match(d.tokenizerSource, /hyperparameters\.training_data_source/);
  const dir = tmpdir();
  const alone = path.join(dir, path.basename(file));
  fs.copyFileSync(file, alone);
  const none = detectCheckpointSync(alone);
  assert.is(none.tokenizer, undefined);
  assert.match(none.tokenizerProblem, /does not store its character vocabulary; pass --input_file <the training text> or put a tokenizer\.json beside the file/);
  const viaInput = detectCheckpointSync(alone, { inputFile: path.join(F, 'lecture/input.txt') });
  assert.equal(viaInput.tokenizer.chars, L['lecture/chars']);
  assert.match(viaInput.tokenizerSource, /--input_file/);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ token_kind: 'char', chars: L['lecture/chars'] }));
  assert.equal(detectCheckpointSync(alone).tokenizer.chars, L['lecture/chars']);
  fs.writeFileSync(path.join(dir, 'short.txt'), 'abc');
  assert.throws(() => detectCheckpointSync(alone, { inputFile: path.join(dir, 'short.txt') }), /gives 3 characters but the model's vocab_size is 19/);
  fs.rmSync(dir, { recursive: true });
});

test('a folder or model name with nothing recognisable: no checkpoint for model X at DIR (looked for ...)', () => {
  const dir = tmpdir();
  fs.mkdirSync(path.join(dir, 'empty'));
  fs.writeFileSync(path.join(dir, 'empty', 'notes.txt'), 'hi');
  assert.throws(
    () => detectCheckpointSync('empty', { checkpointsDir: dir }),
    (e) => e.code === 'E_NO_CHECKPOINT' && e.message.startsWith(`no checkpoint for model empty at ${path.join(dir, 'empty')} (looked for config.json + model.pt, latest.pt, final.pt`),
  );
  assert.throws(() => detectCheckpointSync('nosuch', { checkpointsDir: dir }), /no checkpoint for model nosuch at .*nosuch \(looked for/);
  assert.not.ok(fs.existsSync(path.join(dir, 'nosuch')), 'looking a model up creates nothing');
  // a path, not a model name, is named as missing
  const missing = path.join(dir, 'gone', 'ckpt.pt');
  assert.throws(() => detectCheckpointSync(missing, { checkpointsDir: dir }), (e) => e.code === 'E_NO_CHECKPOINT' && e.message === `${missing}: no such file or folder`);
  fs.rmSync(dir, { recursive: true });
});

test('a .pt whose keys fit no layout: the message names keys found and the layouts known', () => {
  const dir = tmpdir();
  const file = path.join(dir, 'odd.pt');
  const t = (n) => ({ dtype: 'float32', shape: [n], data: new Float32Array(n) });
  saveTorchSync(file, new PyDict([['encoder.layers.0.self_attn.in_proj_weight', t(4)], ['encoder.layers.0.linear1.weight', t(2)], ['decoder.weight', t(3)]]));
  assert.throws(() => detectCheckpointSync(file), (e) =>
    e.code === 'E_UNSUPPORTED' &&
    /odd\.pt: the keys fit no known checkpoint layout \(found encoder\.layers\.0\.self_attn\.in_proj_weight, encoder\.layers\.0\.linear1\.weight, decoder\.weight\)/.test(e.message) &&
    ['known layouts: MyPT', 'later MyPT', 'nanoGPT', 'Hugging Face GPT-2', 'lecture trainer'].every((w) => e.message.includes(w)));
  const wrapped = path.join(dir, 'wrapped.pt');
  saveTorchSync(wrapped, new PyDict([['model_state_dict', new PyDict([['foo.weight', t(1)]])], ['epoch', 3]]));
  assert.throws(() => detectCheckpointSync(wrapped), /fit no known checkpoint layout \(found foo\.weight\)/);
  fs.rmSync(dir, { recursive: true });
});

test('other containers of a known state_dict: unified {model, optimizer, global_step, config}, separated model file, model.pt inside a bundle', async () => {
  const { loadTorchSync } = require('../lib/formats/torch');
  const dir = tmpdir();
  const legacy = loadTorchSync(path.join(F, 'mypt_legacy/checkpoints/tiny/latest.pt'));
  const unified = path.join(dir, 'unified.pt');
  saveTorchSync(unified, new PyDict([['model', legacy.get('model_state_dict')], ['optimizer', legacy.get('optimizer_state_dict')],
    ['global_step', 7], ['epoch', 0], ['config', legacy.get('config')], ['tokenizer', legacy.get('tokenizer')]]));
  const u = detectCheckpointSync(unified, { optimizer: true });
  assert.is(u.format, 'state-dict');
  assert.is(u.layout, 'mypt');
  assert.is(u.step, 7);
  assert.ok(u.hasOptimizer && u.optimizer.step === 2);
  assert.equal(u.tokenizer.chars, L['mypt_legacy/chars']);
  const sep = path.join(dir, 'checkpoint-step000007-model.pt');
  saveTorchSync(sep, new PyDict([['model_state_dict', legacy.get('model_state_dict')], ['global_step', 7], ['config', legacy.get('config')]]));
  const s2 = detectCheckpointSync(sep);
  assert.is(s2.step, 7);
  assert.match(s2.tokenizerProblem, /records no tokenizer and there is no tokenizer\.json beside it/);
  if (!noEngine) {
    const ref = L['mypt_legacy/latest.pt'];
    assert.ok(rel(await logitsOf(s2, ref.tokens), ref.logits) <= 1e-5);
  }
  const inBundle = path.join(F, 'mypt_fused/checkpoints/fused/model.pt');
  assert.equal(resolveCheckpoint(inBundle), { kind: 'bundle', path: path.dirname(inBundle) });
  fs.rmSync(dir, { recursive: true });
});

test('openCheckpoint: a runnable model + tokenizer from a nanoGPT file; resumable with optimizer: true; without a vocabulary it loads, and text generation says where it looked', async () => {
  if (noEngine) return;
  const { openCheckpoint } = require('../lib');
  const o = await openCheckpoint(path.join(F, 'nanogpt/out-shakespeare-char/ckpt.pt'), { optimizer: true, device: 'cpu' });
  try {
    assert.is(o.tokenizer.kind, 'char');
    assert.equal(o.tokenizer.encode('First'), [...'First'].map((c) => L['nanogpt/chars'].indexOf(c)));
    const ref = L['nanogpt/out-shakespeare-char'];
    assert.ok(rel((await o.model.forward(ref.tokens)).logits, ref.logits) <= 1e-5);
    assert.is(o.model.getOptimizerState().step, 3);
    assert.not.ok('params' in o.checkpoint);
  } finally {
    o.model.dispose();
  }
  const plain = await openCheckpoint(path.join(F, 'nanogpt/out-plain'), { device: 'cpu' });
  try {
    assert.is(plain.tokenizer, undefined);
    const ref = L['nanogpt/out-plain'];
    assert.ok(rel((await plain.model.forward(ref.tokens)).logits, ref.logits) <= 1e-5, 'forward needs no vocabulary');
    let err;
    try { await plain.model.generateText('hi', { max_new_tokens: 2 }); } catch (e) { err = e; }
    assert.is(err && err.code, 'E_TOKENIZER');
    assert.match(err.message, /no meta\.pkl with the character vocabulary/);
  } finally {
    plain.model.dispose();
  }
});

test('a modded-nanogpt file is named as such, not as unknown keys', () => {
  const file = path.join(__dirname, 'fixtures/modded/small.pt');
  if (!fs.existsSync(file)) return;
  assert.throws(() => detectCheckpointSync(file), /a modded-nanogpt small-layout checkpoint, which runs its own forward pass.*loadModdedModel\(\)/);
});

test.run();
