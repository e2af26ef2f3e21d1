// One completion choice: the model's text for a prompt, cut at the first stop sequence, streamed as whole
// characters (text that could still become a stop sequence is held back until it cannot), and, when asked,
// the log-probabilities of its tokens from one forward pass over prompt + completion.
import type { BatchDecoder } from '../../model';
import { TextStreamDecoder } from '../../tokenizer/stream';
import type { LoadedModel } from '../open/open';

export interface ChoiceOptions {
  max_tokens: number;
  temperature: number;
  top_p: number;
  top_k: number;
  seed: number;
  stop: string[];
  logprobs: number | null;
  echo: boolean;
}

export interface Logprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}

export interface ChoiceResult {
  text: string;
  finish_reason: 'stop' | 'length';
  completion_tokens: number;
  logprobs: Logprobs | null;
}

/** The ids a text prompt becomes, as generate() does it ('' starts from a newline, else token 0). */
export function promptTokens(m: LoadedModel, prompt: string): number[] {
  if (prompt !== '') return m.encode(prompt);
  try { return m.encode('\n'); } catch { return [0]; }
}

/** Cuts streamed text at stop sequences: push() returns what may go out now; end() the rest. */
export class StopCutter {
  private full = '';
  private sent = 0;
  stopped = false;
  constructor(private readonly stops: string[]) {}

  push(piece: string): string {
    if (this.stopped) return '';
    this.full += piece;
    if (this.stops.length === 0) return this.emit(this.full.length);
    const longest = Math.max(...this.stops.map((s) => s.length));
    const from = Math.max(0, this.sent - longest + 1);
    let cut = -1;
    for (const s of this.stops) {
      const i = this.full.indexOf(s, from);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.full = this.full.slice(0, cut);
      return this.emit(cut);
    }
    // hold back the longest tail that begins some stop sequence
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.full.length); k > hold; k--) {
        if (this.full.endsWith(s.slice(0, k))) { hold = k; break; }
      }
    }
    return this.emit(this.full.length - hold);
  }

  end(): string { return this.emit(this.full.length); }
  get text(): string { return this.full; }

  private emit(upto: number): string {
    if (upto <= this.sent) return '';
    const out = this.full.slice(this.sent, upto);
    this.sent = upto;
    return out;
  }
}

/** Runs one choice to its end (or until signal aborts); onText gets each piece as it may go out. */
export async function runChoice(m: LoadedModel, prompt: string, o: ChoiceOptions, signal: AbortSignal,
  onText?: (piece: string) => void, batch?: BatchDecoder): Promise<ChoiceResult> {
  const stopper = new AbortController();
  const cancel = () => stopper.abort();
  signal.addEventListener('abort', cancel, { once: true });
  if (signal.aborted) stopper.abort();
  const cutter = new StopCutter(o.stop);
  const ids: number[] = [];
  try {
    const out = (s: string) => { if (s) onText?.(s); };
    const sample = { max_new_tokens: o.max_tokens, temperature: o.temperature, top_k: o.top_k, top_p: o.top_p, seed: o.seed, signal: stopper.signal };
    if (batch && m.tokenizer) {
      // the batched decoder: ids in, ids out, whole characters as generateStream makes them
      const dec = new TextStreamDecoder(m.tokenizer);
      const piece = (p: string) => {
        if (!p) return;
        out(cutter.push(p));
        if (cutter.stopped) stopper.abort();
      };
      await batch.generate(promptTokens(m, prompt), { ...sample, onToken: (id) => { ids.push(id); piece(dec.push(id)); } });
      piece(dec.flush());
    } else {
      for await (const piece of m.generateStream(prompt, { ...sample, onToken: (id) => { ids.push(id); } })) {
        out(cutter.push(piece));
        if (cutter.stopped) stopper.abort(); // stops after the token in flight
      }
    }
    out(cutter.end());
  } finally {
    signal.removeEventListener('abort', cancel);
  }
  const text = cutter.text;
  let logprobs: Logprobs | null = null;
  if (o.logprobs !== null && !signal.aborted) logprobs = await tokenLogprobs(m, prompt, ids, text, o.logprobs, o.echo);
  return { text, finish_reason: cutter.stopped ? 'stop' : 'length', completion_tokens: ids.length, logprobs };
}

/** OpenAI's legacy logprobs record for the completion's tokens (and the prompt's with echo). */
async function tokenLogprobs(m: LoadedModel, prompt: string, gen: number[], text: string, top: number, echo: boolean): Promise<Logprobs> {
  const pids = promptTokens(m, prompt);
  const all = [...pids, ...gen];
  const res: Logprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  if (all.length === 0) return res;
  const { logits, shape } = await m.forward(all);
  const V = shape[2];
  const logSoftmaxAt = (pos: number): Float64Array => {
    const row = logits.subarray(pos * V, (pos + 1) * V);
    let mx = -Infinity;
    for (const x of row) if (x > mx) mx = x;
    let sum = 0;
    for (const x of row) sum += Math.exp(x - mx);
    const lse = mx + Math.log(sum);
    const out = new Float64Array(V);
    for (let i = 0; i < V; i++) out[i] = row[i] - lse;
    return out;
  };
  const piece = (id: number) => { try { return m.decode([id]); } catch { return ''; } };
  let offset = 0;
  const first = echo ? 0 : pids.length;
  const textLimit = (echo ? prompt.length : 0) + text.length;
  for (let t = first; t < all.length; t++) {
    if (offset >= textLimit && t >= pids.length) break; // tokens after a stop sequence are not part of the text
    const tok = piece(all[t]);
    res.tokens.push(tok);
    res.text_offset.push(offset);
    offset += tok.length;
    if (t === 0) { res.token_logprobs.push(null); res.top_logprobs.push(null); continue; }
    const lp = logSoftmaxAt(t - 1);
    res.token_logprobs.push(lp[all[t]]);
    const best: Record<string, number> = {};
    if (top > 0) {
      const order = Array.from(lp.keys()).sort((a, b) => lp[b] - lp[a]).slice(0, top);
      for (const i of order) best[piece(i)] = lp[i];
    }
    res.top_logprobs.push(best);
  }
  return res;
}
