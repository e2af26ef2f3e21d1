// `train --gradient_accumulation_steps N` (nanoGPT's name) and `--total_batch_size TOKENS` (llm.c's meaning)
// on the CPU: one optimizer step over N micro-batches of B equals one step over the batch of N*B made of the
// same windows (dropout 0, fp32 tolerance), through the command line and back through the public API;
// --beta1/--beta2 reach AdamW; the settings are recorded and a resume keeps them; --eval_only writes
// nothing; --log_interval logs nanoGPT's `iter N: loss` lines.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { loadModel, createModel } = require('../lib');
const { tokenizeAndSplit } = require('../lib/data');
const { CounterRng, sampleBatch, STREAM_TRAIN } = require('../lib/data/batches');
const { relErr } = require('./helpers/relerr');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-accum-'));
const corpus = path.join(tmp, 'corpus.txt');
const lines = [];
for (let i = 0; i < 120; i++) lines.push(`line ${i}: the ${['quick', 'lazy', 'brown', 'grey'][i % 4]} fox ${i % 7 ? 'jumps' : 'sleeps'} over ${(i * 37) % 101} dogs.`);
fs.writeFileSync(corpus, lines.join('\n') + '\n');

const B = 2, T = 16, N = 4, SEED = 5, LR = 1e-2, BETAS = [0.8, 0.95], WD = 0.1;
const FLAGS = ['--input_file', corpus, '--tokenization', 'char', '--n_layer', '2', '--n_embd', '16', '--n_head', '2', '--block_size', String(T),
  '--batch_size', String(B), '--eval_iters', '1', '--eval_interval', '100', '--sample_tokens', '0', '--dropout', '0', '--device', 'cpu',
  '--seed', String(SEED), '--warmup_iters', '0', '--lr_decay_iters', '0', '--learning_rate', String(LR), '--weight_decay', String(WD),
  '--checkpoints_dir', tmp];
const BETA_FLAGS = ['--beta1', String(BETAS[0]), '--beta2', String(BETAS[1])];

function cli(args) {
  const r = spawnSync(process.execPath, [BIN, 'train', ...FLAGS, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 120000 });
  return { ...r, out: r.stdout + r.stderr };
}
function ok(args) {
  const r = cli(args);
  assert.is(r.status, 0, r.out);
  return r;
}
const flat = (named) => {
  const keys = Object.keys(named).sort();
  const n = keys.reduce((s, k) => s + named[k].data.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const k of keys) { out.set(named[k].data, o); o += named[k].data.length; }
  return out;
};
async function params(name) {
  const m = await loadModel(path.join(tmp, name), { device: 'cpu' });
  try { return flat(m.getParameters()); } finally { m.dispose(); }
}
const state = (name) => JSON.parse(fs.readFileSync(path.join(tmp, name, 'training_state.json'), 'utf8'));

test('--gradient_accumulation_steps 4: one step equals one step on the batch of 4x2 windows (public API, fp32 tolerance)', async () => {
  ok(['--model_name', 'acc', '--max_iters', '1', '--gradient_accumulation_steps', String(N), ...BETA_FLAGS]);
  // the CLI's starting point (its config and seed) and the same 4 micro-batches (step 0: counters 0..3) as one
  // batch of 8, through the public API
  const saved = await loadModel(path.join(tmp, 'acc'), { device: 'cpu' });
  const init = () => createModel({ ...saved.config, dropout: 0, device: 'cpu', seed: SEED }, { tokenizer: saved.tokenizer });
  const m = init();
  try {
    const { train } = tokenizeAndSplit(m.tokenizer, fs.readFileSync(corpus, 'utf8'));
    const x = new Int32Array(N * B * T), y = new Int32Array(N * B * T);
    for (let k = 0; k < N; k++) {
      const b = sampleBatch(train, B, T, new CounterRng(SEED, STREAM_TRAIN, k));
      x.set(b.tokens.data, k * B * T);
      y.set(b.targets.data, k * B * T);
    }
    const before = flat(m.getParameters());
    await m.trainStep({ tokens: { data: x, shape: [N * B, T] }, targets: { data: y, shape: [N * B, T] }, lr: LR, weight_decay: WD, betas: BETAS });
    const ref = flat(m.getParameters());
    const acc = await params('acc');
    const e = relErr(acc, ref);
    const moved = relErr(acc, before);
    console.log(`  4 micro-batches of 2 vs one batch of 8: parameters ${e.toExponential(2)} relative (the step moved them ${moved.toExponential(2)})`);
    assert.ok(e < 1e-6, `parameters differ by ${e}`);
    assert.ok(moved > 1e-3, 'the step changed nothing');
    // not vacuous: the first micro-batch alone, or other betas, give other parameters
    const one = init();
    try {
      await one.trainStep({ tokens: { data: x.subarray(0, B * T), shape: [B, T] }, targets: { data: y.subarray(0, B * T), shape: [B, T] }, lr: LR, weight_decay: WD, betas: BETAS });
      assert.ok(relErr(acc, flat(one.getParameters())) > 100 * e + 1e-4);
    } finally { one.dispose(); }
  } finally { m.dispose(); saved.dispose(); }
});

test('--total_batch_size B*T*4 gives the same run as --gradient_accumulation_steps 4; the settings are recorded', async () => {
  ok(['--model_name', 'tbs', '--max_iters', '1', '--total_batch_size', String(B * T * N), ...BETA_FLAGS]);
  assert.equal(await params('tbs'), await params('acc'));
  const tc = state('tbs').training_config;
  assert.is(tc.grad_accum, N);
  assert.is(tc.beta1, BETAS[0]);
  assert.is(tc.beta2, BETAS[1]);
});

test('--beta1/--beta2 reach AdamW (other betas, other parameters)', async () => {
  ok(['--model_name', 'betas', '--max_iters', '2', '--gradient_accumulation_steps', String(N), '--beta1', '0.9', '--beta2', '0.999']);
  ok(['--model_name', 'acc2', '--max_iters', '2', '--gradient_accumulation_steps', String(N), ...BETA_FLAGS]);
  assert.ok(relErr(await params('betas'), await params('acc2')) > 1e-4);
});

test('a resume keeps the recorded accumulation and betas: 1 step + 1 resumed == 2 steps straight', async () => {
  // 'acc' is at step 1; resume it without the accumulation or beta flags
  ok(['--model_name', 'acc', '--max_iters', '2']);
  assert.equal(await params('acc'), await params('acc2'));
  assert.is(state('acc').training_config.grad_accum, N);
});

test('data parallel (--gpus 2, CPU ranks): --gradient_accumulation_steps 4 is 2 per rank, the same step as one process; a resume on one process keeps 4', async () => {
  const dp = (args) => ok(['--gpus', '2', '--master_port', String(29600 + Math.floor(Math.random() * 300)), ...args]);
  dp(['--model_name', 'dp', '--max_iters', '1', '--gradient_accumulation_steps', String(N), ...BETA_FLAGS]);
  const tc = state('dp').training_config;
  assert.equal([tc.grad_accum, tc.world_size], [N / 2, 2]);
  const e = relErr(await params('dp'), await params('tbs'));
  console.log(`  2 ranks x 2 micro-batches vs 1 process x 4: parameters ${e.toExponential(2)} relative`);
  assert.ok(e < 1e-6, `parameters differ by ${e}`);
  ok(['--model_name', 'dp', '--max_iters', '2']); // one process now: 4 micro-batches, as recorded
  const r = relErr(await params('dp'), await params('acc2'));
  assert.ok(r < 1e-6, `resumed run differs by ${r}`);
  assert.equal([state('dp').training_config.grad_accum, state('dp').training_config.world_size], [N, undefined]);
  const odd = cli(['--gpus', '2', '--model_name', 'dpodd', '--max_iters', '1', '--gradient_accumulation_steps', '3']);
  assert.is(odd.status, 1);
  assert.match(odd.stderr, /^error: --gradient_accumulation_steps 3: must be divisible by the number of processes \(2\)$/m);
  assert.is(odd.stderr.trim().split('\n').length, 1, odd.stderr);
});

test('bad combinations: one error line naming the flags', () => {
  const cases = [
    [['--total_batch_size', '100'], /--total_batch_size 100: must be a multiple of batch_size x block_size x processes = 2 x 16 x 1 = 32 tokens/],
    [['--grad_accum', '2', '--gradient_accumulation_steps', '4'], /--gradient_accumulation_steps 4: gives 4 micro-batch\(es\) per process but --grad_accum gives 2/],
    [['--gradient_accumulation_steps', '2', '--total_batch_size', '32'], /--total_batch_size 32: gives 1 micro-batch\(es\) per process but --gradient_accumulation_steps 2 gives 2/],
    [['--gradient_accumulation_steps', '0'], /--gradient_accumulation_steps 0: must be at least 1/],
    [['--beta2', '1'], /--beta2 1: must be in \[0, 1\)/],
  ];
  for (const [args, re] of cases) {
    const r = cli(['--model_name', 'bad', '--max_iters', '1', ...args]);
    assert.is(r.status, 1, r.out);
    const errs = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    assert.is(errs.length, 1, r.stderr);
    assert.match(errs[0], re);
    assert.not.match(r.stderr, /\n\s+at /);
  }
  assert.not.ok(fs.existsSync(path.join(tmp, 'bad')));
});

test('--eval_only: the losses of the starting point, nothing trained or written', () => {
  const before = fs.readdirSync(path.join(tmp, 'acc2')).map((f) => [f, fs.statSync(path.join(tmp, 'acc2', f)).mtimeMs]);
  const r = ok(['--model_name', 'acc2', '--max_iters', '10', '--eval_only']);
  assert.match(r.stdout, /step 2: train loss \d+\.\d{4}, val loss \d+\.\d{4}/);
  assert.match(r.stdout, /Evaluated at step 2/);
  const after = fs.readdirSync(path.join(tmp, 'acc2')).map((f) => [f, fs.statSync(path.join(tmp, 'acc2', f)).mtimeMs]);
  assert.equal(after, before);
  ok(['--model_name', 'fresh', '--eval_only']);
  assert.not.ok(fs.existsSync(path.join(tmp, 'fresh')));
});

test('--log_interval 2: nanoGPT-style iter lines every 2 steps', () => {
  const r = ok(['--model_name', 'logs', '--max_iters', '5', '--log_interval', '2']);
  const iters = [...r.stdout.matchAll(/^iter (\d+): loss \d+\.\d{4}, time \d+\.\d{2}ms/gm)].map((m) => Number(m[1]));
  assert.equal(iters, [0, 2, 4]);
  assert.is(state('logs').training_config.log_interval, 2);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
