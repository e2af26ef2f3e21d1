// What a model must be to leave as GPT-2 (transformers' GPT2LMHeadModel, llama.cpp's gpt2), and the changes
// that keep its function exactly while fitting that form:
//   - a missing bias (nanoGPT's bias=False, MyPT's q/k/v) is a bias of zeros: x W + 0 = x W, LayerNorm + 0 the same;
//   - attention scaled by n_embd^-0.5 (the lecture trainer's) or any other constant s becomes GPT-2's
//     head_size^-0.5 with q's rows (weights and bias) multiplied by s / head_size^-0.5: (a q) k = a (q k);
//   - a head bias of zeros is no bias.
// What has no GPT-2 equivalent is refused with the reason: a head bias that is not zero (GPT2LMHeadModel's
// lm_head and llama.cpp's output layer are Linear layers without bias: no configuration adds V values to
// the logits), and for llama.cpp a non-GELU MLP (its gpt2 graph is hard-wired to GELU; transformers'
// activation_function can be relu).
import { MyptError } from '../../errors';
import { canonicalParams, checkCanonical, f32, LayoutConfig, NamedTensors } from '../../formats/layouts/common';

export type ExportTarget = 'hf' | 'gguf';

/** The config fields a GPT-2-shaped export keeps. */
export interface Gpt2FormConfig extends LayoutConfig {
  arch: 'gpt2';
  activation: 'gelu' | 'gelu_tanh' | 'relu';
  qkv_bias: true; proj_bias: true; mlp_bias: true; ln_bias: true; head_bias: false;
  tied_head: boolean;
  attn_scale: 'head';
  dropout: number;
  ln_eps?: number;
}

export interface Gpt2Form {
  config: Gpt2FormConfig;
  params: NamedTensors;
  /** What was changed to fit, in words (empty when the model already was GPT-2's shape). */
  changes: string[];
  /** Whether biases were added as zeros (the model had none of some kind). */
  zeroBiases: boolean;
}

type SourceConfig = LayoutConfig & { dropout?: number; attn_scale?: unknown; ln_eps?: number; arch?: string };

function attnScale(c: SourceConfig): number {
  const head = Math.pow(c.n_embd / c.n_head, -0.5);
  if (c.attn_scale === undefined || c.attn_scale === 'head') return head;
  if (c.attn_scale === 'embd') return Math.pow(c.n_embd, -0.5);
  if (typeof c.attn_scale === 'number' && c.attn_scale > 0) return c.attn_scale;
  throw new MyptError('E_UNSUPPORTED', `attention scale ${String(c.attn_scale)} is not understood`);
}

/** The model in GPT-2's form for `target`, or E_UNSUPPORTED naming exactly what does not fit. */
export function toGpt2Form(config: SourceConfig, params: NamedTensors, target: ExportTarget): Gpt2Form {
  checkCanonical(params, config, 'export');
  const act = config.activation ?? 'relu';
  const why: string[] = [];
  const headBias = config.head_bias === false ? undefined : params['head.bias'];
  const biased = !!headBias && headBias.data.some((v) => v !== 0);
  if (biased) {
    why.push(`its output layer has a bias (${config.vocab_size} values added to the logits), and ${target === 'hf' ? "GPT2LMHeadModel's lm_head" : "llama.cpp's gpt2 output layer"} is a Linear layer without one: no ${target === 'hf' ? 'GPT-2 config' : 'gpt2 GGUF'} computes these logits`);
  }
  if (act !== 'gelu' && act !== 'gelu_tanh' && (target === 'gguf' || act !== 'relu')) {
    why.push(`its MLP uses ${act}, and ${target === 'gguf' ? "llama.cpp's gpt2 graph is hard-wired to GELU" : 'GPT-2 takes gelu, gelu_new or relu'}`);
  }
  if (why.length) {
    const arch = act === 'relu' && biased ? ' (a MyPT-architecture model)' : '';
    throw new MyptError('E_UNSUPPORTED', `this model${arch} has no ${target === 'hf' ? 'GPT-2 (transformers)' : 'llama.cpp gpt2'} equivalent: ${why.join('; ')}`);
  }

  const out: NamedTensors = {};
  const changes: string[] = [];
  const zeroed = new Set<string>();
  const full: Gpt2FormConfig = {
    vocab_size: config.vocab_size, block_size: config.block_size, n_layer: config.n_layer, n_head: config.n_head, n_embd: config.n_embd,
    mlp_hidden: config.mlp_hidden && config.mlp_hidden > 0 ? config.mlp_hidden : 4 * config.n_embd,
    arch: 'gpt2', activation: act as Gpt2FormConfig['activation'], qkv_bias: true, proj_bias: true, mlp_bias: true, ln_bias: true,
    head_bias: false, tied_head: !!config.tied_head, attn_scale: 'head', dropout: config.dropout ?? 0,
    ...(config.ln_eps !== undefined && config.ln_eps !== 1e-5 ? { ln_eps: config.ln_eps } : {}),
  };
  for (const [name, shape] of canonicalParams(full)) {
    const t = params[name];
    if (t) out[name] = t;
    else { out[name] = f32(shape); zeroed.add(name.replace(/^h\.\d+\./, '')); }
  }
  if (headBias) changes.push('the output bias is all zeros: left out');
  if (zeroed.size) changes.push(`biases the model does not have are written as zeros (${[...zeroed].join(', ')})`);

  const scale = attnScale(config);
  const headScale = Math.pow(config.n_embd / config.n_head, -0.5);
  if (Math.abs(scale / headScale - 1) > 1e-12) {
    const k = scale / headScale;
    const C = config.n_embd;
    for (let i = 0; i < config.n_layer; i++) {
      const w = out[`h.${i}.attn.qkv.weight`];
      const b = out[`h.${i}.attn.qkv.bias`];
      const w2 = w.data.slice();
      const b2 = b.data.slice();
      for (let j = 0; j < C * C; j++) w2[j] *= k;  // rows 0..C-1 are q
      for (let j = 0; j < C; j++) b2[j] *= k;
      out[`h.${i}.attn.qkv.weight`] = f32(w.shape, w2);
      out[`h.${i}.attn.qkv.bias`] = f32(b.shape, b2);
    }
    changes.push(`attention scaled by ${scale.toPrecision(6)} (not head_size^-0.5 = ${headScale.toPrecision(6)}): q multiplied by ${k.toPrecision(6)}`);
  }
  return { config: full, params: out, changes, zeroBiases: zeroed.size > 0 };
}
