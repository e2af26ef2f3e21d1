// Who runs next: requests wait in one first-come queue and run one at a time on the model (the CPU's fair
// queue: a native model runs one call at a time, so a second request waits its turn instead of failing).
// A task ends early when its signal aborts (a client gone, a stop sequence met); a task still waiting is
// dropped from the queue at once. A full queue refuses new work (the server answers 503 + Retry-After).
import { MyptError } from '../../errors';

export interface Task<T> {
  run(signal: AbortSignal): Promise<T>;
  signal: AbortSignal;
}

interface Waiting {
  start: () => void;
  signal: AbortSignal;
  onAbort: () => void;
}

export class QueueFullError extends Error {
  constructor(readonly limit: number) {
    super(`the queue is full (${limit} waiting requests); try again shortly`);
    this.name = 'QueueFullError';
  }
}

export class FairQueue {
  private waiting: Waiting[] = [];
  private active = 0;
  private closed = false;

  /** slots: how many tasks run at once (1 for one model call at a time); maxQueue: how many may wait. */
  constructor(readonly slots: number, readonly maxQueue: number) {}

  get queued(): number { return this.waiting.length; }
  get running(): number { return this.active; }
  /** Room for `k` more tasks (running slots free or waiting room). */
  canTake(k: number): boolean {
    return !this.closed && this.waiting.length + Math.max(0, k - (this.slots - this.active)) <= this.maxQueue;
  }

  /** Runs the task when its turn comes; rejects with an AbortError-like MyptError when aborted while waiting. */
  async submit<T>(task: Task<T>): Promise<T> {
    if (this.closed) throw new MyptError('E_UNSUPPORTED', 'the server is shutting down');
    if (task.signal.aborted) throw abortError();
    if (this.active >= this.slots) {
      if (this.waiting.length >= this.maxQueue) throw new QueueFullError(this.maxQueue);
      await new Promise<void>((resolve, reject) => {
        const w: Waiting = {
          signal: task.signal,
          start: () => { task.signal.removeEventListener('abort', w.onAbort); resolve(); },
          onAbort: () => {
            const i = this.waiting.indexOf(w);
            if (i >= 0) this.waiting.splice(i, 1);
            reject(abortError());
          },
        };
        task.signal.addEventListener('abort', w.onAbort, { once: true });
        this.waiting.push(w);
      });
    } else {
      this.active++;
    }
    try {
      return await task.run(task.signal);
    } finally {
      this.next();
    }
  }

  /** No new tasks; the waiting ones are refused (their promises reject). */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.onAbort();
  }

  private next(): void {
    const w = this.waiting.shift();
    if (w) w.start(); // the slot passes straight to the next task
    else this.active--;
  }
}

function abortError(): Error {
  const e = new Error('the request was cancelled');
  e.name = 'AbortError';
  return e;
}
