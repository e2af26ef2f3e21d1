// Loading a trained model for sampling, and generation as a string or as a stream of text pieces.
import { MyptError } from './errors';
import { createModel, Model } from './model';
import { loadBundle, LoadedBundle } from './checkpoint/mypt-bundle';
import { resolveModelSource } from './model-source';
import { TextStreamDecoder, Tokenizer, tokenizerFromJSON } from './tokenizer';

export interface SampleOptions {
  max_new_tokens?: number;   // default 500
  temperature?: number;      // default 1.0; 0 = greedy
  top_k?: number;            // 0 / undefined: off
  top_p?: number;            // 1 / undefined: off
  seed?: number;             // same seed, same text
  signal?: AbortSignal;
}

export interface GenerateOptions extends SampleOptions {
  model_name?: string;
  checkpoint?: string;
  checkpoints_dir?: string;
  prompt?: string;
  device?: 'auto' | 'cpu' | 'cuda';
}

export interface LoadedModel {
  model: Model;
  tokenizer: Tokenizer;
  /** The bundle folder it came from, and what it records. */
  dir: string;
  bundle: Omit<LoadedBundle, 'params' | 'optimizer'>;
  /** The new text after `prompt` (the prompt itself is not repeated). */
  generate(prompt: string, opts?: SampleOptions): Promise<string>;
  generateStream(prompt: string, opts?: SampleOptions): AsyncIterable<string>;
  dispose(): void;
}

function checkSample(o: SampleOptions): Required<Pick<SampleOptions, 'max_new_tokens'>> & SampleOptions {
  const max = o.max_new_tokens ?? 500;
  if (!Number.isInteger(max) || max < 0) throw new MyptError('E_BAD_ARGUMENT', `--max_new_tokens ${max}: must be a whole number >= 0`);
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

async function* stream(model: Model, tokenizer: Tokenizer, prompt: string, o: SampleOptions): AsyncGenerator<string> {
  const opts = checkSample(o);
  const ids = promptIds(tokenizer, prompt);
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  let error: unknown;
  const dec = new TextStreamDecoder(tokenizer);
  const run = model
    .generate(ids, {
      max_new_tokens: opts.max_new_tokens, temperature: opts.temperature, top_k: opts.top_k, top_p: opts.top_p,
      seed: opts.seed, signal: opts.signal,
      onToken: (id) => {
        const piece = dec.push(id);
        if (piece) { queue.push(piece); wake?.(); }
      },
    })
    .then(() => { const rest = dec.flush(); if (rest) queue.push(rest); })
    .catch((e) => { error = e; })
    .finally(() => { done = true; wake?.(); });
  while (true) {
    if (queue.length) { yield queue.shift()!; continue; }
    if (done) break;
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
  await run;
  if (error) throw error;
}

export async function loadModel(nameOrPath: string, opts: { device?: 'auto' | 'cpu' | 'cuda'; checkpoints_dir?: string } = {}): Promise<LoadedModel> {
  const src = resolveModelSource(nameOrPath, opts.checkpoints_dir);
  const b = await loadBundle(src.dir);
  if (!b.tokenizer) throw new MyptError('E_BAD_FILE', `${src.dir}: no tokenizer.json, so text cannot be encoded`);
  const tokenizer = tokenizerFromJSON(b.tokenizer, `${src.dir}/tokenizer.json`);
  if (tokenizer.kind === 'char' && tokenizer.vocabSize !== b.modelConfig.vocab_size) {
    throw new MyptError('E_BAD_FILE', `${src.dir}: tokenizer.json has ${tokenizer.vocabSize} characters but the model has vocab_size ${b.modelConfig.vocab_size}`);
  }
  const model = createModel({ ...b.modelConfig, dropout: 0, device: opts.device ?? 'auto' });
  model.setParameters(b.params);
  const { params: _p, optimizer: _o, ...bundle } = b;
  return {
    model, tokenizer, dir: src.dir, bundle,
    async generate(prompt, o = {}) {
      let s = '';
      for await (const piece of stream(model, tokenizer, prompt, o)) s += piece;
      return s;
    },
    generateStream: (prompt, o = {}) => stream(model, tokenizer, prompt, o),
    dispose: () => model.dispose(),
  };
}

function sourceOf(o: GenerateOptions): string {
  if (o.checkpoint && o.model_name) throw new MyptError('E_BAD_ARGUMENT', 'give either --model_name or --checkpoint, not both');
  return o.checkpoint ?? o.model_name ?? 'default';
}

/** Loads, samples, disposes: the new text after the prompt. */
export async function generate(o: GenerateOptions): Promise<string> {
  const m = await loadModel(sourceOf(o), { device: o.device, checkpoints_dir: o.checkpoints_dir });
  try {
    return await m.generate(o.prompt ?? '', o);
  } finally {
    m.dispose();
  }
}

/** Loads, then yields text pieces as they are produced; the model is disposed when the stream ends. */
export async function* generateStream(o: GenerateOptions): AsyncGenerator<string> {
  const m = await loadModel(sourceOf(o), { device: o.device, checkpoints_dir: o.checkpoints_dir });
  try {
    yield* stream(m.model, m.tokenizer, o.prompt ?? '', o);
  } finally {
    m.dispose();
  }
}
