// Env-var (section 4) files: reading PyTorch-made fixtures, writing our own, and PyTorch reading ours back.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { readEnvCheckpoint, writeEnvCheckpoint, ENV_KEYS } = require('../lib/formats/lecture/envvar');
const { readCheckpoint } = require('../lib/formats/separated/read');
const { loadTorch } = require('../lib/formats/torch');
const { pyCheck, maxRelErr } = require('./envckpt-pycheck');

const FIX = path.join(__dirname, 'fixtures', 'envckpt');
const F4 = path.join(FIX, 'checkpoint_from_scratch_tiny_text_step0002_11232026_054500.pt');
const F6 = path.join(FIX, 'checkpoint_from_scratch_tiny_text_step000004_11232026_054512.pt');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'envckpt-'));

test('reads the env-var trainer\'s files (4- and 6-digit step names), vocabulary from tokenizer.json beside', async () => {
  for (const [file, step] of [[F4, 2], [F6, 4]]) {
    const d = await readEnvCheckpoint(file);
    assert.is(d.step, step);
    assert.equal(
      { V: d.config.vocab_size, T: d.config.block_size, C: d.config.n_embd, H: d.config.n_head, L: d.config.n_layer },
      { V: 20, T: 8, C: 8, H: 2, L: 2 });
    assert.is(d.config.attn_scale, 'embd');
    assert.is(d.config.qkv_bias, false);
    assert.is(d.batchSize, 4);
    assert.is(d.optimizer.step, step);
    assert.ok(Math.abs(d.optimizer.hyper.lr - 0.003) < 1e-4);
    assert.is(d.tokenizerSource, path.join(FIX, 'tokenizer.json'));
    assert.is(d.tokenizer.token_kind, 'char');
    assert.is(d.tokenizer.chars.length, 20);
    assert.is(d.hyperparameters.model_type, 'from_scratch');
    // the canonical tensors hold the file's values: the final LayerNorm comes from blocks.2
    const raw = await loadTorch(file);
    const lnw = raw.get('model_state_dict').get('blocks.2.weight').toFloat32();
    assert.equal(Array.from(d.params['lnf.weight'].data), Array.from(lnw));
    const head0key = raw.get('model_state_dict').get('blocks.0.sa.heads.0.key.weight').toFloat32();
    // canonical qkv rows: q (C rows), then k (C rows); head 0's key = rows C..C+hs-1
    assert.equal(Array.from(d.params['h.0.attn.qkv.weight'].data.subarray(8 * 8, 8 * 8 + 4 * 8)), Array.from(head0key));
  }
});

test('writes the section 4 dict (+ tokenizer); PyTorch loads it weights-only and computes the same logits', async () => {
  const d = await readEnvCheckpoint(F6);
  const dir = tmp();
  const file = await writeEnvCheckpoint(dir, d, { modelType: 'from_scratch', source: 'tiny text', time: new Date(2026, 10, 23, 5, 45, 12) });
  assert.is(path.basename(file), 'checkpoint_from_scratch_tiny_text_step000004_11232026_054512.pt');
  const back = await loadTorch(file);
  assert.equal([...back.keys()].slice(0, 7), ENV_KEYS);
  assert.equal(back.get('tokenizer').get('chars'), d.tokenizer.chars);
  // round trip: every tensor and moment equal
  const again = await readEnvCheckpoint(file);
  assert.is(again.tokenizerSource, file, 'the vocabulary now comes from the file itself');
  for (const [k, t] of Object.entries(d.params)) assert.equal(Array.from(again.params[k].data), Array.from(t.data), k);
  for (const k of Object.keys(d.params)) {
    assert.equal(Array.from(again.optimizer.exp_avg[k].data), Array.from(d.optimizer.exp_avg[k].data), `exp_avg ${k}`);
    assert.equal(Array.from(again.optimizer.exp_avg_sq[k].data), Array.from(d.optimizer.exp_avg_sq[k].data), `exp_avg_sq ${k}`);
  }
  assert.is(again.optimizer.step, 4);
  // key order of the state_dict is the original's, tril buffers included
  const orig = await loadTorch(F6);
  assert.equal([...back.get('model_state_dict').keys()], [...orig.get('model_state_dict').keys()]);
  const py = pyCheck([file]);
  if (py) {
    const r = py[0];
    assert.not.ok(r.error, r.error);
    assert.is(r.kind, 'envvar');
    assert.is(r.layout, 'envvar');
    assert.is(r.step, 4);
    assert.is(r.optimizer_step, 4);
    assert.equal(r.tokenizer.chars, d.tokenizer.chars);
    const err = maxRelErr(r.logits, expected.logits[path.basename(F6)]);
    assert.ok(err < 1e-6, `logits rel err ${err}`);
  }
});

test('a MyPT-architecture model (head_size^-0.5) is written with MyPT names and reloads with its scale', async () => {
  const src = await readCheckpoint(path.join(FIX, 'unified.pt'));
  const dir = tmp();
  const file = await writeEnvCheckpoint(dir, src.data, { modelType: 'from_scratch', source: 'x' });
  const back = await loadTorch(file);
  assert.ok(back.get('model_state_dict').has('blocks.0.fwd.net.0.weight'));
  assert.is(back.get('hyperparameters').get('attn_scale'), 'head');
  const again = await readEnvCheckpoint(file);
  assert.is(again.config.attn_scale, 'head');
  for (const [k, t] of Object.entries(src.data.params)) assert.equal(Array.from(again.params[k].data), Array.from(t.data), k);
  const py = pyCheck([file]);
  if (py) {
    assert.not.ok(py[0].error, py[0].error);
    assert.is(py[0].layout, 'mypt');
    const err = maxRelErr(py[0].logits, expected.logits['unified.pt']);
    assert.ok(err < 1e-6, `logits rel err ${err}`);
  }
});

test('model-only env-var file: optimizer_state_dict is None; inference warns, resume refuses', async () => {
  const d = await readEnvCheckpoint(F6);
  const dir = tmp();
  const file = await writeEnvCheckpoint(dir, { ...d, optimizer: null }, { modelType: 'from_scratch', source: 's' });
  const back = await loadTorch(file);
  assert.is(back.get('optimizer_state_dict'), null);
  const warnings = [];
  const r = await readCheckpoint(file, { onWarning: (m) => warnings.push(m) });
  assert.is(r.data.optimizer, null);
  assert.is(warnings.length, 1);
  assert.match(warnings[0], /continuing with model-only checkpoint/);
  try {
    await readCheckpoint(file, { purpose: 'resume' });
    assert.unreachable();
  } catch (e) {
    assert.is(e.name, 'MyptError');
    assert.match(e.message, /cannot resume from .*no optimizer state/);
  }
});

test.run();
