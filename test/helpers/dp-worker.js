// One rank of a data-parallel test group (test/dp-cpu.test.js), started by dp-harness.js with an IPC
// channel. Rank 0 makes the group id and sends it up; the harness hands it to the other ranks. The rank
// then runs the scenario it was given and sends its results up. Prints nothing.
'use strict';
const mypt = require('../../lib');
const { createModel } = require('../../lib/model/gpt');

let input, rank, world;

function send(m) {
  return new Promise((resolve) => process.send(m, resolve));
}

// the harness's messages: first this rank's input, then (ranks > 0) rank 0's group id
const inbox = { input: null, id: null, waiting: {} };
process.on('message', (m) => {
  if (!m || !(m.type in inbox)) return;
  inbox[m.type] = m;
  if (inbox.waiting[m.type]) inbox.waiting[m.type](m);
});
const receive = (type) => new Promise((resolve) => (inbox[type] ? resolve(inbox[type]) : (inbox.waiting[type] = resolve)));

const scenarios = {
  async collectives(group) {
    const f32 = Float32Array.from([rank + 1, 10 * (rank + 1), 0.5]);
    const ar = await group.allReduce(f32);
    const rsIn = new Float32Array(2 * world).map((_, i) => i + 100 * rank);
    const rs = await group.reduceScatter(rsIn);
    const agIn = new Float32Array(2 * world);
    agIn[2 * rank] = rank + 0.25;
    agIn[2 * rank + 1] = -rank;
    const ag = await group.allGather(agIn);
    const bc = await group.broadcast(Float32Array.from([rank, rank, rank]), world - 1);
    const f64 = await group.allReduce(Float64Array.from([1e-17 * (rank + 1), 1]));
    const bf = await group.allReduce(Uint16Array.from([0x3f80, 0x4000])); // bf16 1.0, 2.0
    return { ar: [...ar], rs: [...rs.subarray(2 * rank, 2 * rank + 2)], ag: [...ag], bc: [...bc], f64: [...f64], bf: [...bf] };
  },

  async train(group) {
    const { config, steps, B, T, accum, data, adamw, bucketMB, gradDtype, setState } = input;
    const model = createModel({ ...config, device: input.device || 'cpu' }, { deviceIndex: input.device === 'cuda' ? rank : 0 });
    model.setData('train', Int32Array.from(data));
    if (setState) {
      model.setParameters(named(model, setState.params));
      model.setOptimizerState({ step: setState.step, exp_avg: named(model, setState.m), exp_avg_sq: named(model, setState.v) });
    }
    const plan = await model.joinGroup(group, { bucketMB, gradDtype });
    const losses = [], norms = [];
    const first = setState ? setState.step : 0;
    for (let s = first; s < first + steps; s++) {
      const r = await model.trainBatch({ batch_size: B, block_size: T, grad_accum: accum, seed: 7, step: s, ...adamw });
      losses.push(r.loss);
      norms.push(r.gradNorm);
    }
    const evalLoss = await model.estimateLoss('train', 5, B, T, { seed: 3, counter0: 0 });
    const st = model.getOptimizerState();
    const out = { plan, losses, norms, evalLoss, step: st.step, params: flat(model.getParameters()), m: flat(st.exp_avg), v: flat(st.exp_avg_sq) };
    model.dispose();
    return out;
  },

  // rows [rank * B, (rank + 1) * B) of an explicit batch: forwardBackward + the data-parallel optimizer step
  async explicit(group) {
    const { config, steps, B, T, batches, adamw } = input;
    const model = createModel(config);
    await model.joinGroup(group, {});
    const losses = [];
    for (let s = 0; s < steps; s++) {
      const { x, y } = batches[s];
      const rows = (a) => a.slice(rank * B, (rank + 1) * B);
      losses.push(await model.forwardBackward(rows(x), rows(y)));
      await model.optimizerStep(adamw);
    }
    const out = { losses, params: flat(model.getParameters()) };
    model.dispose();
    return out;
  },
};

function flat(named) {
  const parts = Object.values(named).map((t) => Array.from(t.data));
  return [].concat(...parts);
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

async function main() {
  ({ input } = await receive('input'));
  ({ rank, world } = input);
  mypt.setCpuThreads(1);
  const device = input.device || 'cpu';
  let id;
  if (rank === 0) {
    id = mypt.groupId(device);
    await send({ type: 'id', id: Buffer.from(id).toString('base64') });
  } else {
    id = Uint8Array.from(Buffer.from((await receive('id')).id, 'base64'));
  }
  const group = await mypt.ProcessGroup.connect({ device, rank, world, id, host: '127.0.0.1', deviceIndex: device === 'cuda' ? rank : 0,
    timeoutMs: input.timeoutMs || 60000 });
  if (input.dieAfterConnect === rank) process.kill(process.pid, 'SIGKILL');
  const result = await scenarios[input.scenario](group);
  await send({ type: 'result', rank, result, description: group.description });
  group.close();
  process.disconnect();
}

main().catch(async (e) => {
  await send({ type: 'error', rank, code: e.code, message: e.message });
  process.exit(1);
});
