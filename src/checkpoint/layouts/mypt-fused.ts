// Later MyPT (2025-12-28 on, FORMATS.md section 1, last paragraph): attention fused into
// blocks.i.sa.qkv.weight [3C, C] (+ .bias when config.bias), no `tril` buffers, GELU (exact) MLP; every other
// name as in the lecture GPT. The fused rows are split q | k | v, each head-major (the nanoGPT convention,
// `q, k, v = qkv(x).split(C, dim=-1)`), which is already the canonical qkv layout: a straight copy.
// Read-only: mypt-native writes MyPT's first era (layouts/mypt.ts), as FORMATS.md asks of writers.
import { NamedTensors, SdReader, StateDictIn } from './common';
import { MyptConfigJson, MyptModelConfig, myptCommonToCanonical, myptModelConfig, myptSizes } from './mypt';

/** True when a MyPT state_dict is of the fused era (blocks.0.sa.qkv.weight instead of per-head keys). */
export function isMyptFused(sd: StateDictIn): boolean {
  return sd.has('blocks.0.sa.qkv.weight') && !sd.has('blocks.0.sa.heads.0.key.weight');
}

/** Fused-era MyPT state_dict -> canonical. n_head must come from the config (shapes cannot tell it). */
export function myptFusedToCanonical(
  sd: StateDictIn,
  cfg: Partial<MyptConfigJson>,
  where: string,
): { config: MyptModelConfig; params: NamedTensors } {
  const s = myptSizes(sd, cfg, where, false);
  const config = myptModelConfig({ ...s, dropout: typeof cfg.dropout === 'number' ? cfg.dropout : 0 }, 'gelu');
  const r = new SdReader(sd, where);
  const C = config.n_embd;
  const params = myptCommonToCanonical(r, config, (i) => ({
    w: r.tensor(`blocks.${i}.sa.qkv.weight`, [3 * C, C]),
    b: config.qkv_bias ? r.tensor(`blocks.${i}.sa.qkv.bias`, [3 * C]) : undefined,
  }));
  r.checkAllUsed();
  return { config, params };
}
