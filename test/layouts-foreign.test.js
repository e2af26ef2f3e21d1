// Layout mappings both ways against the state_dicts and optimizer state_dicts PyTorch saved in the fixtures:
// reading then writing gives the tool's own key order and bit-identical tensors; nanoGPT's two-group AdamW
// state comes back group for group; a written nanoGPT state_dict loads strictly in nanoGPT's own class.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { loadTorchSync, saveTorchSync } = require('../lib/formats/torch');
const { nanogptToCanonical, canonicalToNanogpt, nanogptOptimizerToCanonical, canonicalToNanogptOptimizer, stripPrefixes } = require('../lib/formats/layouts/nanogpt');
const { hfGpt2ToCanonical, canonicalToHfGpt2 } = require('../lib/formats/layouts/hf-gpt2');
const { lectureToCanonical, canonicalToLecture, lectureOptimizerToCanonical, canonicalToLectureOptimizer } = require('../lib/formats/layouts/lecture');
const { myptToCanonical, canonicalToMypt, myptOptimizerToCanonical, canonicalToMyptOptimizer } = require('../lib/formats/layouts/mypt');
const { canonicalToMyptFused } = require('../lib/formats/layouts/mypt-fused');
const { layoutOf, layoutForConfig, canonicalToStateDict, stateDictToCanonical } = require('../lib/formats/layouts');

const F = path.join(__dirname, 'fixtures/foreign');
const L = JSON.parse(fs.readFileSync(path.join(F, 'logits.json'), 'utf8'));
const torchOk = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

const f32 = (t) => (t.toFloat32 ? t.toFloat32() : t.data);
function sameTensor(a, b, what) {
  assert.equal(a.shape, b.shape, `${what} shape`);
  const x = f32(a), y = f32(b);
  assert.is(x.length, y.length, what);
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) assert.unreachable(`${what}[${i}] ${x[i]} vs ${y[i]}`);
}
const plainArgs = (m) => Object.fromEntries([...m].map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]));

function roundTripState(orig, back, what) {
  const so = orig.get('state'), sb = back.get('state');
  assert.equal([...sb.keys()].map(Number), [...so.keys()].map(Number), `${what}: state indices`);
  for (const [i, s] of so) {
    const t = sb.get(Number(i));
    assert.is(t.get('step').data[0], Number(f32(s.get('step'))[0]), `${what}: step ${i}`);
    sameTensor(t.get('exp_avg'), s.get('exp_avg'), `${what}: exp_avg ${i}`);
    sameTensor(t.get('exp_avg_sq'), s.get('exp_avg_sq'), `${what}: exp_avg_sq ${i}`);
  }
}

test('nanoGPT (compiled): _orig_mod. stripped; written back in nanoGPT order with lm_head the very wte tensor', () => {
  const ck = loadTorchSync(path.join(F, 'nanogpt/out-shakespeare-char/ckpt.pt'));
  const sd = ck.get('model');
  assert.ok([...sd.keys()].every((k) => k.startsWith('_orig_mod.')));
  const { config, params } = nanogptToCanonical(sd, plainArgs(ck.get('model_args')));
  assert.is(layoutOf(sd), 'nanogpt');
  const back = canonicalToNanogpt(params, config);
  const orig = stripPrefixes(sd);
  assert.equal([...back.keys()], [...orig.keys()]);
  for (const [k, t] of orig) sameTensor(back.get(k), t, k);
  assert.is(back.get('lm_head.weight'), back.get('transformer.wte.weight'), 'tied: one tensor object, saved as one storage');
  assert.is(orig.get('lm_head.weight').storageKey, orig.get('transformer.wte.weight').storageKey, 'the fixture shares the storage too');
});

test('nanoGPT optimizer: two groups (decay >= 2-D, then weight_decay 0) round trip by name, group for group', () => {
  const ck = loadTorchSync(path.join(F, 'nanogpt/out-plain/ckpt.pt'));
  const { config } = nanogptToCanonical(ck.get('model'), plainArgs(ck.get('model_args')));
  const o = ck.get('optimizer');
  const canon = nanogptOptimizerToCanonical(o, config);
  const back = canonicalToNanogptOptimizer(canon, config, canon.hyper);
  const go = o.get('param_groups'), gb = back.get('param_groups');
  assert.is(gb.length, 2);
  for (let g = 0; g < 2; g++) {
    assert.equal(gb[g].get('params'), go[g].get('params').map(Number), `group ${g} params`);
    assert.is(Number(gb[g].get('weight_decay')), Number(go[g].get('weight_decay')), `group ${g} weight_decay`);
    assert.is([...gb[g].keys()][0], 'weight_decay', 'the key nanoGPT passes comes first, as torch lays it out');
  }
  assert.is(Number(gb[1].get('weight_decay')), 0);
  roundTripState(o, back, 'nanoGPT');
  // plain run (torch < 2 path) has attn.bias mask buffers: ignored on reading, not written
  const orig = ck.get('model');
  assert.ok(orig.has('transformer.h.0.attn.bias'));
  const written = canonicalToNanogpt(nanogptToCanonical(orig, plainArgs(ck.get('model_args'))).params, config);
  assert.equal([...written.keys()], [...orig.keys()].filter((k) => !/\.attn\.bias$/.test(k)));
});

test('a written nanoGPT state_dict loads strictly in nanoGPT\'s own class and gives its logits', () => {
  if (!torchOk) return console.log('  (skipped: no torch)');
  const ck = loadTorchSync(path.join(F, 'nanogpt/out-shakespeare-char/ckpt.pt'));
  const args = plainArgs(ck.get('model_args'));
  const { config, params } = nanogptToCanonical(ck.get('model'), args);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-nano-')), 'model.pt');
  saveTorchSync(file, canonicalToNanogpt(params, config));
  const py = `
import importlib.util, json, sys, torch
spec = importlib.util.spec_from_file_location('fx', ${JSON.stringify(path.join(F, '..', 'make_foreign_checkpoints.py'))})
fx = importlib.util.module_from_spec(spec); spec.loader.exec_module(fx)
sd = torch.load(sys.argv[1])
assert sd['lm_head.weight'].data_ptr() == sd['transformer.wte.weight'].data_ptr(), 'tied storage'
m = fx.NanoGPT(fx.NanoConfig(**json.loads(sys.argv[2])), flash=True)
m.load_state_dict(sd, strict=True)
print(json.dumps(fx.logits_of(m)['logits']))`;
  const p = spawnSync('/usr/bin/python3', ['-c', py, file, JSON.stringify(args)], { encoding: 'utf8' });
  assert.is(p.status, 0, p.stderr);
  const got = JSON.parse(p.stdout), ref = L['nanogpt/out-shakespeare-char'].logits;
  got.forEach((x, i) => assert.ok(Math.abs(x - ref[i]) <= 1e-6 * (1 + Math.abs(ref[i])), `logit ${i}`));
});

test('HF GPT-2: Conv1D weights transposed exactly; written back without mask buffers or the tied lm_head', () => {
  const sd = loadTorchSync(path.join(F, 'hf_gpt2/pytorch_model.bin'));
  const hints = JSON.parse(fs.readFileSync(path.join(F, 'hf_gpt2/config.json'), 'utf8'));
  const { config, params } = hfGpt2ToCanonical(sd, hints);
  const C = 8;
  const stored = f32(sd.get('transformer.h.1.mlp.c_fc.weight')); // [C, 4C]
  const fc = params['h.1.mlp.fc.weight'].data; // [4C, C]
  for (let o = 0; o < 4 * C; o++) for (let i = 0; i < C; i++) assert.is(fc[o * C + i], stored[i * 4 * C + o]);
  const back = canonicalToHfGpt2(params, config);
  const expect = [...sd.keys()].filter((k) => !/\.attn\.(bias|masked_bias)$/.test(k) && k !== 'lm_head.weight');
  assert.equal([...back.keys()], expect);
  for (const k of expect) sameTensor(back.get(k), sd.get(k), k);
  assert.throws(() => hfGpt2ToCanonical(sd, { ...hints, n_embd: 16 }), /config\.json says n_embd=16 but the weights have 8/);
});

test('lecture trainer: its exact state_dict order (tril before key, ffwd, blocks.{L}) and AdamW state round trip', () => {
  const ck = loadTorchSync(path.join(F, 'lecture/checkpoints/checkpoint_bigram_input_step000500_11232026_054500.pt'));
  const sd = ck.get('model_state_dict');
  assert.is(layoutOf(sd), 'lecture');
  const { config, params } = lectureToCanonical(sd, plainArgs(ck.get('hyperparameters')));
  assert.ok(sd.has(`blocks.${config.n_layer}.weight`));
  const back = canonicalToLecture(params, config);
  assert.equal([...back.keys()], [...sd.keys()]);
  for (const [k, t] of sd) sameTensor(back.get(k), t, k);
  const o = ck.get('optimizer_state_dict');
  roundTripState(o, canonicalToLectureOptimizer(lectureOptimizerToCanonical(o, config), config), 'lecture');
  assert.throws(() => canonicalToLecture(params, { ...config, attn_scale: 'head' }), /scales by n_embd\^-0\.5/);
});

test('MyPT legacy file: written back in its exact order with every tril; AdamW state round trip', () => {
  const ck = loadTorchSync(path.join(F, 'mypt_legacy/checkpoints/tiny/latest.pt'));
  const sd = ck.get('model_state_dict');
  const { config, params } = myptToCanonical(sd, plainArgs(ck.get('config')));
  const back = canonicalToMypt(params, config);
  assert.equal([...back.keys()], [...sd.keys()]);
  for (const [k, t] of sd) sameTensor(back.get(k), t, k);
  const o = ck.get('optimizer_state_dict');
  roundTripState(o, canonicalToMyptOptimizer(myptOptimizerToCanonical(o, config), config), 'MyPT');
});

test('later MyPT (fused, bf16 in a wrapper): read, and written back by name in the fused names', () => {
  const w = loadTorchSync(path.join(F, 'mypt_fused/checkpoints/fused/model.pt'));
  assert.is(w.get('checkpoint_dtype'), 'bf16');
  const sd = w.get('state_dict');
  assert.is(sd.get('blocks.0.sa.qkv.weight').dtype, 'bfloat16');
  const { config, params } = stateDictToCanonical(sd, { n_head: 2 });
  assert.is(layoutForConfig(config), 'mypt-fused');
  const back = canonicalToMyptFused(params, config);
  assert.equal(new Set(back.keys()), new Set(sd.keys()));
  for (const [k, t] of sd) sameTensor(back.get(k), { shape: t.shape, data: t.toFloat32() }, k);
  assert.throws(() => stateDictToCanonical(sd, {}), /n_head is not recorded in the config and cannot be read from the weights/);
});

test('layoutForConfig/canonicalToStateDict pick the writer by architecture', () => {
  const base = { vocab_size: 5, block_size: 4, n_layer: 1, n_head: 1, n_embd: 4 };
  assert.is(layoutForConfig({ ...base, arch: 'mypt', activation: 'relu' }), 'mypt');
  assert.is(layoutForConfig({ ...base, arch: 'mypt', activation: 'relu', attn_scale: 'embd' }), 'lecture');
  assert.is(layoutForConfig({ ...base, arch: 'mypt', activation: 'gelu' }), 'mypt-fused');
  assert.is(layoutForConfig({ ...base, arch: 'gpt2', activation: 'gelu', tied_head: true, head_bias: false }), 'nanogpt');
  const ck = loadTorchSync(path.join(F, 'hf_gpt2/pytorch_model.bin'));
  assert.throws(() => hfGpt2ToCanonical(ck, {}), /n_head unknown for n_embd 8 \(put the model's config\.json \(with n_head\) beside the weights\)/);
  const { config, params } = hfGpt2ToCanonical(ck, { n_head: 2 });
  assert.ok(canonicalToStateDict(params, config).has('transformer.h.0.attn.c_attn.weight'));
});

test.run();
