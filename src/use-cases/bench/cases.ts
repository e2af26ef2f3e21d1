import os from 'os';
import type { Activation } from '../../config/gpt';

// The benchmark cases, as data: which op, at which shape, on which device. The GPU shapes are those
// of ANCHORS.md (GPT-2 124M at B=16, T=1024 on an H100), and a GPT-2 350M training step at B=8; the CPU
// shapes are the default CPU run's.

export type Device = 'cpu' | 'cuda';

export interface ModelShape {
  arch: 'mypt' | 'gpt2';
  vocab_size: number;
  block_size: number;
  n_layer: number;
  n_head: number;
  n_embd: number;
  bias: boolean;
  /** the MLP's activation; PyTorch's reference (bench/pytorch_ref.py) computes the same one */
  activation?: Activation;
}

/** A modded-nanogpt model for the `modded` suite (random weights; the layout's own forward pass). */
export interface ModdedShape {
  layout: 'small' | 'medium';
  n_layer: number;
  dim: number;
  n_head: number;
  head_dim: number;
  vocab: number;        // real vocab (embedding rows)
  padded_vocab: number; // lm_head rows
}

export interface BenchCase {
  id: string;
  suite: string;
  device: Device;
  op: string;
  /** a name in the id where the op and its sizes alone would not tell two cases apart ('350M') */
  name?: string;
  // op sizes (bench.h): matmul M,K,N; attention B,H,T,D; adamw N; layernorm M,K; classifier M,N
  M?: number;
  K?: number;
  N?: number;
  B?: number;
  H?: number;
  T?: number;
  D?: number;
  model?: ModelShape;
  modded?: ModdedShape;
  max_new_tokens?: number;
  mb?: number;
  what?: 'save' | 'load' | 'native' | 'js-tiktoken' | 'tiktoken';
  precision?: 'bf16' | 'fp32';
  /** train_step: activation recomputation level (model.setRecompute); PyTorch's step keeps every activation */
  recompute?: 0 | 1 | 2;
  warmup: number;
  repeats: number;
}

/** The default CPU training configuration (the built-in `npx mypt-native train`). */
export const CPU_DEFAULT_MODEL: ModelShape = {
  arch: 'mypt', vocab_size: 65, block_size: 64, n_layer: 4, n_head: 4, n_embd: 128, bias: false,
};
export const CPU_DEFAULT_BATCH = 32;

/** GPT-2 124M as ANCHORS.md times it (nanoGPT form, tied head, biases, tanh GELU: GPT-2's own, and the one
 *  anchor_bench.py and pytorch_ref.py compute; a gpt2 model's default would be the exact GELU). */
export const GPT2_124M: ModelShape = {
  arch: 'gpt2', vocab_size: 50304, block_size: 1024, n_layer: 12, n_head: 12, n_embd: 768, bias: true,
  activation: 'gelu_tanh',
};

/** GPT-2 medium (350M) in the same form: 24 layers, 16 heads, 1024 wide; 354,871,296 parameters with wpe. */
export const GPT2_350M: ModelShape = {
  arch: 'gpt2', vocab_size: 50304, block_size: 1024, n_layer: 24, n_head: 16, n_embd: 1024, bias: true,
  activation: 'gelu_tanh',
};

/** modded-nanogpt medium (train_gpt_medium.py, MODDED.md M1): 454M parameters. */
export const MODDED_MEDIUM: ModdedShape = {
  layout: 'medium', n_layer: 16, dim: 1024, n_head: 8, head_dim: 128, vocab: 50257, padded_vocab: 50304,
};
/** The small layout at CPU-bench size (12 layers as the script, 256 wide, 2 heads of 128). */
export const MODDED_SMALL_CPU: ModdedShape = {
  layout: 'small', n_layer: 12, dim: 256, n_head: 2, head_dim: 128, vocab: 50257, padded_vocab: 50304,
};

export const SUITES = ['matmul', 'attention', 'adamw', 'layernorm', 'classifier', 'train', 'generate', 'modded', 'checkpoint', 'serve', 'data'] as const;
export type Suite = (typeof SUITES)[number];
/** Suites PyTorch has no counterpart of in pytorch_ref.py (their peers are timed inside the suite: js-tiktoken, one request at a time). */
export const SUITES_WITHOUT_PYTORCH: readonly Suite[] = ['data', 'serve'];

export function casesFor(device: Device, quick: boolean): BenchCase[] {
  const reps = (n: number) => (quick ? Math.max(3, Math.ceil(n / 3)) : n);
  const out: BenchCase[] = [];
  const add = (c: Omit<BenchCase, 'id' | 'device' | 'warmup' | 'repeats'> & { warmup?: number; repeats?: number }) => {
    const sizes = c as unknown as Record<string, number | undefined>;
    const dims = ['M', 'K', 'N', 'B', 'H', 'T', 'D']
      .filter((k) => sizes[k] !== undefined)
      .map((k) => `${k}${sizes[k]}`)
      .join(' ');
    const mod = c.modded ? ` ${c.modded.layout} ${c.modded.n_layer}x${c.modded.dim}` : '';
    const id = `${c.suite}/${c.op}${c.name ? ' ' + c.name : ''}${mod}${dims ? ' ' + dims : ''}${c.what ? ' ' + c.what : ''}${c.mb ? ` ${c.mb}MB` : ''}`;
    out.push({ warmup: quick ? 1 : 3, repeats: reps(device === 'cuda' ? 50 : 10), ...c, id, device });
  };
  if (device === 'cuda') {
    for (const [M, K, N] of [[16384, 768, 2304], [16384, 768, 3072], [16384, 3072, 768], [16384, 768, 50304]]) {
      add({ suite: 'matmul', op: 'matmul', M, K, N });
    }
    // causal attention: ANCHORS.md's three shapes, then T = 2048 and 8192 (B*T = 16k / 32k tokens) and head
    // size 128 with 16 heads, forward alone and forward + backward
    const attention = [[16, 12, 1024, 64], [4, 12, 4096, 64], [16, 6, 1024, 128], [8, 12, 2048, 64], [4, 12, 8192, 64], [16, 16, 1024, 128]];
    for (const [B, H, T, D] of attention) add({ suite: 'attention', op: 'attention_fwd', B, H, T, D });
    for (const [B, H, T, D] of attention) add({ suite: 'attention', op: 'attention_fwd_bwd', B, H, T, D });
    add({ suite: 'adamw', op: 'adamw', N: 124_475_904 });
    add({ suite: 'layernorm', op: 'layernorm_fwd_bwd', M: 16384, K: 768 });
    add({ suite: 'classifier', op: 'classifier', M: 16384, N: 50304 });
    add({ suite: 'train', op: 'train_step', model: GPT2_124M, B: 16, T: 1024, repeats: quick ? 5 : 20 });
    // GPT-2 350M at B=8, T=1024 (issue #16): the same step, three times the parameters, half the tokens
    add({ suite: 'train', op: 'train_step', name: '350M', model: GPT2_350M, B: 8, T: 1024, repeats: quick ? 5 : 20 });
    // and with the GELU outputs recomputed (--recompute 1): about 1.5 GB less than the row above (which keeps every
    // layer's GELU output and is itself below torch.compile's allocations at this shape) for a little more time
    add({ suite: 'train', op: 'train_step', name: '350M recompute 1', model: GPT2_350M, B: 8, T: 1024, recompute: 1, repeats: quick ? 5 : 20 });
    // twice the tokens with the LayerNorm and GELU outputs recomputed (--recompute 2): memory beside PyTorch's at B32
    add({ suite: 'train', op: 'train_step', name: 'recompute 2', model: GPT2_124M, B: 32, T: 1024, recompute: 2, repeats: quick ? 5 : 20 });
    add({ suite: 'generate', op: 'generate', model: GPT2_124M, max_new_tokens: 200, repeats: quick ? 2 : 5, warmup: 1 });
    // a 1,000-token prompt (T): the time to the first token is the prefill's
    add({ suite: 'generate', op: 'generate', model: GPT2_124M, T: 1000, max_new_tokens: 24, repeats: quick ? 3 : 10, warmup: 1 });
    add({ suite: 'modded', op: 'modded_prefill', modded: MODDED_MEDIUM, T: 1024, repeats: quick ? 5 : 20 });
    add({ suite: 'modded', op: 'modded_generate', modded: MODDED_MEDIUM, max_new_tokens: 200, repeats: quick ? 2 : 5, warmup: 1 });
  } else {
    const BT = CPU_DEFAULT_BATCH * CPU_DEFAULT_MODEL.block_size;
    const C = CPU_DEFAULT_MODEL.n_embd;
    for (const [M, K, N] of [[BT, C, 3 * C], [BT, C, 4 * C], [BT, 4 * C, C], [BT, 768, 768]]) {
      add({ suite: 'matmul', op: 'matmul', M, K, N });
    }
    add({ suite: 'attention', op: 'attention_fwd', B: 16, H: 4, T: 64, D: 32 });
    add({ suite: 'attention', op: 'attention_fwd_bwd', B: 16, H: 4, T: 64, D: 32 });
    add({ suite: 'attention', op: 'attention_fwd_bwd', B: 4, H: 12, T: 256, D: 64 });
    add({ suite: 'adamw', op: 'adamw', N: 10_000_000 });
    add({ suite: 'layernorm', op: 'layernorm_fwd_bwd', M: BT, K: C });
    add({ suite: 'classifier', op: 'classifier', M: BT, N: 65 });
    add({ suite: 'classifier', op: 'classifier', M: 256, N: 50304 });
    add({ suite: 'train', op: 'train_step', model: CPU_DEFAULT_MODEL, B: CPU_DEFAULT_BATCH, T: CPU_DEFAULT_MODEL.block_size, repeats: quick ? 5 : 20 });
    add({ suite: 'generate', op: 'generate', model: CPU_DEFAULT_MODEL, max_new_tokens: CPU_DEFAULT_MODEL.block_size - 1, repeats: quick ? 2 : 5, warmup: 1 });
    add({ suite: 'modded', op: 'modded_prefill', modded: MODDED_SMALL_CPU, T: 256, repeats: quick ? 2 : 5, warmup: 1 });
    add({ suite: 'modded', op: 'modded_generate', modded: MODDED_SMALL_CPU, max_new_tokens: 32, repeats: quick ? 2 : 3, warmup: 1 });
  }
  // the HTTP server at 1, 8 and 32 clients: batched, then one at a time (bench/serve.ts); B = clients,
  // repeats and warmup = requests each client sends in a row. Then one sequence without HTTP, through
  // the batched decoder alone in it (serve_decoder) beside generate() (serve_generate): their ratio is what
  // batching costs a lone request natively.
  const serveCase = (op: string, B: number) => device === 'cuda'
    ? { suite: 'serve', op, model: GPT2_124M, B, max_new_tokens: 128, repeats: quick ? 1 : 3, warmup: 1 }
    : { suite: 'serve', op, model: CPU_DEFAULT_MODEL, B, max_new_tokens: CPU_DEFAULT_MODEL.block_size - 1, repeats: quick ? 2 : Math.max(4, 32 / B), warmup: quick ? 1 : 3 };
  for (const op of ['serve_batched', 'serve_single']) {
    for (const B of [1, 8, 32]) add(serveCase(op, B));
  }
  for (const op of ['serve_decoder', 'serve_generate']) add({ ...serveCase(op, 1), repeats: quick ? 3 : 10 });
  const mb = device === 'cuda' ? 500 : quick ? 50 : 200;
  add({ suite: 'checkpoint', op: 'checkpoint', what: 'save', mb, repeats: quick ? 2 : 3, warmup: 0 });
  add({ suite: 'checkpoint', op: 'checkpoint', what: 'load', mb, repeats: quick ? 2 : 3, warmup: 0 });
  // data: GPT-2 tokenization (N: threads) beside js-tiktoken and Python's tiktoken; RSS training from a large mapped file (mb: its size,
  // repeats: the training steps)
  const cores = os.cpus().length;
  const tokMb = quick ? 2 : 8;
  add({ suite: 'data', op: 'tokenize', what: 'native', N: 1, mb: tokMb, repeats: 3, warmup: 1 });
  if (cores > 1) add({ suite: 'data', op: 'tokenize', what: 'native', N: cores, mb: tokMb, repeats: 3, warmup: 1 });
  add({ suite: 'data', op: 'tokenize', what: 'js-tiktoken', mb: quick ? 0.25 : 1, repeats: 3, warmup: 0 });
  add({ suite: 'data', op: 'tokenize', what: 'tiktoken', N: cores, mb: tokMb, repeats: 3, warmup: 1 }); // rows only where Python has tiktoken
  const gb = Number(process.env.MYPT_BENCH_DATA_GB) > 0 ? Number(process.env.MYPT_BENCH_DATA_GB) : quick ? 0.25 : 1;
  add({ suite: 'data', op: 'mmap_rss', mb: Math.round(gb * 1024), repeats: quick ? 100 : 400, warmup: 0 });
  return out;
}

/** FLOPs and minimum bytes of one repeat, where they mean something (null otherwise). */
export function workOf(c: BenchCase): { flops: number | null; bytes: number | null } {
  const bf = c.device === 'cuda' && c.precision !== 'fp32' ? 2 : 4;
  switch (c.op) {
    case 'matmul':
      return { flops: 2 * c.M! * c.K! * c.N!, bytes: bf * (c.M! * c.K! + c.N! * c.K! + c.M! * c.N!) };
    case 'attention_fwd':
    case 'attention_fwd_bwd': {
      // causal: half of 4*B*H*T*T*D for the forward; the backward is 2.5 times the forward
      const fwd = 2 * c.B! * c.H! * c.T! * c.T! * c.D!;
      return { flops: c.op === 'attention_fwd' ? fwd : 3.5 * fwd, bytes: null };
    }
    case 'adamw':
      return { flops: null, bytes: 28 * c.N! }; // read p, g, m, v; write p, m, v (fp32)
    case 'layernorm_fwd_bwd':
      return { flops: null, bytes: bf * 5 * c.M! * c.K! }; // fwd: read x, write y; bwd: read x, dy, write dx
    case 'classifier':
      return { flops: null, bytes: 8 * c.M! * c.N! }; // read logits, write dlogits (fp32)
    default:
      return { flops: null, bytes: null };
  }
}

/** Training FLOPs per token, nanoGPT's estimate (6N + 12 L C T, N without the position table). */
export function trainFlopsPerToken(m: ModelShape, T: number): number {
  const C = m.n_embd;
  const perLayer = 12 * C * C + (m.bias ? 13 * C : 0);
  const head = m.arch === 'gpt2' ? 0 : m.vocab_size * C + m.vocab_size;
  const n = m.vocab_size * C + m.n_layer * perLayer + 2 * C + head;
  return 6 * n + 12 * m.n_layer * C * T;
}
