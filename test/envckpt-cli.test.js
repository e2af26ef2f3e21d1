// The commands as a user runs them: `load-checkpoint` driven by variables (flags winning), `list`, and
// `train` with ENABLE_CHECKPOINTS / --save_separate_optimizer.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const FIX = path.join(__dirname, 'fixtures', 'envckpt');
const F6 = path.join(FIX, 'checkpoint_from_scratch_tiny_text_step000004_11232026_054512.pt');
const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
  !/^(MODE|DEVICE|PROMPT|MAX_NEW_TOKENS|TEMPERATURE|TOP_K|CHECKPOINT_\w+|RESUME_\w+|ENABLE_CHECKPOINTS|TRAINING_STEPS|MODEL_TYPE)$/.test(k)));
function cli(args, env = {}, cwd = process.cwd()) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...clean, ...env }, cwd, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('invalid variables: one line naming the variable and the accepted values, exit 1', () => {
  for (const [env, msg] of [
    [{ MODE: 'train' }, 'error: MODE=train is not valid: accepted values are inference, resume\n'],
    [{ DEVICE: 'tpu' }, 'error: DEVICE=tpu is not valid: accepted values are auto, cpu, cuda\n'],
    [{ MAX_NEW_TOKENS: 'many' }, 'error: MAX_NEW_TOKENS=many is not valid: accepted values are a whole number >= 1\n'],
    [{ RESUME_LEARNING_RATE: 'x' }, 'error: RESUME_LEARNING_RATE=x is not valid: accepted values are a number > 0 (e.g. 3e-4)\n'],
  ]) {
    const r = cli(['load-checkpoint'], { CHECKPOINT_PATH: F6, ...env });
    assert.is(r.code, 1, JSON.stringify(env));
    assert.is(r.err, msg);
  }
  const r = cli(['load-checkpoint']);
  assert.is(r.err, 'error: no checkpoint given: set CHECKPOINT_PATH or pass --checkpoint_path\n');
  const t = cli(['train', '--max_iters', '1'], { ENABLE_CHECKPOINTS: 'sure' });
  assert.is(t.err, 'error: ENABLE_CHECKPOINTS=sure is not valid: accepted values are true, false, 1, 0, yes, no\n');
});

test('MODE=inference prints step, vocab size, block size, batch size, then the sample; a flag beats its variable', () => {
  const r = cli(['load-checkpoint', '--max_new_tokens', '12', '--seed', '5', '--device', 'cpu'],
    { CHECKPOINT_PATH: F6, MODE: 'inference', PROMPT: 'hello', MAX_NEW_TOKENS: 'not-a-number', DEVICE: 'tpu' });
  assert.is(r.code, 0, r.err);
  const lines = r.out.split('\n');
  assert.match(lines[0], /^Loaded envvar checkpoint .*step000004.*: step 4, vocab size 20, block size 8, batch size 4, 2,116 parameters on cpu; char tokens \(vocabulary from .*tokenizer\.json\)$/);
  assert.is(lines[1], '---------- sample ----------');
  assert.is(lines.slice(2).join('\n').length, 'hello'.length + 12 + 1, 'the prompt, 12 characters, the final newline');
  assert.ok(lines[2].startsWith('hello'));
  const again = cli(['load-checkpoint', '--max_new_tokens', '12', '--seed', '5', '--device', 'cpu', '--prompt', 'hello', '--checkpoint_path', F6]);
  assert.is(again.out, r.out, 'same seed, same text');
});

test('list: table and --json with sizes and optimizer presence', () => {
  const t = cli(['list', path.join(FIX, 'separated')]);
  assert.is(t.code, 0, t.err);
  const rows = t.out.trim().split('\n');
  assert.match(rows[0], /^NAME\s+FORMAT\s+STEP\s+VAL LOSS\s+SIZE\s+OPTIMIZER$/);
  assert.match(rows[1], /^checkpoint-step000002\s+model-only\s+2\s+2\.7500\s+[\d.]+ KB\s+no$/);
  assert.match(rows[3], /^checkpoint-final\s+separated\s+final \(6\)\s+2\.5000\s+[\d.]+ KB\s+yes$/);
  assert.match(rows[4], /^3 checkpoints, [\d.]+ KB in /);
  const j = JSON.parse(cli(['list', path.join(FIX, 'separated'), '--json']).out);
  assert.equal(j.checkpoints.map((e) => [e.name, e.size > 0, e.optimizer]), [
    ['checkpoint-step000002', true, false], ['checkpoint-step000004', true, true], ['checkpoint-final', true, true],
  ]);
});

test('train --save_separate_optimizer --keep_last 1 and ENABLE_CHECKPOINTS=true write both kinds; TRAINING_STEPS sets the length', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'envckpt-cli-'));
  fs.writeFileSync(path.join(dir, 'in.txt'), fs.readFileSync(path.join(__dirname, '..', 'data', 'tinyshakespeare.txt'), 'utf8').slice(0, 6000));
  const r = cli(['train', '--input_file', 'in.txt', '--tokenization', 'char', '--n_embd', '16', '--n_head', '2', '--n_layer', '1',
    '--block_size', '16', '--batch_size', '4', '--eval_interval', '5', '--eval_iters', '2', '--dropout', '0', '--sample_tokens', '0',
    '--device', 'cpu', '--save_separate_optimizer', '--checkpoint_interval', '5', '--filename_prefix', 'tiny', '--keep_last', '1'],
  { ENABLE_CHECKPOINTS: 'true', CHECKPOINT_DIR: 'ck', TRAINING_STEPS: '10', CHECKPOINT_INTERVAL: '999' }, dir);
  assert.is(r.code, 0, r.err + r.out);
  assert.match(r.out, /Training finished at step 10 /);
  const files = fs.readdirSync(path.join(dir, 'ck')).map((n) => n.replace(/_\d{8}_\d{6}/, '_T')).sort();
  assert.equal(files, [
    'checkpoint_from_scratch_in_step000005_T.pt', 'checkpoint_from_scratch_in_step000010_T.pt',
    'tiny-final-model.pt', 'tiny-final-optimizer.pt', 'tiny-step000005-model.pt',
    'tiny-step000010-model.pt', 'tiny-step000010-optimizer.pt',
  ]);
  const l = cli(['list', 'ck', '--json'], {}, dir);
  const byName = Object.fromEntries(JSON.parse(l.out).checkpoints.map((e) => [e.name.replace(/_\d{8}_\d{6}/, '_T'), e]));
  assert.is(byName['tiny-step000005'].format, 'model-only');
  assert.is(byName['checkpoint_from_scratch_in_step000005_T.pt'].optimizer, false);
  assert.is(byName['checkpoint_from_scratch_in_step000010_T.pt'].optimizer, true);
  assert.is(byName['tiny-final'].step, 10);
});

test('a folder as CHECKPOINT_PATH: --select latest (final) or best (lowest val loss), said in one line', () => {
  const dir = path.join(FIX, 'separated');
  const latest = cli(['load-checkpoint', '--max_new_tokens', '3', '--seed', '1', '--device', 'cpu'], { CHECKPOINT_PATH: dir });
  assert.is(latest.code, 0, latest.err);
  assert.match(latest.out, /^Selected checkpoint-final \(latest: step 6, val loss 2\.5000\) in /);
  const best = cli(['load-checkpoint', '--max_new_tokens', '3', '--seed', '1', '--device', 'cpu', '--select', 'best', '--checkpoint_path', dir]);
  assert.match(best.out, /^Selected checkpoint-step000004 \(best: step 4, val loss 2\.2500\) in /);
  assert.match(best.out.split('\n')[1], /^Loaded separated checkpoint .*checkpoint-step000004: step 4,/);
});

test.run();
