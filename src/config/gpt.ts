// The GPT configuration record every layer speaks: the five sizes and the architecture switches (config as
// data). Formats read and write it, the model resolves and runs it, the engine takes it as its config.
// Types only: no code, no imports.

export type Arch = 'mypt' | 'gpt2';
export type Activation = 'relu' | 'gelu' | 'gelu_tanh';

/** The five sizes every GPT configuration carries (MyPT's names). */
export interface ModelSizes {
  vocab_size: number;
  block_size: number;
  n_layer: number;
  n_head: number;
  n_embd: number;
}

/** The switches that tell the GPT variants apart: which layers carry biases, whether the head shares the
 *  token embedding, whether dropout follows the embedding. Optional in ModelConfig and in the formats'
 *  records, all explicit once resolved and in the engine's config. */
export interface ArchFlags {
  qkv_bias: boolean;
  proj_bias: boolean;
  mlp_bias: boolean;
  ln_bias: boolean;
  tied_head: boolean;
  head_bias: boolean;
  embd_dropout: boolean;
}
