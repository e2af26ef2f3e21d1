// The env-var lecture trainer (gness1804/build_llm_karpathy, models/bigram_lm_v2.py; FORMATS.md section 4):
// MyPT's names with `ffwd` for `fwd`, the final LayerNorm appended to the blocks Sequential
// (blocks.{n_layer}.weight/.bias, no ln_f), q/k/v without bias, and attention scaled by n_embd^-0.5
// (`C**-0.5` with C the model width), not head_size^-0.5. Optimizer: AdamW(model.parameters(), lr).
import type { ModelSizes } from '../../config/gpt';
import { MyptError } from '../../errors';
import { AdamWHyper, CanonicalOptimizer, F32Tensor, LayoutConfig, NamedTensors, PyDict, SdReader, StateDictIn, checkCanonical } from './common';
import {
  canonicalToLectureFamily, canonicalToLectureFamilyOptimizer, lectureFamilyOptimizerToCanonical, readLectureFamily,
} from './lecture-family';
import { isTril } from './mypt';

/** ModelConfig (contracts A) of a lecture-trainer model. */
export interface LectureModelConfig extends ModelSizes {
  dropout: number;
  bias: false;
  arch: 'mypt';
  activation: 'relu';
  qkv_bias: false;
  proj_bias: true;
  mlp_bias: true;
  ln_bias: true;
  tied_head: false;
  head_bias: true;
  attn_scale: 'embd';
}

/** True when a state_dict has the lecture trainer's names. */
export function isLecture(sd: StateDictIn): boolean {
  return sd.has('token_embedding_table.weight') && sd.has('blocks.0.ffwd.net.0.weight');
}

/** Lecture state_dict -> canonical; n_head is counted from the heads, checked against `hp` (hyperparameters). */
export function lectureToCanonical(
  sd: StateDictIn,
  hp: { n_head?: number; n_layer?: number; n_embd?: number; dropout?: number; vocab_size?: number; block_size?: number } = {},
  where = 'checkpoint.pt',
): { config: LectureModelConfig; params: NamedTensors } {
  const r = new SdReader(sd, where);
  const tok = r.shapeOf('token_embedding_table.weight');
  const pos = r.shapeOf('position_embedding_table.weight');
  if (!tok || !pos) throw new MyptError('E_BAD_FILE', `${where}: not a lecture-trainer state_dict`);
  let n_layer = 0;
  while (sd.has(`blocks.${n_layer}.ln1.weight`)) n_layer++;
  let n_head = 0;
  while (sd.has(`blocks.0.sa.heads.${n_head}.key.weight`)) n_head++;
  const found = { vocab_size: tok[0], n_embd: tok[1], block_size: pos[0], n_layer, n_head };
  for (const k of Object.keys(found) as Array<keyof typeof found>) {
    const given = hp[k];
    if (given !== undefined && given !== null && Number(given) !== found[k]) {
      throw new MyptError('E_BAD_FILE', `${where}: the file records ${k}=${given} but the weights have ${k}=${found[k]}`);
    }
  }
  if (!n_head || found.n_embd % n_head !== 0) throw new MyptError('E_BAD_FILE', `${where}: cannot tell the attention heads apart`);
  const config: LectureModelConfig = {
    ...found, dropout: typeof hp.dropout === 'number' ? hp.dropout : 0, bias: false, arch: 'mypt', activation: 'relu',
    qkv_bias: false, proj_bias: true, mlp_bias: true, ln_bias: true, tied_head: false, head_bias: true, attn_scale: 'embd',
  };
  return { config, params: readLectureFamily(sd, config, 'lecture', where, isTril) };
}

/** Canonical -> lecture state_dict, in its exact order with every tril buffer (its model loads strictly). */
export function canonicalToLecture(params: NamedTensors, config: LayoutConfig & { attn_scale?: unknown }): PyDict<F32Tensor> {
  const bad: string[] = [];
  if (config.activation && config.activation !== 'relu') bad.push(`activation ${config.activation}`);
  if (config.qkv_bias) bad.push('q/k/v bias');
  if (config.tied_head || config.head_bias === false || config.proj_bias === false || config.mlp_bias === false || config.ln_bias === false) {
    bad.push('bias/tying options');
  }
  const embd = config.attn_scale === 'embd' || config.attn_scale === config.n_embd ** -0.5;
  if (!embd) bad.push(`attn_scale ${config.attn_scale ?? 'head'} (the lecture model scales by n_embd^-0.5)`);
  if (bad.length) throw new MyptError('E_UNSUPPORTED', `the model is not the lecture trainer's architecture: ${bad.join('; ')}`);
  checkCanonical(params, config, 'canonicalToLecture');
  return canonicalToLectureFamily(params, config, 'lecture', true);
}

export function lectureOptimizerToCanonical(optSd: unknown, config: LayoutConfig, where = 'checkpoint.pt'): CanonicalOptimizer & { hyper: AdamWHyper } {
  return lectureFamilyOptimizerToCanonical(optSd, config, 'lecture', where);
}

export function canonicalToLectureOptimizer(opt: CanonicalOptimizer, config: LayoutConfig, hyper: Partial<AdamWHyper> = {}): PyDict<unknown> {
  return canonicalToLectureFamilyOptimizer(opt, config, 'lecture', hyper);
}
