// Loading a trained model for sampling, and generation as a string or as a stream of text pieces.
import { MyptError } from './errors';
import { createModel, Model } from './model';
import { detectCheckpoint, DetectedCheckpoint } from './checkpoint/detect';
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
  /** The bundle folder or file it came from. */
  path: string;
  /** What the checkpoint records: its format, step, warnings, format-specific extras (weights left out). */
  checkpoint: Omit<DetectedCheckpoint, 'params' | 'optimizer'>;
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

/**
 * Loads any checkpoint mypt-native reads (a model name under checkpoints/, a MyPT bundle folder, a legacy
 * latest.pt/final.pt, nanoGPT ckpt.pt, Hugging Face GPT-2 weights, the lecture trainer's files) with its
 * tokenizer, ready to sample. `input_file` supplies the char vocabulary of files that store none.
 */
export async function loadModel(
  nameOrPath: string,
  opts: { device?: 'auto' | 'cpu' | 'cuda'; checkpoints_dir?: string; input_file?: string } = {},
): Promise<LoadedModel> {
  if (typeof nameOrPath !== 'string' || nameOrPath === '') {
    throw new MyptError('E_BAD_ARGUMENT', 'name a model (--model_name NAME) or a checkpoint (--checkpoint PATH)');
  }
  const det = await detectCheckpoint(nameOrPath, { checkpointsDir: opts.checkpoints_dir, inputFile: opts.input_file });
  if (!det.tokenizer) throw new MyptError('E_TOKENIZER', det.tokenizerProblem ?? `${det.path}: no tokenizer recorded`);
  const tokenizer = tokenizerFromJSON(det.tokenizer, det.tokenizerSource ?? det.path);
  if (tokenizer.kind === 'char' && tokenizer.vocabSize !== det.config.vocab_size) {
    throw new MyptError('E_BAD_FILE', `${det.path}: the tokenizer has ${tokenizer.vocabSize} characters but the model has vocab_size ${det.config.vocab_size}`);
  }
  const model = createModel({ ...det.config, dropout: 0, device: opts.device ?? 'auto' });
  try {
    model.setParameters(det.params);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const { params: _p, optimizer: _o, ...checkpoint } = det;
  return {
    model, tokenizer, path: det.path, checkpoint,
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
