// What this process is in a training job, from the flags and torchrun's environment variables:
//   single  no --gpus and no RANK/WORLD_SIZE: one process, no group (the plain trainer)
//   launch  --gpus N (and --nnodes/--node_rank/--master_addr/--master_port for several hosts): this
//           process starts N workers on this host (launch.ts) and watches them; it trains nothing itself
//   worker  RANK and WORLD_SIZE are set (by our launcher, torchrun, Slurm scripts, ...): this process is
//           rank RANK of WORLD_SIZE and uses GPU LOCAL_RANK; rank 0 hosts the rendezvous at
//           MASTER_ADDR:MASTER_PORT (rendezvous.ts)
// Ranks are numbered as torchrun numbers them: host h's local rank i is rank h * nproc + i.
import { MyptError } from '../../../errors';

export interface DistributedFlags {
  /** worker processes on this host (one a GPU; with --device cpu, CPU processes) */
  gpus?: number;
  nnodes?: number;
  node_rank?: number;
  master_addr?: string;
  master_port?: number;
}

export interface WorkerRole {
  kind: 'worker';
  rank: number;
  world: number;
  localRank: number;
  localWorld: number;
  masterAddr: string;
  masterPort: number;
}

export interface LaunchRole {
  kind: 'launch';
  nproc: number;
  nnodes: number;
  nodeRank: number;
  world: number;
  masterAddr: string;
  masterPort: number;
}

export type DistributedRole = { kind: 'single' } | WorkerRole | LaunchRole;

export const DEFAULT_MASTER_ADDR = '127.0.0.1';
export const DEFAULT_MASTER_PORT = 29500;

function bad(what: string, why: string): never {
  throw new MyptError('E_BAD_ARGUMENT', `${what}: ${why}`);
}

function envInt(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) bad(`${name}=${v}`, `must be a whole number >= ${min}`);
  return n;
}

function port(p: number, what: string): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) bad(what, 'must be a port number in 1..65535');
  return p;
}

/** The role of this process; throws E_BAD_ARGUMENT naming the flag or variable that does not fit. */
export function distributedRole(flags: DistributedFlags = {}, env: NodeJS.ProcessEnv = process.env): DistributedRole {
  const world = envInt(env, 'WORLD_SIZE', 1);
  const rank = envInt(env, 'RANK', 0);
  if (world !== undefined || rank !== undefined) {
    if (world === undefined || rank === undefined) bad(world === undefined ? 'RANK' : 'WORLD_SIZE', 'RANK and WORLD_SIZE must be set together');
    if (rank >= world) bad(`RANK=${rank}`, `must be below WORLD_SIZE=${world}`);
    const localWorld = envInt(env, 'LOCAL_WORLD_SIZE', 1) ?? world;
    const localRank = envInt(env, 'LOCAL_RANK', 0) ?? rank % localWorld;
    const masterPort = port(envInt(env, 'MASTER_PORT', 1) ?? DEFAULT_MASTER_PORT, `MASTER_PORT=${env.MASTER_PORT}`);
    return { kind: 'worker', rank, world, localRank, localWorld, masterAddr: env.MASTER_ADDR || DEFAULT_MASTER_ADDR, masterPort };
  }
  const multiNode = flags.nnodes !== undefined || flags.node_rank !== undefined;
  if (flags.gpus === undefined && !multiNode) {
    if (flags.master_addr !== undefined || flags.master_port !== undefined) bad(flags.master_addr !== undefined ? '--master_addr' : '--master_port', 'needs --gpus N (and --nnodes for several hosts)');
    return { kind: 'single' };
  }
  const nproc = flags.gpus ?? 1;
  if (!Number.isInteger(nproc) || nproc < 1) bad(`--gpus ${nproc}`, 'must be a whole number >= 1');
  const nnodes = flags.nnodes ?? 1;
  if (!Number.isInteger(nnodes) || nnodes < 1) bad(`--nnodes ${nnodes}`, 'must be a whole number >= 1');
  const nodeRank = flags.node_rank ?? 0;
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes) bad(`--node_rank ${nodeRank}`, `must be in 0..${nnodes - 1} (--nnodes ${nnodes})`);
  const masterAddr = flags.master_addr ?? env.MASTER_ADDR ?? DEFAULT_MASTER_ADDR;
  if (nnodes > 1 && flags.master_addr === undefined && !env.MASTER_ADDR) bad(`--nnodes ${nnodes}`, "needs --master_addr (the address of node 0's host, which every host can reach)");
  const envPort = envInt(env, 'MASTER_PORT', 1);
  const masterPort = port(flags.master_port ?? envPort ?? DEFAULT_MASTER_PORT, `--master_port ${flags.master_port ?? envPort}`);
  return { kind: 'launch', nproc, nnodes, nodeRank, world: nproc * nnodes, masterAddr, masterPort };
}

/** The environment of local worker i of a launch (torchrun's variables), NVLink multicast kept off. */
export function workerEnv(role: LaunchRole, localRank: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    RANK: String(role.nodeRank * role.nproc + localRank),
    WORLD_SIZE: String(role.world),
    LOCAL_RANK: String(localRank),
    LOCAL_WORLD_SIZE: String(role.nproc),
    GROUP_RANK: String(role.nodeRank),
    NODE_RANK: String(role.nodeRank),
    MASTER_ADDR: role.masterAddr,
    MASTER_PORT: String(role.masterPort),
    MYPT_LAUNCHED: '1',
    // NVLink multicast (NVLS) off, in NCCL, PyTorch and NVSHMEM: on shared hosts a program using it can put
    // the GPUs out of service (see the package README). Always set here, whatever the caller's environment.
    NCCL_NVLS_ENABLE: '0',
    TORCH_SYMM_MEM_DISABLE_MULTICAST: '1',
    NVSHMEM_DISABLE_NVLS: '1',
  };
}
