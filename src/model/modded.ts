// A modded-nanogpt checkpoint (small or medium layout) running on the native engine, on the CPU
// (binding/core/modded.cc) or a GPU (cuda/modded_engine.cu): load, forward, generate.
//
//   const m = await loadModdedModel('best_state_step001750_val3.2817.pt', { device: 'auto' });
//   const { logits, shape } = await m.forward([50256, 464, 3290]);   // shape [1, T, padded vocab]
//   const ids = await m.generate([50256, 464], { max_new_tokens: 20, temperature: 0 });
//   const text = await m.generateText('The meaning of life', { max_new_tokens: 40, top_k: 50, seed: 1 });
//
// The forward pass is the one the file records (`forward` key, see checkpoint/modded.ts), else the
// layout's own; opts.forward overrides it (a different model: README, "modded-nanogpt").
// Attention is the scripts' block mask: causal, document mask (EOT 50256 starts a document) and the
// per-layer sliding window at its end-of-training size (binding/core/modded_mask.h).

import { MyptError } from '../errors';
import { requireCuda, resolvePlacement } from './config';
import { fromNative, loadAddon } from '../native';
import { loadTorch } from '../formats/torch';
import { toFloat32 } from '../formats/tensor';
import { ModdedInfo, ModdedLayout, ModdedParsed, parseModded } from '../formats/modded/modded';
import { gpt2Codec, loadTokenizerFile, TextCodec } from '../tokenizer/file';

export type ModdedSoftcap = 'sigmoid30_scaled' | 'sigmoid30' | 'algebraic15' | 'none';

/** The native config (binding/modded_binding.cc); every switch explicit once resolved. */
export interface ModdedNativeConfig {
  n_layer: number; dim: number; n_head: number; head_dim: number; mlp_hidden: number;
  embed_rows: number; head_rows: number; n_value_embeds: number; scalars_len: number;
  ve_index: number[];          // per layer: value embedding mixed into v, -1 none
  has_attn: number[];          // per layer: 0 for the layer without attention
  attn_input_norm: boolean;    // small: attention reads norm(x)
  v_norm: boolean;             // medium: v = norm(v)
  skip: 'unet' | 'map';
  skip_from: number[];         // map: per layer, the block output added, -1 none
  softcap: ModdedSoftcap;
  attn_scale: number; norm_eps: number; rope_base: number;
  doc_token: number;           // document mask: this id starts a new document (50256 when it exists); -1 off
  attn_block: number;          // tokens per sliding-window block (128)
  window_blocks: number[];     // per layer: window in blocks, 0 none
}

interface NativeModdedHandle {
  config(): ModdedNativeConfig;
  device(): string;
  forward(tokens: Int32Array): Promise<Float32Array>;
  generate(prompt: Int32Array, opts: Record<string, number>, onToken?: (id: number) => void): Promise<Int32Array>;
  stop(): void;
  dispose(): void;
}
interface NativeModdedAddon {
  ModdedModel: new (config: Record<string, unknown>, weights: Record<string, Float32Array | Uint16Array>,
    placement?: { device: 'cpu' | 'cuda'; index: number; precision: 'fp32' | 'bf16' }) => NativeModdedHandle;
  backends(): { cuda: boolean; cudaReason: string };
  setThreads(n: number): void;   // the engine's process-wide CPU pool
}

export interface LoadModdedOptions {
  /** Where it runs: 'cpu' (default), 'cuda', or 'auto' (cuda when this build has a usable GPU). */
  device?: 'cpu' | 'cuda' | 'auto';
  /** GPU storage of the weights: 'bf16' (default on cuda; the scripts' own eval precision) or 'fp32'. */
  precision?: 'fp32' | 'bf16';
  /** Which GPU (default 0). */
  device_index?: number;
  /** Run this forward pass instead of the recorded one. */
  forward?: ModdedLayout;
  /** The text tokenizer: a file (MyPT's tokenizer.json or a Hugging Face byte-level BPE tokenizer.json)
   *  or a codec; default GPT-2's, as the scripts. */
  tokenizer?: string | TextCodec;
  /** Soft-cap override, e.g. 'sigmoid30' for S0/S1/S3-era small files (30 sigmoid(z / 7.5)). */
  softcap?: ModdedSoftcap;
  /** Head size, when the saved code does not say and the width is no multiple of 128. */
  head_dim?: number;
  /** Document-mask token (default 50256 when the embedding has that row, as both scripts); -1: plain causal. */
  doc_token?: number;
  /** false: no sliding window (causal + document mask only). */
  window?: boolean;
  /** The long window in blocks (short = half); default the end-of-training value, 14 small / 27 medium. */
  long_window_blocks?: number;
  /** Tokens per window block (128 in both scripts). */
  attn_block?: number;
  /** CPU threads of the process-wide pool (0: all cores; CPU only). */
  threads?: number;
  /** Name used in messages when a dict (not a path) is given. */
  where?: string;
}

export interface ModdedGenerateOptions {
  max_new_tokens: number;
  temperature?: number;   // <= 0: greedy
  top_k?: number;
  top_p?: number;
  seed?: number;
  /** Sample among the first vocab_limit ids; default: the real vocab (or the embedding rows). */
  vocab_limit?: number;
  onToken?: (id: number) => void;
  signal?: AbortSignal;
}

function addon(): NativeModdedAddon {
  return loadAddon() as unknown as NativeModdedAddon;
}

/** Weights under the native names (ModdedModel::weight_names) from either layout: bfloat16 tensors as
 *  their raw bits (the addon widens them, without a float32 copy here), the others as float32. */
export function moddedNativeWeights(p: ModdedParsed): Record<string, Float32Array | Uint16Array> {
  const { info, sd } = p;
  const f = (k: string) => {
    const t = sd.get(k)!;
    return t.dtype === 'bfloat16' ? (t.data as Uint16Array) : toFloat32(t);
  };
  const w: Record<string, Float32Array | Uint16Array> = { embed: f('embed.weight') };
  for (let j = 0; j < 3; j++) w[`value_embeds.${j}`] = f(`value_embeds.${j}.weight`);
  const hd = info.hdim * info.dim;
  for (let i = 0; i < info.n_layer; i++) {
    const b = `blocks.${i}.`;
    if (info.layout === 'small') {
      if (info.attention_layers.includes(i)) {
        w[`${b}attn.qkv`] = f(`${b}attn.qkv_w`);              // [3, hdim, d] = [3 hdim, d]
        w[`${b}attn.o`] = f(`${b}attn.c_proj.weight`);        // [d, hdim], applied as y @ W.T
      }
      w[`${b}mlp.fc`] = f(`${b}mlp.c_fc.weight`);
      w[`${b}mlp.proj`] = f(`${b}mlp.c_proj.weight`);
    } else {
      if (info.attention_layers.includes(i)) {
        const qkvo = f(`${b}attn.qkvo_w`);                     // [4, hdim, d]
        w[`${b}attn.qkv`] = qkvo.subarray(0, 3 * hd);
        w[`${b}attn.o`] = qkvo.subarray(3 * hd, 4 * hd);       // qkvo_w[3], same orientation as c_proj
      }
      w[`${b}mlp.fc`] = f(`${b}mlp.fc_w`);
      w[`${b}mlp.proj`] = f(`${b}mlp.proj_w`);
    }
  }
  w.lm_head = f(info.layout === 'small' ? 'lm_head.weight' : 'lm_head_w');
  w.scalars = f('scalars');
  return w;
}

/** An optional numeric option: the fallback when absent, else a finite number that passes `ok`. */
function option(v: number | undefined, fallback: number, name: string, ok: (x: number) => boolean): number {
  if (v === undefined) {
    if (Number.isNaN(fallback)) throw new MyptError('E_BAD_ARGUMENT', `generate: ${name} is required`);
    return fallback;
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
    throw new MyptError('E_BAD_ARGUMENT', `generate: ${name} is ${String(v)}, which is out of range`);
  }
  return v;
}

/** Token ids as the addon takes them; an id that is no integer in [0, 2^31) is named here (Int32Array.from
 *  would wrap it into some other id). Whether it is inside the embedding is the engine's check. */
function toInt32(tokens: number[] | Int32Array, what: string): Int32Array {
  if (!(tokens instanceof Int32Array)) {
    tokens.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id > 2 ** 31 - 1) {
        throw new MyptError('E_BAD_ARGUMENT', `${what}: token id ${String(id)} at position ${i} is not a non-negative integer id`);
      }
    });
  }
  const a = tokens instanceof Int32Array ? tokens : Int32Array.from(tokens);
  if (a.length === 0) throw new MyptError('E_BAD_ARGUMENT', `${what}: no tokens`);
  return a;
}

export class ModdedModel {
  readonly info: ModdedInfo;
  readonly config: ModdedNativeConfig;
  readonly forwardKind: ModdedLayout;
  /** "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3, bf16)". */
  readonly device: string;
  private handle: NativeModdedHandle | null;
  /** The tokenizer generateText uses. */
  readonly tokenizer: TextCodec;

  constructor(info: ModdedInfo, handle: NativeModdedHandle, forwardKind: ModdedLayout, tokenizer: TextCodec = gpt2Codec()) {
    this.info = info;
    this.tokenizer = tokenizer;
    this.handle = handle;
    this.config = handle.config();
    this.device = handle.device();
    this.forwardKind = forwardKind;
  }

  private live(): NativeModdedHandle {
    if (!this.handle) throw new MyptError('E_DISPOSED', 'this modded model was disposed');
    return this.handle;
  }

  /** Logits of every position, soft-capped as the forward pass does: [1, T, head_rows] row-major. */
  async forward(tokens: number[] | Int32Array): Promise<{ logits: Float32Array; shape: [number, number, number] }> {
    const a = toInt32(tokens, 'forward');
    const logits = await this.call((h) => h.forward(a));
    return { logits, shape: [1, a.length, this.info.head_rows] };
  }

  /** New token ids (the prompt excluded). */
  async generate(prompt: number[] | Int32Array, opts: ModdedGenerateOptions): Promise<number[]> {
    const a = toInt32(prompt, 'generate');
    const h = this.live();
    const native: Record<string, number> = {
      max_new_tokens: option(opts.max_new_tokens, NaN, 'max_new_tokens', (x) => Number.isInteger(x) && x >= 0 && x <= 2 ** 31 - 1),
      temperature: option(opts.temperature, 1, 'temperature', (x) => x >= 0),
      top_k: option(opts.top_k, 0, 'top_k', (x) => Number.isInteger(x) && x >= 0),
      top_p: option(opts.top_p, 1, 'top_p', (x) => x > 0 && x <= 1),
      seed: option(opts.seed, 0, 'seed', (x) => Number.isSafeInteger(x) && x >= 0),
      vocab_limit: option(opts.vocab_limit, this.info.vocab ?? this.info.embed_rows, 'vocab_limit',
        (x) => Number.isInteger(x) && x >= 1 && x <= this.info.head_rows),
    };
    // The native loop runs ahead of the main thread, so an abort is applied here: no token is delivered
    // after it, and the result holds exactly the tokens delivered before it.
    let stopped = false;
    let delivered = 0;
    const onAbort = () => {
      stopped = true;
      h.stop();
    };
    let thrown: { error: unknown } | undefined; // the caller's onToken threw: stop, then reject with it
    const onToken = (id: number) => {
      if (stopped) return;
      delivered++;
      try {
        opts.onToken?.(id);
      } catch (error) {
        thrown = { error };
        onAbort();
      }
    };
    opts.signal?.addEventListener('abort', onAbort);
    try {
      if (opts.signal?.aborted) return [];
      const ids = [...(await this.call(() => h.generate(a, native, onToken)))];
      if (thrown) throw thrown.error;
      return stopped ? ids.slice(0, delivered) : ids;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Text in, text out with the model's tokenizer (GPT-2's unless another was given). */
  async generateText(prompt: string, opts: ModdedGenerateOptions & { onText?: (piece: string) => void }): Promise<string> {
    const tok = this.tokenizer;
    const ids = tok.encode(prompt);
    if (!ids.length && tok.eot === undefined) {
      throw new MyptError('E_BAD_ARGUMENT', `generate: the prompt is empty and ${tok.source} has no end-of-text token to start from`, 'give a prompt');
    }
    const prompt_ids = ids.length ? ids : [tok.eot!];
    const over = prompt_ids.find((id) => id >= this.info.embed_rows);
    if (over !== undefined) {
      throw new MyptError('E_TOKENIZER', `generate: ${tok.source} gives token id ${over}, but the model's embedding has ${this.info.embed_rows} rows`,
        'give the tokenizer the model was trained with (--tokenizer FILE)');
    }
    const out: number[] = [];
    let shown = '';
    const onToken = (id: number) => {
      out.push(id);
      opts.onToken?.(id);
      if (opts.onText) {
        const text = tok.decode(out);
        if (!text.endsWith('\ufffd')) {  // wait for the rest of a multi-byte character
          opts.onText(text.slice(shown.length));
          shown = text;
        }
      }
    };
    const limit = Math.min(opts.vocab_limit ?? this.info.vocab ?? this.info.embed_rows, tok.vocabSize, this.info.embed_rows);
    const ids_out = await this.generate(prompt_ids, { ...opts, vocab_limit: limit, onToken });
    const text = tok.decode(ids_out);
    if (opts.onText && text.length > shown.length) opts.onText(text.slice(shown.length));  // a held partial character
    return text;
  }

  describe(): ModdedInfo & { forward: ModdedLayout; device: string; config: ModdedNativeConfig } {
    return { ...this.info, forward: this.forwardKind, device: this.device, config: this.config };
  }

  /** Safe at any time: a call in flight stops after its current token; the native model is freed when it returns. */
  dispose(): void {
    const h = this.handle;
    this.handle = null;
    h?.dispose();
  }

  /** Runs one native call; native errors become MyptErrors with a code. */
  private async call<R>(run: (h: NativeModdedHandle) => Promise<R>): Promise<R> {
    const h = this.live();
    try {
      return await run(h);
    } catch (e) {
      throw fromNative(e);
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Builds the native model from a parsed file (either layout). */
export function createModdedModel(p: ModdedParsed, opts: LoadModdedOptions = {}): ModdedModel {
  const { info } = p;
  const forwardKind = opts.forward ?? info.forward;
  if (forwardKind !== 'small' && forwardKind !== 'medium') throw new MyptError('E_BAD_ARGUMENT', `forward must be 'small' or 'medium' (got ${String(forwardKind)})`);
  const where = opts.where ?? 'modded checkpoint';
  const codec = typeof opts.tokenizer === 'string' ? loadTokenizerFile(opts.tokenizer) : opts.tokenizer ?? gpt2Codec();
  const { device: dev, precision } = resolvePlacement(opts as Record<string, unknown>, (field, what) => {
    throw new MyptError('E_BAD_ARGUMENT', `${field} ${what}`);
  });
  const index = opts.device_index ?? 0;
  if (!Number.isInteger(index) || index < 0) throw new MyptError('E_BAD_ARGUMENT', `device_index must be a non-negative integer (got ${String(index)})`);
  if (dev === 'cuda') requireCuda();
  const native = addon();
  if (opts.threads !== undefined) native.setThreads(opts.threads);
  const config: Record<string, unknown> = {
    preset: forwardKind,
    n_layer: info.n_layer, dim: info.dim, n_head: info.n_head, head_dim: info.head_dim, mlp_hidden: info.mlp_hidden,
    embed_rows: info.embed_rows, head_rows: info.head_rows, scalars_len: info.scalars_len,
  };
  if (opts.softcap) config.softcap = opts.softcap;
  if (opts.doc_token !== undefined) config.doc_token = opts.doc_token;
  if (opts.attn_block !== undefined) config.attn_block = opts.attn_block;
  if (opts.long_window_blocks !== undefined) config.long_window_blocks = opts.long_window_blocks;
  if (opts.window === false) config.window_blocks = new Array(info.n_layer).fill(0);
  let handle: NativeModdedHandle;
  try {
    handle = new native.ModdedModel(config, moddedNativeWeights(p), { device: dev, index, precision });
  } catch (e) {
    const c = (e as { code?: string }).code;
    const code = c === 'E_NO_CUDA' || c === 'E_BAD_CONFIG' ? c : 'E_NATIVE';
    throw new MyptError(code, `${where}: ${(e as Error).message}`);
  }
  return new ModdedModel(info, handle, forwardKind, codec);
}

/** Loads a modded-nanogpt `.pt` file (or an already loaded dict) onto the CPU engine or a GPU (opts.device). */
export async function loadModdedModel(pathOrDict: string | unknown, opts: LoadModdedOptions = {}): Promise<ModdedModel> {
  const where = typeof pathOrDict === 'string' ? pathOrDict : opts.where ?? 'modded checkpoint';
  const obj = typeof pathOrDict === 'string' ? await loadTorch(pathOrDict) : pathOrDict;
  return createModdedModel(parseModded(obj, where, { head_dim: opts.head_dim }), { ...opts, where });
}
