// The benchmark's terminal table and JSON record.
import { BenchReport, BenchRow } from './run';

const f = (x: number | undefined, digits = 2) => (x === undefined || !isFinite(x) ? '' : x.toFixed(digits));

function throughput(r: BenchRow): string {
  if (r.tflops !== undefined) return r.tflops >= 1 ? `${f(r.tflops, 1)} TFLOP/s` : `${f(r.tflops * 1e3, 1)} GFLOP/s`;
  if (r.tokens_per_s !== undefined) {
    const t = r.tokens_per_s >= 1e4 ? `${f(r.tokens_per_s / 1e3, 1)}k tok/s` : `${f(r.tokens_per_s, 0)} tok/s`;
    const extra = r.mfu !== undefined ? ` MFU ${f(100 * r.mfu, 1)}%` : r.ttft_ms !== undefined ? ` TTFT ${f(r.ttft_ms, 1)} ms`
      : r.p95_ms !== undefined ? ` p95 ${f(r.p95_ms, 1)} ms` : '';
    return t + extra;
  }
  if (r.gbps !== undefined) return `${f(r.gbps, r.gbps >= 10 ? 0 : 1)} GB/s`;
  if (r.mb_per_s !== undefined) return `${f(r.mb_per_s, 0)} MB/s`;
  return '';
}

export const HEADER = ['case', 'ms (median)', 'spread', 'throughput', 'peak MB', 'PyTorch ms', 'speedup', 'PyTorch peak MB'];

/** The training step's PyTorch peak memory: "eager / compiled" (either may be missing). */
function pytorchPeak(r: BenchRow): string {
  if (r.pytorch_peak_mb === undefined && r.pytorch_compile_peak_mb === undefined) return '';
  const compiled = r.pytorch_compile_peak_mb !== undefined ? `compiled ${f(r.pytorch_compile_peak_mb, 0)}` : '';
  return r.pytorch_peak_mb !== undefined ? `${f(r.pytorch_peak_mb, 0)}${compiled ? ` (${compiled})` : ''}` : compiled;
}

export function rowCells(r: BenchRow): string[] {
  if (r.error) return [r.id, `error: ${r.error}`, '', '', '', '', '', ''];
  return [
    r.id,
    f(r.timing?.median_ms, 3),
    r.timing ? `${f(100 * r.timing.spread, 0)}%` : '',
    throughput(r),
    f(r.peak_mb, 0) + (r.driver_mb !== undefined ? ` (driver ${f(r.driver_mb, 0)})` : ''),
    r.pytorch_ms !== undefined
      ? f(r.pytorch_ms, 3) + (r.pytorch_compile_ms !== undefined ? ` (compiled ${f(r.pytorch_compile_ms, 3)})` : '')
        + (r.pytorch_fsync_ms !== undefined ? ` (+fsync ${f(r.pytorch_fsync_ms, 3)})` : '')
      : r.pytorch_error ? 'error' : '',
    r.speedup !== undefined ? `${f(r.speedup, 2)}x` : '',
    pytorchPeak(r),
  ];
}

export function formatTable(report: BenchReport): string {
  const rows = [HEADER, ...report.rows.map(rowCells)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const m = report.machine;
  const head = [
    `mypt-native ${m.package_version} bench, ${m.date}`,
    `cpu: ${m.cpu} x${m.cores}, ${m.memory_gb} GB; gpu: ${m.gpu ?? 'none'}${m.driver ? ` (driver ${m.driver})` : ''}; node ${m.node}${report.pytorch ? `; torch ${report.pytorch}` : ''}`,
    '',
  ];
  return [...head, line(rows[0]), ...rows.slice(1).map(line)].join('\n');
}
