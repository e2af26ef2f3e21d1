// What every model family shares above its ids: text in, text out with the model's tokenizer, as one
// string or as a stream of whole-character pieces; the option checks of sampling. A family implements
// generateIds (and forward, trainStep, ...); TextModel adds generate(string), generateText, generateStream.
import { MyptError } from '../errors';
import { TextStreamDecoder } from '../tokenizer/stream';
import type { TextCodec } from '../tokenizer/types';
import type { Family, GenerateOptions, Model, ModelSummary, ModelOrigin, SampleOptions, TextOptions, TrainBatch, Tokens } from './types';

/** The most tokens one generation may ask for (the engine counts in 32-bit integers). */
export const MAX_NEW_TOKENS = 2 ** 31 - 1;

function badArg(msg: string): never {
  throw new MyptError('E_BAD_ARGUMENT', msg);
}

/** A numeric option: the fallback when absent (NaN: required), else a finite number passing `ok`. */
export function numOption(v: unknown, fallback: number, name: string, ok: (x: number) => boolean, what = ''): number {
  const at = what ? `${what}: ` : '';
  if (v === undefined) {
    if (Number.isNaN(fallback)) badArg(`${at}${name} is required`);
    return fallback;
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) badArg(`${at}${name} is ${typeof v === 'number' ? String(v) : JSON.stringify(v)}, which is out of range`);
  return v;
}

/** The engine's sampling record from options (max_new_tokens required: pass 500 as the text default). */
export function sampleParams(o: SampleOptions, seedFallback: number, maxFallback = NaN) {
  const w = 'generate';
  return {
    max_new_tokens: numOption(o.max_new_tokens, maxFallback, 'max_new_tokens', (x) => Number.isInteger(x) && x >= 0 && x <= MAX_NEW_TOKENS, w),
    temperature: numOption(o.temperature, 1, 'temperature', (x) => x >= 0, w),
    top_k: numOption(o.top_k, 0, 'top_k', (x) => Number.isInteger(x) && x >= 0, w),
    top_p: numOption(o.top_p, 1, 'top_p', (x) => x > 0 && x <= 1, w),
    seed: numOption(o.seed, seedFallback, 'seed', (x) => Number.isSafeInteger(x) && x >= 0, w),
  };
}

/** Prompt ids as the addon takes them; an id that is no integer in [0, 2^31) is named here (Int32Array.from
 *  would wrap it into some other id). Whether it is inside the vocabulary is the engine's check. */
export function promptIds(prompt: number[] | Int32Array, what: string): Int32Array {
  if (prompt instanceof Int32Array) {
    if (prompt.length === 0) badArg(`${what}: the prompt must hold at least one token`);
    return prompt;
  }
  if (!Array.isArray(prompt)) badArg(`${what}: prompt must be a string, number[] or Int32Array`);
  prompt.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id > 2 ** 31 - 1) badArg(`${what}: token id ${String(id)} at position ${i} is not a non-negative integer id`);
  });
  if (prompt.length === 0) badArg(`${what}: the prompt must hold at least one token`);
  return Int32Array.from(prompt);
}

/** The text pieces a callback-driven generation pushes, as an async stream (errors rethrown at its end). */
export async function* pieces(run: (push: (piece: string) => void) => Promise<unknown>): AsyncGenerator<string> {
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  let error: unknown;
  const running = run((piece) => { queue.push(piece); wake?.(); })
    .catch((e) => { error = e; })
    .finally(() => { done = true; wake?.(); });
  while (true) {
    if (queue.length) { yield queue.shift()!; continue; }
    if (done) break;
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
  await running;
  if (error) throw error;
}

export abstract class TextModel implements Model {
  abstract readonly family: Family;
  abstract readonly device: string;
  abstract readonly numParams: number;
  readonly tokenizer?: TextCodec;
  readonly origin?: ModelOrigin;

  constructor(tokenizer?: TextCodec, origin?: ModelOrigin) {
    this.tokenizer = tokenizer;
    this.origin = origin;
  }

  abstract info(): ModelSummary;
  abstract forward(tokens: Tokens): Promise<{ logits: Float32Array; shape: [number, number, number] }>;
  abstract trainStep(batch: TrainBatch): Promise<number>;
  abstract dispose(): void;
  /** The new ids after the prompt (the family's sampler). */
  protected abstract generateIds(prompt: number[] | Int32Array, opts: GenerateOptions): Promise<number[]>;
  /** The ids a text prompt becomes; '' starts from the family's own first token. */
  protected abstract textPrompt(tok: TextCodec, prompt: string): number[];
  /** Extra sampling options for text generation (e.g. keep sampling inside the tokenizer's vocabulary). */
  protected textSampling(_tok: TextCodec): Partial<GenerateOptions> { return {}; }

  /** The loaded checkpoint this model came from (loadModel), as `origin`; kept for older callers. */
  get checkpoint(): ModelOrigin | undefined { return this.origin; }
  /** The checkpoint path (loadModel), or undefined. */
  get path(): string | undefined { return this.origin?.path; }

  encode(text: string): number[] { return this.codec().encode(text); }
  decode(ids: number[]): string { return this.codec().decode(ids); }

  generate(prompt: number[] | Int32Array, opts: GenerateOptions): Promise<number[]>;
  generate(prompt: string, opts?: TextOptions): Promise<string>;
  generate(prompt: string | number[] | Int32Array, opts?: GenerateOptions | TextOptions): Promise<string | number[]> {
    if (typeof prompt === 'string') return this.generateText(prompt, opts as TextOptions);
    return this.generateIds(prompt, (opts ?? {}) as GenerateOptions);
  }

  async generateText(prompt: string, opts: TextOptions = {}): Promise<string> {
    let s = '';
    for await (const piece of this.generateStream(prompt, opts)) s += piece;
    return s;
  }

  generateStream(prompt: string, opts: TextOptions = {}): AsyncGenerator<string> {
    if (typeof prompt !== 'string') badArg('generateStream: the prompt must be a string');
    const tok = this.codec();
    const ids = this.textPrompt(tok, prompt);
    const o = opts ?? {};
    const max_new_tokens = o.max_new_tokens ?? 500;
    const dec = new TextStreamDecoder(tok);
    const run = async (push: (piece: string) => void) => {
      const out = (s: string) => { if (s) { push(s); o.onText?.(s); } };
      await this.generateIds(ids, {
        ...this.textSampling(tok), max_new_tokens, temperature: o.temperature, top_k: o.top_k, top_p: o.top_p, seed: o.seed, signal: o.signal,
        onToken: (id) => { o.onToken?.(id); out(dec.push(id)); },
      });
      out(dec.flush());
    };
    return pieces(run);
  }

  protected codec(): TextCodec {
    if (!this.tokenizer) {
      // the loader says where it looked and how to give one; a model made by createModel has none
      const why = this.origin?.tokenizerProblem;
      if (typeof why === 'string') throw new MyptError('E_TOKENIZER', why);
      throw new MyptError('E_TOKENIZER', 'this model has no tokenizer, so it takes and gives token ids only',
        'load it from a checkpoint with its vocabulary, or pass ids to generate()');
    }
    return this.tokenizer;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
