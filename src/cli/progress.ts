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
