// MyPT's legacy single-file checkpoints (FORMATS.md section 2): checkpoints/<name>/latest.pt and final.pt,
// `{"model_state_dict", "config", "tokenizer", "step", "optimizer_state_dict"}` as GPT.save writes them.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import type { DetectedCheckpoint, DetectOptions, TokenizerRecord } from '../types';
import { field, pyNumber } from '../layouts/common';
import { optimizerToCanonical, stateDictToCanonical } from '../layouts';
import type { MyptConfigJson } from '../layouts/mypt';

/** The legacy files of a model folder, in MyPT's order of preference. */
export const LEGACY_NAMES = ['latest.pt', 'final.pt'];

/** latest.pt, else final.pt, in `dir`; undefined when neither exists. */
export function findLegacyFile(dir: string): string | undefined {
  for (const name of LEGACY_NAMES) {
    const p = path.join(dir, name);
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return p;
  }
  return undefined;
}

function configOf(v: unknown, file: string): Partial<MyptConfigJson> {
  const c = field(v, 'config');
  if (!(c instanceof Map)) throw new MyptError('E_BAD_FILE', `${file}: "config" is not a dict`);
  const out: Record<string, unknown> = {};
  for (const [k, x] of c) out[String(k)] = typeof x === 'bigint' ? Number(x) : x;
  return out as Partial<MyptConfigJson>;
}

/** The tokenizer record of a legacy file: {"token_kind", "chars"} or None (then gpt2 when the vocab says so). */
export function legacyTokenizer(v: unknown, vocabSize: number): { tokenizer?: TokenizerRecord; problem?: string } {
  const t = field(v, 'tokenizer');
  if (t instanceof Map) {
    const kind = t.get('token_kind');
    const chars = t.get('chars');
    if (kind === 'char' && Array.isArray(chars)) return { tokenizer: { token_kind: 'char', chars: chars.map(String) } };
    if (kind === 'gpt2') return { tokenizer: { token_kind: 'gpt2', chars: null } };
  }
  if (vocabSize >= 50257) return { tokenizer: { token_kind: 'gpt2', chars: null } };
  return { problem: 'the file records no tokenizer and its vocabulary is too small for GPT-2' };
}

/** Reads a loaded legacy dict into the registry's shape. */
export function readMyptLegacy(file: string, v: Map<unknown, unknown>, opts: DetectOptions = {}): DetectedCheckpoint {
  const cfg = configOf(v, file);
  const sd = v.get('model_state_dict');
  if (!(sd instanceof Map)) throw new MyptError('E_BAD_FILE', `${file}: "model_state_dict" is not a dict`);
  const { layout, config, params } = stateDictToCanonical(sd, cfg, `${file} model_state_dict`);
  const tok = legacyTokenizer(v, config.vocab_size);
  const optSd = v.get('optimizer_state_dict');
  const hasOptimizer = optSd instanceof Map;
  const step = pyNumber(v.get('step'));
  return {
    format: 'mypt-legacy',
    layout,
    path: file,
    config,
    params,
    tokenizer: tok.tokenizer,
    tokenizerSource: tok.tokenizer ? `the "tokenizer" record in ${path.basename(file)}` : undefined,
    tokenizerProblem: tok.problem ? `${file}: ${tok.problem}` : undefined,
    step,
    optimizer: opts.optimizer && hasOptimizer ? optimizerToCanonical(optSd, layout, config, `${file} optimizer_state_dict`) : undefined,
    hasOptimizer,
    extra: { config: cfg },
    warnings: [],
  };
}
