// The train command's several-process side: the flags (--gpus, --nnodes, --node_rank, --master_addr,
// --master_port, --reduce_dtype, --bucket_mb), the launcher's screen (each worker's lines prefixed with
// its rank, the failure named, Ctrl-C fanned out), and a worker's signals (Ctrl-C and the launcher's stop
// ask the job to stop after an agreed step; a failed peer ends this process at once).
import type { Argv } from 'yargs';
import { MyptError } from '../errors';
import { backends } from '../index';
import { resolveTrainOptions, TrainOptions } from '../use-cases/train/options';
import { DEFAULT_CORPUS, readTextFile } from '../data';
import { checkWritableDir } from '../formats/atomic';
import { launchWorkers } from '../use-cases/train/distributed/launch';
import type { LaunchRole, WorkerRole } from '../use-cases/train/distributed/role';
import type { DistributedRun } from '../use-cases/train/train';
import { choiceFlag, intFlag, numFlag, stringFlag } from './options';

export function addDistributedFlags<T>(y: Argv<T>) {
  return y
    .option('gpus', { type: 'string', coerce: intFlag('gpus', 1), describe: 'data-parallel worker processes on this host, one a GPU (with --device cpu: CPU processes); also --nproc_per_node' })
    .option('nproc_per_node', { type: 'string', coerce: intFlag('nproc_per_node', 1), hidden: true })
    .option('nnodes', { type: 'string', coerce: intFlag('nnodes', 1), describe: 'hosts in the job (run the same command on each, with its --node_rank) [1]' })
    .option('node_rank', { type: 'string', coerce: intFlag('node_rank', 0), describe: 'this host, 0..nnodes-1 [0]' })
    .option('master_addr', { type: 'string', coerce: stringFlag('master_addr'), describe: 'address of node 0, where rank 0 meets the others [MASTER_ADDR, 127.0.0.1]' })
    .option('master_port', { type: 'string', coerce: intFlag('master_port', 1), describe: 'its port [MASTER_PORT, 29500]' })
    .option('reduce_dtype', { type: 'string', coerce: choiceFlag('reduce_dtype', ['fp32', 'bf16'] as const), describe: 'gradients on the wire in a data-parallel job [fp32]' })
    .option('bucket_mb', { type: 'string', coerce: numFlag('bucket_mb', (x) => x > 0, 'must be > 0'), describe: 'gradient bucket size in MiB: each is reduced while the backward goes on [25]' });
}

export const DISTRIBUTED_FLAGS = ['gpus', 'nproc_per_node', 'nnodes', 'node_rank', 'master_addr', 'master_port'] as const;

/** argv without the launch flags (and their values): a worker's own command line. */
export function workerArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith('--') ? a.slice(2).split('=')[0].replace(/-/g, '_') : '';
    if ((DISTRIBUTED_FLAGS as readonly string[]).includes(name)) {
      if (!a.includes('=')) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** The wait for another rank, from MYPT_DIST_TIMEOUT (seconds; default 600). */
export function distTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.MYPT_DIST_TIMEOUT;
  if (v === undefined || v === '') return 600000;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new MyptError('E_BAD_ARGUMENT', `MYPT_DIST_TIMEOUT=${v}: must be a number of seconds > 0`);
  return Math.round(n * 1000);
}

/** Checks, once, what every worker would refuse, so a bad flag is one line and not N. */
function checkBeforeLaunch(role: LaunchRole, opts: TrainOptions): void {
  const { values: v, source } = resolveTrainOptions(opts, DEFAULT_CORPUS);
  const b = backends();
  const device = v.device === 'auto' ? (b.cuda ? 'cuda' : 'cpu') : v.device;
  if (device === 'cpu' && source.device !== 'flag') {
    throw new MyptError('E_BAD_ARGUMENT', `--gpus ${role.nproc}: no usable GPU here (${b.cudaReason || 'no CUDA device'}); for CPU worker processes add --device cpu`);
  }
  if (device === 'cuda') {
    if (b.devices.length < role.nproc) throw new MyptError('E_BAD_ARGUMENT', `--gpus ${role.nproc}: this host has ${b.devices.length} GPU${b.devices.length === 1 ? '' : 's'}`);
    if (!b.nccl) throw new MyptError('E_NO_CUDA', `--gpus ${role.nproc}: NCCL is not available (${b.ncclReason})`, 'pip install nvidia-nccl-cu13 (or cu12), or set MYPT_NCCL_LIB to libnccl.so.2');
  }
  // what every rank would refuse alike, refused once here before any worker starts or any line is printed
  if (role.nodeRank === 0) checkWritableDir(v.checkpoints_dir, `--checkpoints_dir ${v.checkpoints_dir}`);
  if (v.data === undefined) readTextFile(v.input_file);
}

/** Starts this host's workers and waits for them; resolves to the exit code. */
export async function runLauncher(role: LaunchRole, opts: TrainOptions, rawArgv: string[]): Promise<number> {
  checkBeforeLaunch(role, opts);
  const err = (line: string) => process.stderr.write(line + '\n');
  err(`mypt-native: ${role.nproc} worker${role.nproc === 1 ? '' : 's'} on this host (ranks ${role.nodeRank * role.nproc}..${(role.nodeRank + 1) * role.nproc - 1} of ${role.world}); rank 0 meets the others at ${role.masterAddr}:${role.masterPort}`);
  const partial = new Map<string, string>();
  const launch = launchWorkers({
    role,
    command: [process.execPath, process.argv[1], ...workerArgs(rawArgv)],
    onOutput: (rank, stream, text) => {
      const key = `${rank}:${stream}`;
      const lines = ((partial.get(key) ?? '') + text).split('\n');
      partial.set(key, lines.pop() ?? '');
      const out = stream === 'stdout' ? process.stdout : process.stderr;
      for (const l of lines) out.write(`[rank ${rank}] ${l}\n`);
    },
    onEvent: (e) => {
      if (e.type === 'started') err(`mypt-native: rank ${e.rank} started (pid ${e.pid}${role.nproc > 1 || e.localRank > 0 ? `, local rank ${e.localRank}` : ''})`);
      else if (e.type === 'failure') err(`error: ${e.message}; stopping the other ranks`);
    },
  });
  let sigints = 0;
  const onSigint = () => {
    sigints += 1;
    if (sigints > 1) {
      err('\nsecond Ctrl-C: stopping every rank without saving');
      launch.kill();
      process.exit(130);
    }
    err('Ctrl-C: every rank finishes the current step, then rank 0 saves (Ctrl-C again quits without saving)');
    launch.stop();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', launch.kill);
  try {
    const r = await launch.done;
    if (!r.ok) err(`error: the job failed: ${r.failure}`);
    return r.code;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', launch.kill);
  }
}

/** A worker's signals: Ctrl-C (from the terminal, to every process of the job) and the launcher's stop
 *  message abort `controller`, as often as they come (the ranks agree on the step to stop at); the
 *  launcher's disappearance, or a failed peer, ends this process. */
export function workerRun(role: WorkerRole, controller: AbortController, argv: { reduce_dtype?: 'fp32' | 'bf16'; bucket_mb?: number }): { run: DistributedRun; detach: () => void } {
  const onSigint = () => {
    if (!controller.signal.aborted && role.rank === 0) process.stderr.write('Ctrl-C: every rank finishes the current step, then rank 0 saves\n');
    controller.abort();
  };
  const onMessage = (m: unknown) => {
    if (m && typeof m === 'object' && (m as { type?: string }).type === 'stop') controller.abort();
  };
  const onDisconnect = () => {
    process.stderr.write(`error: rank ${role.rank}: the launcher went away; stopping\n`);
    process.exit(1);
  };
  process.on('SIGINT', onSigint);
  process.on('message', onMessage);
  if (process.connected) process.on('disconnect', onDisconnect);
  return {
    run: {
      role,
      timeoutMs: distTimeoutMs(),
      bucketMB: argv.bucket_mb,
      reduceDtype: argv.reduce_dtype,
      onPeerFailure: (message) => {
        process.stderr.write(`error: rank ${role.rank}: ${message}; stopping\n`);
        process.exit(1);
      },
    },
    detach: () => {
      process.off('SIGINT', onSigint);
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
      if (process.connected) process.disconnect();
    },
  };
}
