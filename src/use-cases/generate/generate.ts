// Text generation from any checkpoint: generate (the new text) and generateStream (its pieces as they are
// produced), over loadModel's one path. The options are checked once here, named as the CLI's flags.
import { MyptError } from '../../errors';
import type { SampleOptions } from '../../model';
import { MAX_NEW_TOKENS } from '../../model';
import { loadModel, LoadedModel } from '../open/open';

export type { SampleOptions } from '../../model';

export interface GenerateOptions extends SampleOptions {
  model_name?: string;
  checkpoint?: string;
  checkpoints_dir?: string;
  /** Char vocabulary for checkpoints that store none (the env-var trainer's). */
  input_file?: string;
  prompt?: string;
  device?: 'auto' | 'cpu' | 'cuda';
  /** modded-nanogpt files: a tokenizer file (MyPT's or a Hugging Face byte-level BPE tokenizer.json); default GPT-2's. */
  tokenizer?: string;
}

/** Sampling options checked as the CLI names them (--max_new_tokens, ...); max_new_tokens defaults to 500. */
export function checkSample(o: SampleOptions): SampleOptions & { max_new_tokens: number } {
  const max = o.max_new_tokens ?? 500;
  if (!Number.isInteger(max) || max < 0 || max > MAX_NEW_TOKENS) {
    throw new MyptError('E_BAD_ARGUMENT', `--max_new_tokens ${max}: must be a whole number from 0 to ${MAX_NEW_TOKENS}`);
  }
  if (o.temperature !== undefined && !(o.temperature >= 0)) throw new MyptError('E_BAD_ARGUMENT', `--temperature ${o.temperature}: must be >= 0`);
  if (o.top_k !== undefined && !(Number.isInteger(o.top_k) && o.top_k >= 0)) throw new MyptError('E_BAD_ARGUMENT', `--top_k ${o.top_k}: must be a whole number >= 0`);
  if (o.top_p !== undefined && !(o.top_p > 0 && o.top_p <= 1)) throw new MyptError('E_BAD_ARGUMENT', `--top_p ${o.top_p}: must be in (0, 1]`);
  return { ...o, max_new_tokens: max };
}

function sourceOf(o: GenerateOptions): string {
  if (o === null || typeof o !== 'object') throw new MyptError('E_BAD_ARGUMENT', 'generate: options must be an object');
  if (o.checkpoint && o.model_name) throw new MyptError('E_BAD_ARGUMENT', 'give either --model_name or --checkpoint, not both');
  return o.checkpoint ?? o.model_name ?? 'default';
}

/** What runs, for a status line: the format, the forward pass of modded files, the tokenizer and the device. */
export function describeRun(m: LoadedModel): string {
  const where = m.origin?.path ?? '(in memory)';
  if (m.family === 'modded') {
    const recorded = m.spec.forward !== m.spec.layout ? ' (recorded in the file)' : '';
    return `${where}: modded-nanogpt ${m.spec.layout} layout, ${m.forwardKind} forward pass${recorded}, ${m.tokenizer.source}, on ${m.device}`;
  }
  return `${where}: ${String(m.origin?.format)} checkpoint, ${m.numParams.toLocaleString('en-US')} parameters, on ${m.device}`;
}

/** Loads, samples, disposes: the new text after the prompt. */
export async function generate(o: GenerateOptions): Promise<string> {
  let s = '';
  for await (const piece of generateStream(o)) s += piece;
  return s;
}

/** Loads, then yields text pieces as they are produced; the model is disposed when the stream ends. */
export async function* generateStream(o: GenerateOptions): AsyncGenerator<string> {
  const source = sourceOf(o);
  const opts = checkSample(o);
  const m = await loadModel(source, { device: o.device, checkpoints_dir: o.checkpoints_dir, input_file: o.input_file, tokenizer: o.tokenizer });
  try {
    yield* m.generateStream(o.prompt ?? '', opts);
  } finally {
    m.dispose();
  }
}
