// Later MyPT (2025-12-28 on, FORMATS.md section 1, last paragraph): attention fused into
// blocks.i.sa.qkv.weight [3C, C] (+ .bias when config.bias), no `tril` buffers, GELU (exact) MLP; every other
// name as in the lecture GPT. The fused rows are split q | k | v, each head-major (the nanoGPT convention,
// `q, k, v = qkv(x).split(C, dim=-1)`), which is the canonical qkv layout already: a straight copy.
// Only read: mypt-native writes MyPT's first era (layouts/mypt.ts), as FORMATS.md asks of writers.
// myptToCanonical (layouts/mypt.ts) dispatches here by the keys.
import { StateDictIn } from './common';

/** True when a MyPT state_dict is of the fused era (blocks.0.sa.qkv.weight instead of per-head keys). */
export function isMyptFused(sd: StateDictIn): boolean {
  return sd.has('blocks.0.sa.qkv.weight') && !sd.has('blocks.0.sa.heads.0.key.weight');
}
