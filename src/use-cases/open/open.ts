// From any checkpoint to a runnable model: the registry's result put into a Model, with its tokenizer.
// For loadModel / generate / inspect (workflow) when the target is not a MyPT bundle.
import { MyptError } from '../../errors';
import { createModel, Model } from '../../model/gpt';
import { tokenizerFromJSON, Tokenizer, GPT2_VOCAB } from '../../tokenizer';
import { detectCheckpoint } from '../../formats/detect';
import type { DetectedCheckpoint, DetectOptions } from '../../formats/types';

export interface OpenedCheckpoint {
  model: Model;
  /** Absent only when asked with requireTokenizer: false and the checkpoint has none. */
  tokenizer?: Tokenizer;
  /** What was read, without the weights (they now live in the model). */
  checkpoint: Omit<DetectedCheckpoint, 'params' | 'optimizer'>;
}

/** The tokenizer a checkpoint came with, or a MyptError saying why there is none and what to do. */
export function tokenizerOf(d: DetectedCheckpoint): Tokenizer {
  if (!d.tokenizer) throw new MyptError('E_TOKENIZER', d.tokenizerProblem ?? `${d.path}: no tokenizer`);
  const t = tokenizerFromJSON(d.tokenizer, d.tokenizerSource ?? d.path);
  if (t.kind === 'char' && t.vocabSize !== d.config.vocab_size) {
    throw new MyptError('E_TOKENIZER', `${d.tokenizerSource ?? d.path}: ${t.vocabSize} characters but the model's vocab_size is ${d.config.vocab_size}`);
  }
  return t;
}

/**
 * Any file, folder or model name -> a Model holding its weights (and, with `optimizer: true`, its AdamW
 * state, so training resumes) plus its tokenizer. `device` as in ModelConfig (default cpu).
 */
export async function openCheckpoint(target: string, opts: DetectOptions & { device?: 'cpu' | 'cuda' | 'auto'; requireTokenizer?: boolean } = {}): Promise<OpenedCheckpoint> {
  const d = await detectCheckpoint(target, opts);
  const tokenizer = opts.requireTokenizer === false && !d.tokenizer ? undefined : tokenizerOf(d);
  if (tokenizer?.kind === 'gpt2' && d.config.vocab_size < GPT2_VOCAB) {
    d.warnings.push(`${d.path}: a GPT-2 tokenizer with a ${d.config.vocab_size}-token vocabulary: ids beyond it cannot be fed`);
  }
  const model = createModel({ ...d.config, device: opts.device ?? 'cpu' });
  try {
    model.setParameters(d.params);
    if (d.optimizer) model.setOptimizerState(d.optimizer);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const { params: _p, optimizer: _o, ...checkpoint } = d;
  void _p;
  void _o;
  return { model, tokenizer, checkpoint };
}
