// The `serve` suite: the HTTP server under load. N clients at once, each sending completions one after
// another (streamed, as chat front-ends do), against a random-weight model of the suite's shape; aggregate
// tokens/s over the wall time, and each request's latency (p50 as the median, p95 beside it). Batched
// (continuous batching, --max_batch 32) and one at a time (--max_batch 1) in the same run, to compare; and
// one sequence without HTTP through the batched decoder (serve_decoder) and through generate() (serve_generate).
import { createModel } from '../../model/gpt';
import { createTokenizer } from '../../tokenizer';
import { serve } from '../serve/server';
import type { BenchCase, Device } from './cases';
import { summarize, Timing } from './stats';

/** One row of the table (a BenchRow of run.ts). */
export interface ServeRow { id: string; suite: string; device: Device; timing: Timing; tokens_per_s: number; p95_ms: number }

/** 65 distinct characters (the CPU model's vocabulary), or GPT-2's tokenizer for a 50k vocabulary. */
function tokenizerFor(vocab: number) {
  if (vocab > 256) return createTokenizer('gpt2');
  return createTokenizer('char', Array.from({ length: vocab }, (_, i) => String.fromCharCode(32 + i)).join(''));
}

/** The first case of a process warms the JavaScript side (the server's per-token code, fetch) first: without
 *  it the suite's first row ran about 2x slower per request than the same row run later, on the CPU. */
let processWarm = false;

export async function runServe(c: BenchCase): Promise<ServeRow> {
  if (c.op === 'serve_decoder' || c.op === 'serve_generate') return runAlone(c);
  const m = c.model!;
  const model = createModel({ ...m, device: c.device, dropout: 0, seed: 1 }, { tokenizer: tokenizerFor(m.vocab_size) });
  const clients = c.B!;
  const server = await serve({ model: model, port: 0, max_batch: c.op === 'serve_batched' ? 32 : 1, max_queue: 1024 });
  try {
    const one = async (seed: number): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const res = await fetch(`${server.url}/v1/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'A', max_tokens: c.max_new_tokens, seed, temperature: 1, stream: true }),
      });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
      const text = await res.text();
      if (!text.endsWith('data: [DONE]\n\n')) throw new Error('a stream ended without [DONE]');
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const round = async (reps: number, lat: number[], n = clients) => {
      await Promise.all(Array.from({ length: n }, async (_, k) => {
        for (let r = 0; r < reps; r++) lat.push(await one(k * 1000 + r));
      }));
    };
    if (!processWarm) {
      await round(4, [], 8);
      processWarm = true;
    }
    await round(c.warmup, []);
    const lat: number[] = [];
    const t0 = process.hrtime.bigint();
    await round(c.repeats, lat);
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const timing = summarize(lat);
    const sorted = [...lat].sort((a, b) => a - b);
    const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)];
    return { id: c.id, suite: c.suite, device: c.device, timing, tokens_per_s: (lat.length * c.max_new_tokens!) / wall, p95_ms: p95 };
  } finally {
    await server.close();
    model.dispose();
  }
}

/** One sequence at a time without HTTP: through the batched decoder, alone in it, or through generate();
 *  the same prompt, length and sampling as the server rows, the same ids either way. */
async function runAlone(c: BenchCase): Promise<ServeRow> {
  const model = createModel({ ...c.model!, device: c.device, dropout: 0, seed: 1 });
  try {
    const dec = c.op === 'serve_decoder' ? model.openDecoder(32) : null;
    const lat: number[] = [];
    for (let r = 0; r < c.warmup + c.repeats; r++) {
      const opts = { max_new_tokens: c.max_new_tokens!, temperature: 1, seed: 1000 + r };
      const t0 = process.hrtime.bigint();
      if (dec) await dec.generate([0], opts);
      else await model.generate([0], opts);
      if (r >= c.warmup) lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const timing = summarize(lat);
    const sorted = [...lat].sort((a, b) => a - b);
    const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)];
    return { id: c.id, suite: c.suite, device: c.device, timing, tokens_per_s: c.max_new_tokens! / (timing.median_ms / 1e3), p95_ms: p95 };
  } finally {
    model.dispose();
  }
}
