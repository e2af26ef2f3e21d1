// A Hugging Face model folder that `GPT2LMHeadModel.from_pretrained(DIR)` and `AutoTokenizer.from_pretrained(DIR)`
// load as they are: config.json, generation_config.json, model.safetensors (save_pretrained's names and Conv1D
// layout: c_attn, attn.c_proj, c_fc and mlp.c_proj stored [in, out]; no lm_head.weight when tied; metadata
// {"format": "pt"}, which transformers requires), and the tokenizer files of formats/hf/tokenizer.ts.
// Written as one folder generation (formats/atomic.ts replaceDirAtomic): a crash leaves the old folder or
// the new one whole; files of an older export that this one does not write (vocab.json of a GPT-2 export
// replaced by a char one) are dropped, anything else in the folder is kept.
import fs from 'fs';
import path from 'path';
import { replaceDirAtomic } from '../atomic';
import { canonicalToHfGpt2, hfGpt2ConfigJson } from '../layouts/hf-gpt2';
import type { LayoutConfig, NamedTensors } from '../layouts/common';
import { saveSafetensorsSync } from '../safetensors';
import { float32ToBfloat16, float32ToFloat16, Tensor } from '../tensor';
import type { TokenizerRecord } from '../types';
import { FileSet, hfTokenizerFiles } from './tokenizer';

export type HfDtype = 'float32' | 'float16' | 'bfloat16';
export const HF_DTYPES: readonly HfDtype[] = ['float32', 'float16', 'bfloat16'];

/** Every file an export may write: what a new export replaces in an existing folder. */
export const HF_FILES = ['config.json', 'generation_config.json', 'model.safetensors', 'vocab.json', 'merges.txt', 'tokenizer.json',
  'tokenizer_config.json', 'special_tokens_map.json', 'pytorch_model.bin', 'model.safetensors.index.json'];

export interface HfFolderInput {
  /** A GPT-2-shaped config: every bias present, no head bias, attention scaled by head_size^-0.5. */
  config: LayoutConfig & { dropout?: number; ln_eps?: number };
  params: NamedTensors;
  tokenizer?: TokenizerRecord;
  dtype: HfDtype;
  /** Kept in config.json under "mypt_native" (where the model came from, what was changed to fit). */
  notes?: Record<string, unknown>;
}

function cast(t: { shape: number[]; data: Float32Array }, dtype: HfDtype): Tensor {
  if (dtype === 'float16') return { dtype: 'float16', shape: t.shape, data: float32ToFloat16(t.data) };
  if (dtype === 'bfloat16') return { dtype: 'bfloat16', shape: t.shape, data: float32ToBfloat16(t.data) };
  return { dtype: 'float32', shape: t.shape, data: t.data };
}

/** The folder's JSON and text files, and its tensors (in save_pretrained's order and dtype). */
export function hfFolderContents(x: HfFolderInput): { files: FileSet; tensors: Map<string, Tensor> } {
  const sd = canonicalToHfGpt2(x.params, x.config);
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of sd) tensors.set(String(k), cast(t, x.dtype));
  const gpt2 = x.tokenizer?.token_kind === 'gpt2';
  const config = { ...hfGpt2ConfigJson(x.config, { dtype: x.dtype, eos: gpt2 ? 50256 : null }), ...(x.notes ? { mypt_native: x.notes } : {}) };
  const generation = gpt2 ? { _from_model_config: true, bos_token_id: 50256, eos_token_id: 50256 } : { _from_model_config: true };
  const files: FileSet = {
    'config.json': JSON.stringify(config, null, 2) + '\n',
    'generation_config.json': JSON.stringify(generation, null, 2) + '\n',
    ...(x.tokenizer ? hfTokenizerFiles(x.tokenizer, x.config.block_size) : {}),
  };
  return { files, tensors };
}

/** Writes the folder `dir` (created, or replaced generation-wise). */
export async function writeHfFolder(dir: string, x: HfFolderInput): Promise<string[]> {
  const { files, tensors } = hfFolderContents(x);
  const written = [...Object.keys(files), 'model.safetensors'].sort();
  await replaceDirAtomic(dir, (staging) => {
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(staging, name), text);
    saveSafetensorsSync(path.join(staging, 'model.safetensors'), tensors, { format: 'pt' });
  }, { dropOld: HF_FILES });
  return written;
}
