// Loading a trained model for sampling, and generation as a string or as a stream of text pieces.
import { MyptError } from '../../errors';
import { createModel } from '../../model/gpt';
import { detectCheckpoint } from '../../formats/detect';
import { tokenizerFromJSON } from '../../tokenizer';
import { LoadedModel } from '../../model/loaded';
import { SampleOptions, checkSample, pieces, stream } from '../../model/text';
import { isModdedFile } from '../convert/modded-cli';
import { loadModdedModel, ModdedModel } from '../../model/modded';

export type { SampleOptions } from '../../model/text';
export { LoadedModel } from '../../model/loaded';

export interface GenerateOptions extends SampleOptions {
  model_name?: string;
  checkpoint?: string;
  checkpoints_dir?: string;
  /** Char vocabulary for checkpoints that store none (the lecture trainer's). */
  input_file?: string;
  prompt?: string;
  device?: 'auto' | 'cpu' | 'cuda';
  /** modded-nanogpt files: a tokenizer file (MyPT's or a Hugging Face byte-level BPE tokenizer.json); default GPT-2's. */
  tokenizer?: string;
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
  return new LoadedModel(model, tokenizer, det.path, checkpoint);
}

function sourceOf(o: GenerateOptions): string {
  if (o.checkpoint && o.model_name) throw new MyptError('E_BAD_ARGUMENT', 'give either --model_name or --checkpoint, not both');
  return o.checkpoint ?? o.model_name ?? 'default';
}

/** What text is sampled from: a loaded model, or a modded-nanogpt file on its own engine. */
export interface TextSampler {
  generateStream(prompt: string, opts?: SampleOptions): AsyncGenerator<string>;
  dispose(): void;
  /** What runs, for a status line (modded-nanogpt files: the layout, the forward pass it runs and the device). */
  note?: string;
}

/** A modded-nanogpt model's text, piece by piece (GPT-2 tokenizer, among its real vocabulary). */
export function moddedStream(m: ModdedModel, prompt: string, o: SampleOptions = {}): AsyncGenerator<string> {
  const opts = checkSample(o);
  return pieces((push) => m.generateText(prompt, { ...opts, onText: push }));
}

/**
 * loadModel for everything it reads; a modded-nanogpt file (FORMATS.md 6) through loadModdedModel instead
 * (its forward pass is not the GPT one), on the device asked for.
 */
export async function loadSampler(
  nameOrPath: string,
  opts: { device?: 'auto' | 'cpu' | 'cuda'; checkpoints_dir?: string; input_file?: string; tokenizer?: string } = {},
): Promise<TextSampler> {
  if (typeof nameOrPath !== 'string' || !(await isModdedFile(nameOrPath))) {
    if (opts.tokenizer !== undefined) {
      throw new MyptError('E_BAD_ARGUMENT', `--tokenizer applies to modded-nanogpt files; ${nameOrPath} records its own tokenizer`);
    }
    return loadModel(nameOrPath, opts);
  }
  const m = await loadModdedModel(nameOrPath, { device: opts.device ?? 'auto', tokenizer: opts.tokenizer });
  const recorded = m.info.forward !== m.info.layout ? ' (recorded in the file)' : '';
  const note = `${nameOrPath}: modded-nanogpt ${m.info.layout} layout, ${m.forwardKind} forward pass${recorded}, ` +
    `${m.tokenizer.source}, on ${m.device}`;
  return { generateStream: (prompt, o) => moddedStream(m, prompt, o), dispose: () => m.dispose(), note };
}

/** Loads, samples, disposes: the new text after the prompt. */
export async function generate(o: GenerateOptions): Promise<string> {
  let s = '';
  for await (const piece of generateStream(o)) s += piece;
  return s;
}

/** Loads, then yields text pieces as they are produced; the model is disposed when the stream ends. */
export async function* generateStream(o: GenerateOptions): AsyncGenerator<string> {
  const m = await loadSampler(sourceOf(o), { device: o.device, checkpoints_dir: o.checkpoints_dir, input_file: o.input_file, tokenizer: o.tokenizer });
  try {
    yield* m.generateStream(o.prompt ?? '', o);
  } finally {
    m.dispose();
  }
}
