// benchCpuTrainStep measures real steps and reports them consistently (a tiny model, few steps).
const { test } = require('uvu');
const assert = require('uvu/assert');
const { benchCpuTrainStep, CPU_TRAIN_DEFAULT } = require('../lib/bench/cpu-train');
const mypt = require('../lib');

test('benchCpuTrainStep: tokens/s from the median step, spread, threads restored', async () => {
  const threads = mypt.getCpuThreads();
  const r = await benchCpuTrainStep({ model: { n_layer: 1, n_embd: 32, n_head: 2, block_size: 16 }, batch_size: 2,
    warmup: 1, steps: 3, threads: 1 });
  assert.is(r.stepsMs.length, 3);
  assert.ok(r.stepsMs.every((ms) => ms > 0));
  assert.ok(r.minMs <= r.medianMs && r.medianMs <= r.maxMs);
  assert.ok(Math.abs(r.tokensPerSec - (2 * 16) / (r.medianMs / 1e3)) < 1e-6 * r.tokensPerSec);
  assert.is(r.threads, 1);
  assert.is(r.config.batch_size, 2);
  assert.is(mypt.getCpuThreads(), threads);
  assert.equal([CPU_TRAIN_DEFAULT.vocab_size, CPU_TRAIN_DEFAULT.n_layer, CPU_TRAIN_DEFAULT.n_head, CPU_TRAIN_DEFAULT.n_embd,
    CPU_TRAIN_DEFAULT.block_size], [65, 4, 4, 128, 64]);
});

test.run();
