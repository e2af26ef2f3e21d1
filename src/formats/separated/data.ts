// The one in-memory shape every checkpoint file of sections 4 and 5 is read into and written from,
// and the model state_dict <-> canonical mapping those files need (the layouts are the formats helper's:
// MyPT names for the default architecture, the lecture trainer's names for section 4).
import { MyptError } from '../../errors';
import type { TokenizerJSON } from '../../tokenizer/types';
import type { AdamWHyper, CanonicalOptimizer, NamedTensors, StateDictIn } from '../layouts/common';
import { field, pyNumber } from '../layouts/common';
import { PyDict } from '../torch';
import { canonicalToMypt, canonicalToMyptOptimizer, isMypt, myptOptimizerToCanonical, myptToCanonical } from '../layouts/mypt';
import { canonicalToLecture, canonicalToLectureOptimizer, isLecture, lectureOptimizerToCanonical, lectureToCanonical } from '../layouts/lecture';
import { canonicalToNanogpt, canonicalToNanogptOptimizer, isGpt2Family, nanogptOptimizerToCanonical, nanogptToCanonical, stripPrefixes } from '../layouts/nanogpt';

/** Architecture fields a file of ours records so the model reloads exactly (contracts A names). */
export const ARCH_KEYS = ['arch', 'activation', 'qkv_bias', 'proj_bias', 'mlp_bias', 'ln_bias', 'tied_head', 'head_bias',
  'attn_scale', 'mlp_hidden'] as const;
export const SIZE_KEYS = ['vocab_size', 'block_size', 'n_layer', 'n_head', 'n_embd'] as const;

/** A model config as these files carry it: the 5 sizes plus whatever architecture options are known. */
export interface CkptModelConfig {
  vocab_size: number; block_size: number; n_layer: number; n_head: number; n_embd: number;
  dropout?: number; bias?: boolean;
  arch?: string; activation?: string; qkv_bias?: boolean; proj_bias?: boolean; mlp_bias?: boolean; ln_bias?: boolean;
  tied_head?: boolean; head_bias?: boolean; attn_scale?: 'head' | 'embd' | number; mlp_hidden?: number;
}

export type CkptOptimizer = CanonicalOptimizer & { hyper?: Partial<AdamWHyper> };

/** Everything a checkpoint of sections 4/5 holds, in canonical form. */
export interface CheckpointData {
  config: CkptModelConfig;
  params: NamedTensors;
  optimizer: CkptOptimizer | null;      // null: model-only
  step: number;                         // optimizer steps done (global_step)
  epoch: number;
  tokenizer: TokenizerJSON | null;
  valLoss?: number;
  trainLoss?: number;
  batchSize?: number;
  hyperparameters?: Record<string, unknown>;
  lrSchedulerStates?: unknown[];        // kept as read (torch LR scheduler state_dicts)
}

/** Which names a model state_dict uses. */
export type StateLayout = 'mypt' | 'lecture' | 'nanogpt';

export function detectStateLayout(sd: StateDictIn, where: string): StateLayout {
  if (isLecture(sd)) return 'lecture';
  if (isMypt(sd)) return 'mypt';
  if (isGpt2Family(stripPrefixes(sd))) return 'nanogpt';
  const keys = [...sd.keys()].slice(0, 6).map(String).join(', ');
  throw new MyptError('E_BAD_FILE', `${where}: the model state_dict fits no known layout (keys: ${keys}, ...)`,
    'known: MyPT (blocks.i.sa.heads.h.key, blocks.i.fwd, ln_f), the lecture trainer (blocks.i.ffwd, final LayerNorm blocks.{n_layer}), nanoGPT (transformer.h.i)');
}

/** The architecture fields stored beside a state_dict, laid over the layout's own config. */
export function archFrom(dict: unknown): Partial<CkptModelConfig> {
  const out: Record<string, unknown> = {};
  for (const k of ARCH_KEYS) {
    const v = field(dict, k);
    if (v === undefined || v === null) continue;
    out[k] = typeof v === 'object' ? pyNumber(v) : v;
  }
  const d = pyNumber(field(dict, 'dropout'));
  if (d !== undefined) out.dropout = d;
  return out as Partial<CkptModelConfig>;
}

/** A model state_dict (any layout) -> canonical params and config; `stored` (the file's config or
 *  hyperparameters) gives sizes to check and architecture fields that override the layout's defaults. */
export function stateDictToCanonical(sd: StateDictIn, stored: unknown, where: string): { config: CkptModelConfig; params: NamedTensors; layout: StateLayout } {
  const layout = detectStateLayout(sd, where);
  const sizes: Record<string, unknown> = {};
  for (const k of SIZE_KEYS) {
    const v = pyNumber(field(stored, k));
    if (v !== undefined) sizes[k] = v;
  }
  const bias = field(stored, 'bias');
  const r = layout === 'lecture' ? lectureToCanonical(sd, sizes, where)
    : layout === 'mypt' ? myptToCanonical(sd, { ...sizes, ...(typeof bias === 'boolean' ? { bias } : {}) }, where)
      : nanogptToCanonical(sd, { ...sizes, ...(typeof bias === 'boolean' ? { bias } : {}) }, where);
  return { config: { ...(r.config as CkptModelConfig), ...archFrom(stored) }, params: r.params, layout };
}

/** The layout a model is written in: `preferred` when the architecture fits it, else the one that does. */
export function layoutFor(c: CkptModelConfig, preferred: StateLayout): StateLayout {
  const fits = (l: StateLayout) => {
    // GPT-2's tanh GELU too: the names are nanoGPT's, the activation is recorded beside them (ARCH_KEYS)
    if (l === 'nanogpt') return (c.activation === 'gelu' || c.activation === 'gelu_tanh') && !c.head_bias && (c.attn_scale === undefined || c.attn_scale === 'head');
    if (c.activation !== undefined && c.activation !== 'relu') return false;
    if (c.tied_head || c.head_bias === false || c.proj_bias === false || c.mlp_bias === false || c.ln_bias === false) return false;
    if (c.mlp_hidden !== undefined && c.mlp_hidden !== 4 * c.n_embd) return false;
    const embd = c.attn_scale === 'embd' || c.attn_scale === c.n_embd ** -0.5;
    return l === 'lecture' ? embd && !c.qkv_bias : !embd;
  };
  const order: StateLayout[] = [preferred, ...(['lecture', 'mypt', 'nanogpt'] as StateLayout[]).filter((l) => l !== preferred)];
  const l = order.find(fits);
  if (!l) throw new MyptError('E_UNSUPPORTED', `no checkpoint layout holds this architecture (activation ${c.activation}, attn_scale ${c.attn_scale}, tied_head ${c.tied_head})`);
  return l;
}

export function canonicalToStateDict(layout: StateLayout, params: NamedTensors, config: CkptModelConfig): PyDict {
  const c = config as any;
  return (layout === 'lecture' ? canonicalToLecture(params, c) : layout === 'mypt' ? canonicalToMypt(params, c) : canonicalToNanogpt(params, c)) as unknown as PyDict;
}

export function optimizerToCanonical(layout: StateLayout, optSd: unknown, config: CkptModelConfig, where: string): CkptOptimizer {
  const c = config as any;
  return layout === 'lecture' ? lectureOptimizerToCanonical(optSd, c, where)
    : layout === 'mypt' ? myptOptimizerToCanonical(optSd, c, where) : nanogptOptimizerToCanonical(optSd, c, where);
}

export function canonicalToOptimizer(layout: StateLayout, opt: CkptOptimizer, config: CkptModelConfig): PyDict {
  const c = config as any;
  const h = opt.hyper ?? {};
  return (layout === 'lecture' ? canonicalToLectureOptimizer(opt, c, h)
    : layout === 'mypt' ? canonicalToMyptOptimizer(opt, c, h) : canonicalToNanogptOptimizer(opt, c, h)) as unknown as PyDict;
}

/** An AdamW state_dict's first optimizer step count and hyperparameters without mapping tensors. */
export function optimizerSummary(optSd: unknown): { step: number; lr?: number } {
  const state = field(optSd, 'state');
  let step = 0;
  if (state instanceof Map) for (const s of state.values()) step = Math.max(step, pyNumber(field(s, 'step')) ?? 0);
  const groups = field(optSd, 'param_groups');
  const lr = Array.isArray(groups) && groups.length ? pyNumber(field(groups[0], 'lr')) : undefined;
  return { step, lr };
}
