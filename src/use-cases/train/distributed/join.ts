// A worker's side of a data-parallel job: meet the other ranks (rendezvous.ts), connect the group
// (model/group.ts: TCP on the CPU, NCCL on GPUs), put the model in it (ZeRO-1: GptModel.joinGroup), and
// check that every rank starts from the same step (each rank loaded the checkpoint itself).
import { MyptError } from '../../../errors';
import { groupId, ProcessGroup } from '../../../model';
import type { GptModel } from '../../../model';
import { rendezvous, Control } from './rendezvous';
import type { WorkerRole } from './role';

export interface JoinOptions {
  role: WorkerRole;
  /** the longest wait for another rank, ms (the rendezvous and every collective) */
  timeoutMs: number;
  bucketMB?: number;
  reduceDtype?: 'fp32' | 'bf16';
  /** another rank failed: the message names it (the process should end: a collective may never return) */
  onPeerFailure: (message: string) => void;
}

export interface Joined {
  group: ProcessGroup;
  control: Control;
  buckets: number;
  shardSize: number;
}

export async function joinJob(model: GptModel, startStep: number, o: JoinOptions): Promise<Joined> {
  const { role } = o;
  const device = model.config.device;
  const { id, control } = await rendezvous({
    rank: role.rank, world: role.world, masterAddr: role.masterAddr, masterPort: role.masterPort,
    id: role.rank === 0 ? groupId(device) : undefined, device, timeoutMs: o.timeoutMs,
  });
  control.onFailure(o.onPeerFailure);
  try {
    const group = await ProcessGroup.connect({ device, rank: role.rank, world: role.world, id, host: role.masterAddr,
      deviceIndex: device === 'cuda' ? role.localRank : 0, timeoutMs: o.timeoutMs });
    // every rank must continue from the same step, or their loops (and collectives) part ways
    const steps = new Float64Array(role.world);
    steps[role.rank] = startStep;
    const all = await group.allGather(steps);
    const other = all.findIndex((s) => s !== all[0]);
    if (other > 0) {
      throw new MyptError('E_DISTRIBUTED', `rank ${other} starts at step ${all[other]} but rank 0 at step ${all[0]}: every host needs the same checkpoint under --checkpoints_dir`);
    }
    const plan = await model.joinGroup(group, { bucketMB: o.bucketMB, gradDtype: o.reduceDtype });
    return { group, control, ...plan };
  } catch (e) {
    control.reportFailure((e as Error).message);
    throw e;
  }
}
