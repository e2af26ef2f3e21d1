// Later MyPT (2025-12-28 on, FORMATS.md section 1, last paragraph): attention fused into
// blocks.i.sa.qkv.weight [3C, C] (+ .bias when config.bias), no `tril` buffers, GELU (exact) MLP; every other
// name as in the lecture GPT. The fused rows are split q | k | v, each head-major (the nanoGPT convention,
// `q, k, v = qkv(x).split(C, dim=-1)`), which is the canonical qkv layout already: a straight copy.
// mypt-native writes MyPT's first era (layouts/mypt.ts) for ReLU models, as FORMATS.md asks of writers;
// this era's names only for GELU models with MyPT's head, which the first era cannot hold.
// myptToCanonical (layouts/mypt.ts) dispatches here by the keys.
import { AdamWHyper, CanonicalOptimizer, F32Tensor, LayoutConfig, NamedTensors, PyDict, StateDictIn, checkCanonical } from './common';
import { canonicalToLectureFamily, canonicalToLectureFamilyOptimizer, lectureFamilyOptimizerToCanonical } from './lecture-family';

/** True when a MyPT state_dict is of the fused era (blocks.0.sa.qkv.weight instead of per-head keys). */
export function isMyptFused(sd: StateDictIn): boolean {
  return sd.has('blocks.0.sa.qkv.weight') && !sd.has('blocks.0.sa.heads.0.key.weight');
}

/**
 * Canonical -> fused-era MyPT state_dict (sa.qkv as the canonical qkv, no tril buffers), for GELU models with
 * MyPT's untied, biased head. MyPT's exact key order of that era is not known here; readers go by name.
 */
export function canonicalToMyptFused(params: NamedTensors, config: LayoutConfig): PyDict<F32Tensor> {
  checkCanonical(params, config, 'canonicalToMyptFused');
  return canonicalToLectureFamily(params, config, 'fused', false);
}

export function myptFusedOptimizerToCanonical(optSd: unknown, config: LayoutConfig, where = 'optimizer.pt'): CanonicalOptimizer & { hyper: AdamWHyper } {
  return lectureFamilyOptimizerToCanonical(optSd, config, 'fused', where);
}

export function canonicalToMyptFusedOptimizer(opt: CanonicalOptimizer, config: LayoutConfig, hyper: Partial<AdamWHyper> = {}): PyDict<unknown> {
  return canonicalToLectureFamilyOptimizer(opt, config, 'fused', hyper);
}
