// MyPT's lecture GPT (FORMATS.md section 1): its state_dict <-> the canonical layout, its config.json <->
// ModelConfig, and its AdamW optimizer.pt <-> the canonical optimizer state. The name table itself is in
// lecture-family.ts (MyPT shares it with the lecture trainer); the fused era is in mypt-fused.ts.
import type { ModelSizes } from '../../config/gpt';
import { MyptError } from '../../errors';
import { AdamWHyper, CanonicalOptimizer, F32Tensor, LayoutConfig, NamedTensors, PyDict, SdReader, StateDictIn, checkCanonical } from './common';
import {
  canonicalToLectureFamily, canonicalToLectureFamilyOptimizer, lectureFamilyEntries, lectureFamilyOptimizerToCanonical, readLectureFamily,
} from './lecture-family';
import { isMyptFused } from './mypt-fused';

/** MyPT's config.json (and the `config` of a legacy file): its 9 keys (mypt-json.ts reads and writes it). */
export type { MyptConfigJson } from '../mypt/json';
import type { MyptConfigJson } from '../mypt/json';

/** The ModelConfig (contracts A) of the MyPT architecture with these sizes. */
export interface MyptModelConfig extends ModelSizes {
  dropout: number;
  bias: boolean;
  arch: 'mypt';
  activation: 'relu' | 'gelu';
  qkv_bias: boolean;
  proj_bias: true;
  mlp_bias: true;
  ln_bias: true;
  tied_head: false;
  head_bias: true;
  attn_scale: 'head';
}

export function myptModelConfig(
  s: Pick<MyptConfigJson, 'vocab_size' | 'block_size' | 'n_layer' | 'n_head' | 'n_embd'> & { dropout?: number; bias?: boolean },
  activation: 'relu' | 'gelu' = 'relu',
): MyptModelConfig {
  const bias = !!s.bias;
  return {
    vocab_size: s.vocab_size, block_size: s.block_size, n_layer: s.n_layer, n_head: s.n_head, n_embd: s.n_embd,
    dropout: s.dropout ?? 0, bias, arch: 'mypt', activation, qkv_bias: bias,
    proj_bias: true, mlp_bias: true, ln_bias: true, tied_head: false, head_bias: true, attn_scale: 'head',
  };
}

/** True when a state_dict has MyPT's names (either era). */
export function isMypt(sd: StateDictIn): boolean {
  return sd.has('token_embedding_table.weight') && (sd.has('blocks.0.sa.heads.0.key.weight') || sd.has('blocks.0.sa.qkv.weight'));
}

/** Sizes implied by a MyPT state_dict's shapes, checked against a (possibly partial) config. */
export function myptSizes(sd: StateDictIn, cfg: Partial<MyptConfigJson>, where: string, countHeads: boolean) {
  const r = new SdReader(sd, where);
  const tok = r.shapeOf('token_embedding_table.weight');
  const pos = r.shapeOf('position_embedding_table.weight');
  if (!tok || tok.length !== 2 || !pos || pos.length !== 2) {
    throw new MyptError('E_BAD_FILE', `${where}: not a MyPT state_dict (token_embedding_table.weight / position_embedding_table.weight missing)`);
  }
  let n_layer = 0;
  while (sd.has(`blocks.${n_layer}.ln1.weight`)) n_layer++;
  let heads = 0;
  if (countHeads) while (sd.has(`blocks.0.sa.heads.${heads}.key.weight`)) heads++;
  const found = { vocab_size: tok[0], n_embd: tok[1], block_size: pos[0], n_layer, n_head: countHeads ? heads : cfg.n_head };
  for (const k of ['vocab_size', 'n_embd', 'block_size', 'n_layer', 'n_head'] as const) {
    const given = cfg[k];
    if (given !== undefined && given !== null && found[k] !== undefined && Number(given) !== found[k]) {
      throw new MyptError('E_BAD_FILE', `${where}: config says ${k}=${given} but the weights have ${k}=${found[k]}`);
    }
  }
  if (!found.n_head) throw new MyptError('E_BAD_FILE', `${where}: n_head is not recorded in the config and cannot be read from the weights`);
  if (found.n_embd % found.n_head !== 0) throw new MyptError('E_BAD_FILE', `${where}: n_embd ${found.n_embd} is not divisible by n_head ${found.n_head}`);
  const bias = sd.has(countHeads ? 'blocks.0.sa.heads.0.key.bias' : 'blocks.0.sa.qkv.bias');
  if (cfg.bias !== undefined && cfg.bias !== null && !!cfg.bias !== bias) {
    throw new MyptError('E_BAD_FILE', `${where}: config says bias=${cfg.bias} but the weights ${bias ? 'have' : 'lack'} q/k/v biases`);
  }
  return { vocab_size: found.vocab_size, n_embd: found.n_embd, block_size: found.block_size, n_layer, n_head: found.n_head as number, bias };
}

export const isTril = (k: string) => /^blocks\.\d+\.sa\.heads\.\d+\.tril$/.test(k);

/**
 * MyPT state_dict (section 1 names, `tril` buffers optional; or the later fused era) -> canonical.
 * `cfg` is MyPT's config.json (missing sizes are read from the shapes; given ones must agree).
 */
export function myptToCanonical(
  sd: StateDictIn,
  cfg: Partial<MyptConfigJson> = {},
  where = 'model.pt',
): { config: MyptModelConfig; params: NamedTensors } {
  const fused = isMyptFused(sd);
  const s = myptSizes(sd, cfg, where, !fused);
  const config = myptModelConfig({ ...s, dropout: typeof cfg.dropout === 'number' ? cfg.dropout : 0 }, fused ? 'gelu' : 'relu');
  return { config, params: readLectureFamily(sd, config, fused ? 'fused' : 'heads', where, isTril) };
}

function checkMyptArch(c: LayoutConfig & { attn_scale?: unknown }, what: string): void {
  const bad: string[] = [];
  if (c.activation && c.activation !== 'relu') bad.push(`activation ${c.activation} (MyPT: relu)`);
  if (c.tied_head) bad.push('tied_head (MyPT: separate lm_head)');
  if (c.head_bias === false) bad.push('no head bias (MyPT: lm_head has a bias)');
  if (c.proj_bias === false || c.mlp_bias === false || c.ln_bias === false) bad.push('missing proj/mlp/LayerNorm biases');
  if (c.mlp_hidden && c.mlp_hidden !== 4 * c.n_embd) bad.push(`mlp_hidden ${c.mlp_hidden} (MyPT: 4*n_embd)`);
  if (c.attn_scale !== undefined && c.attn_scale !== 'head' && c.attn_scale !== (c.n_embd / c.n_head) ** -0.5) bad.push(`attn_scale ${c.attn_scale}`);
  if (bad.length) throw new MyptError('E_UNSUPPORTED', `${what}: the model is not MyPT's architecture: ${bad.join('; ')}`);
}

/** MyPT parameter names in model.parameters() order (= state_dict order without the tril buffers). */
export function myptParamNames(c: LayoutConfig): string[] {
  return lectureFamilyEntries(c, 'heads', false).map(([k]) => k);
}

/** Canonical -> MyPT state_dict in exact MyPT order, every tril buffer included (MyPT loads strictly). */
export function canonicalToMypt(params: NamedTensors, config: LayoutConfig & { attn_scale?: unknown }): PyDict<F32Tensor> {
  checkMyptArch(config, 'canonicalToMypt');
  checkCanonical(params, config, 'canonicalToMypt');
  return canonicalToLectureFamily(params, config, 'heads', true);
}

/** MyPT optimizer.pt -> canonical {step, exp_avg, exp_avg_sq} (+ the hyperparameters it records). */
export function myptOptimizerToCanonical(optSd: unknown, config: LayoutConfig, where = 'optimizer.pt'): CanonicalOptimizer & { hyper: AdamWHyper } {
  return lectureFamilyOptimizerToCanonical(optSd, config, 'heads', where);
}

/** Canonical optimizer state -> MyPT optimizer.pt dict (one group, params 0..P-1 in MyPT order). */
export function canonicalToMyptOptimizer(opt: CanonicalOptimizer, config: LayoutConfig, hyper: Partial<AdamWHyper> = {}): PyDict<unknown> {
  return canonicalToLectureFamilyOptimizer(opt, config, 'heads', hyper);
}
