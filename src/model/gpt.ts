// createModel and GptModel: one GPT (MyPT's lecture GPT, nanoGPT, GPT-2) on one device, over the native
// engine (src/native). The Model interface's calls (model/types.ts), plus what training needs: gradients,
// optimizer state, native token data and batches.
import { MyptError } from '../errors';
import { fromNative, loadAddon, NativeAdamW, NativeModel, NativeParamInfo, NativeTokenMap, NativeTokens } from '../native';
import type { Tokenizer } from '../tokenizer/types';
import { ModelConfig, ResolvedModelConfig, resolveModelConfig, toNativeConfig } from './config';
import { requireCuda } from './placement';
import { ProcessGroup } from './group';
import { BatchDecoder } from './decoder';
import { numOption, promptIds, sampleParams, TextModel } from './text';
import { sameShape, toTokenBatch } from './tokens';
import type { GenerateOptions, ModelSummary, ModelOrigin, Tokens, TrainBatch } from './types';

export type NamedTensors = Record<string, { dtype: 'float32'; shape: number[]; data: Float32Array }>;
export type NamedInput = Record<string, { shape: number[]; data: Float32Array }>;
/** Host buffers a model's getters fill in place (GptModel.snapshotBuffers). */
export interface SnapshotBuffers { params: Float32Array; exp_avg?: Float32Array; exp_avg_sq?: Float32Array }

export interface AdamWOptions {
  lr?: number; // default 3e-4
  weight_decay?: number; // default 0.01 (torch.optim.AdamW)
  betas?: [number, number]; // default [0.9, 0.999]
  eps?: number; // default 1e-8
  grad_clip?: number; // clip_grad_norm_ max norm; 0 or absent: off
}

export type { GenerateOptions } from './types';

function badArg(msg: string): never {
  throw new MyptError('E_BAD_ARGUMENT', msg);
}


function adamw(o: AdamWOptions = {}): NativeAdamW {
  const betas = o.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2) badArg('betas must be [beta1, beta2]');
  return {
    lr: numOption(o.lr, 3e-4, 'lr', (x) => x >= 0),
    weight_decay: numOption(o.weight_decay, 0.01, 'weight_decay', (x) => x >= 0),
    beta1: numOption(betas[0], 0.9, 'betas[0]', (x) => x >= 0 && x < 1),
    beta2: numOption(betas[1], 0.999, 'betas[1]', (x) => x >= 0 && x < 1),
    eps: numOption(o.eps, 1e-8, 'eps', (x) => x >= 0),
    grad_clip: numOption(o.grad_clip, 0, 'grad_clip', (x) => x >= 0),
  };
}

async function call<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (e) {
    throw fromNative(e);
  }
}

function callSync<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fromNative(e);
  }
}

export class GptModel extends TextModel {
  readonly family = 'gpt' as const;
  readonly config: ResolvedModelConfig;
  readonly numParams: number;
  readonly device: string;
  declare readonly tokenizer?: Tokenizer;
  private handle: NativeModel | null;
  private readonly layout: NativeParamInfo[];
  private initPending = false; // seeded init still to run (skipped when setParameters comes first)
  private joined?: ProcessGroup;

  /** Use createModel. */
  constructor(config: ResolvedModelConfig, handle: NativeModel, tokenizer?: Tokenizer, origin?: ModelOrigin) {
    super(tokenizer, origin);
    this.config = config;
    this.handle = handle;
    const info = callSync(() => handle.info());
    this.numParams = info.numParams;
    this.device = info.device;
    this.layout = info.params;
  }

  // the handle, for calls that do not read the parameters
  private get raw(): NativeModel {
    if (!this.handle) throw new MyptError('E_DISPOSED', 'the model was disposed', 'create a new model');
    return this.handle;
  }

  // the handle with initialised parameters
  private get native(): NativeModel {
    const h = this.raw;
    if (this.initPending) {
      this.initPending = false;
      callSync(() => h.initParameters(this.config.init, this.config.seed));
    }
    return h;
  }

  /** @internal createModel: initialise the parameters on first use, unless setParameters comes first
   *  (loading a checkpoint then never pays for an initialisation it would overwrite). */
  deferInit(): void {
    this.initPending = true;
  }

  info(): ModelSummary {
    return {
      family: 'gpt', device: this.device, numParams: this.numParams, vocabSize: this.config.vocab_size,
      blockSize: this.config.block_size, config: { ...this.config }, origin: this.origin,
      tokenizer: this.tokenizer ? (this.tokenizer.source ?? `${this.tokenizer.kind} (${this.tokenizer.vocabSize} tokens)`) : null,
    };
  }

  /** The canonical tensors (names, shapes) of this model, in buffer order. */
  get parameterInfo(): { name: string; shape: number[] }[] {
    return this.layout.map((p) => ({ name: p.name, shape: [...p.shape] }));
  }

  async forward(tokens: Tokens): Promise<{ logits: Float32Array; shape: [number, number, number] }> {
    const x = toTokenBatch(tokens, 'tokens', this.config.block_size);
    const logits = await call(() => this.native.forward(x.data, x.B, x.T));
    return { logits, shape: [x.B, x.T, this.config.vocab_size] };
  }

  async loss(tokens: Tokens, targets: Tokens): Promise<number> {
    const x = toTokenBatch(tokens, 'tokens', this.config.block_size);
    const y = toTokenBatch(targets, 'targets', this.config.block_size);
    sameShape(x, y, 'targets');
    return call(() => this.native.loss(x.data, y.data, x.B, x.T));
  }

  /** One AdamW step on this batch; returns the loss before the update. */
  async trainStep(batch: TrainBatch): Promise<number> {
    const x = toTokenBatch(batch.tokens, 'tokens', this.config.block_size);
    const y = toTokenBatch(batch.targets, 'targets', this.config.block_size);
    sameShape(x, y, 'targets');
    const p = adamw(batch);
    const r = await call(() => this.native.trainStep(x.data, y.data, x.B, x.T, p));
    return r.loss;
  }

  /** Forward + backward; gradients stay natively (getGradients). train: dropout on (default true).
   *  lossScale multiplies the gradient; accumulate adds to the previous gradients. */
  async forwardBackward(tokens: Tokens, targets: Tokens,
    opts: { train?: boolean; lossScale?: number; accumulate?: boolean } = {}): Promise<number> {
    const x = toTokenBatch(tokens, 'tokens', this.config.block_size);
    const y = toTokenBatch(targets, 'targets', this.config.block_size);
    sameShape(x, y, 'targets');
    const scale = numOption(opts.lossScale, 1, 'lossScale', () => true);
    return call(() => this.native.forwardBackward(x.data, y.data, x.B, x.T, opts.train ?? true, scale, !!opts.accumulate));
  }

  /** Clip (grad_clip) and one AdamW update with the current gradients. */
  async optimizerStep(opts: AdamWOptions = {}): Promise<{ gradNorm: number }> {
    const p = adamw(opts);
    return { gradNorm: await call(() => this.native.optimizerStep(p)) };
  }

  private named(all: Float32Array): NamedTensors {
    const out: NamedTensors = {};
    for (const p of this.layout)
      out[p.name] = { dtype: 'float32', shape: [...p.shape], data: all.subarray(p.offset, p.offset + p.numel) };
    return out;
  }

  private packed(named: NamedInput, what: string): Float32Array {
    if (!named || typeof named !== 'object') badArg(`${what} must be an object of named tensors`);
    const all = new Float32Array(this.numParams);
    for (const p of this.layout) {
      const t = named[p.name];
      if (!t) badArg(`${what}: tensor ${p.name} is missing`);
      if (!Array.isArray(t.shape) || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))
        badArg(`${what}: ${p.name} has shape [${t.shape}], the model needs [${p.shape}]`);
      if (!(t.data instanceof Float32Array) || t.data.length !== p.numel)
        badArg(`${what}: ${p.name} data must be a Float32Array of ${p.numel} values`);
      all.set(t.data, p.offset);
    }
    for (const name of Object.keys(named))
      if (!this.layout.some((p) => p.name === name)) badArg(`${what}: ${name} is not a tensor of this model`);
    return all;
  }

  /** A set of host buffers for getParameters / getOptimizerState to fill again and again (a trainer's snapshot
   *  between saves): page-locked on CUDA, so the copies run at the bus's speed and never touch fresh pages. */
  snapshotBuffers(withOptimizer: boolean): SnapshotBuffers {
    const n = this.numParams;
    const alloc = () => callSync(() => this.raw.allocHost(n));
    return { params: alloc(), exp_avg: withOptimizer ? alloc() : undefined, exp_avg_sq: withOptimizer ? alloc() : undefined };
  }

  /** Every parameter, by name; into `into.params` (snapshotBuffers) when given, whose contents it replaces. */
  getParameters(into?: SnapshotBuffers): NamedTensors {
    return this.named(callSync(() => this.native.getParameters(into?.params)));
  }

  /** Every canonical tensor is required, with its exact shape. */
  setParameters(named: NamedInput): void {
    const all = this.packed(named, 'setParameters');
    const h = this.raw;
    this.initPending = false;
    callSync(() => h.setParameters(all));
  }

  getGradients(): NamedTensors {
    return this.named(callSync(() => this.native.getGradients()));
  }

  getOptimizerState(into?: SnapshotBuffers): { step: number; exp_avg: NamedTensors; exp_avg_sq: NamedTensors } {
    const s = callSync(() => this.raw.getOptimizerState(into?.exp_avg, into?.exp_avg_sq));
    return { step: s.step, exp_avg: this.named(s.exp_avg), exp_avg_sq: this.named(s.exp_avg_sq) };
  }

  setOptimizerState(s: { step: number; exp_avg: NamedInput; exp_avg_sq: NamedInput }): void {
    if (!s || !Number.isInteger(s.step) || s.step < 0) badArg('setOptimizerState: step must be a non-negative integer');
    const m = this.packed(s.exp_avg, 'setOptimizerState exp_avg');
    const v = this.packed(s.exp_avg_sq, 'setOptimizerState exp_avg_sq');
    callSync(() => this.raw.setOptimizerState(m, v, s.step));
  }

  /** Which tensors get weight decay. Default: all (MyPT); gpt2 arch: matrices only (nanoGPT). */
  setDecayMask(decay: (name: string, shape: number[]) => boolean): void {
    const mask = Uint8Array.from(this.layout, (p) => (decay(p.name, [...p.shape]) ? 1 : 0));
    callSync(() => this.raw.setDecayMask(mask));
  }

  /** Seeds the dropout masks: the next training forward pass is dropout.h's call 0 of this seed. */
  setSeed(seed: number): void {
    if (!Number.isSafeInteger(seed) || seed < 0) badArg(`setSeed: seed must be a non-negative integer, got ${seed}`);
    callSync(() => this.raw.setSeed(seed));
  }

  /** Activation recomputation in the backward pass (llm.c's): 0 keeps every activation (the default); 1
   *  recomputes the MLP's activation output from its input; 2 also the LayerNorm outputs. The gradients are
   *  the same (bit for bit with exact GELU or ReLU; with tanh-GELU, fused into the GEMM in the forward, within
   *  rounding); a GPU step needs less memory (GPT-2 124M, B16 T1024: about 1.1 GB less at 1, 1.6 GB at 2) for a
   *  little more compute. The CPU engine keeps its activations either way. */
  setRecompute(level: 0 | 1 | 2): void {
    if (level !== 0 && level !== 1 && level !== 2) badArg(`setRecompute: level must be 0, 1 or 2, got ${JSON.stringify(level)}`);
    callSync(() => this.raw.setRecompute(level));
  }

  /** Token data kept natively for trainBatch / estimateLoss: an Int32Array or Uint16Array (copied), or a
   *  mapped token file (shared, never copied), optionally the part [start, start + count). */
  setData(split: 'train' | 'val', tokens: NativeTokens, start?: number, count?: number): void {
    if (split !== 'train' && split !== 'val') badArg(`setData: split must be 'train' or 'val', got ${JSON.stringify(split)}`);
    const isMap = !!tokens && typeof tokens === 'object' && typeof (tokens as NativeTokenMap).close === 'function';
    if (!(tokens instanceof Int32Array) && !(tokens instanceof Uint16Array) && !isMap) {
      badArg('setData: tokens must be an Int32Array, a Uint16Array or a mapped token file');
    }
    callSync(() => this.raw.setData(split, tokens, start, count));
  }

  private checkBatch(B: number, T: number, what: string): void {
    if (!Number.isInteger(B) || B < 1) badArg(`${what}: batch_size must be a positive integer`);
    if (!Number.isInteger(T) || T < 1 || T > this.config.block_size)
      badArg(`${what}: block_size ${T} must be an integer in [1, ${this.config.block_size}]`);
  }

  /**
   * One optimizer step over grad_accum train batches drawn natively (x = data[i:i+T], y = data[i+1:i+T+1]):
   * the batch of training step `step` is a pure function of (seed, step), micro-batch m from
   * CounterRng(seed, 1, step * grad_accum + m), the dropout masks from dropoutSeed(seed, step)
   * (src/data/batches.ts), so a resumed run draws what an uninterrupted one would. Without `step`, the
   * calls since the last setSeed are counted; without `seed`, that setSeed's.
   */
  async trainBatch(opts: { batch_size: number; block_size: number; lr: number; grad_accum?: number; seed?: number; step?: number; stop?: boolean } & AdamWOptions):
    Promise<{ loss: number; gradNorm: number; stop: boolean }> {
    this.checkBatch(opts.batch_size, opts.block_size, 'trainBatch');
    const grad_accum = numOption(opts.grad_accum, 1, 'grad_accum', (x) => Number.isInteger(x) && x >= 1);
    const counter = (v: unknown, name: string) => (v === undefined ? undefined : numOption(v, 0, name, (x) => Number.isSafeInteger(x) && x >= 0));
    const p = { ...adamw(opts), batch_size: opts.batch_size, block_size: opts.block_size, grad_accum, seed: counter(opts.seed, 'seed'),
      step: counter(opts.step, 'step'), stop: !!opts.stop };
    return call(() => this.native.trainBatch(p));
  }

  /**
   * The optimizer steps `step`, `step + 1`, ... one after the other, step i at learning rate lrs[i]: the same
   * batches, dropout masks and results as that many trainBatch calls, in one call that queues each step on the
   * device before the one before it has ended (the losses and norms read back once, at the end), so the GPU
   * does not wait for the host between steps. Not in a data-parallel group (trainBatch steps there).
   */
  async trainBatches(opts: { batch_size: number; block_size: number; lrs: number[]; grad_accum?: number; seed?: number; step?: number } & Omit<AdamWOptions, 'lr'>):
    Promise<{ losses: number[]; gradNorms: number[] }> {
    this.checkBatch(opts.batch_size, opts.block_size, 'trainBatches');
    if (this.joined) badArg('trainBatches: a model in a data-parallel group steps with trainBatch');
    if (!Array.isArray(opts.lrs) || opts.lrs.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0)) {
      badArg('trainBatches: lrs must be an array of finite learning rates >= 0');
    }
    const grad_accum = numOption(opts.grad_accum, 1, 'grad_accum', (x) => Number.isInteger(x) && x >= 1);
    const counter = (v: unknown, name: string) => (v === undefined ? undefined : numOption(v, 0, name, (x) => Number.isSafeInteger(x) && x >= 0));
    const p = { ...adamw({ ...opts, lr: opts.lrs[0] ?? 0 }), batch_size: opts.batch_size, block_size: opts.block_size, grad_accum,
      seed: counter(opts.seed, 'seed'), step: counter(opts.step, 'step'), lrs: opts.lrs };
    return call(() => this.native.trainBatches(p));
  }

  /**
   * Joins a connected data-parallel group (every rank calls it, with the same model): the parameters become
   * rank 0's, the AdamW moments shrink to this rank's shard (ZeRO-1; those already set are kept for it), and
   * from then on trainBatch is the data-parallel step: rank r of W runs the micro-batches r * grad_accum + m of
   * the single process with W * grad_accum micro-batches (the same windows and dropout masks), the gradients
   * are averaged over ranks in buckets reduce-scattered during the backward (bucketMB, default 25; gradDtype
   * 'fp32' or 'bf16' on the wire), clipped on the global norm, AdamW runs on each rank's shard, and the
   * parameters are all-gathered; `stop` on any rank stops every rank after the same step. estimateLoss splits
   * its batches over the ranks; getOptimizerState gathers the shards (every rank must call it).
   */
  async joinGroup(group: ProcessGroup, opts: { bucketMB?: number; gradDtype?: 'fp32' | 'bf16' } = {}): Promise<{ buckets: number; shardSize: number }> {
    if (!(group instanceof ProcessGroup)) badArg('joinGroup: a ProcessGroup expected');
    if (this.joined) badArg(`joinGroup: this model is already in a group (${this.joined.description})`);
    if (group.device !== this.config.device) badArg(`joinGroup: a ${group.device} group cannot hold a ${this.config.device} model`);
    const mb = numOption(opts.bucketMB, 25, 'bucketMB', (x) => x > 0);
    const gradDtype = opts.gradDtype ?? 'fp32';
    if (gradDtype !== 'fp32' && gradDtype !== 'bf16') badArg(`joinGroup: gradDtype must be 'fp32' or 'bf16', got ${JSON.stringify(gradDtype)}`);
    const native = this.native;
    const r = await call(() => native.joinGroup(group.native, { bucketFloats: Math.max(1, Math.round((mb * 1048576) / 4)), gradDtype }));
    this.joined = group;
    return { buckets: r.buckets, shardSize: r.shardSize };
  }

  /** The group this model joined, if any. */
  get group(): ProcessGroup | undefined {
    return this.joined;
  }

  /** Mean loss (no dropout) over `iters` batches of a split, batch k from CounterRng(seed, train 2 | val 3, counter0 + k). */
  async estimateLoss(split: 'train' | 'val', iters: number, batch_size: number, block_size: number,
    draw: { seed?: number; counter0?: number } = {}): Promise<number> {
    if (split !== 'train' && split !== 'val') badArg(`estimateLoss: split must be 'train' or 'val'`);
    if (!Number.isInteger(iters) || iters < 1) badArg('estimateLoss: iters must be a positive integer');
    this.checkBatch(batch_size, block_size, 'estimateLoss');
    return call(() => this.native.estimateLoss(split, iters, batch_size, block_size, draw.seed, draw.counter0));
  }

  /** New token ids after the prompt (KV cache; the context is cropped to block_size as MyPT does). */
  protected async generateIds(prompt: number[] | Int32Array, opts: GenerateOptions): Promise<number[]> {
    const ids = promptIds(prompt, 'generate');
    const o = opts ?? ({} as GenerateOptions);
    const sample = sampleParams(o, this.config.seed);
    const native = this.native;
    if (o.signal?.aborted) return [];
    let failure: unknown;
    const onToken = o.onToken && ((id: number) => {
      if (failure !== undefined) return;
      try {
        o.onToken!(id);
      } catch (e) {
        failure = e; // stop generating and report the callback's error
        native.cancel();
      }
    });
    const abort = () => native.cancel();
    o.signal?.addEventListener('abort', abort, { once: true });
    try {
      const out = await call(() => native.generate(ids, sample, onToken));
      if (failure !== undefined) throw failure;
      // dispose() during the call stops it early: a clear error, never a silently short text
      if (!this.handle) throw new MyptError('E_DISPOSED', 'the model was disposed while generating; the text is incomplete', 'dispose the model after its calls end');
      return Array.from(out);
    } finally {
      o.signal?.removeEventListener('abort', abort);
    }
  }

  /** '' starts from a newline, as MyPT's sampling does (token 0 when the vocabulary has none). */
  protected textPrompt(tok: Tokenizer, prompt: string): number[] {
    if (prompt !== '') return tok.encode(prompt);
    try {
      return tok.encode('\n');
    } catch {
      return [0];
    }
  }

  /** A continuous-batching decoder of `slots` sequences at once (E_UNSUPPORTED where the backend has none):
   *  each sequence gets the ids generate() gives it alone. While it runs, other calls on this model wait. */
  openDecoder(slots: number): BatchDecoder {
    if (!Number.isInteger(slots) || slots < 1 || slots > 4096) badArg(`openDecoder: slots must be a whole number from 1 to 4096, got ${slots}`);
    const n = callSync(() => this.native.openDecoder(slots));
    return new BatchDecoder(() => this.raw, n, this.config.seed);
  }

  /** Frees the native memory (now, or when the call in flight ends). Later calls throw E_DISPOSED. */
  dispose(): void {
    if (this.handle) this.handle.dispose();
    this.handle = null;
  }

}

/** A new model with seeded parameters (init per config), on config.device (default cpu; GPU deviceIndex,
 *  default 0). A loader passes the checkpoint's tokenizer and where it came from. */
export function createModel(config: ModelConfig, extras: { tokenizer?: Tokenizer; origin?: ModelOrigin; deviceIndex?: number } = {}): GptModel {
  const c = resolveModelConfig(config);
  const addon = loadAddon();
  if (c.device === 'cuda') requireCuda();
  const index = extras.deviceIndex ?? 0;
  if (!Number.isInteger(index) || index < 0) badArg(`createModel: deviceIndex must be a non-negative integer, got ${index}`);
  const handle = callSync(() => new addon.NativeModel(toNativeConfig(c), c.device, index, c.precision));
  const model = new GptModel(c, handle, extras.tokenizer, extras.origin);
  callSync(() => handle.setSeed(c.seed));
  model.deferInit();
  if (c.arch === 'gpt2') model.setDecayMask((_name, shape) => shape.length >= 2);
  return model;
}

/** CPU threads used by the native engine in this process (0: all cores). */
export function setCpuThreads(n: number): void {
  if (!Number.isInteger(n) || n < 0) badArg('setCpuThreads: n must be a non-negative integer');
  loadAddon().setThreads(n);
}

export function getCpuThreads(): number {
  return loadAddon().getThreads();
}
