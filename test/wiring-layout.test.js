// Issue 6 through the CLI as a user runs it: `inspect` on env-var, separated (either file or the base
// name), model-only and unified files shows format, step, val loss, optimizer and file sizes (text and
// --json); `convert --to separated|model-only|unified` rearranges them. Expected values are read from the
// raw dicts (loadTorch) and the file system; conversions are checked by reading the output back.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { loadTorch } = require('../lib/formats/torch');
const { readCheckpoint } = require('../lib/formats/separated/read');
const { formatBytes } = require('../lib/use-cases/inspect/inspect');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const FIX = path.join(__dirname, 'fixtures', 'envckpt');
const ENV = path.join(FIX, 'checkpoint_from_scratch_tiny_text_step000004_11232026_054512.pt');
const SEP = path.join(FIX, 'separated');
const cli = (args) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: os.tmpdir() });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wiring-layout-'));
const json = (target) => {
  const r = cli(['inspect', target, '--json']);
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
};
const sizes = (files) => files.map((f) => ({ name: path.basename(f), bytes: fs.statSync(f).size }));

test('inspect an env-var file: its format, the step, optimizer in the file, the size', async () => {
  const raw = await loadTorch(ENV);
  const info = json(ENV);
  assert.is(info.format, 'envvar', "the one name for FORMATS.md section 4 files (list and inspect agree)");
  assert.is(info.training.step, Number(raw.get('step')));
  assert.is(info.training.optimizer_file, '(in the file)');
  assert.equal(info.files, sizes([ENV]));
  const t = cli(['inspect', ENV]).stdout;
  assert.match(t, "env-var (lecture) trainer's single-file checkpoint");
  assert.match(t, `Last recorded training step: ${raw.get('step')}`);
  assert.match(t, formatBytes(fs.statSync(ENV).size));
});

for (const [label, target] of [['the base name', path.join(SEP, 'checkpoint-step000004')], ['the model file', path.join(SEP, 'checkpoint-step000004-model.pt')], ['the optimizer file', path.join(SEP, 'checkpoint-step000004-optimizer.pt')]]) {
  test(`inspect a separated pair by ${label}: both files with their sizes, step, val loss, the optimizer file`, async () => {
    const model = path.join(SEP, 'checkpoint-step000004-model.pt'), opt = path.join(SEP, 'checkpoint-step000004-optimizer.pt');
    const raw = await loadTorch(model);
    const info = json(target);
    assert.is(info.format, 'separated');
    assert.is(info.training.step, Number(raw.get('global_step')));
    assert.is(info.training.val_loss, raw.get('config').get('val_loss'));
    assert.is(info.training.optimizer_file, path.basename(opt));
    assert.equal(info.files, sizes([model, opt]));
    const t = cli(['inspect', target]).stdout;
    assert.match(t, 'Separated model + optimizer files');
    assert.match(t, `Recorded validation loss: ${raw.get('config').get('val_loss').toFixed(4)}`);
    assert.match(t, new RegExp(`checkpoint-step000004-optimizer\\.pt\\s+${formatBytes(fs.statSync(opt).size)}`));
    assert.match(t, new RegExp(`total\\s+${formatBytes(fs.statSync(model).size + fs.statSync(opt).size)}`));
  });
}

test('inspect a model-only file and a unified file', async () => {
  const mo = path.join(SEP, 'checkpoint-step000002-model.pt');
  const a = json(mo);
  assert.is(a.format, 'model-only');
  assert.is(a.training.optimizer_file, null);
  assert.is(a.training.val_loss, (await loadTorch(mo)).get('config').get('val_loss'));
  assert.equal(a.files, sizes([mo]));
  assert.match(cli(['inspect', mo]).stdout, 'optimizer     : not saved (model only)');
  const uni = path.join(FIX, 'unified.pt');
  const raw = await loadTorch(uni);
  assert.ok(raw.get('optimizer') instanceof Map, 'the fixture stores its optimizer');
  const b = json(uni);
  assert.is(b.format, 'unified');
  assert.is(b.training.step, Number(raw.get('global_step')));
  assert.is(b.training.optimizer_file, '(in the file)');
  assert.equal(b.files, sizes([uni]));
});

function sameParams(a, b, what) {
  for (const [k, t] of Object.entries(a.params)) {
    if (!b.params[k] || t.data.some((x, i) => x !== b.params[k].data[i])) assert.unreachable(`${what}: ${k} differs`);
  }
}

test('convert --to separated, model-only (--yes), unified: outputs read back to the same model; the original kept', async () => {
  const uni = path.join(tmp, 'run.pt');
  fs.copyFileSync(path.join(FIX, 'unified.pt'), uni);
  const before = await readCheckpoint(uni);
  const dry = cli(['convert', '--to', 'separated', '--checkpoint', uni, '--dry-run']);
  assert.is(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, 'unified -> separated: would write');
  assert.not.ok(fs.existsSync(path.join(tmp, 'run-model.pt')));

  const sep = cli(['convert', '--to', 'separated', '--checkpoint', uni]);
  assert.is(sep.status, 0, sep.stderr);
  const pair = await readCheckpoint(path.join(tmp, 'run'));
  assert.is(pair.format, 'separated');
  assert.is(pair.data.step, before.data.step);
  assert.is(pair.data.optimizer.step, before.data.optimizer.step);
  sameParams(before.data, pair.data, 'separated');
  assert.ok(fs.existsSync(uni), 'the original stays');

  const opt = path.join(tmp, 'run-optimizer.pt');
  const no = cli(['convert', '--to', 'model-only', '--checkpoint', path.join(tmp, 'run-model.pt')]);
  assert.is(no.status, 1);
  assert.match(no.stderr, '--yes');
  assert.is(no.stderr.trim().split('\n').length, 1, no.stderr);
  assert.ok(fs.existsSync(opt), 'nothing deleted without --yes');
  const yes = cli(['convert', '--to', 'model-only', '--checkpoint', path.join(tmp, 'run'), '--yes']);
  assert.is(yes.status, 0, yes.stderr);
  assert.match(yes.stdout, `separated -> model-only: delete ${opt}`);
  assert.not.ok(fs.existsSync(opt));
  assert.is(json(path.join(tmp, 'run-model.pt')).format, 'model-only');

  const out = path.join(tmp, 'again.pt');
  const u = cli(['convert', '--to', 'unified', '--checkpoint', path.join(SEP, 'checkpoint-step000004'), '--out', out]);
  assert.is(u.status, 0, u.stderr);
  const back = await readCheckpoint(out);
  const src = await readCheckpoint(path.join(SEP, 'checkpoint-step000004'));
  assert.is(back.format, 'unified');
  assert.is(back.data.step, src.data.step);
  assert.is(back.data.optimizer.step, src.data.optimizer.step);
  sameParams(src.data, back.data, 'unified');

  const env = cli(['convert', '--to', 'model-only', '--checkpoint', ENV, '--out', path.join(tmp, 'env4')]);
  assert.is(env.status, 0, env.stderr);
  const mo = await readCheckpoint(path.join(tmp, 'env4-model.pt'), { loadOptimizer: false });
  assert.is(mo.format, 'model-only');
  sameParams((await readCheckpoint(ENV, { loadOptimizer: false })).data, mo.data, 'env-var -> model-only');
  assert.ok(fs.statSync(path.join(tmp, 'env4-model.pt')).size < fs.statSync(ENV).size, 'dropping the optimizer saves space');
});

test('convert --to never replaces another checkpoint standing where the output goes, unless --yes', () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'taken-'));
  const src = path.join(dir, 'keep.pt');
  const other = path.join(dir, 'keep-model.pt');
  fs.copyFileSync(path.join(FIX, 'unified.pt'), src);
  fs.copyFileSync(path.join(SEP, 'checkpoint-final-model.pt'), other);
  const before = fs.readFileSync(other);
  const r = cli(['convert', '--checkpoint', src, '--to', 'separated']);
  assert.is(r.status, 1);
  assert.match(r.stderr, `${other}: already exists and would be overwritten`);
  assert.ok(fs.readFileSync(other).equals(before), 'the other checkpoint is untouched');
  assert.not.ok(fs.existsSync(path.join(dir, 'keep-optimizer.pt')), 'nothing half written');
  const y = cli(['convert', '--checkpoint', src, '--to', 'separated', '--yes']);
  assert.is(y.status, 0, y.stderr);
  assert.not.ok(fs.readFileSync(other).equals(before), 'replaced when asked');
});

test('convert --to needs --checkpoint and works on one checkpoint', () => {
  const a = cli(['convert', '--to', 'unified']);
  assert.is(a.status, 1);
  assert.match(a.stderr, '--checkpoint PATH');
  const b = cli(['convert', '--to', 'unified', '--checkpoint', ENV, '--all']);
  assert.is(b.status, 1);
  assert.match(b.stderr, 'one --checkpoint');
});

test.run();
