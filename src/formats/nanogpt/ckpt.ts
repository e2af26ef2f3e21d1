// nanoGPT's ckpt.pt (FORMATS.md section 3) and the meta.pkl character vocabulary its prepare.py writes
// beside the data (data/<dataset>/meta.pkl: {"vocab_size", "itos", "stoi"}).
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import type { DetectedCheckpoint, DetectOptions, TokenizerRecord } from '../types';
import { field, pyNumber } from '../layouts/common';
import { optimizerToCanonical, stateDictToCanonical } from '../layouts';
import type { NanoModelArgs } from '../layouts/nanogpt';
import { loadPickleSync } from '../torch/pickle-file';

/** Where nanoGPT's sample.py would find meta.pkl for `dataset`, plus beside the checkpoint itself. */
export function metaPklCandidates(ckptFile: string, dataset: string | undefined): string[] {
  const dir = path.dirname(path.resolve(ckptFile));
  const out = [path.join(dir, 'meta.pkl')];
  if (dataset) {
    out.push(path.join(path.dirname(dir), 'data', dataset, 'meta.pkl'));
    out.push(path.resolve('data', dataset, 'meta.pkl'));
  }
  return [...new Set(out)];
}

/** The character list of a meta.pkl ({"vocab_size", "itos": {i: ch}, "stoi"}), in id order. */
export function readMetaPkl(file: string): string[] {
  const meta = loadPickleSync(file);
  const itos = field(meta, 'itos');
  const n = pyNumber(field(meta, 'vocab_size'));
  if (!(itos instanceof Map) || n === undefined) throw new MyptError('E_BAD_FILE', `${file}: not a nanoGPT meta.pkl (no itos / vocab_size)`);
  const chars: string[] = [];
  for (let i = 0; i < n; i++) {
    const ch = itos.get(i);
    if (typeof ch !== 'string') throw new MyptError('E_BAD_FILE', `${file}: itos has no character for id ${i}`);
    chars.push(ch);
  }
  return chars;
}

function nanoTokenizer(file: string, dataset: string | undefined, vocab: number) {
  const looked = metaPklCandidates(file, dataset);
  for (const m of looked) {
    if (!fs.existsSync(m)) continue;
    const chars = readMetaPkl(m);
    if (chars.length !== vocab) {
      throw new MyptError('E_BAD_FILE', `${m}: ${chars.length} characters but the model's vocab_size is ${vocab}`);
    }
    return { tokenizer: { token_kind: 'char', chars } as TokenizerRecord, source: `meta.pkl at ${m}` };
  }
  if (vocab === 50304 || vocab === 50257) return { tokenizer: { token_kind: 'gpt2', chars: null } as TokenizerRecord, source: 'GPT-2 BPE (vocab_size)' };
  return { problem: `${file}: no meta.pkl with the character vocabulary (looked at ${looked.join(', ')}); text generation needs it: copy the meta.pkl that nanoGPT's prepare.py wrote${dataset ? ` (data/${dataset}/meta.pkl)` : ''} beside the checkpoint (forward, inspect and convert work without it)` };
}

function plain(v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (v instanceof Map) for (const [k, x] of v) out[String(k)] = typeof x === 'bigint' ? Number(x) : x;
  return out;
}

export function readNanogpt(file: string, v: Map<unknown, unknown>, opts: DetectOptions = {}): DetectedCheckpoint {
  const args = plain(v.get('model_args')) as Partial<NanoModelArgs>;
  const trainConfig = plain(v.get('config'));
  const { layout, config, params } = stateDictToCanonical(v.get('model') as Map<string, unknown>, args, `${file} model`);
  const dataset = typeof trainConfig.dataset === 'string' ? trainConfig.dataset : undefined;
  const tok = nanoTokenizer(file, dataset, config.vocab_size);
  const optSd = v.get('optimizer');
  const hasOptimizer = optSd instanceof Map;
  const warnings: string[] = [];
  if (!config.tied_head) warnings.push(`${file}: lm_head.weight differs from transformer.wte.weight: loaded as an untied head`);
  return {
    format: 'nanogpt',
    layout,
    path: file,
    config,
    params,
    tokenizer: tok.tokenizer,
    tokenizerSource: tok.source,
    tokenizerProblem: tok.problem,
    step: pyNumber(v.get('iter_num')),
    optimizer: opts.optimizer && hasOptimizer ? optimizerToCanonical(optSd, layout, config, `${file} optimizer`) : undefined,
    hasOptimizer,
    extra: { model_args: args, iter_num: pyNumber(v.get('iter_num')), best_val_loss: pyNumber(v.get('best_val_loss')), config: trainConfig },
    warnings,
  };
}
