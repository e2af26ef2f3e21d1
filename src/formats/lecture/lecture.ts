// The env-var lecture trainer's single-file checkpoints (FORMATS.md section 4):
// checkpoint_{model}_{source}_step{N:06d}_{MMDDYYYY_HHMMSS}.pt holding
// {"step", "model_state_dict", "optimizer_state_dict", "hyperparameters", "vocab_size", "block_size", "batch_size"}
// (+ "tokenizer" in the files mypt-native writes). The original stores no character vocabulary: it comes
// from --input_file, a tokenizer.json beside the file, or the training text the hyperparameters name.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import type { DetectedCheckpoint, DetectOptions, TokenizerRecord } from '../types';
import { field, pyNumber } from '../layouts/common';
import { optimizerToCanonical, stateDictToCanonical } from '../layouts';
import { readTextFile } from '../../data/text';
import { buildCharVocab } from '../../tokenizer/char';

/** checkpoint_{model}_{source}_step{N}_{MMDDYYYY_HHMMSS}.pt (4- or 6-digit step). */
export const LECTURE_FILE = /^checkpoint_(.+)_step(\d{4,})_(\d{8})_(\d{6})\.pt$/;

/** The step in a lecture checkpoint's file name, or undefined when the name is not one. */
export function lectureStepOf(file: string): number | undefined {
  const m = LECTURE_FILE.exec(path.basename(file));
  return m ? Number(m[2]) : undefined;
}

function plain(v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (v instanceof Map) for (const [k, x] of v) out[String(k)] = typeof x === 'bigint' ? Number(x) : x;
  return out;
}

interface TokenizerFound { tokenizer?: TokenizerRecord; source?: string; problem?: string }

function fromChars(chars: string[], source: string, vocab: number): TokenizerFound {
  if (chars.length !== vocab) {
    throw new MyptError('E_TOKENIZER', `${source} gives ${chars.length} characters but the model's vocab_size is ${vocab}`);
  }
  return { tokenizer: { token_kind: 'char', chars }, source };
}

function lectureTokenizer(file: string, v: Map<unknown, unknown>, hp: Record<string, unknown>, vocab: number, opts: DetectOptions): TokenizerFound {
  const stored = v.get('tokenizer');
  if (stored instanceof Map) {
    if (stored.get('token_kind') === 'gpt2') return { tokenizer: { token_kind: 'gpt2', chars: null }, source: `the "tokenizer" record in ${path.basename(file)}` };
    const chars = stored.get('chars');
    if (Array.isArray(chars)) return fromChars(chars.map(String), `the "tokenizer" record in ${path.basename(file)}`, vocab);
  }
  if (hp.tokenization_method === 'gpt2') return { tokenizer: { token_kind: 'gpt2', chars: null }, source: 'GPT-2 BPE (tokenization_method gpt2)' };
  if (opts.inputFile) return fromChars(buildCharVocab(readTextFile(opts.inputFile)), `--input_file ${opts.inputFile}`, vocab);
  const beside = path.join(path.dirname(file), 'tokenizer.json');
  if (fs.existsSync(beside)) {
    const t = JSON.parse(fs.readFileSync(beside, 'utf8')) as { token_kind?: string; chars?: string[] };
    if (t.token_kind === 'gpt2') return { tokenizer: { token_kind: 'gpt2', chars: null }, source: beside };
    if (Array.isArray(t.chars)) return fromChars(t.chars, beside, vocab);
  }
  const src = typeof hp.training_data_source === 'string' ? hp.training_data_source : undefined;
  if (src) {
    for (const p of [path.resolve(src), path.resolve(path.dirname(file), '..', src)]) {
      if (fs.existsSync(p) && fs.statSync(p).isFile()) {
        return fromChars(buildCharVocab(readTextFile(p)), `the training text ${p} (hyperparameters.training_data_source)`, vocab);
      }
    }
  }
  return {
    problem: `${file}: the lecture trainer does not store its character vocabulary; pass --input_file <the training text> or put a tokenizer.json beside the file`,
  };
}

export function readLecture(file: string, v: Map<unknown, unknown>, opts: DetectOptions = {}): DetectedCheckpoint {
  const hp = plain(v.get('hyperparameters'));
  const hints = { ...hp, vocab_size: pyNumber(v.get('vocab_size')) ?? (hp.vocab_size as number | undefined), block_size: pyNumber(v.get('block_size')) };
  const { layout, config, params } = stateDictToCanonical(v.get('model_state_dict') as Map<string, unknown>, hints, `${file} model_state_dict`);
  const tok = lectureTokenizer(file, v, hp, config.vocab_size, opts);
  const optSd = v.get('optimizer_state_dict');
  const hasOptimizer = optSd instanceof Map;
  return {
    format: 'envvar', layout, path: file, config, params,
    tokenizer: tok.tokenizer, tokenizerSource: tok.source, tokenizerProblem: tok.problem,
    step: pyNumber(v.get('step')) ?? lectureStepOf(file),
    optimizer: opts.optimizer && hasOptimizer ? optimizerToCanonical(optSd, layout, config, `${file} optimizer_state_dict`) : undefined,
    hasOptimizer,
    extra: { hyperparameters: hp, batch_size: pyNumber(field(v, 'batch_size')) },
    warnings: [],
  };
}
