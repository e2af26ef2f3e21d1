// Separated / unified / model-only files (FORMATS.md section 5): paths, reading PyTorch-made fixtures,
// writing ours (PyTorch loads them weights-only: exact keys, same logits), listing and selection.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const sep = require('../lib/formats/separated/separated');
const { readCheckpoint } = require('../lib/formats/separated/read');
const { listCheckpoints, selectCheckpoint } = require('../lib/use-cases/list/list');
const { loadTorch } = require('../lib/formats/torch');
const { pyCheck, maxRelErr } = require('./envckpt-pycheck');

const FIX = path.join(__dirname, 'fixtures', 'envckpt');
const SEP = path.join(FIX, 'separated');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sepckpt-'));

test('names: step labels, base names, pair lookup from either file or the base', () => {
  assert.is(sep.stepLabel(500), 'step000500');
  assert.is(sep.stepLabel('final'), 'final');
  assert.is(sep.separatedBase('d', 'run', 12), path.join('d', 'run-step000012'));
  assert.equal(sep.parseSeparatedName('x/run-a-step000012-optimizer.pt'), { prefix: 'run-a', step: 12, part: 'optimizer' });
  assert.equal(sep.parseSeparatedName('checkpoint-final-model.pt'), { prefix: 'checkpoint', step: 'final', part: 'model' });
  assert.is(sep.parseSeparatedName('unified.pt'), null);
  assert.ok(sep.isSaveStep(500, 250));
  assert.not.ok(sep.isSaveStep(0, 250));
  assert.not.ok(sep.isSaveStep(499, 250));
  const base = path.join(SEP, 'checkpoint-step000004');
  for (const p of [base, base + '.pt', base + '-model.pt', base + '-optimizer.pt']) {
    const r = sep.resolveCheckpointPaths(p);
    assert.equal(r, { kind: 'separated', base, model: base + '-model.pt', optimizer: base + '-optimizer.pt', hasOptimizer: true }, p);
  }
  const lone = path.join(SEP, 'checkpoint-step000002');
  assert.is(sep.resolveCheckpointPaths(lone + '-model.pt').hasOptimizer, false);
  assert.equal(sep.resolveCheckpointPaths(path.join(FIX, 'unified.pt')), { kind: 'single', file: path.join(FIX, 'unified.pt') });
  assert.throws(() => sep.resolveCheckpointPaths(path.join(SEP, 'nothing')), /no checkpoint there \(looked for/);
});

test('reads a PyTorch-made separated pair: step, epoch, optimizer, scheduler, tokenizer, val loss', async () => {
  const r = await readCheckpoint(path.join(SEP, 'checkpoint-step000004-optimizer.pt'));
  assert.is(r.format, 'separated');
  assert.is(r.data.step, 4);
  assert.is(r.data.epoch, 0);
  assert.is(r.data.optimizer.step, 4);
  assert.is(r.optimizerStates.length, 1);
  assert.is(r.lrSchedulerStates.length, 1);
  assert.is(r.lrSchedulerStates[0].get('T_max'), 100);
  assert.is(r.data.valLoss, 2.25);
  assert.is(r.data.tokenizer.chars.length, 20);
  assert.equal({ L: r.data.config.n_layer, H: r.data.config.n_head, scale: r.data.config.attn_scale }, { L: 1, H: 2, scale: 'head' });
});

test('a model file without its optimizer file: warning for inference, error with the reason for resuming', async () => {
  const warnings = [];
  const p = path.join(SEP, 'checkpoint-step000002');
  const r = await readCheckpoint(p, { onWarning: (m) => warnings.push(m) });
  assert.is(r.format, 'model-only');
  assert.is(r.data.optimizer, null);
  assert.is(warnings.length, 1);
  assert.match(warnings[0], /optimizer file .*checkpoint-step000002-optimizer\.pt is missing; continuing with model-only checkpoint/);
  const quiet = [];
  await readCheckpoint(p, { loadOptimizer: false, onWarning: (m) => quiet.push(m) });
  assert.is(quiet.length, 0, 'no warning when the optimizer is not wanted');
  try {
    await readCheckpoint(p, { purpose: 'resume' });
    assert.unreachable();
  } catch (e) {
    assert.is(e.code, 'E_NO_CHECKPOINT');
    assert.match(e.message, /^cannot resume from .*checkpoint-step000002: its optimizer file .* is missing; AdamW's moments/);
  }
});

test('reads unified files: ours and nanoGPT-style container keys', async () => {
  const u = await readCheckpoint(path.join(FIX, 'unified.pt'));
  assert.is(u.format, 'unified');
  assert.is(u.data.step, 3);
  assert.is(u.data.optimizer.step, 3);
  assert.is(u.lrSchedulerStates.length, 1);
  const n = await readCheckpoint(path.join(FIX, 'unified_nanogpt_keys.pt'));
  assert.is(n.data.step, 3, 'iter_num');
  assert.ok(Math.abs(n.data.valLoss - 2.4) < 1e-6, 'best_val_loss (a 0-dim tensor)');
  assert.is(n.data.tokenizer.token_kind, 'char');
  for (const [k, t] of Object.entries(u.data.params)) assert.equal(Array.from(n.data.params[k].data), Array.from(t.data), k);
});

test('writes separated / model-only / unified with the exact dicts; PyTorch loads them and gets the same logits', async () => {
  const src = (await readCheckpoint(path.join(SEP, 'checkpoint-step000004'))).data;
  const dir = tmp();
  const files = await sep.writeSeparated(sep.separatedBase(dir, 'run', 4), src);
  assert.equal(files.map((f) => path.basename(f)), ['run-step000004-model.pt', 'run-step000004-optimizer.pt']);
  const m = await loadTorch(files[0]);
  assert.equal([...m.keys()], sep.MODEL_FILE_KEYS);
  const o = await loadTorch(files[1]);
  assert.equal([...o.keys()], sep.OPTIMIZER_FILE_KEYS);
  const orig = await loadTorch(path.join(SEP, 'checkpoint-step000004-model.pt'));
  assert.equal([...m.get('model_state_dict').keys()], [...orig.get('model_state_dict').keys()], 'MyPT order with tril buffers');
  const only = await sep.writeSeparated(sep.separatedBase(dir, 'run', 'final'), src, { modelOnly: true });
  assert.equal(only.map((f) => path.basename(f)), ['run-final-model.pt']);
  const uni = await sep.writeUnified(path.join(dir, 'u.pt'), src);
  assert.equal([...(await loadTorch(uni)).keys()], sep.UNIFIED_KEYS);
  // round trip
  const back = (await readCheckpoint(sep.separatedBase(dir, 'run', 4))).data;
  assert.is(back.step, 4);
  assert.is(back.valLoss, 2.25);
  for (const k of Object.keys(src.params)) {
    assert.equal(Array.from(back.params[k].data), Array.from(src.params[k].data), k);
    assert.equal(Array.from(back.optimizer.exp_avg_sq[k].data), Array.from(src.optimizer.exp_avg_sq[k].data), k);
  }
  const py = pyCheck([...files, only[0], uni]);
  if (py) {
    for (const r of py) assert.not.ok(r.error, r.error);
    const want = expected.logits['separated/checkpoint-step000004-model.pt'];
    assert.is(py[0].kind, 'separated-model');
    assert.ok(maxRelErr(py[0].logits, want) < 1e-6);
    assert.is(py[1].kind, 'separated-optimizer');
    assert.equal(py[1].optimizer_steps, [4]);
    assert.equal(py[1].param_counts, [22]);
    assert.is(py[2].kind, 'separated-model');
    assert.is(py[3].kind, 'unified');
    assert.is(py[3].optimizer_step, 4);
    assert.ok(maxRelErr(py[3].logits, want) < 1e-6);
  }
});

test('list and select: latest = highest step with final last, best = lowest val loss, never prompts', async () => {
  const all = await listCheckpoints(SEP);
  assert.equal(all.map((e) => [e.name, e.format, e.step, e.final, e.valLoss, e.optimizer]), [
    ['checkpoint-step000002', 'model-only', 2, false, 2.75, false],
    ['checkpoint-step000004', 'separated', 4, false, 2.25, true],
    ['checkpoint-final', 'separated', 6, true, 2.5, true],
  ]);
  const s4 = fs.statSync(path.join(SEP, 'checkpoint-step000004-model.pt')).size + fs.statSync(path.join(SEP, 'checkpoint-step000004-optimizer.pt')).size;
  assert.is(all[1].size, s4);
  assert.is((await selectCheckpoint(SEP, 'latest')).name, 'checkpoint-final');
  assert.is((await selectCheckpoint(SEP, 'best')).name, 'checkpoint-step000004');
  const top = await listCheckpoints(FIX);
  assert.equal(top.map((e) => [e.name, e.format, e.step]), [
    ['checkpoint_from_scratch_tiny_text_step0002_11232026_054500.pt', 'envvar', 2],
    ['unified.pt', 'unified', 3],
    ['unified_nanogpt_keys.pt', 'unified', 3],
    ['checkpoint_from_scratch_tiny_text_step000004_11232026_054512.pt', 'envvar', 4],
  ]);
  try { await selectCheckpoint(SEP, 'newest'); assert.unreachable(); } catch (e) { assert.match(e.message, /accepted values are latest, best/); }
  const empty = tmp();
  try { await selectCheckpoint(empty, 'latest'); assert.unreachable(); } catch (e) { assert.is(e.code, 'E_NO_CHECKPOINT'); }
  // other trainers' folders: nanoGPT's out-*/ckpt.pt and MyPT's legacy latest.pt / final.pt
  const foreign = path.join(__dirname, 'fixtures', 'foreign');
  const nano = await listCheckpoints(path.join(foreign, 'nanogpt'));
  assert.equal(nano.map((e) => [e.name, e.format, e.step, e.optimizer]), [
    ['out-plain/ckpt.pt', 'nanogpt', 3, true], ['out-shakespeare-char/ckpt.pt', 'nanogpt', 3, true],
  ]);
  const legacy = await listCheckpoints(path.join(foreign, 'mypt_legacy', 'checkpoints'));
  assert.equal(legacy.map((e) => [e.name, e.format, e.final]), [['tiny/latest.pt', 'mypt-legacy', false], ['tiny/final.pt', 'mypt-legacy', true]]);
  // a dangling link beside real checkpoints is passed over, not a crash
  const linked = tmp();
  fs.copyFileSync(path.join(FIX, 'unified.pt'), path.join(linked, 'unified.pt'));
  fs.symlinkSync(path.join(linked, 'gone.pt'), path.join(linked, 'dangling.pt'));
  assert.equal((await listCheckpoints(linked)).map((e) => e.name), ['unified.pt']);
});

test('the checkpoint registry (detect.ts) reads separated, model-only and unified files, and a pair by its base name', () => {
  const { detectCheckpointSync, formatOf } = require('../lib/formats/detect');
  const base = path.join(SEP, 'checkpoint-step000004');
  const d = detectCheckpointSync(base, { optimizer: true });
  assert.is(d.format, 'separated');
  assert.is(d.path, base + '-model.pt');
  assert.is(d.step, 4);
  assert.ok(d.hasOptimizer);
  assert.is(d.optimizer.step, 4);
  assert.is(d.tokenizer.chars.length, 20);
  assert.is(d.extra.files.length, 2);
  assert.is(formatOf(path.join(SEP, 'checkpoint-step000002-model.pt')).format, 'model-only');
  const u = detectCheckpointSync(path.join(FIX, 'unified.pt'));
  assert.is(u.format, 'unified');
  assert.is(u.step, 3);
  assert.equal(Object.keys(u.params), Object.keys(d.params));
});

test('public API: loadCheckpoint (one shape for all), loadModelOnly, getModelStateDict, hasOptimizerState', async () => {
  const api = require('../lib');
  const c = await api.loadCheckpoint(path.join(SEP, 'checkpoint-step000004'), { device: 'cpu' });
  assert.equal(Object.keys(c).slice(0, 6), ['model', 'config', 'global_step', 'optimizer_states', 'lr_scheduler_states', 'epoch']);
  assert.is(c.global_step, 4);
  assert.is(c.optimizer_states.length, 1);
  assert.is(c.lr_scheduler_states.length, 1);
  assert.is(c.model.getOptimizerState().step, 4, 'AdamW state restored into the model');
  c.model.dispose();
  const m = await api.loadModelOnly(path.join(FIX, 'unified.pt'), { device: 'cpu' });
  assert.is(m.optimizer_states.length, 0);
  assert.is(m.model.getOptimizerState().step, 0);
  m.model.dispose();
  const sd = await api.getModelStateDict(path.join(SEP, 'checkpoint-final-optimizer.pt'));
  assert.ok(sd.has('blocks.0.sa.heads.0.tril'));
  assert.ok(await api.hasOptimizerState(path.join(SEP, 'checkpoint-final')));
  assert.not.ok(await api.hasOptimizerState(path.join(SEP, 'checkpoint-step000002-model.pt')));
  assert.ok(await api.hasOptimizerState(path.join(FIX, 'unified.pt')));
  assert.ok(await api.hasOptimizerState(path.join(FIX, 'checkpoint_from_scratch_tiny_text_step0002_11232026_054500.pt')));
});

test.run();
