// llama.cpp's `gpt2` architecture in a GGUF file <-> the canonical layout, and its vocabulary <-> MyPT's
// tokenizer records. What llama.cpp loads (src/models/gpt2.cpp) and its converter writes (convert_hf_to_gguf
// GPT2Model): every LayerNorm and Linear with a bias, the tanh GELU, attention scaled by head_size^-0.5, an
// output layer without bias (absent when tied to token_embd).
//
//   GGUF name (dims in ggml order, ne0 first)      canonical [rows, cols]
//   token_embd.weight       [C, V]                  wte            [V, C]
//   position_embd.weight         [C, T]                  wpe            [T, C]
//   blk.i.attn_norm.{weight,bias}   [C]             h.i.ln1.*
//   blk.i.attn_qkv.weight   [C, 3C] / .bias [3C]    h.i.attn.qkv.* (rows q | k | v, head-major)
//   blk.i.attn_output.weight [C, C] / .bias [C]     h.i.attn.proj.*
//   blk.i.ffn_norm.{weight,bias}    [C]             h.i.ln2.*
//   blk.i.ffn_up.weight     [C, F] / .bias [F]      h.i.mlp.fc.*
//   blk.i.ffn_down.weight   [F, C] / .bias [C]      h.i.mlp.proj.*
//   output_norm.{weight,bias}       [C]             lnf.*
//   output.weight           [C, V] (untied only)    head.weight
// A PyTorch [out, in] matrix is ggml's [in, out] with the same bytes: nothing is transposed.
//
// Metadata: gpt2.{block_count, context_length, embedding_length, feed_forward_length, attention.head_count,
// attention.layer_norm_epsilon}; tokenizer.ggml.{model "gpt2", pre "gpt-2", tokens, token_type, merges,
// bos/eos_token_id}. mypt-native adds mypt_native.* keys (what the original model was; llama.cpp ignores them).
import path from 'path';
import { MyptError } from '../../errors';
import { byteLevelToBytes, textToByteLevel } from '../../tokenizer/byte-level';
import { gpt2Files, GPT2_EOT } from '../../tokenizer/gpt2-vocab';
import { canonicalParams, checkCanonical, f32, LayoutConfig, NamedTensors } from '../layouts/common';
import { gpt2ModelConfig, Gpt2ModelConfig } from '../layouts/nanogpt';
import type { DetectedCheckpoint, TokenizerRecord } from '../types';
import { encodeGgml, QK8_0 } from './quant';
import { GgufFile, metaArray, metaNumber, metaString, readGgufHeader, readGgufTensor } from './read';
import { FILE_TYPE, GGML_NAME, GGML_TYPE, GGML_TYPE_OF, GgmlTypeName, GGUF_TYPE, GgufScalar, GgufValue } from './types';
import type { GgufOut, GgufTensorOut } from './write';

/** Token types of tokenizer.ggml.token_type. */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** The placeholder token of a padding row (ids past the real vocabulary, e.g. 50257..50303). */
export const padToken = (id: number) => `[PAD${id}]`;

/** Canonical name -> GGUF name, for a config. */
export function ggufNames(c: LayoutConfig): Array<[canonical: string, gguf: string]> {
  const out: Array<[string, string]> = [];
  for (const [name] of canonicalParams(c)) {
    let g: string | undefined;
    const m = /^h\.(\d+)\.(.*)$/.exec(name);
    if (m) {
      const part: Record<string, string> = {
        'ln1.weight': 'attn_norm.weight', 'ln1.bias': 'attn_norm.bias', 'attn.qkv.weight': 'attn_qkv.weight', 'attn.qkv.bias': 'attn_qkv.bias',
        'attn.proj.weight': 'attn_output.weight', 'attn.proj.bias': 'attn_output.bias', 'ln2.weight': 'ffn_norm.weight', 'ln2.bias': 'ffn_norm.bias',
        'mlp.fc.weight': 'ffn_up.weight', 'mlp.fc.bias': 'ffn_up.bias', 'mlp.proj.weight': 'ffn_down.weight', 'mlp.proj.bias': 'ffn_down.bias',
      };
      g = part[m[2]] && `blk.${m[1]}.${part[m[2]]}`;
    } else {
      g = ({ wte: 'token_embd.weight', wpe: 'position_embd.weight', 'lnf.weight': 'output_norm.weight', 'lnf.bias': 'output_norm.bias', 'head.weight': 'output.weight' } as Record<string, string>)[name];
    }
    if (!g) throw new MyptError('E_UNSUPPORTED', `canonical tensor ${name} has no place in llama.cpp's gpt2 architecture`);
    out.push([name, g]);
  }
  return out;
}

/** ggml dims of a canonical shape (reversed). */
const ggmlDims = (shape: number[]) => [...shape].reverse();

/** The tokenizer.ggml.* metadata for MyPT's tokenizer record and a model of `vocab` rows. */
export function ggufVocab(tok: TokenizerRecord, vocab: number): Array<[string, GgufValue]> {
  const str = (value: string): GgufValue => ({ type: GGUF_TYPE.STRING, value });
  const strings = (value: string[]): GgufValue => ({ type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.STRING, value });
  const ints = (value: number[]): GgufValue => ({ type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.INT32, value });
  const u32 = (value: number): GgufValue => ({ type: GGUF_TYPE.UINT32, value });
  let tokens: string[];
  let types: number[];
  let merges: string[];
  const special: Array<[string, GgufValue]> = [];
  if (tok.token_kind === 'gpt2') {
    const g = gpt2Files();
    if (vocab < g.tokens.length) throw new MyptError('E_TOKENIZER', `a GPT-2 tokenizer with a ${vocab}-row model: the GGUF vocabulary needs all ${g.tokens.length} tokens`);
    tokens = g.tokens.slice();
    types = tokens.map((_, id) => (id === GPT2_EOT ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.NORMAL));
    for (let id = tokens.length; id < vocab; id++) { tokens.push(padToken(id)); types.push(TOKEN_TYPE.UNUSED); }
    merges = g.merges;
    special.push(['tokenizer.ggml.bos_token_id', u32(GPT2_EOT)], ['tokenizer.ggml.eos_token_id', u32(GPT2_EOT)],
      ['tokenizer.ggml.add_bos_token', { type: GGUF_TYPE.BOOL, value: false }]);
  } else {
    const chars = tok.chars ?? [];
    if (chars.length !== vocab) throw new MyptError('E_TOKENIZER', `${chars.length} characters for a ${vocab}-row model`);
    tokens = chars.map(textToByteLevel);
    types = tokens.map(() => TOKEN_TYPE.NORMAL);
    // llama.cpp splits text into bytes (in the byte-level alphabet) and merges pairs; a character of several
    // UTF-8 bytes needs the merges that join them (ASCII-only vocabularies need none)
    const seen = new Set<string>();
    merges = [];
    for (const t of tokens) {
      const parts = [...t];
      let left = parts[0];
      for (let i = 1; i < parts.length; i++) {
        const m = `${left} ${parts[i]}`;
        if (!seen.has(m)) { seen.add(m); merges.push(m); }
        left += parts[i];
      }
    }
  }
  return [
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str('gpt-2')],
    ['tokenizer.ggml.tokens', strings(tokens)],
    ['tokenizer.ggml.token_type', ints(types)],
    ['tokenizer.ggml.merges', strings(merges)],
    ...special,
  ];
}

export interface GgufGpt2Input {
  /** A GPT-2-shaped config: every bias present, no head bias, GELU, attention scaled by head_size^-0.5. */
  config: LayoutConfig & { ln_eps?: number };
  params: NamedTensors;
  tokenizer: TokenizerRecord;
  type: GgmlTypeName;
  name: string;
  /** mypt_native.* keys: what llama.cpp does not need but a reader here does (the original activation ...). */
  extra?: Array<[string, GgufValue]>;
}

/** Which ggml type a tensor is stored as: 1-D tensors, norms and the position table stay F32 (as llama.cpp's
 *  converter keeps them); Q8_0 only for matrices whose rows are whole blocks of 32 (else F16). */
function storedType(gguf: string, shape: number[], type: GgmlTypeName): number {
  if (shape.length < 2 || gguf === 'position_embd.weight') return GGML_TYPE.F32;
  if (type === 'q8_0' && shape[shape.length - 1] % QK8_0 !== 0) return GGML_TYPE.F16;
  return GGML_TYPE_OF[type];
}

/** The whole GGUF file (metadata and tensors) for a GPT-2-shaped model. */
export function ggufGpt2File(x: GgufGpt2Input): GgufOut {
  const c = x.config;
  checkCanonical(x.params, c, 'GGUF export');
  const bad: string[] = [];
  if (c.activation !== 'gelu' && c.activation !== 'gelu_tanh') bad.push(`activation ${c.activation} (llama.cpp's gpt2 MLP is GELU)`);
  if (c.head_bias) bad.push('a head bias (llama.cpp\'s gpt2 output layer has none)');
  if (!c.qkv_bias || c.proj_bias === false || c.mlp_bias === false || c.ln_bias === false) bad.push('missing biases (fill them with zeros first)');
  if (bad.length) throw new MyptError('E_UNSUPPORTED', `not llama.cpp's gpt2 architecture: ${bad.join('; ')}`);
  const F = c.mlp_hidden && c.mlp_hidden > 0 ? c.mlp_hidden : 4 * c.n_embd;
  const u32 = (value: number): GgufValue => ({ type: GGUF_TYPE.UINT32, value });
  const quantized = x.type === 'q8_0';
  const metadata: Array<[string, GgufValue]> = [
    ['general.architecture', { type: GGUF_TYPE.STRING, value: 'gpt2' }],
    ['general.type', { type: GGUF_TYPE.STRING, value: 'model' }],
    ['general.name', { type: GGUF_TYPE.STRING, value: x.name }],
    ['general.file_type', u32(FILE_TYPE[x.type])],
    ...(quantized ? [['general.quantization_version', u32(2)] as [string, GgufValue]] : []),
    ['gpt2.block_count', u32(c.n_layer)],
    ['gpt2.context_length', u32(c.block_size)],
    ['gpt2.embedding_length', u32(c.n_embd)],
    ['gpt2.feed_forward_length', u32(F)],
    ['gpt2.attention.head_count', u32(c.n_head)],
    ['gpt2.attention.layer_norm_epsilon', { type: GGUF_TYPE.FLOAT32, value: c.ln_eps ?? 1e-5 }],
    ...ggufVocab(x.tokenizer, c.vocab_size),
    ...(x.extra ?? []),
  ];
  const tensors: GgufTensorOut[] = ggufNames(c).map(([name, gguf]) => {
    const t = x.params[name];
    const type = storedType(gguf, t.shape, x.type);
    return { name: gguf, dims: ggmlDims(t.shape), type, bytes: encodeGgml(t.data, type) };
  });
  return { metadata, tensors };
}

// ---- reading -------------------------------------------------------------------------------------------

function bad(file: string, what: string): never {
  throw new MyptError('E_BAD_FILE', `${file}: ${what}`);
}

function required(g: GgufFile, key: string): number {
  const v = metaNumber(g, key);
  if (v === undefined) bad(g.path, `metadata ${key} is missing (llama.cpp's gpt2 architecture needs it)`);
  if (!Number.isInteger(v) || v < 1 || v > 1 << 24) bad(g.path, `metadata ${key} = ${v} is not a size`);
  return v;
}

/** MyPT's tokenizer record for a GGUF vocabulary: GPT-2's (its 50,257 tokens first, placeholders after), a
 *  character vocabulary (every token one character), or undefined with the reason. */
export function tokenizerOfGguf(g: GgufFile, vocab: number): { tokenizer?: TokenizerRecord; problem?: string } {
  const model = metaString(g, 'tokenizer.ggml.model');
  if (model === undefined) return { problem: `${g.path}: the file holds no tokenizer (tokenizer.ggml.model)` };
  if (model !== 'gpt2') return { problem: `${g.path}: tokenizer.ggml.model '${model}' is not read here (gpt2 is)` };
  const tokens = metaArray(g, 'tokenizer.ggml.tokens', GGUF_TYPE.STRING) as string[] | undefined;
  if (!tokens) return { problem: `${g.path}: tokenizer.ggml.tokens is missing` };
  if (tokens.length !== vocab) bad(g.path, `tokenizer.ggml.tokens has ${tokens.length} tokens but token_embd has ${vocab} rows`);
  // GPT-2's vocabulary (built only when the file looks like it: 50,257 tokens or more, '!' first)
  if (tokens.length >= GPT2_EOT + 1 && tokens[0] === '!' && tokens[GPT2_EOT] === '<|endoftext|>') {
    const gpt2 = gpt2Files().tokens;
    if (gpt2.every((t, i) => tokens[i] === t)) return { tokenizer: { token_kind: 'gpt2', chars: null } };
  }
  const chars: string[] = [];
  const dec = new TextDecoder('utf-8', { fatal: true });
  for (const t of tokens) {
    const bytes = byteLevelToBytes(t);
    let ch: string | undefined;
    try { ch = bytes ? dec.decode(bytes) : undefined; } catch { ch = undefined; }
    if (ch === undefined || [...ch].length !== 1) {
      return { problem: `${g.path}: a BPE vocabulary other than GPT-2's (token ${chars.length}: ${JSON.stringify(t.slice(0, 20))}); only GPT-2's and character vocabularies are read` };
    }
    chars.push(ch);
  }
  return { tokenizer: { token_kind: 'char', chars } };
}

const isBias = (name: string) => name.endsWith('.bias');

/** A GGUF file of llama.cpp's gpt2 architecture as the registry returns a checkpoint. */
export function readGgufCheckpoint(file: string): DetectedCheckpoint {
  const g = readGgufHeader(file);
  const arch = metaString(g, 'general.architecture');
  if (arch !== 'gpt2') {
    throw new MyptError('E_UNSUPPORTED', `${file}: a GGUF model of the '${arch ?? '(unnamed)'}' architecture; mypt-native runs the gpt2 one`);
  }
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  const emb = byName.get('token_embd.weight');
  const pos = byName.get('position_embd.weight');
  if (!emb || emb.dims.length !== 2 || !pos || pos.dims.length !== 2) bad(file, 'token_embd.weight / position_embd.weight missing or not matrices');
  const n_embd = required(g, 'gpt2.embedding_length');
  const n_layer = required(g, 'gpt2.block_count');
  const n_head = required(g, 'gpt2.attention.head_count');
  const ctx = required(g, 'gpt2.context_length');
  const ff = metaNumber(g, 'gpt2.feed_forward_length') ?? 4 * n_embd;
  const eps = metaNumber(g, 'gpt2.attention.layer_norm_epsilon');
  if (eps === undefined || !(eps > 0)) bad(file, 'gpt2.attention.layer_norm_epsilon is missing or not positive');
  if (n_embd % n_head !== 0) bad(file, `embedding_length ${n_embd} is not a multiple of head_count ${n_head}`);
  if (pos.dims[1] !== ctx) bad(file, `position_embd.weight has ${pos.dims[1]} positions but gpt2.context_length is ${ctx}`);
  const recorded = metaString(g, 'mypt_native.activation');
  const activation = recorded === 'gelu' ? 'gelu' : 'gelu_tanh';
  const tied = !byName.has('output.weight');
  const config: Gpt2ModelConfig = gpt2ModelConfig({ vocab_size: emb.dims[1], block_size: ctx, n_layer, n_head, n_embd, dropout: 0, bias: true }, activation, tied);
  if (ff !== 4 * n_embd) config.mlp_hidden = ff;
  if (Math.abs(Math.fround(1e-5) - Math.fround(eps)) > 0) config.ln_eps = eps;

  const params: NamedTensors = {};
  const names = ggufNames(config);
  const used = new Set<string>();
  for (const [name, gguf] of names) {
    const t = byName.get(gguf);
    const shape = canonicalParams(config).find((p) => p[0] === name)![1];
    const want = ggmlDims(shape);
    if (!t) bad(file, `tensor ${gguf} is missing (expected dims [${want}])`);
    if (t.dims.length !== want.length || t.dims.some((d, i) => d !== want[i])) bad(file, `tensor ${gguf} has dims [${t.dims}], expected [${want}]`);
    params[name] = f32(shape, readGgufTensor(g, t));
    used.add(gguf);
  }
  const extra = g.tensors.filter((t) => !used.has(t.name)).map((t) => t.name);
  if (extra.length) bad(file, `tensors llama.cpp's gpt2 architecture does not have: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`);

  // a model exported without biases was written with zero biases (llama.cpp needs them): take them out again
  const biasFree = g.metadata.get('mypt_native.biases')?.value === false
    && names.filter(([n]) => isBias(n)).every(([n]) => params[n].data.every((v) => v === 0));
  let out = { config, params };
  if (biasFree) {
    const c2 = gpt2ModelConfig({ ...config, bias: false }, activation, tied);
    if (config.mlp_hidden) c2.mlp_hidden = config.mlp_hidden;
    if (config.ln_eps) c2.ln_eps = config.ln_eps;
    const p2: NamedTensors = {};
    for (const [n] of canonicalParams(c2)) p2[n] = params[n];
    out = { config: c2, params: p2 };
  }
  const { tokenizer, problem } = tokenizerOfGguf(g, config.vocab_size);
  const types = [...new Set(g.tensors.map((t) => GGML_NAME[t.type]))];
  return {
    format: 'gguf', layout: 'gguf-gpt2', path: file, config: out.config, params: out.params,
    tokenizer, tokenizerSource: tokenizer ? `the vocabulary in ${path.basename(file)}` : undefined, tokenizerProblem: problem,
    hasOptimizer: false,
    extra: {
      dtypes: types, gguf_version: g.version, alignment: g.alignment, name: metaString(g, 'general.name'),
      file_type: metaNumber(g, 'general.file_type'), files: [{ name: file, bytes: g.fileSize }],
    },
    warnings: types.includes('Q8_0') ? [`${file}: Q8_0 weights were dequantised to float32`] : [],
  };
}

/** The mypt_native.* metadata values, for callers that add them. */
export function myptGgufKeys(rec: Record<string, GgufScalar>): Array<[string, GgufValue]> {
  return Object.entries(rec).map(([k, v]) => [`mypt_native.${k}`,
    typeof v === 'boolean' ? { type: GGUF_TYPE.BOOL, value: v } : typeof v === 'number' ? { type: GGUF_TYPE.FLOAT32, value: v } : { type: GGUF_TYPE.STRING, value: String(v) }]);
}
