// The only door to the addon: loads it and declares its whole surface (every class, function and record
// the C++ side exposes). Nothing else in src/ requires the addon or casts what it returns.
import path from 'path';
import { ErrorCode, isErrorCode, MyptError } from '../errors';
import type { ArchFlags, ModelSizes } from '../config/gpt';

export interface NativeDevice {
  index: number;
  name: string;
  memoryBytes: number;
  computeCapability: string;
  multiprocessors: number;
}

export interface NativeBackends {
  cpu: true;
  cuda: boolean;
  cudaReason: string;
  devices: NativeDevice[];
  /** Whether the CUDA backend found and opened its cuBLASLt plugin (the fast GEMMs), and why not. */
  cublasLt: boolean;
  cublasLtReason: string;
  /** Whether the CUDA backend found and opened NCCL (data-parallel training on GPUs), why not, and its version. */
  nccl: boolean;
  ncclReason: string;
  ncclVersion: string;
  /** The files in use ("" when not loaded): the cuBLASLt library the plugin runs on, and NCCL (cuda/lib_search.h). */
  cublasLtPath?: string;
  ncclPath?: string;
  /** The CUDA runtime the addon was built with and the driver's CUDA version ("12.4"; "" without CUDA or a driver). */
  cudaRuntimeVersion?: string;
  cudaDriverVersion?: string;
  /** The GPU architectures compiled in ("80-real;90"; "" without CUDA). */
  cudaArchs?: string;
}

/** What a data-parallel group is made of (binding/napi/group_wrap.h). */
export interface NativeGroupSpec {
  device: 'cpu' | 'cuda';
  rank: number;
  world: number;
  /** rank 0's groupId(device), handed to every rank */
  id: Uint8Array;
  /** where rank 0 is (MASTER_ADDR): the CPU group connects there */
  host: string;
  deviceIndex: number;
  timeoutMs: number;
}

export type NativeCollective = 'all_reduce' | 'reduce_scatter' | 'all_gather' | 'broadcast';

/** One rank's handle of a data-parallel group (engine/collective.h). */
export interface NativeGroup {
  /** joins: resolves once every rank has joined, to the group's description */
  connect(): Promise<string>;
  /** one collective on a copy of the array (Uint16Array: bfloat16 bits) */
  run<A extends Float32Array | Float64Array | Uint16Array>(op: NativeCollective, data: A, root?: number): Promise<A>;
  describe(): string;
  close(): void;
}

/** ZeRO-1 bookkeeping of one rank (engine/shard_plan.h). */
export interface NativeShardPlan {
  total: number;
  ready: number[];
  shardSize: number;
  buckets: { begin: number; end: number; slice: number; local: number }[];
  replicated: { begin: number; end: number; local: number }[];
  owned: { begin: number; end: number; local: number; replicated: boolean }[];
}

/** A token file mapped read-only (addon.mapTokens): the engine samples windows from it without copying
 *  it; the mapping lives while any model's data refers to it, even after close(). */
export interface NativeTokenMap {
  readonly length: number;
  readonly dtype: 'uint16' | 'int32';
  readonly path: string;
  close(): void;
  /** Drops the pages read so far from this process's resident set (they stay in the page cache). */
  release(): void;
}

/** Token data a model samples batches from: copied typed arrays, or a mapped file. */
export type NativeTokens = Int32Array | Uint16Array | NativeTokenMap;

/** The GPT-2 byte-level BPE of binding/text (tiktoken's encode_ordinary ids). */
export interface NativeBpe {
  encode(text: string | Uint8Array): Uint32Array;
  /** threads: 0 or absent = all cores; a Uint8Array is read in place until the promise settles */
  encodeAsync(text: string | Uint8Array, threads?: number): Promise<Uint32Array>;
  encodeBatchAsync(docs: (string | Uint8Array)[], opts?: { threads?: number }): Promise<{ ids: Uint32Array; docOffsets: Float64Array }>;
  decode(ids: Uint32Array | Int32Array | number[]): Uint8Array;
  /** pre-tokenizer piece ends, in bytes (diagnostic) */
  pieces(text: string | Uint8Array): Uint32Array;
  readonly vocabSize: number;
  readonly pattern: string;
  readonly unicodeVersion: string;
}

/** The canonical layout entry of one tensor (binding/core/config.h). */
export interface NativeParamInfo {
  name: string;
  shape: number[];
  offset: number; // in floats, inside the one parameter buffer
  numel: number;
  isMatrix: boolean;
}

/** The fully resolved config the engine takes (binding/convert.cc: to_config). */
export interface NativeModelConfig extends ModelSizes, ArchFlags {
  mlp_hidden: number;
  dropout: number;
  activation: 'relu' | 'gelu' | 'gelu_tanh';
  attn_scale: number; // multiplier of q k^T (0: head_size^-0.5)
  ln_eps: number;
}

export interface NativeAdamW {
  lr: number;
  weight_decay: number;
  beta1: number;
  beta2: number;
  eps: number;
  grad_clip: number; // <= 0: off
}

export interface NativeSample {
  max_new_tokens: number;
  temperature: number;
  top_k: number;
  top_p: number;
  seed: number;
}

export interface NativeStep {
  loss: number;
  gradNorm: number;
}

export interface NativeBatchStep extends NativeStep {
  /** some rank of the model's group asked to stop (its `stop`), or this call's own `stop` alone */
  stop: boolean;
}

/** One engine. Async methods run in call order off the main thread; sync ones wait for their turn. */
export interface NativeModel {
  info(): { numParams: number; device: string; params: NativeParamInfo[] };
  /** n floats of host memory the device copies to at full speed (page-locked on CUDA), for the getters' `into` */
  allocHost(n: number): Float32Array;
  getParameters(into?: Float32Array): Float32Array; // all parameters, canonical layout (into `into` when given)
  setParameters(all: Float32Array): void;
  getGradients(): Float32Array;
  getOptimizerState(expAvg?: Float32Array, expAvgSq?: Float32Array): { step: number; exp_avg: Float32Array; exp_avg_sq: Float32Array };
  setOptimizerState(expAvg: Float32Array, expAvgSq: Float32Array, step: number): void;
  setDecayMask(mask: Uint8Array): void; // one flag per tensor
  setSeed(seed: number): void; // dropout (and the default seed of trainBatch / estimateLoss)
  setRecompute(level: number): void; // activation recomputation in the backward: 0, 1 (MLP activation), 2 (+ LayerNorms)
  initParameters(kind: 'pytorch' | 'gpt2', seed: number): void;
  /** typed arrays are copied (ids checked as they are); a token map is shared (ids checked per window drawn) */
  setData(split: 'train' | 'val', tokens: NativeTokens, start?: number, count?: number): void;
  forward(tokens: Int32Array, B: number, T: number): Promise<Float32Array>;
  loss(tokens: Int32Array, targets: Int32Array, B: number, T: number): Promise<number>;
  forwardBackward(tokens: Int32Array, targets: Int32Array, B: number, T: number, train: boolean,
    lossScale: number, accumulate: boolean): Promise<number>;
  optimizerStep(p: NativeAdamW): Promise<number>; // the gradient norm before clipping
  trainStep(tokens: Int32Array, targets: Int32Array, B: number, T: number, p: NativeAdamW): Promise<NativeStep>;
  /** One optimizer step of training step `step`: dropout seeded with dropoutSeed(seed, step), micro-batch m
   *  drawn from CounterRng(seed, 1, step * grad_accum + m), the mean of their gradients (src/data/batches.ts).
   *  Without seed: the last setSeed's; without step: the calls counted since that setSeed. */
  trainBatch(p: NativeAdamW & { batch_size: number; block_size: number; grad_accum: number; seed?: number; step?: number; stop?: boolean }): Promise<NativeBatchStep>;
  /** The steps step .. step + lrs.length - 1 as one call (engine/data.h train_batch_run): each queued before the last ended. */
  trainBatches(p: NativeAdamW & { batch_size: number; block_size: number; grad_accum: number; seed?: number; step?: number; lrs: number[] }): Promise<{ losses: number[]; gradNorms: number[] }>;
  /** Mean loss (no dropout) of `iters` batches of a split, batch k from CounterRng(seed, train 2 | val 3, counter0 + k)
   *  (in a group: split over the ranks and summed). */
  estimateLoss(split: 'train' | 'val', iters: number, B: number, T: number, seed?: number, counter0?: number): Promise<number>;
  /** Joins a connected group (engine/engine.h join_group): from then on trainBatch is the data-parallel step. */
  joinGroup(group: NativeGroup, opts: { bucketFloats?: number; gradDtype?: 'fp32' | 'bf16' }): Promise<{ group: string; buckets: number; shardSize: number }>;
  generate(prompt: Int32Array, opts: NativeSample, onToken?: (id: number) => void): Promise<Int32Array>;
  cancel(): void; // stops the generations started so far
  /** Continuous batching (engine/decoder.h): a decoder of `slots` sequences; E_UNSUPPORTED where the backend has none. */
  openDecoder(slots: number): number;
  /** Queues request `id`; true when no run is going on (start one with decoderRun). */
  decoderSubmit(id: number, prompt: Int32Array, opts: NativeSample): boolean;
  /** Ends request `id` at the next step. */
  decoderCancel(id: number): void;
  /** Steps until nothing is left: onInt gets (id, token) as two calls; token -1: request id is finished. */
  decoderRun(onInt: (v: number) => void): Promise<void>;
  dispose(): void;
}

export interface NativeBenchRequest {
  op: string;
  device: 'cpu' | 'cuda';
  M?: number; K?: number; N?: number; B?: number; H?: number; T?: number; D?: number;
  precision?: 'bf16' | 'fp32';
  warmup: number;
  repeats: number;
  seed?: number;
}

/** The modded-nanogpt engine's config (binding/modded_binding.cc); every switch explicit once resolved. */
export interface NativeModdedConfig {
  n_layer: number; dim: number; n_head: number; head_dim: number; mlp_hidden: number;
  embed_rows: number; head_rows: number; n_value_embeds: number; scalars_len: number;
  ve_index: number[];          // per layer: value embedding mixed into v, -1 none
  has_attn: number[];          // per layer: 0 for the layer without attention
  attn_input_norm: boolean;    // small: attention reads norm(x)
  v_norm: boolean;             // medium: v = norm(v)
  skip: 'unet' | 'map';
  skip_from: number[];         // map: per layer, the block output added, -1 none
  softcap: 'sigmoid30_scaled' | 'sigmoid30' | 'algebraic15' | 'none';
  attn_scale: number; norm_eps: number; rope_base: number;
  doc_token: number;           // document mask: this id starts a new document; -1 off
  attn_block: number;          // tokens per sliding-window block (128)
  window_blocks: number[];     // per layer: window in blocks, 0 none
}

/** What the modded engine is built from: the layout's preset and sizes, plus optional overrides. */
export interface NativeModdedRequest {
  preset: 'small' | 'medium';
  n_layer: number; dim: number; n_head: number; head_dim: number; mlp_hidden: number;
  embed_rows: number; head_rows: number; scalars_len: number;
  softcap?: NativeModdedConfig['softcap'];
  doc_token?: number;
  attn_block?: number;
  long_window_blocks?: number;
  window_blocks?: number[];
}

/** One modded-nanogpt model. Async methods run in call order off the main thread. */
export interface NativeModdedModel {
  config(): NativeModdedConfig;
  device(): string;
  forward(tokens: Int32Array): Promise<Float32Array>;   // [T * head_rows]
  generate(prompt: Int32Array, opts: NativeSample & { vocab_limit: number }, onToken?: (id: number) => void): Promise<Int32Array>;
  stop(): void;
  dispose(): void;
}

export interface NativeAddon {
  backends(): NativeBackends;
  setThreads(n: number): void; // CPU threads for the whole process; 0: all cores
  getThreads(): number;
  /** Native models not yet freed (a handle disposed, or collected, and its last call ended): for leak checks. */
  liveHandles(): { models: number; moddedModels: number };
  dropoutMask(n: number, p: number, seed: number, offset: number): Uint8Array; // dropout.h keep flags
  /** maps count tokens of a file from byteOffset (E_IO, E_BAD_FILE naming the file) */
  mapTokens(path: string, byteOffset: number, count: number, dtype: 'uint16' | 'int32'): NativeTokenMap;
  /** the engine's batch sampler: x = data[i:i+T], y = data[i+1:i+T+1], i from CounterRng(seed, stream, counter) */
  sampleBatch(tokens: NativeTokens, B: number, T: number, seed: number, stream: number, counter: number): { x: Int32Array; y: Int32Array };
  /** id i = tokenBytes[offsets[i], offsets[i+1]); 'gpt2': tiktoken's \s (Unicode White_Space), 'gpt2-js': js-tiktoken's */
  Bpe: new (tokenBytes: Uint8Array, offsets: Uint32Array, pattern: 'gpt2' | 'gpt2-js', options?: { special?: ArrayLike<number> }) => NativeBpe;
  /** times one op of bench.h at one shape on fresh random inputs */
  benchOp(req: NativeBenchRequest): Promise<{ ms: number[]; flops: number; bytes: number; peakBytes: number }>;
  /** a device's memory as its driver sees it now (CUDA: cudaMemGetInfo; the first call creates the context), and
   *  allocatedBytes: what the engines hold through their own allocations, all devices together (as PyTorch's
   *  torch.cuda.memory_allocated: the driver's own memory and the kernels' images left out); null where the backend
   *  cannot say (the CPU); E_NO_CUDA where the backend is not usable here */
  deviceMemory(device: 'cpu' | 'cuda', index: number): { freeBytes: number; totalBytes: number; allocatedBytes?: number } | null;
  /** a new data-parallel group's id, on rank 0 (the CPU: a listening port; CUDA: NCCL's unique id) */
  groupId(device: 'cpu' | 'cuda'): Uint8Array;
  NativeGroup: new (spec: NativeGroupSpec) => NativeGroup;
  /** the ZeRO-1 plan of rank `rank` of `world` for a model config (engine/shard_plan.h) */
  shardPlan(config: NativeModelConfig, rank: number, world: number, bucketFloats: number): NativeShardPlan;
  NativeModel: new (config: NativeModelConfig, device: 'cpu' | 'cuda', deviceIndex: number,
    precision: 'fp32' | 'bf16') => NativeModel;
  /** weights under the engine's names (ModdedModel::weight_names): float32, or bfloat16 bits as Uint16Array */
  ModdedModel: new (config: NativeModdedRequest, weights: Record<string, Float32Array | Uint16Array>,
    placement: { device: 'cpu' | 'cuda'; index: number; precision: 'fp32' | 'bf16' }) => NativeModdedModel;
}

/** A native error (with a `code` set by the binding) as a MyptError; other values pass through. */
export function fromNative(e: unknown): unknown {
  if (e instanceof MyptError || !(e instanceof Error)) return e;
  const code = (e as Error & { code?: string }).code;
  const fallback: ErrorCode = e instanceof TypeError ? 'E_BAD_ARGUMENT' : 'E_NATIVE';
  return new MyptError(isErrorCode(code) ? code : fallback, e.message);
}

let cached: NativeAddon | undefined;
const packageRoot = path.join(__dirname, '..', '..');

/** Which addon file loadAddon() loads (node-gyp-build's pick: build/Release, then prebuilds/<platform>-<arch>/),
 *  without loading it; `error` when none fits this machine. */
export function addonFile(): { file: string; prebuilt: boolean; root: string } | { error: string; root: string } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const file = require('node-gyp-build').path(packageRoot) as string;
    return { file, prebuilt: file.split(path.sep).includes('prebuilds'), root: packageRoot };
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0], root: packageRoot };
  }
}

export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const root = packageRoot;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    cached = require('node-gyp-build')(root) as NativeAddon;
  } catch (e) {
    throw new MyptError(
      'E_NO_ADDON',
      `the mypt-native addon could not be loaded: ${(e as Error).message.split('\n')[0]}`,
      'run `npx mypt-native doctor` to see what is missing, then `npm rebuild mypt-native` (or `npm run build:native` in a clone)',
    );
  }
  return cached;
}
