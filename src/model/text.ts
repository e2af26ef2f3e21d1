// Text generation as a stream of pieces: prompt -> ids, the model's tokens -> whole characters as they come.
import { MyptError } from '../errors';
import type { Model } from './gpt';
import { TextStreamDecoder, Tokenizer } from '../tokenizer';

export interface SampleOptions {
  max_new_tokens?: number;   // default 500
  temperature?: number;      // default 1.0; 0 = greedy
  top_k?: number;            // 0 / undefined: off
  top_p?: number;            // 1 / undefined: off
  seed?: number;             // same seed, same text
  signal?: AbortSignal;
}

/** The most tokens one generation may ask for (the engine counts in 32-bit integers). */
export const MAX_NEW_TOKENS = 2 ** 31 - 1;

export function checkSample(o: SampleOptions): Required<Pick<SampleOptions, 'max_new_tokens'>> & SampleOptions {
  const max = o.max_new_tokens ?? 500;
  if (!Number.isInteger(max) || max < 0 || max > MAX_NEW_TOKENS) {
    throw new MyptError('E_BAD_ARGUMENT', `--max_new_tokens ${max}: must be a whole number from 0 to ${MAX_NEW_TOKENS}`);
  }
  if (o.temperature !== undefined && !(o.temperature >= 0)) throw new MyptError('E_BAD_ARGUMENT', `--temperature ${o.temperature}: must be >= 0`);
  if (o.top_k !== undefined && !(Number.isInteger(o.top_k) && o.top_k >= 0)) throw new MyptError('E_BAD_ARGUMENT', `--top_k ${o.top_k}: must be a whole number >= 0`);
  if (o.top_p !== undefined && !(o.top_p > 0 && o.top_p <= 1)) throw new MyptError('E_BAD_ARGUMENT', `--top_p ${o.top_p}: must be in (0, 1]`);
  return { ...o, max_new_tokens: max };
}

/** The prompt's ids; an empty prompt starts from a newline (or id 0 when the vocabulary has none). */
function promptIds(tokenizer: Tokenizer, prompt: string): number[] {
  if (prompt === '') {
    try {
      return tokenizer.encode('\n');
    } catch {
      return [0];
    }
  }
  return tokenizer.encode(prompt);
}

export async function* stream(model: Model, tokenizer: Tokenizer, prompt: string, o: SampleOptions): AsyncGenerator<string> {
  const opts = checkSample(o);
  const ids = promptIds(tokenizer, prompt);
  const dec = new TextStreamDecoder(tokenizer);
  yield* pieces(async (push) => {
    await model.generate(ids, {
      max_new_tokens: opts.max_new_tokens, temperature: opts.temperature, top_k: opts.top_k, top_p: opts.top_p,
      seed: opts.seed, signal: opts.signal,
      onToken: (id) => {
        const piece = dec.push(id);
        if (piece) push(piece);
      },
    });
    const rest = dec.flush();
    if (rest) push(rest);
  });
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
