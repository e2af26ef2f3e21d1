// Data-parallel training on the CPU, in CI: the ZeRO-1 bookkeeping (engine/shard_plan.h), the CPU
// group's collectives between worker processes (binding/cpu/collective_tcp.cc), and training at world
// size 2 and 3 against one process with the same global batch (engine/data_parallel.h: rank r runs the
// micro-batches r * A + m of the process with W * A micro-batches, so both see the same windows and the
// same dropout masks; they differ only in the order fp32 gradients are summed).
const { test } = require('uvu');
const assert = require('uvu/assert');
const mypt = require('../lib');
const { loadAddon } = require('../lib/native');
const { createModel } = require('../lib/model/gpt');
const { resolveModelConfig, toNativeConfig } = require('../lib/model/config');
const { runGroup } = require('./helpers/dp-harness');

const addon = loadAddon();
const native = (c) => toNativeConfig(resolveModelConfig(c));

const CONFIG = { vocab_size: 29, block_size: 16, n_layer: 2, n_head: 2, n_embd: 16, dropout: 0.1, seed: 5 };
const DATA = Array.from({ length: 3000 }, (_, i) => (i * 7 + (i >> 3) + ((i * i) % 11)) % 29);
const ADAMW = { lr: 3e-3, weight_decay: 0.1, grad_clip: 0.5 };
const B = 3, T = 16;

const flat = (n) => [].concat(...Object.values(n).map((t) => Array.from(t.data)));
function rel(a, b) {
  assert.is(a.length, b.length);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}
const maxRel = (a, b) => Math.max(...a.map((x, i) => Math.abs(x - b[i]) / Math.abs(b[i])));

/** One process, grad_accum micro-batches a step; its losses, norms, parameters and moments. */
async function single({ config = CONFIG, steps, accum, adamw = ADAMW, from }) {
  const m = createModel(config);
  try {
    m.setData('train', Int32Array.from(DATA));
    if (from) {
      m.setParameters(named(m, from.params));
      m.setOptimizerState({ step: from.step, exp_avg: named(m, from.m), exp_avg_sq: named(m, from.v) });
    }
    const losses = [], norms = [];
    const first = from ? from.step : 0;
    for (let s = first; s < first + steps; s++) {
      const r = await m.trainBatch({ batch_size: B, block_size: T, grad_accum: accum, seed: 7, step: s, ...adamw });
      losses.push(r.loss);
      norms.push(r.gradNorm);
    }
    const st = m.getOptimizerState();
    return { losses, norms, step: st.step, params: flat(m.getParameters()), m: flat(st.exp_avg), v: flat(st.exp_avg_sq),
      evalLoss: await m.estimateLoss('train', 5, B, T, { seed: 3, counter0: 0 }) };
  } finally {
    m.dispose();
  }
}

function named(model, all) {
  const out = {};
  let at = 0;
  for (const p of model.parameterInfo) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    out[p.name] = { shape: p.shape, data: Float32Array.from(all.slice(at, at + n)) };
    at += n;
  }
  return out;
}

async function group(world, input) {
  const r = await runGroup(world, { config: CONFIG, data: DATA, adamw: ADAMW, B, T, ...input });
  assert.equal(r.errors.filter(Boolean), [], JSON.stringify(r.errors));
  assert.equal(r.exits, new Array(world).fill(0));
  return r.results;
}

test('shard plan: every element owned once, buckets in backward order, aligned compact shards', () => {
  const configs = [
    CONFIG,
    { vocab_size: 65, block_size: 64, n_layer: 4, n_head: 4, n_embd: 128 },
    { vocab_size: 51, block_size: 9, n_layer: 3, n_head: 1, n_embd: 6, arch: 'gpt2' }, // odd sizes, tied head
  ];
  for (const config of configs) {
    for (const world of [1, 2, 3, 4, 7]) {
      for (const bucketFloats of [1, 500, 1e9]) {
        const plans = [];
        for (let r = 0; r < world; r++) plans.push(addon.shardPlan(native(config), r, world, bucketFloats));
        const p0 = plans[0];
        const what = `${JSON.stringify(config)} world ${world} bucket ${bucketFloats}`;
        // ready points: lnf, blocks L-1..0, then 0, descending
        assert.is(p0.ready.length, (config.n_layer) + 2, what);
        assert.is(p0.ready[p0.ready.length - 1], 0);
        for (let i = 1; i < p0.ready.length; i++) assert.ok(p0.ready[i] < p0.ready[i - 1], what);
        // buckets tile a range downward from the aligned end, in multiples of 4 * world
        const aligned = p0.total - (p0.total % 4);
        let hi = aligned;
        for (const b of p0.buckets) {
          assert.is(b.end, hi, what);
          assert.is((b.end - b.begin) % (4 * world), 0, what);
          assert.is(b.slice * world, b.end - b.begin, what);
          assert.is(b.begin % 4, 0, what);
          hi = b.begin;
        }
        assert.ok(hi < 4 * world, `${what}: ${hi} floats left replicated`);
        // every element owned by exactly one rank (replicated ones by rank 0's count), same compact size
        const owner = new Int32Array(p0.total).fill(-1);
        for (const [r, p] of plans.entries()) {
          assert.is(p.shardSize, p0.shardSize, what);
          const locals = new Int32Array(p.shardSize).fill(0);
          for (const o of p.owned) {
            assert.ok(o.local % 4 === 0 || o.begin === aligned, `${what}: compact offset ${o.local} not aligned`);
            for (let i = o.begin; i < o.end; i++) {
              if (o.replicated && r > 0) continue;
              assert.is(owner[i], -1, `${what}: element ${i} owned twice`);
              owner[i] = r;
            }
            for (let i = o.local; i < o.local + (o.end - o.begin); i++) locals[i]++;
          }
          assert.ok(locals.every((c) => c === 1), `${what}: the compact shard is not tiled exactly`);
        }
        assert.ok(owner.every((r) => r >= 0), `${what}: an element no rank owns`);
        if (bucketFloats === 1e9) assert.ok(p0.buckets.length <= 1, what);
        if (world === 1) assert.is(p0.shardSize, p0.total, what);
      }
    }
  }
});

test('CPU group: all-reduce, reduce-scatter, all-gather, broadcast (f32, f64, bf16) over 3 processes', async () => {
  const r = await runGroup(3, { scenario: 'collectives' });
  assert.equal(r.errors.filter(Boolean), []);
  for (let rank = 0; rank < 3; rank++) {
    const x = r.results[rank];
    assert.equal(x.ar, [6, 60, 1.5]);
    assert.equal(x.rs, [2 * rank * 3 + 300, (2 * rank + 1) * 3 + 300]); // sum over ranks of i + 100 r
    assert.equal(x.ag, [0.25, 0, 1.25, -1, 2.25, -2]);
    assert.equal(x.bc, [2, 2, 2]);
    assert.equal(x.f64, [6e-17, 3]);
    assert.equal(x.bf, [0x4040, 0x40c0]); // bf16 3.0, 6.0
  }
});

const FIGURES = {};

test('world 2, accumulation 1 == one process with accumulation 2 (dropout, clip, several buckets)', async () => {
  const steps = 4;
  const ref = await single({ steps, accum: 2 });
  for (const bucketMB of [25, 0.001]) {
    const [r0, r1] = await group(2, { scenario: 'train', steps, accum: 1, bucketMB });
    assert.ok(r0.plan.buckets >= (bucketMB === 25 ? 1 : 3), `buckets ${r0.plan.buckets}`);
    assert.ok(r0.plan.shardSize < ref.params.length * 0.55, `shard ${r0.plan.shardSize} of ${ref.params.length}`);
    assert.equal(r0.params, r1.params, 'both ranks hold the same parameters');
    assert.equal(r0.losses, r1.losses);
    const lossErr = maxRel(r0.losses, ref.losses), normErr = maxRel(r0.norms, ref.norms);
    const paramErr = rel(r0.params, ref.params), mErr = rel(r0.m, ref.m), vErr = rel(r0.v, ref.v);
    FIGURES[`w2 bucket ${bucketMB} MiB`] = { lossErr, normErr, paramErr, mErr, vErr };
    assert.ok(lossErr < 1e-6, `loss ${r0.losses} vs ${ref.losses}`);
    assert.ok(normErr < 1e-5, `norm ${r0.norms} vs ${ref.norms}`);
    assert.ok(paramErr < 1e-6, `parameters: relative error ${paramErr}`);
    assert.ok(mErr < 1e-5 && vErr < 1e-5, `moments: ${mErr}, ${vErr}`);
    assert.is(r0.step, steps);
    assert.ok(Math.abs(r0.evalLoss - ref.evalLoss) < 1e-9 * Math.abs(ref.evalLoss) + 1e-12, `eval ${r0.evalLoss} vs ${ref.evalLoss}`);
  }
});

test('world 3 x accumulation 2 == one process with accumulation 6; bf16 reduction stays close', async () => {
  const steps = 3;
  const ref = await single({ steps, accum: 6 });
  const [r0] = await group(3, { scenario: 'train', steps, accum: 2, bucketMB: 0.002 });
  const paramErr = rel(r0.params, ref.params);
  FIGURES['w3 x accum 2'] = { lossErr: maxRel(r0.losses, ref.losses), paramErr };
  assert.ok(maxRel(r0.losses, ref.losses) < 1e-6, `${r0.losses} vs ${ref.losses}`);
  assert.ok(paramErr < 1e-6, `parameters: relative error ${paramErr}`);
  const [b0] = await group(3, { scenario: 'train', steps, accum: 2, bucketMB: 0.002, gradDtype: 'bf16' });
  const bfErr = rel(b0.params, ref.params);
  FIGURES['w3 x accum 2, bf16 gradients'] = { paramErr: bfErr };
  assert.ok(bfErr < 1e-2 && bfErr > 0, `bf16 reduction: relative error ${bfErr}`);
});

test('world 2, per-rank batch B of an explicit batch == one process on the whole batch of 2B', async () => {
  const steps = 3;
  const config = { ...CONFIG, dropout: 0 };
  const batches = [];
  for (let s = 0; s < steps; s++) {
    const { x, y } = addon.sampleBatch(Int32Array.from(DATA), 2 * B, T, 11, 1, s);
    const rows = (a) => Array.from({ length: 2 * B }, (_, b) => Array.from(a.subarray(b * T, (b + 1) * T)));
    batches.push({ x: rows(x), y: rows(y) });
  }
  const m = createModel(config);
  const losses = [];
  for (const { x, y } of batches) losses.push(await m.trainStep({ tokens: x, targets: y, ...ADAMW }));
  const ref = flat(m.getParameters());
  m.dispose();
  const [r0, r1] = await group(2, { scenario: 'explicit', config, steps, batches });
  const paramErr = rel(r0.params, ref);
  FIGURES['w2 explicit rows vs batch 2B'] = { paramErr, firstLoss: [(r0.losses[0] + r1.losses[0]) / 2, losses[0]] };
  assert.ok(Math.abs((r0.losses[0] + r1.losses[0]) / 2 - losses[0]) < 1e-6 * losses[0]);
  assert.ok(paramErr < 1e-6, `parameters: relative error ${paramErr}`);
});

test('resume at another world size: 2 steps alone, then 2 at world 2 == 4 steps alone', async () => {
  const ref = await single({ steps: 4, accum: 2 });
  const head = await single({ steps: 2, accum: 2 });
  const [r0] = await group(2, { scenario: 'train', steps: 2, accum: 1, setState: { step: 2, params: head.params, m: head.m, v: head.v } });
  const paramErr = rel(r0.params, ref.params);
  FIGURES['resume 1 -> 2 ranks'] = { paramErr, mErr: rel(r0.m, ref.m) };
  assert.is(r0.step, 4);
  assert.ok(paramErr < 1e-6, `parameters: relative error ${paramErr}`);
  assert.ok(rel(r0.m, ref.m) < 1e-5);
  // and back: the world-2 state, gathered, continues alone
  const tail = await single({ steps: 1, accum: 2, from: r0 });
  const ref5 = await single({ steps: 5, accum: 2 });
  assert.ok(rel(tail.params, ref5.params) < 1e-6);
});

test('a killed rank ends the others within seconds, naming it', async () => {
  const t0 = Date.now();
  const r = await runGroup(3, { config: CONFIG, data: DATA, adamw: ADAMW, B, T, scenario: 'train', steps: 50, accum: 1, dieAfterConnect: 1, timeoutMs: 60000 });
  const seconds = (Date.now() - t0) / 1000;
  assert.is(r.exits[1], 'SIGKILL');
  for (const rank of [0, 2]) {
    assert.ok(r.errors[rank], `rank ${rank} should fail`);
    assert.is(r.errors[rank].code, 'E_DISTRIBUTED');
  }
  assert.match(r.errors[0].message, /rank 1 of the CPU group closed its connection/);
  assert.match(r.errors[2].message, /rank 0 of the CPU group stopped: rank 1 of the CPU group closed its connection/);
  assert.ok(seconds < 30, `took ${seconds} s`);
});

test('figures', () => {
  console.log('  data-parallel on the CPU, relative errors against one process:', JSON.stringify(FIGURES));
});

test.run();
