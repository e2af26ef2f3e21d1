// The one Model interface every family implements (the GPT of MyPT / nanoGPT / GPT-2, and the
// modded-nanogpt speedrun models): the same calls with the same shapes, whatever the checkpoint was.
// A model knows no file: loaders (src/use-cases/open) build it from what the formats read.
import type { TextCodec } from '../tokenizer/types';

/** Token ids: one sequence (number[] or Int32Array, a batch of one) or a batch [B, T]. */
export type Tokens = number[] | Int32Array | number[][] | { data: Int32Array; shape: [number, number] };

export type Family = 'gpt' | 'modded';

/** Sampling settings (temperature <= 0: greedy; top_k 0 and top_p 1: off). */
export interface SampleOptions {
  max_new_tokens?: number;   // default 500 for text, required for ids
  temperature?: number;      // default 1
  top_k?: number;
  top_p?: number;
  seed?: number;             // same seed, same tokens on the same device
  signal?: AbortSignal;      // stops after the token in flight; what came before is kept
}

/** Generation over ids: the new ids after the prompt. */
export interface GenerateOptions extends SampleOptions {
  max_new_tokens: number;
  onToken?: (id: number) => void;
}

/** Generation over text: the new text after the prompt, with the model's tokenizer. */
export interface TextOptions extends SampleOptions {
  /** Each piece of text as soon as it is whole characters. */
  onText?: (piece: string) => void;
  onToken?: (id: number) => void;
}

/** Where a loaded model came from (set by the loader; absent for createModel). */
export interface ModelOrigin {
  path: string;
  format: string;
  step?: number;
  [record: string]: unknown;
}

export interface ModelSummary {
  family: Family;
  device: string;
  numParams: number;
  /** Logits per position. */
  vocabSize: number;
  /** The longest context a forward pass takes (null: no fixed limit). */
  blockSize: number | null;
  /** The family's resolved configuration. */
  config: Readonly<Record<string, unknown>>;
  /** The tokenizer generateText uses, when the model has one. */
  tokenizer: string | null;
  origin?: ModelOrigin;
}

/** One AdamW step's batch and settings (torch.optim.AdamW defaults). */
export interface TrainBatch {
  tokens: Tokens;
  targets: Tokens;
  lr?: number;              // default 3e-4
  weight_decay?: number;    // default 0.01
  betas?: [number, number]; // default [0.9, 0.999]
  eps?: number;             // default 1e-8
  grad_clip?: number;       // clip_grad_norm_ max norm; 0 or absent: off
}

export interface Model {
  readonly family: Family;
  /** "cpu" or "cuda:0 (NVIDIA H200, bf16)". */
  readonly device: string;
  readonly numParams: number;
  readonly tokenizer?: TextCodec;
  readonly origin?: ModelOrigin;
  info(): ModelSummary;
  /** Logits of every position: shape [B, T, vocabSize], row-major. */
  forward(tokens: Tokens): Promise<{ logits: Float32Array; shape: [number, number, number] }>;
  /** Ids in, the new ids out; or text in, the new text out (with the model's tokenizer). */
  generate(prompt: number[] | Int32Array, opts: GenerateOptions): Promise<number[]>;
  generate(prompt: string, opts?: TextOptions): Promise<string>;
  generateText(prompt: string, opts?: TextOptions): Promise<string>;
  /** The new text, piece by piece as it is produced. */
  generateStream(prompt: string, opts?: TextOptions): AsyncGenerator<string>;
  /** One AdamW step on this batch; the loss before the update (E_UNSUPPORTED where a family cannot train). */
  trainStep(batch: TrainBatch): Promise<number>;
  /** Frees the native memory (now, or when the call in flight ends); later calls throw E_DISPOSED. */
  dispose(): void;
  [Symbol.dispose](): void;
}
