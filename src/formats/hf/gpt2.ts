// Hugging Face GPT-2 weights (pytorch_model.bin, model.safetensors) with the config.json beside them, and
// safetensors files in general (mypt-native's own carry their config and tokenizer in the metadata).
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import type { DetectedCheckpoint, TokenizerRecord } from '../types';
import { stateDictToCanonical, LayoutHints } from '../layouts';
import { loadSafetensorsSync } from '../safetensors';
import { hfCharVocab } from './tokenizer';

/** Metadata keys mypt-native writes into a .safetensors file. */
export const ST_META = { config: 'mypt_native.config', tokenizer: 'mypt_native.tokenizer', step: 'mypt_native.step' };

/** The HF config.json beside a weights file, when there is one. */
export function hfConfigBeside(file: string): LayoutHints | undefined {
  const p = path.join(path.dirname(file), 'config.json');
  if (!fs.existsSync(p)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(p, 'utf8')) as LayoutHints;
  } catch (e) {
    throw new MyptError('E_BAD_FILE', `${p}: not valid JSON (${(e as Error).message.replace(/\s*\n\s*/g, ' ')})`);
  }
}

const GPT2: TokenizerRecord = { token_kind: 'gpt2', chars: null };

/** A Hugging Face GPT-2 state_dict (already loaded) into the registry's shape. */
export function readHfStateDict(file: string, sd: Map<string, unknown>, hints: LayoutHints | undefined): DetectedCheckpoint {
  const { layout, config, params } = stateDictToCanonical(sd, hints ?? {}, file);
  const warnings: string[] = [];
  if (!hints) warnings.push(`${file}: no config.json beside it; sizes read from the weights, n_head from the GPT-2 family`);
  const hf = layout === 'hf-gpt2';
  // a character vocabulary exported by mypt-native (tokenizer.json of the WordLevel kind), else GPT-2's
  const chars = hf ? hfCharVocab(path.dirname(file)) : undefined;
  const tokenizer = chars ?? (hf ? GPT2 : undefined);
  return {
    format: hf ? 'hf-gpt2' : 'state-dict',
    layout, path: file, config, params,
    tokenizer,
    tokenizerSource: chars ? path.join(path.dirname(file), 'tokenizer.json') : hf ? 'GPT-2 BPE (Hugging Face GPT-2 weights)' : undefined,
    tokenizerProblem: tokenizer ? undefined : `${file}: a bare state_dict holds no tokenizer`,
    hasOptimizer: false,
    extra: { hf_config: hints },
    warnings,
  };
}

function parseMeta(file: string, meta: Record<string, string>, key: string): unknown {
  const s = meta[key];
  if (s === undefined) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    throw new MyptError('E_BAD_FILE', `${file}: metadata ${key} is not JSON`);
  }
}

/** A .safetensors file: HF GPT-2 (config.json beside) or one mypt-native wrote (config in the metadata). */
export function readSafetensorsFile(file: string): DetectedCheckpoint {
  const { tensors, metadata } = loadSafetensorsSync(file);
  const own = parseMeta(file, metadata, ST_META.config) as LayoutHints | undefined;
  if (!own) return readHfStateDict(file, tensors as Map<string, unknown>, hfConfigBeside(file));
  const { layout, config, params } = stateDictToCanonical(tensors as Map<string, unknown>, own, file);
  const tok = parseMeta(file, metadata, ST_META.tokenizer) as TokenizerRecord | undefined;
  const step = metadata[ST_META.step] !== undefined ? Number(metadata[ST_META.step]) : undefined;
  return {
    format: 'safetensors', layout, path: file, config, params,
    tokenizer: tok ?? undefined,
    tokenizerSource: tok ? `the metadata of ${path.basename(file)}` : undefined,
    tokenizerProblem: tok ? undefined : `${file}: the metadata records no tokenizer`,
    step, hasOptimizer: false, extra: { metadata }, warnings: [],
  };
}
