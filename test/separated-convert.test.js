// convertLayout: env-var / unified / separated -> separated | model-only | unified; the original is untouched
// (except an explicit in-place model-only of a pair), the output is read back and PyTorch reads it.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { convertLayout } = require('../lib/use-cases/convert/layout');
const { readCheckpoint } = require('../lib/formats/separated/read');
const { pyCheck, maxRelErr } = require('./envckpt-pycheck');

const FIX = path.join(__dirname, 'fixtures', 'envckpt');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));
const hash = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
function work(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convert-'));
  for (const f of files) fs.copyFileSync(path.join(FIX, f), path.join(dir, path.basename(f)));
  return dir;
}

test('unified -> separated and -> model-only: new files beside it, the original untouched, sizes reported', async () => {
  const dir = work(['unified.pt']);
  const src = path.join(dir, 'unified.pt');
  const before = hash(src);
  const r = await convertLayout(src, 'separated');
  assert.equal(r.written.map((f) => path.basename(f)), ['unified-model.pt', 'unified-optimizer.pt']);
  assert.is(r.from, 'unified');
  assert.is(hash(src), before);
  const back = await readCheckpoint(path.join(dir, 'unified-model.pt'));
  assert.is(back.format, 'separated');
  assert.is(back.data.step, 3);
  assert.is(back.data.optimizer.step, 3);
  const m = await convertLayout(src, 'model-only', { out: path.join(dir, 'small') });
  assert.equal(m.written.map((f) => path.basename(f)), ['small-model.pt']);
  assert.ok(m.bytesAfter < m.bytesBefore / 2.5, `${m.bytesAfter} < ${m.bytesBefore}/2.5`);
  const py = pyCheck([...r.written, ...m.written]);
  if (py) {
    for (const x of py) assert.not.ok(x.error, x.error);
    assert.ok(maxRelErr(py[0].logits, expected.logits['unified.pt']) < 1e-6);
    assert.equal(py[1].optimizer_steps, [3]);
  }
});

test('env-var file -> unified (the vocabulary from tokenizer.json beside it goes into the new file)', async () => {
  const name = 'checkpoint_from_scratch_tiny_text_step000004_11232026_054512.pt';
  const dir = work([name, 'tokenizer.json']);
  const r = await convertLayout(path.join(dir, name), 'unified', { out: path.join(dir, 'u.pt') });
  assert.equal(r.written, [path.join(dir, 'u.pt')]);
  fs.rmSync(path.join(dir, 'tokenizer.json'));
  const back = await readCheckpoint(path.join(dir, 'u.pt'));
  assert.is(back.data.tokenizer.chars.length, 20);
  assert.is(back.data.config.attn_scale, 'embd');
  assert.is(back.data.optimizer.step, 4);
});

test('separated pair -> model-only in place deletes the optimizer file only with removeOptimizer; -> unified', async () => {
  const dir = work(['separated/checkpoint-step000004-model.pt', 'separated/checkpoint-step000004-optimizer.pt']);
  const base = path.join(dir, 'checkpoint-step000004');
  try {
    await convertLayout(base, 'model-only');
    assert.unreachable();
  } catch (e) {
    assert.match(e.message, /deletes .*checkpoint-step000004-optimizer\.pt \(pass --yes/);
  }
  assert.ok(fs.existsSync(base + '-optimizer.pt'));
  const u = await convertLayout(base + '-optimizer.pt', 'unified');
  assert.equal(u.written, [base + '.pt']);
  const dry = await convertLayout(base, 'model-only', { removeOptimizer: true, dryRun: true });
  assert.equal(dry.removed, [base + '-optimizer.pt']);
  assert.ok(fs.existsSync(base + '-optimizer.pt'), 'dry run changes nothing');
  const r = await convertLayout(base, 'model-only', { removeOptimizer: true });
  assert.not.ok(fs.existsSync(base + '-optimizer.pt'));
  assert.ok(r.bytesAfter < r.bytesBefore);
  const warnings = [];
  const back = await readCheckpoint(base + '-model.pt', { onWarning: (w) => warnings.push(w) });
  assert.is(back.format, 'model-only');
  assert.is(warnings.length, 1);
  try {
    await convertLayout(base + '-model.pt', 'separated');
    assert.unreachable();
  } catch (e) {
    assert.match(e.message, /no optimizer state/);
  }
  try {
    await convertLayout(base, 'safetensors');
    assert.unreachable();
  } catch (e) {
    assert.match(e.message, /^--to safetensors is not valid: accepted values are separated, model-only, unified$/);
  }
});

test.run();
