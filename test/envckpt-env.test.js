// Environment variables of the env-var workflow, and the env-var checkpoint file names (FORMATS.md section 4).
const { test } = require('uvu');
const assert = require('uvu/assert');
const { readTrainingEnv, readLoadCheckpointEnv, flagOr } = require('../lib/use-cases/load-checkpoint/env');
const { envCheckpointFileName, parseEnvCheckpointFileName } = require('../lib/formats/lecture/envvar-name');

test('training variables: defaults, then values', () => {
  assert.equal(readTrainingEnv({}), {
    enableCheckpoints: false, checkpointInterval: 500, checkpointDir: 'checkpoints',
    trainingSteps: undefined, modelType: 'from_scratch',
  });
  const e = readTrainingEnv({ ENABLE_CHECKPOINTS: 'true', CHECKPOINT_INTERVAL: '25', CHECKPOINT_DIR: 'ck',
    TRAINING_STEPS: '100', MODEL_TYPE: 'gpt2' });
  assert.equal(e, { enableCheckpoints: true, checkpointInterval: 25, checkpointDir: 'ck', trainingSteps: 100, modelType: 'gpt2' });
  assert.is(readTrainingEnv({ ENABLE_CHECKPOINTS: '0' }).enableCheckpoints, false);
  assert.is(readTrainingEnv({ ENABLE_CHECKPOINTS: '' }).enableCheckpoints, false);
});

test('loading variables: the documented defaults', () => {
  assert.equal(readLoadCheckpointEnv({}), {
    checkpointPath: undefined, mode: 'inference', prompt: '', maxNewTokens: 300, device: 'auto',
    temperature: undefined, topK: undefined, resumeTrainingSteps: 5000, resumeLearningRate: 3e-4,
  });
  const e = readLoadCheckpointEnv({ CHECKPOINT_PATH: 'a.pt', MODE: 'resume', PROMPT: ' To be', MAX_NEW_TOKENS: '12',
    DEVICE: 'cpu', TEMPERATURE: '0.8', TOP_K: '5', RESUME_TRAINING_STEPS: '7', RESUME_LEARNING_RATE: '1e-4' });
  assert.equal(e, { checkpointPath: 'a.pt', mode: 'resume', prompt: ' To be', maxNewTokens: 12, device: 'cpu',
    temperature: 0.8, topK: 5, resumeTrainingSteps: 7, resumeLearningRate: 1e-4 });
});

function throwsOneLine(fn, re) {
  try { fn(); } catch (e) {
    assert.is(e.name, 'MyptError');
    assert.is(e.code, 'E_BAD_ARGUMENT');
    assert.not.ok(e.message.includes('\n'), 'one line');
    assert.match(e.message, re);
    return;
  }
  assert.unreachable('should have thrown');
}

test('invalid values name the variable and the accepted values', () => {
  throwsOneLine(() => readLoadCheckpointEnv({ MODE: 'train' }), /^MODE=train is not valid: accepted values are inference, resume$/);
  throwsOneLine(() => readLoadCheckpointEnv({ DEVICE: 'tpu' }), /^DEVICE=tpu is not valid: accepted values are auto, cpu, cuda$/);
  throwsOneLine(() => readLoadCheckpointEnv({ MAX_NEW_TOKENS: 'lots' }), /^MAX_NEW_TOKENS=lots is not valid: .*whole number/);
  throwsOneLine(() => readLoadCheckpointEnv({ MAX_NEW_TOKENS: '2.5' }), /^MAX_NEW_TOKENS=2.5 /);
  throwsOneLine(() => readLoadCheckpointEnv({ RESUME_LEARNING_RATE: 'fast' }), /^RESUME_LEARNING_RATE=fast .*number > 0/);
  throwsOneLine(() => readLoadCheckpointEnv({ RESUME_LEARNING_RATE: '-1' }), /^RESUME_LEARNING_RATE=-1 /);
  throwsOneLine(() => readLoadCheckpointEnv({ TEMPERATURE: 'hot' }), /^TEMPERATURE=hot /);
  throwsOneLine(() => readLoadCheckpointEnv({ TOP_K: '0' }), /^TOP_K=0 .*>= 1/);
  throwsOneLine(() => readTrainingEnv({ ENABLE_CHECKPOINTS: 'maybe' }), /^ENABLE_CHECKPOINTS=maybe .*true, false/);
  throwsOneLine(() => readTrainingEnv({ CHECKPOINT_INTERVAL: '0' }), /^CHECKPOINT_INTERVAL=0 /);
  throwsOneLine(() => readTrainingEnv({ MODEL_TYPE: 'bigram' }), /^MODEL_TYPE=bigram .*from_scratch, gpt2$/);
});

test('flags override variables', () => {
  assert.is(flagOr(undefined, 300), 300);
  assert.is(flagOr(12, 300), 12);
  assert.is(flagOr(0, 300), 0);
});

test('file names: 6-digit step on writing, 4 and 6 digits on reading', () => {
  const t = new Date(2025, 10, 10, 23, 15, 0);
  assert.is(envCheckpointFileName('from_scratch', 'carolyn hax', 500, t), 'checkpoint_from_scratch_carolyn_hax_step000500_11102025_231500.pt');
  const p = parseEnvCheckpointFileName('dir/checkpoint_bigram_carolyn_hax_step0500_11102025_231500.pt');
  assert.equal({ ...p, time: p.time.getTime() }, { model: 'bigram', source: 'carolyn_hax', step: 500, time: t.getTime() });
  const q = parseEnvCheckpointFileName('checkpoint_from_scratch_tiny_text_step001234_01022026_030405.pt');
  assert.is(q.model, 'from_scratch'); assert.is(q.source, 'tiny_text'); assert.is(q.step, 1234);
  assert.is(q.time.getTime(), new Date(2026, 0, 2, 3, 4, 5).getTime());
  assert.is(parseEnvCheckpointFileName('checkpoint_gpt2_x_step12_11102025_231500.pt'), null);
  assert.is(parseEnvCheckpointFileName('checkpoint-step000004-model.pt'), null);
  const r = parseEnvCheckpointFileName(envCheckpointFileName('gpt2', 'shakespeare', 7, t));
  assert.is(r.model, 'gpt2'); assert.is(r.source, 'shakespeare'); assert.is(r.step, 7);
});

test.run();
