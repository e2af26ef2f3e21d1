// Data-parallel training through NCCL (cuda/nccl_loader.cc, cuda/nccl_collective.cu, cuda/gpt_dp.cu).
// On one GPU: a group of world size 1 runs the whole NCCL path (the unique id, the communicator, every
// collective in place, the bucketed reduce-scatter during the backward, the sharded AdamW over ranges,
// the all-gather, the gathered optimizer state) and must equal the single-GPU trainer; `train --gpus 1`
// goes through the launcher, the rendezvous and a worker. With 2+ GPUs: world size 2 against one GPU
// with gradient accumulation 2, and a killed rank. Skipped, with the reason, without a GPU or NCCL.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const mypt = require('../../lib');
const { createModel } = require('../../lib/model/gpt');
const { runGroup } = require('../helpers/dp-harness');

const b = mypt.backends();
const ok = b.cuda && b.nccl;
const maybe = ok ? test : test.skip;
const two = ok && b.devices.length >= 2 ? test : test.skip;
if (!ok) console.log(`  skipping the NCCL tests: ${!b.cuda ? b.cudaReason : b.ncclReason}`);
else console.log(`  NCCL ${b.ncclVersion} on ${b.devices.length} x ${b.devices[0].name}`);

const CONFIG = { vocab_size: 96, block_size: 64, n_layer: 3, n_head: 4, n_embd: 128, dropout: 0.1, seed: 5, device: 'cuda', precision: 'fp32' };
const DATA = Array.from({ length: 20000 }, (_, i) => (i * 7 + (i >> 3) + ((i * i) % 13)) % 96);
const ADAMW = { lr: 1e-3, weight_decay: 0.1, grad_clip: 1.0 };
const B = 4, T = 64;
const flat = (n) => [].concat(...Object.values(n).map((t) => Array.from(t.data)));
function rel(a, c) {
  let n = 0, d = 0;
  for (let i = 0; i < a.length; i++) {
    n += (a[i] - c[i]) ** 2;
    d += c[i] ** 2;
  }
  return Math.sqrt(n / d);
}

async function run(model, steps, accum) {
  model.setData('train', Int32Array.from(DATA));
  const losses = [];
  for (let s = 0; s < steps; s++) losses.push((await model.trainBatch({ batch_size: B, block_size: T, grad_accum: accum, seed: 7, step: s, ...ADAMW })).loss);
  const st = model.getOptimizerState();
  return { losses, params: flat(model.getParameters()), m: flat(st.exp_avg), v: flat(st.exp_avg_sq), step: st.step };
}

maybe('backends() reports NCCL, its version, and NVLink multicast off', () => {
  assert.ok(/^\d+\.\d+\.\d+$/.test(b.ncclVersion), b.ncclVersion);
  assert.is(b.ncclReason, '');
  assert.is(process.env.NCCL_NVLS_ENABLE ?? '0', '0');
});

maybe('world size 1 through NCCL: raw collectives are the identity (f32, f64, bf16)', async () => {
  const g = await mypt.ProcessGroup.connect({ device: 'cuda', rank: 0, world: 1, id: mypt.groupId('cuda') });
  assert.match(g.description, /^nccl \d+\.\d+\.\d+, rank 0 of 1 \(cuda:0\)$/);
  assert.equal([...(await g.allReduce(Float32Array.from([1, 2.5, -3])))], [1, 2.5, -3]);
  assert.equal([...(await g.reduceScatter(Float64Array.from([1e-300, 7])))], [1e-300, 7]);
  assert.equal([...(await g.allGather(Uint16Array.from([0x3f80, 0x4000])))], [0x3f80, 0x4000]);
  assert.equal([...(await g.broadcast(Float32Array.from([4, 5])))], [4, 5]);
  g.close();
});

maybe('world size 1 through NCCL == the single-GPU trainer (fp32; bucketed reduce-scatter, sharded AdamW, gather)', async () => {
  const steps = 5;
  const single = createModel(CONFIG);
  const ref = await run(single, steps, 2);
  single.dispose();
  for (const [bucketMB, gradDtype] of [[25, 'fp32'], [0.05, 'fp32'], [0.05, 'bf16']]) {
    const g = await mypt.ProcessGroup.connect({ device: 'cuda', rank: 0, world: 1, id: mypt.groupId('cuda') });
    const m = createModel(CONFIG);
    const plan = await m.joinGroup(g, { bucketMB, gradDtype });
    const r = await run(m, steps, 2);
    m.dispose();
    g.close();
    const e = rel(r.params, ref.params);
    console.log(`  world 1, buckets ${plan.buckets}, ${gradDtype} reduction: parameters ${e.toExponential(2)} relative to the single-GPU run`);
    assert.is(r.step, steps);
    if (gradDtype === 'fp32') {
      assert.ok(e < 1e-6, `parameters ${e}`);
      assert.ok(rel(r.m, ref.m) < 1e-5 && rel(r.v, ref.v) < 1e-5);
      r.losses.forEach((l, i) => assert.ok(Math.abs(l - ref.losses[i]) < 1e-5 * ref.losses[i], `${l} vs ${ref.losses[i]}`));
    } else {
      assert.ok(e < 1e-2, `bf16 reduction: ${e}`);
    }
  }
});

maybe('world size 1, bf16 model: trains and stays close to the single-GPU bf16 run', async () => {
  const cfg = { ...CONFIG, precision: 'bf16' };
  const single = createModel(cfg);
  const ref = await run(single, 3, 1);
  single.dispose();
  const g = await mypt.ProcessGroup.connect({ device: 'cuda', rank: 0, world: 1, id: mypt.groupId('cuda') });
  const m = createModel(cfg);
  await m.joinGroup(g, { bucketMB: 0.05 });
  const r = await run(m, 3, 1);
  m.dispose();
  g.close();
  assert.ok(rel(r.params, ref.params) < 1e-5, `${rel(r.params, ref.params)}`);
});

maybe('train --gpus 1 --device cuda (launcher, rendezvous, NCCL worker) == plain train on the GPU', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-nccl-'));
  const bin = path.join(__dirname, '..', '..', 'bin', 'mypt-native.js');
  const flags = ['train', '--tokenization', 'char', '--n_layer', '2', '--n_embd', '64', '--n_head', '2', '--block_size', '64', '--batch_size', '8',
    '--max_iters', '20', '--eval_interval', '10', '--eval_iters', '2', '--sample_tokens', '0', '--device', 'cuda', '--checkpoints_dir', dir];
  const env = { ...process.env, CI: '1' };
  const one = spawnSync(process.execPath, [bin, ...flags, '--model_name', 'one'], { encoding: 'utf8', env });
  assert.is(one.status, 0, one.stderr);
  const job = spawnSync(process.execPath, [bin, ...flags, '--model_name', 'job', '--gpus', '1', '--master_port', String(29600 + (process.pid % 300))], { encoding: 'utf8', env });
  assert.is(job.status, 0, job.stdout + job.stderr);
  assert.match(job.stdout, /Data parallel: nccl \d/);
  const m = (n) => fs.readFileSync(path.join(dir, n, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const a = m('one'), c = m('job');
  assert.equal(c.map((x) => x.step), a.map((x) => x.step));
  c.forEach((x, i) => assert.ok(Math.abs(x.val_loss - a[i].val_loss) < 1e-3 * a[i].val_loss, `${x.val_loss} vs ${a[i].val_loss}`));
  fs.rmSync(dir, { recursive: true, force: true });
});

two('world size 2 on two GPUs == one GPU with gradient accumulation 2 (fp32)', async () => {
  const steps = 5;
  const single = createModel(CONFIG);
  const ref = await run(single, steps, 2);
  single.dispose();
  const r = await runGroup(2, { device: 'cuda', scenario: 'train', config: CONFIG, data: DATA, adamw: ADAMW, B, T, steps, accum: 1, bucketMB: 0.05 });
  assert.equal(r.errors.filter(Boolean), [], JSON.stringify(r.errors));
  const e = rel(r.results[0].params, ref.params);
  console.log(`  world 2 on 2 GPUs: parameters ${e.toExponential(2)} relative to one GPU with accumulation 2`);
  assert.ok(e < 1e-5, `${e}`);
  assert.equal(r.results[0].params, r.results[1].params);
});

two('world size 2 on two GPUs: a killed rank ends the other within seconds', async () => {
  const t0 = Date.now();
  const r = await runGroup(2, { device: 'cuda', scenario: 'train', config: CONFIG, data: DATA, adamw: ADAMW, B, T, steps: 100000, accum: 1,
    dieAfterConnect: 1, timeoutMs: 20000 });
  assert.is(r.exits[1], 'SIGKILL');
  assert.ok(r.errors[0] && r.errors[0].code === 'E_DISTRIBUTED', JSON.stringify(r.errors));
  assert.ok((Date.now() - t0) / 1000 < 40);
});

test.run();
