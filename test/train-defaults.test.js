// `train --help` shows the defaults the run uses (from presets/default.json and MYPT_TRAIN_DEFAULTS, the
// tables the run reads), and a cosine decay not named by flag runs to the end of the run (issue #22).
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { resolveTrainOptions, MYPT_TRAIN_DEFAULTS } = require('../lib/use-cases/train/options');
const { describeSchedule, lrAt } = require('../lib/use-cases/train/schedule');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const builtin = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'presets', 'default.json'), 'utf8'));

test('train --help: each "[built-in run X; MyPT Y]" is what the run uses', () => {
  const r = spawnSync(process.execPath, [BIN, 'train', '--help'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '400' } });
  assert.is(r.status, 0);
  const help = r.stdout.replace(/\s+/g, ' ');
  let seen = 0;
  for (const key of ['max_iters', 'eval_interval', 'eval_iters', 'learning_rate', 'batch_size', 'block_size', 'n_embd', 'n_head', 'n_layer', 'dropout', 'warmup_iters']) {
    const m = new RegExp(`--${key} [^\\[]*\\[built-in run ([^;]+); MyPT ([^\\]:]+)`).exec(help);
    assert.ok(m, `--${key} shows its defaults`);
    assert.is(Number(m[1]), builtin[key], `--${key}: built-in run`);
    assert.is(Number(m[2]), MYPT_TRAIN_DEFAULTS[key], `--${key}: MyPT`);
    seen++;
  }
  assert.is(seen, 11);
  assert.match(help, /--lr_decay_iters [^[]*\[built-in run --max_iters; MyPT 0: no decay\]/);
});

test('the built-in run decays to --max_iters when --lr_decay_iters is not given; a flag or MyPT defaults are kept', () => {
  const corpus = path.join(__dirname, '..', 'data', 'tinyshakespeare.txt');
  assert.is(resolveTrainOptions({}, corpus).values.lr_decay_iters, builtin.max_iters);
  assert.is(resolveTrainOptions({ max_iters: 600 }, corpus).values.lr_decay_iters, 600);
  assert.is(resolveTrainOptions({ max_iters: 50 }, corpus).values.lr_decay_iters, builtin.warmup_iters, 'never before the warmup ends');
  assert.is(resolveTrainOptions({ max_iters: 600, lr_decay_iters: 400 }, corpus).values.lr_decay_iters, 400);
  assert.is(resolveTrainOptions({ max_iters: 600, preset: 'tiny' }, corpus).values.lr_decay_iters, 0, "MyPT's constant rate");
  const v = resolveTrainOptions({ max_iters: 600 }, corpus).values;
  assert.ok(Math.abs(lrAt(600, v) - v.min_lr) < 1e-12, 'at the last step the rate is min_lr');
});

test('the schedule in words', () => {
  assert.is(describeSchedule({ learning_rate: 1e-3, warmup_iters: 100, lr_decay_iters: 600, min_lr: 1e-4 }),
    'Learning rate: linear warmup to 0.001 over 100 steps, cosine decay to 0.0001 by step 600');
  assert.is(describeSchedule({ learning_rate: 3e-4, warmup_iters: 0, lr_decay_iters: 0, min_lr: 3e-5 }), 'Learning rate: constant 0.0003');
  assert.is(describeSchedule({ learning_rate: 3e-4, warmup_iters: 0, lr_decay_iters: 50, min_lr: 3e-5 }),
    'Learning rate: cosine decay to 0.00003 by step 50 from 0.0003');
});

test.run();
