// The `modded` bench suite: a modded-nanogpt model with random weights at a script's size, on the
// native engine. Two figures:
//   modded_prefill   a T-token prompt through every layer, then one sampled token (time to first token)
//   modded_generate  max_new_tokens sampled one by one from a one-token prompt (KV cache)
import { BenchCase, ModdedShape } from './cases';
import { summarize, timeAsync } from './stats';
import { loadAddon } from '../../native';

interface NativeModded {
  generate(prompt: Int32Array, opts: Record<string, number>): Promise<Int32Array>;
  dispose(): void;
}
type NativeCtor = new (config: Record<string, unknown>, weights: Record<string, Float32Array>,
  placement?: Record<string, unknown>) => NativeModded;

/** Uniform values in [-scale, scale) from a fixed seed (xorshift; fast enough for 450M values). */
function fill(n: number, scale: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = (s / 2 ** 31 - 1) * scale;
  }
  return a;
}

/** Native weights of a random model in the scripts' init ranges; scalars at their init values (skip 1,
 *  block lambdas [1, 0], value lambdas [0.5, 0.5]) or, with scalars 'random', drawn in [0, 1) so that
 *  every lambda and skip weight matters (the GPU tests). */
export function randomModdedWeights(m: ModdedShape, scalars: 'init' | 'random' = 'init'): Record<string, Float32Array> {
  const d = m.dim, hd = m.n_head * m.head_dim, F = 4 * d, L = m.n_layer;
  const bound = (fanIn: number) => Math.sqrt(3) * 0.5 / Math.sqrt(fanIn);
  let seed = 1;
  const w: Record<string, Float32Array> = { embed: fill(m.vocab * d, 1.7, seed++), lm_head: fill(m.padded_vocab * d, bound(d), seed++) };
  for (let j = 0; j < 3; j++) w[`value_embeds.${j}`] = fill(m.vocab * d, 1.7, seed++);
  for (let i = 0; i < L; i++) {
    if (i !== 7) {
      w[`blocks.${i}.attn.qkv`] = fill(3 * hd * d, bound(d), seed++);
      w[`blocks.${i}.attn.o`] = fill(d * hd, bound(hd), seed++);
    }
    w[`blocks.${i}.mlp.fc`] = fill(F * d, bound(d), seed++);
    w[`blocks.${i}.mlp.proj`] = fill(d * F, bound(F), seed++);
  }
  let sc = new Float32Array(5 * L);
  if (scalars === 'random') {
    sc = fill(5 * L, 0.5, seed++).map((x) => x + 0.5);
  } else {
    for (let i = 0; i < L; i++) {
      sc[i] = 1;
      sc[L + 2 * i] = 1;
      sc[3 * L + 2 * i] = 0.5;
      sc[3 * L + 2 * i + 1] = 0.5;
    }
  }
  w.scalars = sc;
  return w;
}

export async function runModded(c: BenchCase) {
  const m = c.modded!;
  const Ctor = (loadAddon() as unknown as { ModdedModel: NativeCtor }).ModdedModel;
  const config = {
    preset: m.layout, n_layer: m.n_layer, dim: m.dim, n_head: m.n_head, head_dim: m.head_dim,
    embed_rows: m.vocab, head_rows: m.padded_vocab, scalars_len: 5 * m.n_layer,
  };
  const placement = { device: c.device, index: 0, precision: c.device === 'cuda' ? (c.precision ?? 'bf16') : 'fp32' };
  const model = new Ctor(config, randomModdedWeights(m), placement);
  try {
    // token ids below 50000: no GPT-2 EOT (50256), so the document mask never splits the prompt
    const prompt = new Int32Array(c.op === 'modded_prefill' ? c.T! : 1);
    for (let i = 0; i < prompt.length; i++) prompt[i] = (i * 7919 + 13) % 50000;
    const n = c.op === 'modded_prefill' ? 1 : c.max_new_tokens!;
    const ms = await timeAsync(() => model.generate(prompt, { max_new_tokens: n, temperature: 1, seed: 3, vocab_limit: m.vocab }),
      c.warmup, c.repeats);
    const timing = summarize(ms);
    const sec = timing.median_ms / 1e3;
    return {
      id: c.id, suite: c.suite, device: c.device, timing,
      tokens_per_s: (c.op === 'modded_prefill' ? c.T! : n) / sec,
    };
  } finally {
    model.dispose();
  }
}
