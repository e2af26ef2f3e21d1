// A modded-nanogpt speedrun model (small or medium layout) on the native engine, on the CPU
// (binding/engine modded runner) or a GPU (cuda/modded_engine.cu): the Model interface's forward and
// generation. It cannot train here (the scripts' Muon optimizer and schedules are not reproduced):
// trainStep says so.
//
// The forward pass is `spec.forward` (the layout's own, or the one the file records: a small model
// converted to the medium layout keeps the small forward); opts.forward overrides it (a different model:
// README, "modded-nanogpt"). Attention is the scripts' block mask: causal, document mask (a doc_token
// starts a document) and the per-layer sliding window at its end-of-training size.
// A model knows no file: src/use-cases/open reads the checkpoint and maps its weights to the engine's names.
import { MyptError } from '../errors';
import { fromNative, loadAddon, NativeModdedConfig, NativeModdedModel, NativeModdedRequest } from '../native';
import type { TextCodec } from '../tokenizer/types';
import { resolvePlacement, requireCuda } from './placement';
import { promptIds, sampleParams, numOption, TextModel } from './text';
import { toTokenBatch } from './tokens';
import type { GenerateOptions, ModelSummary, ModelOrigin, Tokens, TrainBatch } from './types';

export type ModdedLayout = 'small' | 'medium';
export type ModdedSoftcap = NativeModdedConfig['softcap'];
export type ModdedNativeConfig = NativeModdedConfig;

/** What the engine needs of a checkpoint's description (formats/modded's ModdedInfo is one). */
export interface ModdedSpec {
  layout: ModdedLayout;
  /** The forward pass the weights need (the file's `forward` key, else the layout's own). */
  forward: ModdedLayout;
  n_layer: number; dim: number; n_head: number; head_dim: number; mlp_hidden: number;
  embed_rows: number;          // rows of embed / value_embeds
  head_rows: number;           // rows of the output head (padded vocab)
  scalars_len: number;
  vocab: number | null;        // the real vocabulary, when known
  num_params: number;
  step?: number | null;
  val_loss?: number | null;
}

export interface ModdedOptions {
  /** Where it runs: 'cpu' (default for createModdedModel), 'cuda', or 'auto'. */
  device?: 'cpu' | 'cuda' | 'auto';
  /** GPU storage of the weights: 'bf16' (default on cuda; the scripts' own eval precision) or 'fp32'. */
  precision?: 'fp32' | 'bf16';
  /** Which GPU (default 0). */
  device_index?: number;
  /** Run this forward pass instead of the recorded one. */
  forward?: ModdedLayout;
  /** Soft-cap override, e.g. 'sigmoid30' for S0/S1/S3-era small files (30 sigmoid(z / 7.5)). */
  softcap?: ModdedSoftcap;
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
  /** Name used in messages. */
  where?: string;
}

export interface ModdedGenerateOptions extends GenerateOptions {
  /** Sample among the first vocab_limit ids; default: the real vocab (or the embedding rows). */
  vocab_limit?: number;
}

export class ModdedModel extends TextModel {
  readonly family = 'modded' as const;
  /** The checkpoint's description (layout, sizes, step, ...). */
  readonly spec: ModdedSpec;
  /** The engine's resolved config (every switch explicit). */
  readonly config: ModdedNativeConfig;
  readonly forwardKind: ModdedLayout;
  readonly device: string;
  declare readonly tokenizer: TextCodec;
  private handle: NativeModdedModel | null;

  /** Use createModdedModel. */
  constructor(spec: ModdedSpec, handle: NativeModdedModel, forwardKind: ModdedLayout, tokenizer: TextCodec, origin?: ModelOrigin) {
    super(tokenizer, origin);
    this.spec = spec;
    this.handle = handle;
    this.config = handle.config();
    this.device = handle.device();
    this.forwardKind = forwardKind;
  }

  get numParams(): number { return this.spec.num_params; }

  info(): ModelSummary {
    return {
      family: 'modded', device: this.device, numParams: this.spec.num_params, vocabSize: this.spec.head_rows, blockSize: null,
      config: { layout: this.spec.layout, forward: this.forwardKind, ...this.config }, tokenizer: this.tokenizer.source ?? null,
      origin: this.origin,
    };
  }

  private live(): NativeModdedModel {
    if (!this.handle) throw new MyptError('E_DISPOSED', 'this modded model was disposed');
    return this.handle;
  }

  /** Logits of every position, soft-capped as the forward pass does: [B, T, head_rows] row-major (the
   *  engine runs one sequence at a time; a batch is its rows in turn). */
  async forward(tokens: Tokens): Promise<{ logits: Float32Array; shape: [number, number, number] }> {
    const x = toTokenBatch(tokens, 'forward', null);
    const V = this.spec.head_rows;
    const logits = new Float32Array(x.B * x.T * V);
    for (let b = 0; b < x.B; b++) {
      const row = x.data.subarray(b * x.T, (b + 1) * x.T);
      logits.set(await this.call((h) => h.forward(row)), b * x.T * V);
    }
    return { logits, shape: [x.B, x.T, V] };
  }

  async trainStep(_batch: TrainBatch): Promise<number> {
    throw new MyptError('E_UNSUPPORTED', 'modded-nanogpt models run forward and generation here, not training',
      'train them with their own script, or convert to a GPT checkpoint to fine-tune');
  }

  /** New token ids (the prompt excluded). */
  protected async generateIds(prompt: number[] | Int32Array, opts: ModdedGenerateOptions): Promise<number[]> {
    const a = promptIds(prompt, 'generate');
    const h = this.live();
    const o = opts ?? ({} as ModdedGenerateOptions);
    const native = {
      ...sampleParams(o, 0),
      vocab_limit: numOption(o.vocab_limit, this.spec.vocab ?? this.spec.embed_rows, 'vocab_limit',
        (x) => Number.isInteger(x) && x >= 1 && x <= this.spec.head_rows, 'generate'),
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
        o.onToken?.(id);
      } catch (error) {
        thrown = { error };
        onAbort();
      }
    };
    o.signal?.addEventListener('abort', onAbort);
    try {
      if (o.signal?.aborted) return [];
      const ids = [...(await this.call(() => h.generate(a, native, onToken)))];
      if (thrown) throw thrown.error;
      if (stopped) return ids.slice(0, delivered);
      // dispose() during the call stops it early: the same clear error as GptModel's, never a silently short text
      if (!this.handle) throw new MyptError('E_DISPOSED', 'the model was disposed while generating; the text is incomplete', 'dispose the model after its calls end');
      return ids;
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** '' starts a document (the end-of-text token); every id must be a row of the embedding. */
  protected textPrompt(tok: TextCodec, prompt: string): number[] {
    const ids = tok.encode(prompt);
    if (!ids.length && tok.eot === undefined) {
      throw new MyptError('E_BAD_ARGUMENT', `generate: the prompt is empty and ${tok.source ?? 'the tokenizer'} has no end-of-text token to start from`, 'give a prompt');
    }
    const out = ids.length ? ids : [tok.eot!];
    const over = out.find((id) => id >= this.spec.embed_rows);
    if (over !== undefined) {
      throw new MyptError('E_TOKENIZER', `generate: ${tok.source ?? 'the tokenizer'} gives token id ${over}, but the model's embedding has ${this.spec.embed_rows} rows`,
        'give the tokenizer the model was trained with (--tokenizer FILE)');
    }
    return out;
  }

  /** Text is sampled among the ids both the model and the tokenizer know. */
  protected textSampling(tok: TextCodec): Partial<ModdedGenerateOptions> {
    return { vocab_limit: Math.min(this.spec.vocab ?? this.spec.embed_rows, tok.vocabSize, this.spec.embed_rows) };
  }

  /** The description, the forward pass it runs, the device and the engine's config. */
  describe(): ModdedSpec & { forward: ModdedLayout; device: string; config: ModdedNativeConfig } {
    return { ...this.spec, forward: this.forwardKind, device: this.device, config: this.config };
  }

  /** Safe at any time: a call in flight stops after its current token; the native model is freed when it returns. */
  dispose(): void {
    const h = this.handle;
    this.handle = null;
    h?.dispose();
  }

  /** Runs one native call; native errors become MyptErrors with a code. */
  private async call<R>(run: (h: NativeModdedModel) => Promise<R>): Promise<R> {
    const h = this.live();
    try {
      return await run(h);
    } catch (e) {
      throw fromNative(e);
    }
  }
}

/**
 * The native model from a description and its weights under the engine's names (formats/modded's
 * moddedEngineWeights), on opts.device (default cpu), with the tokenizer generateText uses.
 */
export function createModdedModel(spec: ModdedSpec, weights: Record<string, Float32Array | Uint16Array>, tokenizer: TextCodec,
  opts: ModdedOptions = {}, origin?: ModelOrigin): ModdedModel {
  const forwardKind = opts.forward ?? spec.forward;
  if (forwardKind !== 'small' && forwardKind !== 'medium') throw new MyptError('E_BAD_ARGUMENT', `forward must be 'small' or 'medium' (got ${String(forwardKind)})`);
  const where = opts.where ?? 'modded checkpoint';
  const { device, precision } = resolvePlacement(opts, (field, what) => {
    throw new MyptError('E_BAD_ARGUMENT', `${field} ${what}`);
  });
  const index = opts.device_index ?? 0;
  if (!Number.isInteger(index) || index < 0) throw new MyptError('E_BAD_ARGUMENT', `device_index must be a non-negative integer (got ${String(index)})`);
  if (device === 'cuda') requireCuda();
  const addon = loadAddon();
  if (opts.threads !== undefined) addon.setThreads(opts.threads);
  const config: NativeModdedRequest = {
    preset: forwardKind,
    n_layer: spec.n_layer, dim: spec.dim, n_head: spec.n_head, head_dim: spec.head_dim, mlp_hidden: spec.mlp_hidden,
    embed_rows: spec.embed_rows, head_rows: spec.head_rows, scalars_len: spec.scalars_len,
  };
  if (opts.softcap) config.softcap = opts.softcap;
  if (opts.doc_token !== undefined) config.doc_token = opts.doc_token;
  if (opts.attn_block !== undefined) config.attn_block = opts.attn_block;
  if (opts.long_window_blocks !== undefined) config.long_window_blocks = opts.long_window_blocks;
  if (opts.window === false) config.window_blocks = new Array(spec.n_layer).fill(0);
  let handle: NativeModdedModel;
  try {
    handle = new addon.ModdedModel(config, weights, { device, index, precision });
  } catch (e) {
    const err = fromNative(e) as MyptError;
    throw new MyptError(err.code === 'E_BAD_ARGUMENT' ? 'E_BAD_CONFIG' : err.code, `${where}: ${err.message}`);
  }
  return new ModdedModel(spec, handle, forwardKind, tokenizer, origin);
}
