// A data-parallel process group: this process's rank among `world` (one process a device), over the
// engine's collectives (engine/collective.h: TCP on the CPU, NCCL on GPUs). Rank 0 makes the id
// (groupId) and hands it to the other ranks (src/use-cases/train/distributed/rendezvous.ts does it over
// TCP); every rank then connects. A GptModel joins a connected group (GptModel.joinGroup) to train
// data-parallel with its optimizer state sharded (ZeRO-1). The raw collectives below work on copies of
// host arrays: for small values and tests.
import { MyptError } from '../errors';
import { fromNative, loadAddon, NativeCollective, NativeGroup } from '../native';
import { requireCuda } from './placement';

export interface ProcessGroupOptions {
  device: 'cpu' | 'cuda';
  rank: number;
  world: number;
  /** rank 0's groupId(device) */
  id: Uint8Array;
  /** where rank 0 runs (MASTER_ADDR); default 127.0.0.1 */
  host?: string;
  /** this rank's GPU (LOCAL_RANK); default 0 */
  deviceIndex?: number;
  /** the longest wait for a peer, in ms (default 600000): then the call fails with E_DISTRIBUTED */
  timeoutMs?: number;
}

function bad(msg: string): never {
  throw new MyptError('E_BAD_ARGUMENT', msg);
}

/** A new group's id, made on rank 0: the CPU group's listening port, or NCCL's unique id. */
export function groupId(device: 'cpu' | 'cuda'): Uint8Array {
  if (device !== 'cpu' && device !== 'cuda') bad(`groupId: device must be 'cpu' or 'cuda', got ${JSON.stringify(device)}`);
  const addon = loadAddon();
  if (device === 'cuda') requireNccl();
  try {
    return addon.groupId(device);
  } catch (e) {
    throw fromNative(e);
  }
}

/** Throws E_NO_CUDA when GPUs or NCCL are missing, saying which. */
export function requireNccl(): void {
  requireCuda();
  const b = loadAddon().backends();
  if (!b.nccl) throw new MyptError('E_NO_CUDA', `NCCL is not available: ${b.ncclReason}`, 'install NCCL (pip install nvidia-nccl-cu12 or cu13) or set MYPT_NCCL_LIB to libnccl.so.2');
}

export class ProcessGroup {
  readonly rank: number;
  readonly world: number;
  readonly device: 'cpu' | 'cuda';
  /** "cpu tcp, rank 1 of 2", "nccl 2.21.5, rank 0 of 8 (cuda:0)" */
  readonly description: string;
  /** @internal the native handle a model joins with */
  readonly native: NativeGroup;

  private constructor(o: ProcessGroupOptions, native: NativeGroup, description: string) {
    this.rank = o.rank;
    this.world = o.world;
    this.device = o.device;
    this.native = native;
    this.description = description;
  }

  /** Joins the group; resolves once every rank has joined (E_DISTRIBUTED after timeoutMs). */
  static async connect(o: ProcessGroupOptions): Promise<ProcessGroup> {
    if (!o || typeof o !== 'object') bad('ProcessGroup.connect: options expected');
    if (o.device !== 'cpu' && o.device !== 'cuda') bad(`ProcessGroup: device must be 'cpu' or 'cuda', got ${JSON.stringify(o.device)}`);
    if (!Number.isInteger(o.world) || o.world < 1) bad(`ProcessGroup: world must be a positive integer, got ${o.world}`);
    if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.world) bad(`ProcessGroup: rank ${o.rank} is outside 0..${o.world - 1}`);
    if (!(o.id instanceof Uint8Array) || o.id.length === 0) bad('ProcessGroup: id must be rank 0\'s groupId (a Uint8Array)');
    const deviceIndex = o.deviceIndex ?? 0;
    if (!Number.isInteger(deviceIndex) || deviceIndex < 0) bad(`ProcessGroup: deviceIndex must be a non-negative integer, got ${deviceIndex}`);
    const timeoutMs = o.timeoutMs ?? 600000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) bad(`ProcessGroup: timeoutMs must be a positive integer, got ${timeoutMs}`);
    if (o.device === 'cuda') requireNccl();
    const addon = loadAddon();
    let native: NativeGroup;
    try {
      native = new addon.NativeGroup({ device: o.device, rank: o.rank, world: o.world, id: o.id, host: o.host ?? '127.0.0.1', deviceIndex, timeoutMs });
    } catch (e) {
      throw fromNative(e);
    }
    let description: string;
    try {
      description = await native.connect();
    } catch (e) {
      throw fromNative(e);
    }
    return new ProcessGroup({ ...o, deviceIndex, timeoutMs }, native, description);
  }

  private async run<A extends Float32Array | Float64Array | Uint16Array>(op: NativeCollective, data: A, root = 0): Promise<A> {
    if (!(data instanceof Float32Array || data instanceof Float64Array || data instanceof Uint16Array)) {
      bad(`${op}: a Float32Array, Float64Array or Uint16Array (bfloat16 bits) expected`);
    }
    try {
      return await this.native.run(op, data, root);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** The sum over ranks, on every rank. */
  allReduce<A extends Float32Array | Float64Array | Uint16Array>(data: A): Promise<A> { return this.run('all_reduce', data); }
  /** data holds world slices; slice `rank` of the result is the sum of every rank's slice `rank` (the rest undefined). */
  reduceScatter<A extends Float32Array | Float64Array | Uint16Array>(data: A): Promise<A> { return this.run('reduce_scatter', data); }
  /** data holds world slices; every rank's slice `rank` goes to every rank. */
  allGather<A extends Float32Array | Float64Array | Uint16Array>(data: A): Promise<A> { return this.run('all_gather', data); }
  /** root's data to every rank. */
  broadcast<A extends Float32Array | Float64Array | Uint16Array>(data: A, root = 0): Promise<A> {
    if (!Number.isInteger(root) || root < 0 || root >= this.world) bad(`broadcast: root ${root} is outside 0..${this.world - 1}`);
    return this.run('broadcast', data, root);
  }

  /** Lets go of the group (the models that joined it keep it until they are disposed). */
  close(): void {
    this.native.close();
  }
}
