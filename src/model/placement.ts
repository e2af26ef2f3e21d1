// Where a model runs: the device ('cpu' | 'cuda' | 'auto') and the GPU precision of an options object,
// checked once for every model family, 'auto' resolved against what this build and machine offer.
import { MyptError } from '../errors';
import { loadAddon } from '../native';

export type Device = 'cpu' | 'cuda';
export type Precision = 'fp32' | 'bf16';

/** 'auto' is 'cuda' when this build has a usable GPU, else 'cpu'. */
export function resolveDevice(d: Device | 'auto'): Device {
  if (d !== 'auto') return d;
  try {
    return loadAddon().backends().cuda ? 'cuda' : 'cpu';
  } catch {
    return 'cpu';
  }
}

/** Throws E_NO_CUDA with the reason when this build or machine cannot run on a GPU. */
export function requireCuda(): void {
  const b = loadAddon().backends();
  if (!b.cuda) throw new MyptError('E_NO_CUDA', `device 'cuda' is not available: ${b.cudaReason}`, "use device 'cpu' or 'auto'");
}

/**
 * `device` (default `fallback`) and `precision` (default bf16 on cuda, fp32 on cpu) of an options object,
 * checked, 'auto' resolved; a bad value goes to `fail(field, what)`. Every model family takes its placement
 * through here; requireCuda then says whether 'cuda' can run.
 */
export function resolvePlacement(c: { device?: unknown; precision?: unknown }, fail: (field: string, what: string) => never,
  fallback: Device | 'auto' = 'cpu'): { device: Device; precision: Precision } {
  const d = c.device ?? fallback;
  if (d !== 'cpu' && d !== 'cuda' && d !== 'auto') fail('device', `must be 'cpu', 'cuda' or 'auto', got ${JSON.stringify(d)}`);
  const device = resolveDevice(d as Device | 'auto');
  const p = c.precision ?? (device === 'cuda' ? 'bf16' : 'fp32');
  if (p !== 'fp32' && p !== 'bf16') fail('precision', `must be 'fp32' or 'bf16', got ${JSON.stringify(p)}`);
  if (device === 'cpu' && p !== 'fp32') fail('precision', "'bf16' needs device 'cuda' (the CPU computes in fp32)");
  return { device, precision: p as Precision };
}
