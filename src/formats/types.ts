// What the checkpoint registry (detect.ts) returns for any file or folder it recognises.
import type { AdamWHyper, CanonicalOptimizer, NamedTensors } from './layouts/common';
import type { FormatModelConfig, LayoutName } from './layouts';

export type CheckpointFormat =
  | 'mypt-bundle'     // checkpoints/<name>/ with config.json + model.pt (FORMATS.md 1)
  | 'mypt-legacy'     // latest.pt / final.pt single files (FORMATS.md 2)
  | 'nanogpt'         // ckpt.pt (FORMATS.md 3)
  | 'hf-gpt2'         // pytorch_model.bin / model.safetensors
  | 'envvar'          // the env-var lecture trainer's checkpoint_*.pt (FORMATS.md 4)
  | 'state-dict'      // a bare state_dict .pt of a known layout
  | 'safetensors'     // a .safetensors file of a known layout (not HF GPT-2)
  | 'separated' | 'model-only' | 'unified'    // FORMATS.md 5 (separated/detect.ts)
  | 'modded-small' | 'modded-medium'          // modded-nanogpt speedrun files (FORMATS.md 6)
  | 'gguf';           // llama.cpp's GGUF file of the gpt2 architecture (formats/gguf/)

export interface TokenizerRecord {
  token_kind: 'char' | 'gpt2';
  chars: string[] | null;
}

export interface DetectedCheckpoint {
  format: CheckpointFormat;
  /** The state_dict naming the weights were in ('gguf-gpt2': llama.cpp's tensor names in a GGUF file). */
  layout: LayoutName | 'gguf-gpt2';
  /** The file (or bundle folder) that was read. */
  path: string;
  /** ModelConfig (contracts A): sizes plus explicit architecture options. */
  config: FormatModelConfig;
  params: NamedTensors;
  /** Absent when the file holds no vocabulary and none was found beside it (see tokenizerProblem). */
  tokenizer?: TokenizerRecord;
  /** Where the tokenizer came from ("tokenizer.json beside the file", "meta.pkl at ...", ...). */
  tokenizerSource?: string;
  /** Why there is no tokenizer, and what to do: a one-line message for a MyptError. */
  tokenizerProblem?: string;
  /** Optimizer steps done (MyPT step, nanoGPT iter_num, lecture step). */
  step?: number;
  /** Present when asked for and the file holds AdamW state this layout can map. */
  optimizer?: CanonicalOptimizer & { hyper: AdamWHyper };
  /** Whether the file holds optimizer state (even when not read). */
  hasOptimizer: boolean;
  /** Format-specific records: model_args, best_val_loss, hyperparameters, checkpoint_dtype, ... */
  extra: Record<string, unknown>;
  /** Things the user should know (e.g. the head was untied, the vocabulary was guessed). */
  warnings: string[];
}

export interface DetectOptions {
  /** Also map the optimizer state (costs memory: two more copies of the parameters). */
  optimizer?: boolean;
  /** The lecture trainer's training text, for its character vocabulary (--input_file). */
  inputFile?: string;
  /** Where model names are looked up (default: ./checkpoints). */
  checkpointsDir?: string;
  /** modded-nanogpt files: the head size, when the saved code does not say and the width is no multiple of 128. */
  head_dim?: number;
}
