// The MyPT bundle: JSON files byte-identical to MyPT's Python, a bundle we write loads in PyTorch with
// MyPT's own class strictly (same logits), and saves survive crashes at every stage.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { loadBundle, saveBundle, findBundle, readBundleMeta } = require('../lib/formats/mypt/bundle');
const { configJsonText, tokenizerJsonText, trainingStateJsonText, readConfigJson, readTrainingStateJson, readTokenizerJson } = require('../lib/formats/mypt/json');
const { pyJsonDumps, floatRepr, pyFloat } = require('../lib/formats/pyjson');

const FIX = path.join(__dirname, 'fixtures', 'mypt_bundle');
const SCRIPT = path.join(__dirname, 'fixtures', 'make_mypt_bundle.py');
const PY = '/usr/bin/python3';
const hasTorch = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const hasPython = spawnSync(PY, ['-c', 'pass']).status === 0;
async function rejects(fn, re) {
  try { await fn(); } catch (e) { if (re) assert.match(e.message, re); return e; }
  assert.unreachable('expected a rejection');
}
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-bundle-'));

test('config.json, tokenizer.json, training_state.json are byte-identical to the ones MyPT wrote', () => {
  const cfg = readConfigJson(FIX);
  assert.is(configJsonText(cfg), fs.readFileSync(path.join(FIX, 'config.json'), 'utf8'));
  assert.is(tokenizerJsonText(readTokenizerJson(FIX)), fs.readFileSync(path.join(FIX, 'tokenizer.json'), 'utf8'));
  assert.is(trainingStateJsonText(readTrainingStateJson(FIX)), fs.readFileSync(path.join(FIX, 'training_state.json'), 'utf8'));
});

test("pyJsonDumps equals Python's json.dumps(indent=2) on floats, escapes and astral characters", () => {
  const floats = [0.0, 1.0, 0.2, 3e-4, 1e-5, 1.5e-7, 1e16, 1.25e17, 123456.789, -0.5, 2.0 ** 60, 1e-4, 0.1 + 0.2];
  const value = { f: floats.map(pyFloat), i: [0, 32, -7], s: ['\n', '"\\', '\u00e9', '\u{1F600}', '\x7f', '\x1f', '\t'], n: null, b: [true, false], e: [], o: {} };
  const ours = pyJsonDumps(value);
  if (!hasPython) { console.log('  skip python comparison: no python3'); return; }
  const py = spawnSync(PY, ['-c', `
import json,sys
v=json.loads(sys.stdin.read())
v['f']=[float(x) for x in v['f']]
sys.stdout.write(json.dumps(v, indent=2))`], { input: JSON.stringify({ ...value, f: floats }), encoding: 'utf8' });
  assert.is(py.status, 0, py.stderr);
  assert.is(ours, py.stdout);
  assert.is(floatRepr(1e-5), '1e-05');
  assert.is(floatRepr(0.0003), '0.0003');
});

test('reading is lenient: unknown keys ignored, missing keys defaulted, device is only a record, nothing created', () => {
  const d = tmp();
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ block_size: 8, vocab_size: 58, n_embd: 16, n_head: 2, n_layer: 2, device: 'cuda', use_loss_mask: true, future_key: [1] }));
  const before = fs.readdirSync(d);
  const c = readConfigJson(d);
  assert.is(c.batch_size, 32);
  assert.is(c.dropout, 0.2);
  assert.is(c.bias, false);
  assert.is(c.device, 'cuda');
  assert.equal(fs.readdirSync(d), before);
  const missing = path.join(d, 'nothing-here');
  assert.throws(() => readBundleMeta(missing), /no checkpoint at/);
  assert.not.ok(fs.existsSync(missing), 'looking up a bundle creates nothing');
});

async function writeCopy(dir, fromBundle, step, extras) {
  return saveBundle(dir, {
    config: fromBundle.config, layout: fromBundle.modelConfig, params: fromBundle.params,
    tokenizer: fromBundle.tokenizer, step,
    trainingConfig: { max_iters: 2, eval_interval: 50, eval_iters: 200, learning_rate: 0.001, start_step: 0 },
    optimizer: fromBundle.optimizer, optimizerHyper: fromBundle.optimizer && fromBundle.optimizer.hyper, extras,
  });
}

test("a bundle we write loads in MyPT's Python strictly (model + optimizer) and gives PyTorch's logits", async () => {
  const b = await loadBundle(FIX, { optimizer: true });
  const d = path.join(tmp(), 'copy');
  const report = await writeCopy(d, b, 2);
  assert.equal(report.files.map((f) => path.basename(f[1])), ['config.json', 'tokenizer.json', 'model.pt', 'optimizer.pt', 'training_state.json']);
  for (const f of ['config.json', 'tokenizer.json', 'training_state.json']) {
    assert.is(fs.readFileSync(path.join(d, f), 'utf8'), fs.readFileSync(path.join(FIX, f), 'utf8'), f);
  }
  const again = await loadBundle(d, { optimizer: true });
  for (const k of Object.keys(b.params)) assert.equal(Array.from(again.params[k].data), Array.from(b.params[k].data), k);
  assert.is(again.optimizer.step, 2);
  if (!hasTorch) { console.log('  skip PyTorch check: /usr/bin/python3 has no torch'); return; }
  const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));
  const tokFile = path.join(tmp(), 'tokens.json');
  fs.writeFileSync(tokFile, JSON.stringify({ tokens: expected.tokens }));
  const r = spawnSync(PY, [SCRIPT, 'check', d, tokFile], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.is(got.optimizer_step, 2);
  assert.is(got.step, 2);
  let maxErr = 0;
  got.logits.forEach((x, i) => (maxErr = Math.max(maxErr, Math.abs(x - expected.logits[i]))));
  assert.ok(maxErr < 1e-5, `logits differ by ${maxErr}`);
});

test('a crash at any stage of a save leaves the previous bundle whole (thrown in-process)', async () => {
  const b = await loadBundle(FIX, { optimizer: true });
  for (const stage of ['staged', 'old-moved', 'new-in-place']) {
    const d = path.join(tmp(), 'm');
    await writeCopy(d, b, 2, { 'metrics.jsonl': 'old\n' });
    const changed = { ...b, params: { ...b.params, 'head.bias': { ...b.params['head.bias'], data: b.params['head.bias'].data.map((x) => x + 1) } } };
    await rejects(() => saveBundle(d, {
      config: b.config, layout: b.modelConfig, params: changed.params, tokenizer: b.tokenizer, step: 3,
      trainingConfig: { max_iters: 3, eval_interval: 50, eval_iters: 200, learning_rate: 0.001, start_step: 2 },
      optimizer: b.optimizer,
    }, (s) => { if (s === stage) throw new Error(`crash at ${stage}`); }), /crash at/);
    const at = findBundle(d);
    assert.ok(at, `a bundle is found after a crash at ${stage}`);
    const got = await loadBundle(at, { optimizer: true });
    const step = got.trainingState.step;
    const bias = Array.from(got.params['head.bias'].data);
    if (stage === 'new-in-place') {
      assert.is(step, 3); // the new generation is whole already
      assert.equal(bias, Array.from(changed.params['head.bias'].data));
    } else {
      assert.is(step, 2, `previous step after a crash at ${stage}`);
      assert.equal(bias, Array.from(b.params['head.bias'].data));
      assert.is(fs.readFileSync(path.join(at, 'metrics.jsonl'), 'utf8'), 'old\n');
    }
    // the next save completes and cleans up
    await writeCopy(d, b, 4);
    assert.is(readBundleMeta(d).trainingState.step, 4);
    assert.equal(fs.readdirSync(path.dirname(d)), ['m']);
  }
});

test('a process killed (SIGKILL) at each stage of a save leaves a whole bundle', async () => {
  const b = await loadBundle(FIX, { optimizer: true });
  for (const stage of ['during-model', 'staged', 'old-moved']) {
    const d = path.join(tmp(), 'k');
    await writeCopy(d, b, 2);
    const child = `
      const fs = require('fs');
      const { loadBundle, saveBundle } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'formats', 'mypt', 'bundle'))});
      const torch = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'formats', 'torch'))});
      (async () => {
        const b = await loadBundle(${JSON.stringify(FIX)}, { optimizer: true });
        const stage = ${JSON.stringify(stage)};
        if (stage === 'during-model') {
          // die after the model file is half written into the staging folder
          let n = 0;
          for (const f of ['writeSync', 'write']) {   // the async save writes with fs.write
            const orig = fs[f];
            fs[f] = function (...a) { if (++n > 3) process.kill(process.pid, 'SIGKILL'); return orig.apply(this, a); };
          }
        }
        await saveBundle(${JSON.stringify(d)}, {
          config: b.config, layout: b.modelConfig, params: b.params, tokenizer: b.tokenizer, step: 7,
          trainingConfig: { max_iters: 7, eval_interval: 1, eval_iters: 1, learning_rate: 0.001, start_step: 2 }, optimizer: b.optimizer,
        }, (s) => { if (s === stage) process.kill(process.pid, 'SIGKILL'); });
      })();`;
    const r = spawnSync(process.execPath, ['-e', child], { encoding: 'utf8' });
    assert.is(r.signal, 'SIGKILL', `child died at ${stage}: ${r.stderr}`);
    const at = findBundle(d);
    assert.ok(at, `bundle found after a kill at ${stage}`);
    const got = await loadBundle(at, { optimizer: true });
    assert.is(got.trainingState.step, 2, `previous generation after a kill at ${stage}`);
    assert.is(got.optimizer.step, 2);
    assert.equal(Array.from(got.params.wte.data), Array.from(b.params.wte.data));
  }
});

test('--save_model_only never leaves an older optimizer.pt beside newer weights; other files carry over', async () => {
  const b = await loadBundle(FIX, { optimizer: true });
  const d = path.join(tmp(), 'm');
  await writeCopy(d, b, 2);
  fs.writeFileSync(path.join(d, 'notes.txt'), 'mine');
  await saveBundle(d, {
    config: b.config, layout: b.modelConfig, params: b.params, tokenizer: b.tokenizer, step: 5,
    trainingConfig: { max_iters: 5, eval_interval: 50, eval_iters: 200, learning_rate: 0.001, start_step: 2 },
  });
  assert.not.ok(fs.existsSync(path.join(d, 'optimizer.pt')));
  assert.is(fs.readFileSync(path.join(d, 'notes.txt'), 'utf8'), 'mine');
  assert.is(readBundleMeta(d).trainingState.optimizer_file, null);
});

test.run();
