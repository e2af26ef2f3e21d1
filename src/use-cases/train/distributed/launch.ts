// The launcher of `train --gpus N`: starts this host's N workers (one process a GPU: the reasons are in
// README.md, "Several GPUs"), each with torchrun's variables (role.ts workerEnv) and NVLink multicast
// off, and watches them:
//   - a worker that ends badly (an exit code other than 0, or a signal) ends the job: the launcher says
//     which rank and how, sends the others SIGTERM, then SIGKILL after graceMs, and reports failure;
//   - stop() (the first Ctrl-C) asks every worker to finish its step and save (an IPC message; the
//     workers agree on the step to stop at through their group, engine/data_parallel.h); kill() (the
//     second) ends them at once.
// The worker of global rank 0 shares the launcher's terminal (its progress bar and log lines are the
// job's); the others' output comes through onOutput, for the caller to prefix with the rank. Prints nothing.
import { spawn, ChildProcess } from 'child_process';
import type { LaunchRole } from './role';
import { workerEnv } from './role';

export type LaunchEvent =
  | { type: 'started'; rank: number; localRank: number; pid: number }
  | { type: 'failure'; rank: number; message: string }
  | { type: 'exited'; rank: number; code: number | null; signal: NodeJS.Signals | null };

export interface LaunchOptions {
  role: LaunchRole;
  /** one worker's command line, [executable, ...args]; the launcher adds the environment */
  command: string[];
  env?: NodeJS.ProcessEnv;
  onOutput?: (rank: number, stream: 'stdout' | 'stderr', text: string) => void;
  onEvent?: (e: LaunchEvent) => void;
  /** between SIGTERM and SIGKILL when a worker failed (default 5000 ms) */
  graceMs?: number;
}

export interface LaunchResult {
  /** every worker exited with code 0 */
  ok: boolean;
  /** the first failure, naming the rank ("rank 1 (pid 4242) was killed by SIGKILL") */
  failure?: string;
  /** the exit code the launcher should end with */
  code: number;
}

export interface Launch {
  readonly done: Promise<LaunchResult>;
  readonly pids: number[];
  stop(): void;
  kill(): void;
}

export function launchWorkers(o: LaunchOptions): Launch {
  const { role } = o;
  const graceMs = o.graceMs ?? 5000;
  const workers: { child: ChildProcess; rank: number; exited: boolean }[] = [];
  let failure: string | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let resolveDone!: (r: LaunchResult) => void;
  const done = new Promise<LaunchResult>((r) => (resolveDone = r));

  const terminateOthers = () => {
    for (const w of workers) if (!w.exited) w.child.kill('SIGTERM');
    killTimer = setTimeout(() => {
      for (const w of workers) if (!w.exited) w.child.kill('SIGKILL');
    }, graceMs);
    killTimer.unref();
  };

  const finishIfAllExited = () => {
    if (!workers.every((w) => w.exited)) return;
    if (killTimer) clearTimeout(killTimer);
    resolveDone(failure ? { ok: false, failure, code: 1 } : { ok: true, code: 0 });
  };

  for (let local = 0; local < role.nproc; local++) {
    const rank = role.nodeRank * role.nproc + local;
    const shared = rank === 0;
    const child = spawn(o.command[0], o.command.slice(1), {
      env: workerEnv(role, local, o.env ?? process.env),
      stdio: shared ? ['inherit', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const w = { child, rank, exited: false };
    workers.push(w);
    for (const stream of ['stdout', 'stderr'] as const) {
      const s = child[stream];
      if (!s) continue;
      s.setEncoding('utf8');
      s.on('data', (text: string) => o.onOutput?.(rank, stream, text));
    }
    child.on('error', (e) => {
      if (!failure) {
        failure = `rank ${rank} could not start: ${e.message}`;
        o.onEvent?.({ type: 'failure', rank, message: failure });
        terminateOthers();
      }
      w.exited = true;
      finishIfAllExited();
    });
    child.on('exit', (code, signal) => {
      w.exited = true;
      o.onEvent?.({ type: 'exited', rank, code, signal });
      if ((code !== 0 || signal) && !failure) {
        failure = `rank ${rank} (pid ${child.pid}) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`;
        o.onEvent?.({ type: 'failure', rank, message: failure });
        terminateOthers();
      }
      finishIfAllExited();
    });
    if (child.pid !== undefined) o.onEvent?.({ type: 'started', rank, localRank: local, pid: child.pid });
  }

  return {
    done,
    get pids() { return workers.map((w) => w.child.pid ?? -1); },
    stop: () => {
      for (const w of workers) if (!w.exited && w.child.connected) w.child.send({ type: 'stop' }, () => {});
    },
    kill: () => {
      for (const w of workers) if (!w.exited) w.child.kill('SIGKILL');
    },
  };
}
