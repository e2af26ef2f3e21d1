// Training progress: a live bar (step, loss, tokens/s, ETA) on a terminal; plain lines when stdout is not
// a terminal or CI is set. Eval lines and messages go through log() so they never tear the bar.
import cliProgress from 'cli-progress';

export interface ProgressOptions {
  startStep: number;
  maxIters: number;
  /** Force plain lines (default: when stdout is not a TTY or CI is set). */
  plain?: boolean;
  /** Plain mode prints a line every this many steps (default: about 20 lines per run). */
  every?: number;
  write?: (line: string) => void;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function isPlainOutput(): boolean {
  return !process.stdout.isTTY || Boolean(process.env.CI);
}

export class Progress {
  private readonly plain: boolean;
  private readonly every: number;
  private readonly write: (line: string) => void;
  private multi?: cliProgress.MultiBar;
  private bar?: cliProgress.SingleBar;
  private tokensSinceStart = 0;
  private trainSeconds = 0;

  constructor(private readonly opts: ProgressOptions) {
    this.plain = opts.plain ?? isPlainOutput();
    this.write = opts.write ?? ((l) => process.stdout.write(l + '\n'));
    const steps = Math.max(1, opts.maxIters - opts.startStep);
    this.every = opts.every ?? Math.max(1, Math.round(steps / 20));
    if (!this.plain) {
      this.multi = new cliProgress.MultiBar(
        {
          format: 'step {value}/{total} [{bar}] loss {loss} | {tps} tok/s | ETA {etaText}',
          stream: process.stdout,
          hideCursor: true,
          clearOnComplete: true,
          barsize: 30,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multi.create(opts.maxIters, opts.startStep, { loss: '-', tps: '-', etaText: '?' });
    }
  }

  /** After optimizer step `step` (1-based count of steps done) that took `seconds` for `tokens` tokens. */
  step(step: number, loss: number, tokens: number, seconds: number): void {
    this.tokensSinceStart += tokens;
    this.trainSeconds += seconds;
    const tps = this.trainSeconds > 0 ? this.tokensSinceStart / this.trainSeconds : 0;
    const done = step - this.opts.startStep;
    const eta = done > 0 ? (this.trainSeconds / done) * (this.opts.maxIters - step) : NaN;
    const tpsText = Math.round(tps).toLocaleString('en-US');
    if (this.bar) {
      this.bar.update(step, { loss: loss.toFixed(4), tps: tpsText, etaText: formatDuration(eta) });
    } else if (done % this.every === 0 || step === this.opts.maxIters) {
      this.write(`step ${step}/${this.opts.maxIters} | loss ${loss.toFixed(4)} | ${tpsText} tok/s | ETA ${formatDuration(eta)}`);
    }
  }

  get tokensPerSecond(): number {
    return this.trainSeconds > 0 ? this.tokensSinceStart / this.trainSeconds : 0;
  }

  log(line: string): void {
    if (this.multi) this.multi.log(line + '\n');
    else this.write(line);
  }

  stop(): void {
    // cli-progress writes logged lines only when it next draws: draw once so the last ones (the final eval,
    // the saves) reach the terminal before the bar is cleared
    this.multi?.update();
    this.multi?.stop();
    this.multi = undefined;
    this.bar = undefined;
  }
}

/** A bar over bytes (prepare): MB/s, tokens so far, ETA; plain lines (about one per 10%) when not a terminal. */
export class ByteProgress {
  private readonly plain = isPlainOutput();
  private bar?: cliProgress.SingleBar;
  private readonly t0 = performance.now();
  private lastTenth = -1;

  constructor(private readonly label: string, private readonly total: number, private readonly write = (l: string) => process.stdout.write(l + '\n')) {
    if (!this.plain) {
      this.bar = new cliProgress.SingleBar({
        format: `${label} [{bar}] {percentage}% | {mbs} MB/s | {tokens} tokens | ETA {etaText}`,
        stream: process.stdout, hideCursor: true, clearOnComplete: true, barsize: 30, fps: 5,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(Math.max(1, total), 0, { mbs: '-', tokens: '0', etaText: '?' });
    }
  }

  update(done: number, tokens: number): void {
    const s = (performance.now() - this.t0) / 1000;
    const mbs = s > 0 ? done / 1e6 / s : 0;
    const eta = done > 0 ? (s / done) * (this.total - done) : NaN;
    const fields = { mbs: mbs.toFixed(1), tokens: tokens.toLocaleString('en-US'), etaText: formatDuration(eta) };
    if (this.bar) { this.bar.update(done, fields); return; }
    const tenth = this.total > 0 ? Math.floor((10 * done) / this.total) : 10;
    if (tenth > this.lastTenth) {
      this.lastTenth = tenth;
      this.write(`${this.label} ${Math.min(100, tenth * 10)}% | ${fields.mbs} MB/s | ${fields.tokens} tokens | ETA ${fields.etaText}`);
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
