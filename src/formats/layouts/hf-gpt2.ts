// Hugging Face GPT-2 (transformers GPT2Model / GPT2LMHeadModel; pytorch_model.bin or model.safetensors):
// the nanoGPT names, with or without the `transformer.` prefix, and the four Conv1D weights stored
// TRANSPOSED, [in, out]: attn.c_attn [C, 3C], attn.c_proj [C, C], mlp.c_fc [C, 4C], mlp.c_proj [4C, C]
// (Conv1D computes x @ W + b). Every Linear and LayerNorm has a bias; the head is tied to wte (lm_head.weight
// present in GPT2LMHeadModel .bin files, absent in GPT2Model files and in safetensors); GELU is the tanh
// approximation ("gelu_new"). `attn.bias` / `attn.masked_bias` mask buffers of older files are ignored.
import { MyptError } from '../../errors';
import { F32Tensor, LayoutConfig, NamedTensors, PyDict, SdReader, StateDictIn, checkCanonical } from './common';
import { Gpt2ModelConfig, gpt2FamilyEntries, gpt2ModelConfig, readGpt2Family, stripPrefixes, writeGpt2Family } from './nanogpt';

/** The fields of a Hugging Face GPT-2 config.json this reads (older files say n_ctx for n_positions). */
export interface HfGpt2ConfigJson {
  n_embd?: number;
  n_head?: number;
  n_layer?: number;
  n_positions?: number;
  n_ctx?: number;
  n_inner?: number | null;
  vocab_size?: number;
  activation_function?: string;
  layer_norm_epsilon?: number;
  tie_word_embeddings?: boolean;
}

/** Heads of the published GPT-2 sizes, used when no config.json is found. */
const GPT2_HEADS: Record<number, number> = { 768: 12, 1024: 16, 1280: 20, 1600: 25 };

/** True when the keys look like an HF GPT-2 file: c_attn stored [C, 3C] (Conv1D). */
export function isHfGpt2(sdIn: StateDictIn): boolean {
  const sd = stripPrefixes(sdIn);
  for (const p of ['transformer.', '']) {
    const w = sd.get(`${p}h.0.attn.c_attn.weight`) as { shape?: number[] } | undefined;
    if (w?.shape?.length === 2 && w.shape[1] === 3 * w.shape[0]) return true;
  }
  return false;
}

const isMaskBuffer = (k: string) => /(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/.test(k);

/** HF GPT-2 state_dict (+ its config.json when available) -> canonical. */
export function hfGpt2ToCanonical(
  sdIn: StateDictIn,
  cfg: HfGpt2ConfigJson = {},
  where = 'pytorch_model.bin',
): { config: Gpt2ModelConfig; params: NamedTensors } {
  const sd = stripPrefixes(sdIn);
  const prefix = sd.has('transformer.wte.weight') ? 'transformer.' : '';
  const r = new SdReader(sd, where);
  const wte = r.shapeOf(`${prefix}wte.weight`);
  const wpe = r.shapeOf(`${prefix}wpe.weight`);
  if (!wte || !wpe) throw new MyptError('E_BAD_FILE', `${where}: not a GPT-2 state_dict (wte.weight / wpe.weight missing)`);
  let n_layer = 0;
  while (sd.has(`${prefix}h.${n_layer}.ln_1.weight`)) n_layer++;
  const n_embd = wte[1];
  const n_head = Number(cfg.n_head ?? GPT2_HEADS[n_embd]);
  if (!n_head || n_embd % n_head !== 0) {
    throw new MyptError('E_BAD_FILE', `${where}: n_head unknown for n_embd ${n_embd}`, 'put the model\'s config.json (with n_head) beside the weights');
  }
  for (const [k, want] of [['n_embd', n_embd], ['n_layer', n_layer], ['vocab_size', wte[0]]] as const) {
    const given = cfg[k];
    if (given !== undefined && Number(given) !== want) throw new MyptError('E_BAD_FILE', `${where}: config.json says ${k}=${given} but the weights have ${want}`);
  }
  const act = cfg.activation_function ?? 'gelu_new';
  const activation = act === 'gelu' ? 'gelu' : act === 'gelu_new' || act === 'gelu_pytorch_tanh' ? 'gelu_tanh' : act === 'relu' ? 'relu' : undefined;
  if (!activation) throw new MyptError('E_UNSUPPORTED', `${where}: activation_function '${act}' is not supported (gelu_new, gelu_pytorch_tanh, gelu, relu)`);
  const eps = cfg.layer_norm_epsilon;
  if (eps !== undefined && !(typeof eps === 'number' && eps > 0)) throw new MyptError('E_BAD_FILE', `${where}: layer_norm_epsilon ${eps} is not a positive number`);
  const fc = r.shapeOf(`${prefix}h.0.mlp.c_fc.weight`);
  const inner = cfg.n_inner ?? (fc?.length === 2 ? fc[1] : 4 * n_embd);
  const tied = cfg.tie_word_embeddings !== false;
  const config = gpt2ModelConfig({ vocab_size: wte[0], block_size: wpe[0], n_layer, n_head, n_embd, dropout: 0, bias: true }, activation, tied);
  if (inner !== 4 * n_embd) config.mlp_hidden = Number(inner);
  if (eps !== undefined && Math.abs(eps - 1e-5) > 1e-12) config.ln_eps = eps;
  const params = readGpt2Family(r, config, gpt2FamilyEntries(config, prefix, true, false));
  r.checkAllUsed(isMaskBuffer);
  return { config, params };
}

/**
 * Canonical -> HF GPT-2 state_dict (GPT2LMHeadModel names with `transformer.`; Conv1D weights transposed;
 * no lm_head.weight when tied, as save_pretrained writes safetensors).
 */
export function canonicalToHfGpt2(params: NamedTensors, config: LayoutConfig): PyDict<F32Tensor> {
  const bad: string[] = [];
  if (config.activation !== 'gelu_tanh' && config.activation !== 'gelu' && config.activation !== 'relu') bad.push(`activation ${config.activation}`);
  if (!config.qkv_bias || config.proj_bias === false || config.mlp_bias === false || config.ln_bias === false) bad.push('missing biases');
  if (config.head_bias) bad.push('head bias');
  if (bad.length) throw new MyptError('E_UNSUPPORTED', `the model is not GPT-2's architecture: ${bad.join('; ')}`);
  checkCanonical(params, config, 'canonicalToHfGpt2');
  return writeGpt2Family(params, gpt2FamilyEntries(config, 'transformer.', true, false));
}

/** The activation_function of HF's GPT2Config for an activation. */
export function hfActivation(a: string | undefined): string {
  return a === 'gelu' ? 'gelu' : a === 'relu' ? 'relu' : 'gelu_new';
}

/**
 * HF config.json of a GPT2LMHeadModel for a canonical config (GPT-2's published defaults for the rest):
 * `dtype` is torch_dtype; `eos` the bos/eos id (GPT-2's 50256, or null for a vocabulary without one).
 */
export function hfGpt2ConfigJson(
  c: LayoutConfig & { dropout?: number; ln_eps?: number },
  opts: { dtype?: string; eos?: number | null } = {},
): Record<string, unknown> {
  const F = c.mlp_hidden && c.mlp_hidden > 0 ? c.mlp_hidden : 4 * c.n_embd;
  const p = c.dropout ?? 0;
  const eos = opts.eos === undefined ? 50256 : opts.eos;
  return {
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', activation_function: hfActivation(c.activation),
    vocab_size: c.vocab_size, n_positions: c.block_size, n_ctx: c.block_size, n_embd: c.n_embd, n_layer: c.n_layer, n_head: c.n_head,
    n_inner: F === 4 * c.n_embd ? null : F, layer_norm_epsilon: c.ln_eps ?? 1e-5, tie_word_embeddings: !!c.tied_head,
    attn_pdrop: p, embd_pdrop: p, resid_pdrop: p, initializer_range: 0.02,
    scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false, reorder_and_upcast_attn: false,
    bos_token_id: eos, eos_token_id: eos, use_cache: true, torch_dtype: opts.dtype ?? 'float32',
  };
}
