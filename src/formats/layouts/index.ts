// Every known state_dict layout behind one door: recognise a state_dict by its keys and map it to the
// canonical layout, and pick the layout a canonical model is written in (MyPT when the architecture is
// MyPT's, nanoGPT names for the GPT-2 family, the lecture trainer's names for its n_embd^-0.5 model).
import { MyptError } from '../../errors';
import { AdamWHyper, CanonicalOptimizer, F32Tensor, LayoutConfig, NamedTensors, PyDict, StateDictIn, dictKeys } from './common';
import { hfGpt2ToCanonical, isHfGpt2, HfGpt2ConfigJson } from './hf-gpt2';
import { canonicalToLecture, canonicalToLectureOptimizer, isLecture, LectureModelConfig, lectureOptimizerToCanonical, lectureToCanonical } from './lecture';
import { canonicalToMypt, canonicalToMyptOptimizer, isMypt, myptOptimizerToCanonical, myptToCanonical, MyptConfigJson, MyptModelConfig } from './mypt';
import { canonicalToMyptFused, canonicalToMyptFusedOptimizer, isMyptFused, myptFusedOptimizerToCanonical } from './mypt-fused';
import {
  canonicalToNanogpt, canonicalToNanogptOptimizer, Gpt2ModelConfig, isGpt2Family, nanogptOptimizerToCanonical, nanogptToCanonical, NanoModelArgs, stripPrefixes,
} from './nanogpt';

/** The ModelConfig (contracts A) a layout implies: sizes plus every architecture option explicit. */
export type FormatModelConfig = MyptModelConfig | LectureModelConfig | Gpt2ModelConfig;

export type LayoutName = 'mypt' | 'mypt-fused' | 'lecture' | 'nanogpt' | 'hf-gpt2';

/** What each layout looks like, for messages. */
export const KNOWN_LAYOUTS: Record<LayoutName, string> = {
  mypt: 'MyPT (token_embedding_table, blocks.i.sa.heads.h.{key,query,value}, blocks.i.fwd.net.*, ln_f, lm_head)',
  'mypt-fused': 'later MyPT (blocks.i.sa.qkv.weight, GELU)',
  lecture: 'lecture trainer (blocks.i.ffwd.net.*, final LayerNorm blocks.{n_layer})',
  nanogpt: 'nanoGPT (transformer.h.i.attn.c_attn.weight [3C, C], lm_head tied)',
  'hf-gpt2': 'Hugging Face GPT-2 (h.i.attn.c_attn.weight [C, 3C] Conv1D, optional transformer. prefix)',
};

/** Size and option hints a container records beside its state_dict (config.json, model_args, hyperparameters). */
export type LayoutHints = Partial<MyptConfigJson> & Partial<NanoModelArgs> & HfGpt2ConfigJson;

/** Which layout a state_dict's keys fit, or undefined. */
export function layoutOf(sdIn: StateDictIn): LayoutName | undefined {
  const sd = stripPrefixes(sdIn);
  if (isLecture(sd)) return 'lecture';
  if (isMypt(sd)) return isMyptFused(sd) ? 'mypt-fused' : 'mypt';
  if (isHfGpt2(sd)) return 'hf-gpt2';
  if (isGpt2Family(sd) && sd.has('transformer.wte.weight')) return 'nanogpt';
  return undefined;
}

/** The error for a state_dict no layout fits: a few of its keys and the layouts known. */
export function unknownLayoutError(where: string, keys: string[]): MyptError {
  const few = keys.slice(0, 6).join(', ') + (keys.length > 6 ? `, ... (${keys.length} keys)` : '');
  return new MyptError(
    'E_UNSUPPORTED',
    `${where}: the keys fit no known checkpoint layout (found ${few || 'no keys'}); known layouts: ${Object.values(KNOWN_LAYOUTS).join('; ')}`,
  );
}

/** Any known state_dict -> canonical, with the layout it was. */
export function stateDictToCanonical(
  sd: StateDictIn,
  hints: LayoutHints = {},
  where = 'state_dict',
): { layout: LayoutName; config: FormatModelConfig; params: NamedTensors } {
  const layout = layoutOf(sd);
  switch (layout) {
    case 'mypt':
    case 'mypt-fused':
      return { layout, ...myptToCanonical(stripPrefixes(sd), hints, where) };
    case 'lecture':
      return { layout, ...lectureToCanonical(stripPrefixes(sd), hints, where) };
    case 'nanogpt':
      return { layout, ...nanogptToCanonical(sd, hints, where) };
    case 'hf-gpt2':
      return { layout, ...hfGpt2ToCanonical(sd, hints, where) };
    default:
      throw unknownLayoutError(where, dictKeys(sd));
  }
}

/** An AdamW state_dict saved beside a model of `layout` -> canonical. */
export function optimizerToCanonical(optSd: unknown, layout: LayoutName, config: LayoutConfig, where = 'optimizer'): CanonicalOptimizer & { hyper: AdamWHyper } {
  switch (layout) {
    case 'mypt':
      return myptOptimizerToCanonical(optSd, config, where);
    case 'mypt-fused':
      return myptFusedOptimizerToCanonical(optSd, config, where);
    case 'lecture':
      return lectureOptimizerToCanonical(optSd, config, where);
    case 'nanogpt':
      return nanogptOptimizerToCanonical(optSd, config, where);
    default:
      throw new MyptError('E_UNSUPPORTED', `${where}: optimizer state of a ${KNOWN_LAYOUTS[layout]} model cannot be mapped`);
  }
}

/** The layout mypt-native writes a model of this architecture in. */
export function layoutForConfig(c: LayoutConfig & { arch?: string; attn_scale?: unknown }): LayoutName {
  const gelu = c.activation === 'gelu' || c.activation === 'gelu_tanh';
  if (gelu && c.arch !== 'gpt2' && !c.tied_head && c.head_bias !== false) return 'mypt-fused';
  if (c.arch === 'gpt2' || gelu || c.tied_head) return 'nanogpt';
  if (c.attn_scale === 'embd') return 'lecture';
  return 'mypt';
}

/** Canonical -> the state_dict of layoutForConfig(config). */
export function canonicalToStateDict(params: NamedTensors, config: LayoutConfig & { arch?: string; attn_scale?: unknown }): PyDict<F32Tensor> {
  const layout = layoutForConfig(config);
  if (layout === 'nanogpt') return canonicalToNanogpt(params, config);
  if (layout === 'mypt-fused') return canonicalToMyptFused(params, config);
  if (layout === 'lecture') return canonicalToLecture(params, config);
  return canonicalToMypt(params, config);
}

/** Canonical optimizer state -> the AdamW state_dict matching canonicalToStateDict's parameter order. */
export function canonicalToOptimizerStateDict(
  opt: CanonicalOptimizer,
  config: LayoutConfig & { arch?: string; attn_scale?: unknown },
  hyper: Partial<AdamWHyper> = {},
): PyDict<unknown> {
  const layout = layoutForConfig(config);
  if (layout === 'nanogpt') return canonicalToNanogptOptimizer(opt, config, hyper);
  if (layout === 'mypt-fused') return canonicalToMyptFusedOptimizer(opt, config, hyper);
  if (layout === 'lecture') return canonicalToLectureOptimizer(opt, config, hyper);
  return canonicalToMyptOptimizer(opt, config, hyper);
}
