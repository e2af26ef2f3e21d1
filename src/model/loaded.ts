// A loaded checkpoint: the foundation Model API (forward, loss, trainStep, ...) plus its tokenizer, with
// generate() taking text (-> the new text) as well as token ids (-> the new ids).
import type { DetectedCheckpoint } from '../formats/detect';
import type { GenerateOptions as IdGenerateOptions, Model, NamedInput } from './gpt';
import type { Tokens } from './tokens';
import type { Tokenizer } from '../tokenizer';
import { SampleOptions, stream } from './text';

export class LoadedModel {
  constructor(
    readonly model: Model,
    readonly tokenizer: Tokenizer,
    /** The bundle folder or file it came from. */
    readonly path: string,
    /** What the checkpoint records: format, layout, step, warnings, extras (weights left out). */
    readonly checkpoint: Omit<DetectedCheckpoint, 'params' | 'optimizer'>,
  ) {}

  get config() { return this.model.config; }
  get numParams() { return this.model.numParams; }
  get device() { return this.model.device; }

  encode(text: string): number[] { return this.tokenizer.encode(text); }
  decode(ids: number[]): string { return this.tokenizer.decode(ids); }

  /** Text in, the new text out (the prompt is not repeated); or ids in, the new ids out (Model.generate). */
  generate(prompt: string, opts?: SampleOptions): Promise<string>;
  generate(prompt: number[] | Int32Array, opts: IdGenerateOptions): Promise<number[]>;
  async generate(prompt: string | number[] | Int32Array, opts?: SampleOptions | IdGenerateOptions): Promise<string | number[]> {
    if (typeof prompt !== 'string') return this.model.generate(prompt, opts as IdGenerateOptions);
    let s = '';
    for await (const piece of stream(this.model, this.tokenizer, prompt, (opts ?? {}) as SampleOptions)) s += piece;
    return s;
  }

  /** The new text, piece by piece as it is produced. */
  generateStream(prompt: string, opts: SampleOptions = {}): AsyncGenerator<string> {
    return stream(this.model, this.tokenizer, prompt, opts);
  }

  forward(tokens: Tokens) { return this.model.forward(tokens); }
  loss(tokens: Tokens, targets: Tokens) { return this.model.loss(tokens, targets); }
  trainStep(batch: Parameters<Model['trainStep']>[0]) { return this.model.trainStep(batch); }
  forwardBackward(...a: Parameters<Model['forwardBackward']>) { return this.model.forwardBackward(...a); }
  optimizerStep(...a: Parameters<Model['optimizerStep']>) { return this.model.optimizerStep(...a); }
  getParameters() { return this.model.getParameters(); }
  setParameters(named: NamedInput) { this.model.setParameters(named); }
  getGradients() { return this.model.getGradients(); }
  getOptimizerState() { return this.model.getOptimizerState(); }
  setOptimizerState(...a: Parameters<Model['setOptimizerState']>) { this.model.setOptimizerState(...a); }
  setDecayMask(...a: Parameters<Model['setDecayMask']>) { this.model.setDecayMask(...a); }
  setData(...a: Parameters<Model['setData']>) { this.model.setData(...a); }
  trainBatch(...a: Parameters<Model['trainBatch']>) { return this.model.trainBatch(...a); }
  estimateLoss(...a: Parameters<Model['estimateLoss']>) { return this.model.estimateLoss(...a); }
  dispose(): void { this.model.dispose(); }
  [Symbol.dispose](): void { this.dispose(); }
}
