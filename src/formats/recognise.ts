// The one recogniser: what a loaded .pt value is, by its keys alone (tensor data is never read). Every
// reader, `list`, `convert` and `inspect` ask this function and nothing else, so a file is classified the
// same way everywhere. The order matters where dicts overlap (FORMATS.md):
//   modded-nanogpt files first (their dict looks unified, but no GPT layout fits their weights);
//   a separated pair's optimizer file (optimizer_states) and model file (model_state_dict + global_step,
//   no optimizer); the env-var lecture trainer's file (model_state_dict + hyperparameters, or + vocab_size,
//   block_size, batch_size); a section 5 unified file (model / model_state_dict + lr_scheduler, or the
//   tokenizer kept in its config as mypt-native writes it); MyPT's legacy latest.pt / final.pt
//   (model_state_dict + config, no global_step, no hyperparameters); nanoGPT's ckpt.pt (model + model_args);
//   a bare state_dict of a known layout; a known state_dict wrapped under state_dict / model_state_dict /
//   model (other trainers' unified files, later MyPT's model.pt); anything else.
import { layoutOf, LayoutName } from './layouts';
import { isDictLike } from './layouts/common';
import { detectModded } from './modded/modded';

export type ValueKind =
  | 'modded-small' | 'modded-medium'
  | 'separated-optimizer' | 'separated-model'
  | 'envvar'
  | 'unified'
  | 'mypt-legacy'
  | 'nanogpt'
  | 'state-dict'
  | 'wrapped'
  | 'not-a-dict'
  | 'other';

export interface Recognised {
  kind: ValueKind;
  /** The state_dict layout (state-dict and wrapped kinds). */
  layout?: LayoutName;
  /** The key a wrapped state_dict sits under. */
  key?: string;
}

/** Keys other tools keep their state_dict under (later MyPT's model.pt, unified and separated files). */
export const WRAPPED_KEYS = ['state_dict', 'model_state_dict', 'model'];
/** Keys a single-file checkpoint keeps its optimizer state under. */
export const OPTIMIZER_KEYS = ['optimizer', 'optimizer_state_dict', 'optimizer_state'];

const isMap = (v: unknown): v is Map<unknown, unknown> => v instanceof Map;

export function recognise(v: unknown): Recognised {
  if (!isDictLike(v)) return { kind: 'not-a-dict' };
  const modded = detectModded(v);
  if (modded) return { kind: modded === 'small' ? 'modded-small' : 'modded-medium' };
  if (!isMap(v)) return { kind: 'other' };
  const has = (k: string) => v.has(k);
  if (has('optimizer_states')) return { kind: 'separated-optimizer' };
  if (isMap(v.get('model_state_dict'))) {
    if (has('hyperparameters') || (has('vocab_size') && has('block_size') && has('batch_size'))) return { kind: 'envvar' };
    if (has('global_step') && !has('optimizer') && !has('optimizer_state_dict')) return { kind: 'separated-model' };
  }
  const config = v.get('config');
  if ((has('model') || has('model_state_dict')) && (has('lr_scheduler') || (isMap(config) && config.has('tokenizer')))) return { kind: 'unified' };
  if (has('model_state_dict') && isMap(config) && !has('global_step') && !has('hyperparameters')) return { kind: 'mypt-legacy' };
  if (isMap(v.get('model')) && isMap(v.get('model_args'))) return { kind: 'nanogpt' };
  const bare = layoutOf(v as Map<string, unknown>);
  if (bare) return { kind: 'state-dict', layout: bare };
  for (const key of WRAPPED_KEYS) {
    const inner = v.get(key);
    const layout = isMap(inner) ? layoutOf(inner as Map<string, unknown>) : undefined;
    if (layout) return { kind: 'wrapped', layout, key };
  }
  // a unified-looking dict whose weights no layout fits is still a unified file to the section 5 reader
  if (has('model') || has('model_state_dict')) return { kind: 'unified' };
  return { kind: 'other' };
}
