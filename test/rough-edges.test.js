// Issue #22's "internal error" class: sizes that cannot fit, an unwritable checkpoints folder, a folder given
// as --config_file, missing files and wrong argument types at the public API. Each must be one `error:` line
// (or a MyptError with a code) that names the flag or function, never Node's raw text or a TypeError.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const api = require('..');
const { trainingBytes, checkRunFits, withLowerHint } = require('../lib/use-cases/train/memory');
const { replaceDirAtomic } = require('../lib/formats/atomic');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'rough-'));
const cli = (args, cwd) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd });
const errorLine = (r) => r.stderr.trim().split('\n').filter((l) => l.startsWith('error:') || l.startsWith('internal error:'));

test('a batch that cannot fit in memory is refused before the first step, naming the flags and the memory', () => {
  const dir = tmp();
  const r = cli(['train', '--batch_size', '1000000000', '--max_iters', '20'], dir);
  assert.is(r.status, 1, r.stderr);
  const [line] = errorLine(r);
  assert.match(line, /^error: --batch_size 1000000000 x --block_size 64 needs about [\d.]+ GiB to train/);
  assert.match(line, /this machine has [\d.]+ GiB of RAM/);
  assert.match(line, /lower --batch_size or --block_size/);
  assert.not.ok(fs.existsSync(path.join(dir, 'checkpoints', 'default', 'model.pt')), 'nothing saved');
  fs.rmSync(dir, { recursive: true });
});

test('trainingBytes: 16 bytes a parameter plus fp32 activations per token (worked by hand)', () => {
  // P = 1000; B*T = 2*8 = 16 tokens; per token: 2 layers * (16*32 + 4*8) + 2*65 = 2*544 + 130 = 1218 floats
  const s = { numParams: 1000, batch_size: 2, block_size: 8, n_layer: 2, n_embd: 32, n_head: 4, vocab_size: 65, device: 'cpu' };
  assert.is(trainingBytes(s), 16 * 1000 + 4 * 16 * 1218);
  checkRunFits(s); // small: fits
  try {
    checkRunFits({ ...s, numParams: os.totalmem() }); // 16 bytes a parameter > all RAM
    assert.unreachable();
  } catch (e) {
    assert.is(e.code, 'E_OUT_OF_MEMORY');
  }
});

test('an out-of-memory from the engine during training gets the flags to lower', () => {
  const e = withLowerHint(new api.MyptError('E_OUT_OF_MEMORY', 'CUDA out of memory: activations (4.0 GiB asked, 1.2 GiB free)'));
  assert.is(e.code, 'E_OUT_OF_MEMORY');
  assert.match(e.message, /CUDA out of memory: activations .*\(lower --batch_size or --block_size/);
  const other = new Error('x');
  assert.is(withLowerHint(other), other, 'other errors pass through');
});

test('a checkpoints folder that cannot be written is refused before training, as an error: line', () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'f'), 'x');
  const r = cli(['train', '--checkpoints_dir', 'f', '--max_iters', '2', '--eval_interval', '1', '--eval_iters', '1', '--sample_tokens', '0'], dir);
  assert.is(r.status, 1, r.stderr);
  assert.equal(errorLine(r), [`error: --checkpoints_dir f: ${fs.realpathSync(dir)}/f is a file, not a folder`]);
  assert.not.match(r.stdout, /Starting from scratch/, 'checked before the model is built');
  if (process.getuid && process.getuid() !== 0) {
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro, { mode: 0o555 });
    const p = cli(['train', '--checkpoints_dir', 'ro', '--max_iters', '2', '--eval_interval', '1', '--eval_iters', '1', '--sample_tokens', '0'], dir);
    assert.is(p.status, 1, p.stderr);
    assert.match(errorLine(p)[0], /^error: --checkpoints_dir ro: cannot write in .*ro: permission denied \(EACCES\)/);
    fs.chmodSync(ro, 0o755);
  }
  fs.rmSync(dir, { recursive: true });
});

test('--config_file naming a folder: one line saying it is a folder, not EISDIR', () => {
  const dir = tmp();
  fs.mkdirSync(path.join(dir, 'cfg'));
  const r = cli(['train', '--config_file', 'cfg'], dir);
  assert.is(r.status, 1);
  assert.equal(errorLine(r), ['error: --config_file cfg: is a folder; give a config JSON file (e.g. presets/small.json)']);
  fs.rmSync(dir, { recursive: true });
});

test('a missing file is E_NO_CHECKPOINT everywhere, as generateStream says it', async () => {
  const dir = tmp();
  const missing = path.join(dir, 'nope.pt');
  const codeOf = async (f) => { try { await f(); } catch (e) { return [e.code, e.message]; } return ['no error']; };
  const gen = await codeOf(async () => { for await (const _ of api.generateStream({ checkpoint: missing, max_new_tokens: 1 })) { /* */ } });
  assert.is(gen[0], 'E_NO_CHECKPOINT');
  for (const [name, f] of [
    ['loadTorch', () => api.loadTorch(missing)], ['loadTorchSync', () => api.loadTorchSync(missing)],
    ['loadModdedModel', () => api.loadModdedModel(missing)], ['loadModel', () => api.loadModel(missing)],
    ['hasOptimizerState', () => api.hasOptimizerState(missing)],
  ]) {
    const [code, message] = await codeOf(f);
    assert.is(code, 'E_NO_CHECKPOINT', `${name}: ${message}`);
    assert.not.match(message, /ENOENT|stat '/, `${name}: no raw Node text: ${message}`);
  }
  const [code, message] = await codeOf(() => api.loadTorch(dir));
  assert.is(code, 'E_BAD_FILE');
  assert.match(message, /is a folder, not a file/);
  fs.rmSync(dir, { recursive: true });
});

test('a loaded object where a path is expected: E_BAD_ARGUMENT naming the function, never a TypeError', async () => {
  const loaded = new api.PyDict();
  for (const [name, f] of [
    ['hasOptimizerState', () => api.hasOptimizerState(loaded)], ['loadTorch', () => api.loadTorch(loaded)],
    ['loadSafetensors', () => api.loadSafetensors({})], ['loadCheckpoint', () => api.loadCheckpoint(loaded)],
    ['getModelStateDict', () => api.getModelStateDict(42)], ['listCheckpoints', () => api.listCheckpoints(undefined)],
    ['loadModel', () => api.loadModel(null)], ['getModelInfo', () => api.getModelInfo({})],
    ['loadBundle', () => api.loadBundle([])], ['resolveCheckpoint', () => api.resolveCheckpoint({})],
    ['loadTokenizerFile', () => api.loadTokenizerFile({})], ['readCheckpoint', () => api.readCheckpoint({})],
  ]) {
    let err;
    try { await f(); } catch (e) { err = e; }
    assert.ok(err, `${name} threw`);
    assert.is(err.code, 'E_BAD_ARGUMENT', `${name}: ${err.message}`);
    assert.match(err.message, new RegExp(`^${name}: expected a path \\(a string\\), got `));
  }
});

test('a file-system failure while replacing a bundle folder is E_IO in words; the old folder stays whole', async () => {
  const dir = tmp();
  const target = path.join(dir, 'm');
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'model.pt'), 'old');
  let err;
  try {
    await replaceDirAtomic(target, () => { const e = new Error('ENOSPC: no space left on device, write'); e.code = 'ENOSPC'; throw e; });
  } catch (e) { err = e; }
  assert.is(err.code, 'E_IO');
  assert.match(err.message, /m: save failed: the disk is full \(ENOSPC\); the previous save, if any, is untouched/);
  assert.is(fs.readFileSync(path.join(target, 'model.pt'), 'utf8'), 'old');
  assert.equal(fs.readdirSync(dir), ['m'], 'the staging folder is gone');
  fs.rmSync(dir, { recursive: true });
});


test('a nanoGPT char ckpt.pt without meta.pkl: loads for inspect and convert; generate says where it looked and what to do', () => {
  const dir = tmp();
  fs.copyFileSync(path.join(__dirname, 'fixtures', 'foreign', 'nanogpt', 'out-shakespeare-char', 'ckpt.pt'), path.join(dir, 'ckpt.pt'));
  const i = cli(['inspect', '--checkpoint', 'ckpt.pt'], dir);
  assert.is(i.status, 0, i.stderr);
  const c = cli(['convert', '--checkpoint', 'ckpt.pt', '--format', 'safetensors'], dir);
  assert.is(c.status, 0, c.stderr);
  assert.ok(fs.existsSync(path.join(dir, 'ckpt.safetensors')));
  const g = cli(['generate', '--checkpoint', 'ckpt.pt', '--max_new_tokens', '3'], dir);
  assert.is(g.status, 1);
  const [line] = errorLine(g);
  assert.match(line, /^error: ckpt\.pt: no meta\.pkl with the character vocabulary \(looked at [^)]*meta\.pkl\)/);
  assert.match(line, /copy the meta\.pkl that nanoGPT's prepare\.py wrote \(data\/shakespeare_char\/meta\.pkl\) beside the checkpoint/);
  fs.rmSync(dir, { recursive: true });
});

test('PyDict.toObject(): a string-keyed dict as an object; other keys are refused by name', () => {
  const d = new api.PyDict([['a', 1], ['b', 2]]);
  assert.equal(d.toObject(), { a: 1, b: 2 });
  const n = new api.PyDict([[0, 'x']]);
  try { n.toObject(); assert.unreachable(); } catch (e) { assert.is(e.code, 'E_BAD_ARGUMENT'); assert.match(e.message, /number key \(0\)/); }
});

test("onProgress: a throttled 'progress' event, the last one at max_iters, beside one 'step' per step", async () => {
  const dir = tmp();
  const events = [];
  await api.train({ checkpoints_dir: dir, model_name: 'p', max_iters: 12, eval_interval: 12, eval_iters: 1, n_layer: 1, n_embd: 16, n_head: 2,
    batch_size: 2, block_size: 8, sample_tokens: 4, device: 'cpu', onProgress: (e) => events.push(e) });
  const steps = events.filter((e) => e.type === 'step');
  const progress = events.filter((e) => e.type === 'progress');
  assert.is(steps.length, 12);
  assert.ok(progress.length >= 2 && progress.length <= steps.length, `${progress.length} progress events`);
  const last = progress[progress.length - 1];
  assert.is(last.step, 12); assert.is(last.max_iters, 12); assert.is(last.eta_seconds, 0);
  assert.ok(last.tokens_per_second > 0);
  assert.is(last.loss, steps[11].loss);
  assert.ok(events.some((e) => e.type === 'sample'));
  assert.is(events[events.length - 1].type, 'done');
  fs.rmSync(dir, { recursive: true });
});

test.run();
