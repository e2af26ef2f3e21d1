// BatchDecoder: continuous batching over one GPT (the engine's multi-slot decoder, binding/engine/decoder.h).
// Each generate() call is one sequence with its own sampling settings and seed; sequences join the running
// batch at the next token and leave when done, and each gets exactly the ids GptModel.generate gives it
// alone with the same settings. Calls beyond the slots wait natively, in order of arrival.
import { fromNative, NativeModel } from '../native';
import { promptIds, sampleParams } from './text';
import type { GenerateOptions } from './types';

interface Live {
  ids: number[];
  onToken?: (id: number) => void;
  resolve: (ids: number[]) => void;
  reject: (e: unknown) => void;
  failure?: unknown;
}

export class BatchDecoder {
  private readonly live = new Map<number, Live>();
  private nextId = 1;
  private half: number | null = null;

  /** @internal GptModel.openDecoder */
  constructor(private readonly native: () => NativeModel, readonly slots: number, private readonly seedFallback: number) {}

  /** Sequences in the batch or waiting for a slot. */
  get pending(): number { return this.live.size; }

  /** The new ids after the prompt (as GptModel.generate); signal ends the sequence after the token in flight. */
  generate(prompt: number[] | Int32Array, opts: GenerateOptions): Promise<number[]> {
    const ids = promptIds(prompt, 'generate');
    const sample = sampleParams(opts, this.seedFallback);
    if (opts.signal?.aborted) return Promise.resolve([]);
    const id = this.nextId;
    this.nextId = this.nextId >= 2 ** 31 - 2 ? 1 : this.nextId + 1;
    const native = this.native();
    return new Promise<number[]>((resolve, reject) => {
      const abort = () => native.decoderCancel(id);
      const entry: Live = {
        ids: [], onToken: opts.onToken,
        resolve: (r) => { opts.signal?.removeEventListener('abort', abort); resolve(r); },
        reject: (e) => { opts.signal?.removeEventListener('abort', abort); reject(e); },
      };
      let start: boolean;
      try {
        start = native.decoderSubmit(id, ids, sample);
      } catch (e) {
        reject(fromNative(e));
        return;
      }
      this.live.set(id, entry);
      opts.signal?.addEventListener('abort', abort, { once: true });
      if (start) this.run(native);
    });
  }

  private run(native: NativeModel): void {
    native.decoderRun((v) => this.onInt(v)).catch((e) => {
      // the engine failed: every sequence of this run is dropped
      const err = fromNative(e);
      for (const [id, r] of this.live) { this.live.delete(id); r.reject(err); }
      this.half = null;
    });
  }

  private onInt(v: number): void {
    if (this.half === null) { this.half = v; return; }
    const id = this.half;
    this.half = null;
    const r = this.live.get(id);
    if (!r) return;
    if (v < 0) {
      this.live.delete(id);
      if (r.failure !== undefined) r.reject(r.failure);
      else r.resolve(r.ids);
      return;
    }
    r.ids.push(v);
    if (r.onToken && r.failure === undefined) {
      try {
        r.onToken(v);
      } catch (e) {
        r.failure = e; // stop the sequence and report the callback's error
        this.native().decoderCancel(id);
      }
    }
  }
}
