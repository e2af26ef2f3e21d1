// `mypt-native train --gpus N` and torchrun's several-host flags, on the CPU (`--device cpu`: one CPU
// worker process a "GPU"): the job's bundle equals one process with gradient accumulation N, a job
// resumes at another world size, a killed rank ends the job with its name, Ctrl-C saves once and stops
// every rank, and two "hosts" on localhost meet over TCP.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const net = require('net');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { loadBundle } = require('../lib/formats/mypt/bundle');
const { distributedRole, workerEnv } = require('../lib/use-cases/train/distributed/role');
const { workerArgs } = require('../lib/cli/distributed');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-dp-'));
const FLAGS = ['--tokenization', 'char', '--n_layer', '2', '--n_embd', '32', '--n_head', '2', '--block_size', '32', '--batch_size', '4',
  '--eval_iters', '2', '--sample_tokens', '0', '--dropout', '0.1', '--learning_rate', '3e-3', '--grad_clip', '1',
  '--device', 'cpu', '--checkpoints_dir', tmp];
const ENV = { ...process.env, CI: '1', MYPT_DIST_TIMEOUT: '60' };

/** A port nobody listens on now (another engineer's tests may hold 29500). */
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function train(args, port) {
  port ??= await freePort();
  args = args.includes('--eval_interval') ? args : ['--eval_interval', '3', ...args];
  const r = spawnSync(process.execPath, [BIN, 'train', ...FLAGS, '--master_port', String(port), ...args], { encoding: 'utf8', env: ENV, timeout: 120000 });
  return { ...r, out: r.stdout + r.stderr };
}

const trainSingle = (args) => {
  const r = spawnSync(process.execPath, [BIN, 'train', ...FLAGS, '--eval_interval', '3', ...args], { encoding: 'utf8', env: ENV, timeout: 120000 });
  return { ...r, out: r.stdout + r.stderr };
};

const metrics = (name) => fs.readFileSync(path.join(tmp, name, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

async function params(name) {
  const b = await loadBundle(path.join(tmp, name), { optimizer: true });
  const flat = (named) => [].concat(...Object.keys(named).sort().map((k) => Array.from(named[k].data)));
  return { p: flat(b.params), m: flat(b.optimizer.exp_avg), step: b.optimizer.step, state: b.trainingState };
}

function rel(a, b) {
  assert.is(a.length, b.length);
  let n = 0, d = 0;
  for (let i = 0; i < a.length; i++) {
    n += (a[i] - b[i]) ** 2;
    d += b[i] ** 2;
  }
  return Math.sqrt(n / d);
}

function sameRun(a, b, what) {
  const ma = metrics(a), mb = metrics(b);
  assert.equal(ma.map((r) => r.step), mb.map((r) => r.step), what);
  for (let i = 0; i < ma.length; i++) {
    assert.ok(Math.abs(ma[i].train_loss - mb[i].train_loss) < 1e-5 * mb[i].train_loss, `${what}: train loss at ${ma[i].step}: ${ma[i].train_loss} vs ${mb[i].train_loss}`);
    assert.ok(Math.abs(ma[i].val_loss - mb[i].val_loss) < 1e-5 * mb[i].val_loss, `${what}: val loss at ${ma[i].step}`);
  }
}

test('role: flags and torchrun variables; a worker command line without the launch flags', () => {
  assert.equal(distributedRole({}, {}), { kind: 'single' });
  assert.equal(distributedRole({ gpus: 4 }, {}), { kind: 'launch', nproc: 4, nnodes: 1, nodeRank: 0, world: 4, masterAddr: '127.0.0.1', masterPort: 29500 });
  assert.equal(distributedRole({ gpus: 8, nnodes: 2, node_rank: 1, master_addr: '10.0.0.1', master_port: 1234 }, {}).world, 16);
  assert.equal(distributedRole({}, { RANK: '3', WORLD_SIZE: '8', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'h0', MASTER_PORT: '7' }),
    { kind: 'worker', rank: 3, world: 8, localRank: 1, localWorld: 2, masterAddr: 'h0', masterPort: 7 });
  const fails = (f, env, re) => assert.throws(() => distributedRole(f, env), (e) => e.code === 'E_BAD_ARGUMENT' && re.test(e.message));
  fails({ gpus: 2, nnodes: 2 }, {}, /--nnodes 2: needs --master_addr/);
  fails({ gpus: 2, nnodes: 2, node_rank: 2, master_addr: 'a' }, {}, /--node_rank 2: must be in 0..1/);
  fails({}, { RANK: '2', WORLD_SIZE: '2' }, /RANK=2: must be below WORLD_SIZE=2/);
  fails({}, { RANK: '0' }, /RANK and WORLD_SIZE must be set together/);
  fails({ master_port: 5 }, {}, /--master_port: needs --gpus/);
  const env = workerEnv(distributedRole({ gpus: 2, nnodes: 2, node_rank: 1, master_addr: 'h' }, {}), 1, { NCCL_NVLS_ENABLE: '1' });
  assert.equal([env.RANK, env.WORLD_SIZE, env.LOCAL_RANK, env.LOCAL_WORLD_SIZE, env.MASTER_ADDR], ['3', '4', '1', '2', 'h']);
  assert.equal([env.NCCL_NVLS_ENABLE, env.TORCH_SYMM_MEM_DISABLE_MULTICAST, env.NVSHMEM_DISABLE_NVLS], ['0', '1', '1']);
  assert.equal(workerArgs(['--gpus', '2', '--model_name', 'x', '--nnodes=2', '--node_rank', '0', '--master_addr', 'h', '--master_port', '9', '--seed', '1']),
    ['--model_name', 'x', '--seed', '1']);
});

test('--gpus 2 == one process with --grad_accum 2 (eval losses, parameters, moments); the bundle is written once, by rank 0', async () => {
  const a = trainSingle(['--model_name', 'acc2', '--grad_accum', '2', '--max_iters', '6']);
  assert.is(a.status, 0, a.out);
  const w = await train(['--model_name', 'w2', '--gpus', '2', '--max_iters', '6']);
  assert.is(w.status, 0, w.out);
  assert.match(w.out, /rank 0 started \(pid \d+/);
  assert.match(w.out, /Data parallel: cpu tcp, rank 0 of 2, 2 ranks x 1 micro-batch of 4; optimizer state sharded/);
  assert.is((w.stdout.match(/Saved model weights/g) || []).length, 3, 'steps 0, 3 and 6, once each');
  assert.not.match(w.out, /\[rank 1\]/, 'rank 1 says nothing');
  sameRun('w2', 'acc2', 'world 2');
  const pa = await params('acc2'), pw = await params('w2');
  assert.is(pw.step, 6);
  assert.is(pw.state.training_config.world_size, 2);
  const pe = rel(pw.p, pa.p), me = rel(pw.m, pa.m);
  console.log(`  CLI --gpus 2 vs --grad_accum 2 after 6 steps: parameters ${pe.toExponential(2)}, exp_avg ${me.toExponential(2)} relative`);
  assert.ok(pe < 1e-6, `parameters: ${pe}`);
  assert.ok(me < 1e-5, `moments: ${me}`);
});

test('resume at another world size: 2 ranks to step 3, then 1 process with --grad_accum 2 to 6 == 6 steps straight', async () => {
  const w = await train(['--model_name', 'mix', '--gpus', '2', '--max_iters', '3']);
  assert.is(w.status, 0, w.out);
  const s = trainSingle(['--model_name', 'mix', '--grad_accum', '2', '--max_iters', '6']);
  assert.is(s.status, 0, s.out);
  assert.match(s.out, /resuming training/);
  sameRun('mix', 'acc2', 'resumed');
  const t = await train(['--model_name', 'mix', '--gpus', '2', '--max_iters', '9']);
  assert.is(t.status, 0, t.out);
  const ref = trainSingle(['--model_name', 'acc2-9', '--grad_accum', '2', '--max_iters', '9']);
  assert.is(ref.status, 0, ref.out);
  const pm = await params('mix'), pr = await params('acc2-9');
  assert.is(pm.step, 9);
  assert.ok(rel(pm.p, pr.p) < 1e-6, `${rel(pm.p, pr.p)}`);
});

/** Starts a launcher (its own process group, as a terminal's job), collecting its output. */
function startJob(args, port) {
  const child = spawn(process.execPath, [BIN, 'train', ...FLAGS, '--master_port', String(port), ...args], { env: ENV, detached: true });
  const job = { child, out: '', exit: null };
  child.stdout.on('data', (d) => { job.out += d; });
  child.stderr.on('data', (d) => { job.out += d; });
  job.done = new Promise((resolve) => child.on('exit', (code, signal) => { job.exit = signal || code; resolve(job); }));
  job.waitFor = async (re, ms = 60000) => {
    const t0 = Date.now();
    while (!re.test(job.out)) {
      if (job.exit !== null || Date.now() - t0 > ms) throw new Error(`never saw ${re}:\n${job.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return job.out.match(re);
  };
  return job;
}

const LONG = ['--max_iters', '100000', '--eval_interval', '100000'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** training is under way: the step-0 save is done, and some steps later */
const training = async (job) => {
  await job.waitFor(/Saved training state/);
  await sleep(700);
};

test('a killed rank ends the job within seconds, naming the rank', async () => {
  const job = startJob(['--model_name', 'kill', '--gpus', '2', ...LONG], await freePort());
  const pid = Number((await job.waitFor(/rank 1 started \(pid (\d+)/))[1]);
  await training(job);
  const t0 = Date.now();
  process.kill(pid, 'SIGKILL');
  await job.done;
  const seconds = (Date.now() - t0) / 1000;
  assert.is(job.exit, 1, job.out);
  assert.match(job.out, new RegExp(`error: rank 1 \\(pid ${pid}\\) was killed by SIGKILL; stopping the other ranks`));
  assert.ok(seconds < 10, `the job took ${seconds} s to end`);
});

test('Ctrl-C: every rank stops after the same step, rank 0 saves once, the job exits 0', async () => {
  const job = startJob(['--model_name', 'ctrlc', '--gpus', '2', ...LONG], await freePort());
  await training(job);
  process.kill(-job.child.pid, 'SIGINT'); // the terminal's Ctrl-C: the whole process group
  await job.done;
  assert.is(job.exit, 0, job.out);
  const m = job.out.match(/Stopped at step (\d+); the bundle in .* is saved/);
  assert.ok(m, job.out);
  assert.is((job.out.match(/Interrupted: saving at step/g) || []).length, 1);
  const b = await params('ctrlc');
  assert.is(b.step, Number(m[1]));
});

test('two hosts on localhost (--nnodes 2 --node_rank 0|1): == one process with --grad_accum 2; a failed host is named on the other', async () => {
  const port = await freePort();
  const both = ['--nnodes', '2', '--gpus', '1', '--master_addr', '127.0.0.1', '--max_iters', '6', '--eval_interval', '3'];
  const n1 = startJob(['--model_name', 'nodes', ...both, '--node_rank', '1'], port); // before node 0: it waits for rank 0
  const n0 = startJob(['--model_name', 'nodes', ...both, '--node_rank', '0'], port);
  await Promise.all([n0.done, n1.done]);
  assert.is(n0.exit, 0, n0.out);
  assert.is(n1.exit, 0, n1.out);
  sameRun('nodes', 'acc2', 'two hosts');
  // node 1's worker dies: node 0 hears it through the rendezvous connection
  const port2 = await freePort();
  const long = ['--nnodes', '2', '--gpus', '1', '--master_addr', '127.0.0.1', ...LONG];
  const k0 = startJob(['--model_name', 'nodes2', ...long, '--node_rank', '0'], port2);
  const k1 = startJob(['--model_name', 'nodes2', ...long, '--node_rank', '1'], port2);
  await training(k0);
  const pid = Number((await k1.waitFor(/rank 1 started \(pid (\d+)/))[1]);
  process.kill(pid, 'SIGKILL');
  await Promise.all([k0.done, k1.done]);
  assert.is(k1.exit, 1);
  assert.is(k0.exit, 1, k0.out);
  assert.match(k0.out, /rank 1/);
});

test('launch errors are one line: --gpus without GPUs, a port in use', async () => {
  const r = spawnSync(process.execPath, [BIN, 'train', '--gpus', '2', '--max_iters', '1'], { encoding: 'utf8', env: ENV });
  const b = require('../lib').backends();
  if (!b.cuda) {
    assert.is(r.status, 1);
    assert.match(r.stderr, /^error: --gpus 2: no usable GPU here .*add --device cpu/);
  }
  const srv = net.createServer();
  await new Promise((res) => srv.listen(0, res));
  const busy = await train(['--model_name', 'busy', '--gpus', '2', '--max_iters', '1'], srv.address().port);
  srv.close();
  assert.is(busy.status, 1);
  assert.match(busy.out, /rank 0 cannot listen on port \d+: it is in use/);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();
