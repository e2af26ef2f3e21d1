// PyTorch AdamW state_dicts: reading one into moments keyed by parameter name, and writing the
// `state` and `param_groups` exactly as torch.optim.AdamW.state_dict() lays them out.
import { MyptError } from '../../errors';
import { plainDict, pyFloat } from './py';
import { AdamWHyper, PyDict, PyTuple, TensorLike, f32, field, pyNumber, scalarTensor, toF32 } from './common';

/** Reads an AdamW state_dict given the parameter names in `params` order; moments keyed by those names. */
export function readAdamW(optSd: unknown, names: string[], where: string) {
  const state = field(optSd, 'state');
  const groups = field(optSd, 'param_groups');
  if (!(state instanceof Map) && (typeof state !== 'object' || state === null)) {
    throw new MyptError('E_BAD_FILE', `${where}: optimizer state_dict has no 'state'`);
  }
  if (!Array.isArray(groups) || groups.length === 0) throw new MyptError('E_BAD_FILE', `${where}: optimizer state_dict has no 'param_groups'`);
  const ids: number[] = [];
  for (const g of groups) for (const p of (field(g, 'params') as unknown[]) ?? []) ids.push(Number(p));
  if (ids.length !== names.length) {
    throw new MyptError('E_BAD_FILE', `${where}: optimizer covers ${ids.length} parameters, the model has ${names.length}`);
  }
  const g0 = groups[0];
  const betas = field(g0, 'betas') as unknown[];
  const hyper: AdamWHyper = {
    lr: pyNumber(field(g0, 'lr')) ?? 3e-4,
    betas: [pyNumber(betas?.[0]) ?? 0.9, pyNumber(betas?.[1]) ?? 0.999],
    eps: pyNumber(field(g0, 'eps')) ?? 1e-8,
    weight_decay: pyNumber(field(g0, 'weight_decay')) ?? 0.01,
  };
  const weightDecays = groups.map((g) => pyNumber(field(g, 'weight_decay')) ?? 0);
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  let step = 0;
  ids.forEach((id, pos) => {
    const s = field(state, id);
    if (!s) return;
    const ea = field(s, 'exp_avg') as TensorLike | undefined;
    const es = field(s, 'exp_avg_sq') as TensorLike | undefined;
    if (!ea || !es) throw new MyptError('E_BAD_FILE', `${where}: optimizer state ${id} lacks exp_avg/exp_avg_sq (not AdamW?)`);
    m.set(names[pos], toF32(ea));
    v.set(names[pos], toF32(es));
    step = Math.max(step, pyNumber(field(s, 'step')) ?? 0);
  });
  return { step, m, v, hyper, weightDecays };
}

const DEFAULT_FLAGS: Array<[string, boolean | null]> = [
  ['amsgrad', false], ['maximize', false], ['foreach', null], ['capturable', false], ['differentiable', false], ['fused', null],
];

/**
 * One AdamW param group as torch.optim.AdamW(...).state_dict() writes it: keys the caller passed in the group
 * (`first`) come first, then the defaults (lr, betas, eps, weight_decay, flags), then `params`.
 */
function group(first: Array<[string, unknown]>, h: Partial<AdamWHyper>, params: number[]): PyDict<unknown> {
  const g = plainDict<unknown>(first);
  const put = (k: string, v: unknown) => (g.has(k) ? undefined : g.set(k, v));
  put('lr', pyFloat(h.lr ?? 3e-4));
  put('betas', PyTuple.make(pyFloat(h.betas?.[0] ?? 0.9), pyFloat(h.betas?.[1] ?? 0.999)));
  put('eps', pyFloat(h.eps ?? 1e-8));
  put('weight_decay', pyFloat(h.weight_decay ?? 0.01));
  for (const [k, v] of DEFAULT_FLAGS) put(k, v);
  g.set('params', params);
  return g;
}

/** MyPT's single group: AdamW(model.parameters(), lr). */
export function adamWGroup(h: Partial<AdamWHyper>, params: number[]): PyDict<unknown> {
  return group([], h, params);
}

/** One of nanoGPT's groups: {'params': ..., 'weight_decay': wd} passed in, the rest defaults. */
export function adamWGroupNano(h: Partial<AdamWHyper>, weightDecay: number, params: number[]): PyDict<unknown> {
  return group([['weight_decay', pyFloat(weightDecay)]], h, params);
}

/** AdamW `state` for parameters given in order as [exp_avg, exp_avg_sq]; empty before the first step. */
export function adamWState(step: number, moments: Array<[Float32Array, Float32Array, number[]]>): PyDict<unknown> {
  const state = plainDict<unknown>();
  if (step <= 0) return state;
  moments.forEach(([m, v, shape], i) => {
    const s = plainDict<unknown>();
    s.set('step', scalarTensor(step));
    s.set('exp_avg', f32(shape, m));
    s.set('exp_avg_sq', f32(shape, v));
    state.set(i, s);
  });
  return state;
}

