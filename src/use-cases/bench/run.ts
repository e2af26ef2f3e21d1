// `mypt-native bench`: runs the cases of cases.ts on one device, optionally beside PyTorch, and
// returns rows for the table and the JSON record.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { spawnSync } from 'child_process';
import { BenchCase, casesFor, Device, Suite, SUITES_WITHOUT_PYTORCH, trainFlopsPerToken, workOf } from './cases';
import { summarize, Timing, timeAsync } from './stats';
import { machineInfo, MachineInfo } from './machine';
import { loadAddon } from '../../native';
import { createModel } from '../../model/gpt';
import { loadTorch, saveTorch } from '../../formats/torch';
import { toFloat32 } from '../../formats/tensor';
import { MyptError } from '../../errors';
import { runModded } from './modded';
import { runServe } from './serve';
import { runData } from './data';

export interface BenchOptions {
  device: Device;
  suites?: Suite[];
  /** only the cases whose id contains one of these ('train_step B16', '350M') */
  cases?: string[];
  quick?: boolean;
  compare?: 'pytorch';
  onRow?: (row: BenchRow) => void;
}

export interface BenchRow {
  id: string;
  suite: string;
  device: Device;
  timing?: Timing;
  tflops?: number;
  gbps?: number;
  tokens_per_s?: number;
  mfu?: number;
  ttft_ms?: number;
  /** the serve suite: 95th percentile of a request's latency (the median is timing.median_ms) */
  p95_ms?: number;
  mb_per_s?: number;
  /** the GPU training step: what the model's own allocations hold after the steps (as PyTorch's figure counts);
   *  elsewhere the peak resident size or the driver's figure */
  peak_mb?: number;
  /** the GPU training step: the driver's memory in use after the steps over before the model (the allocations,
   *  the kernels' images loaded for the step and the driver's own), beside peak_mb */
  driver_mb?: number;
  pytorch_ms?: number;
  /** the training step through torch.compile (GPU only) */
  pytorch_compile_ms?: number;
  /** the training step (GPU): PyTorch's peak memory, torch.cuda.max_memory_allocated over the step's own
   *  allocations, eager and through torch.compile; beside peak_mb, ours */
  pytorch_peak_mb?: number;
  pytorch_compile_peak_mb?: number;
  pytorch_error?: string;
  /** checkpoint save: torch.save followed by an fsync of the file, as our save ends (the speedup stays against plain torch.save) */
  pytorch_fsync_ms?: number;
  /** PyTorch's best median time (eager or compiled) over ours: above 1 means mypt-native is faster */
  speedup?: number;
  error?: string;
}

export interface BenchReport {
  machine: MachineInfo;
  pytorch?: string;
  rows: BenchRow[];
}

/** bf16 dense peak used for MFU: H100 SXM's datasheet figure, as ANCHORS.md. */
const PEAK_BF16 = 989e12;

function randomTokens(n: number, vocab: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s % vocab;
  }
  return out;
}

async function runOp(c: BenchCase): Promise<BenchRow> {
  const r = await loadAddon().benchOp({ ...c, precision: c.precision ?? 'bf16' });
  const timing = summarize(r.ms);
  const row: BenchRow = { id: c.id, suite: c.suite, device: c.device, timing, peak_mb: r.peakBytes / 2 ** 20 };
  const w = workOf(c);
  const sec = timing.median_ms / 1e3;
  if (w.flops) row.tflops = w.flops / sec / 1e12;
  if (w.bytes) row.gbps = w.bytes / sec / 1e9;
  return row;
}

/** GPU memory on device 0, in bytes: in use as the driver sees it (every process's), and held by this process's
 *  engines through their own allocations (NaN where it cannot say). */
function gpuBytes(): { inUse: number; allocated: number } {
  try {
    const m = loadAddon().deviceMemory('cuda', 0);
    return { inUse: m ? m.totalBytes - m.freeBytes : NaN, allocated: m?.allocatedBytes ?? NaN };
  } catch {
    return { inUse: NaN, allocated: NaN }; // no figure rather than no row
  }
}

async function runTrain(c: BenchCase): Promise<BenchRow> {
  const m = c.model!;
  // GPU: the memory before the model (the first reading creates the CUDA context, so the context is left out)
  // and after the timed steps. The engine's device buffers only grow (cuda/buffers.cuh DBuf::ensure) and stay
  // for the next step, so the second reading is the step's peak: weights, gradients, AdamW moments,
  // activations, the token data and cuBLASLt's workspace as allocated (peak_mb, the figure PyTorch's
  // max_memory_allocated is beside), and with the kernels' images and the driver's own (driver_mb).
  // A model disposed by an earlier case is freed when its last call has ended: wait for that first.
  for (let i = 0; c.device === 'cuda' && i < 100 && loadAddon().liveHandles().models > 0; i++) await new Promise((r) => setTimeout(r, 10));
  const gpu0 = c.device === 'cuda' ? gpuBytes() : undefined;
  const model = createModel({ ...m, device: c.device, dropout: 0, seed: 1 });
  try {
    if (c.recompute) model.setRecompute(c.recompute);
    const data = randomTokens(1 << 20, m.vocab_size, 7);
    model.setData('train', data);
    const opts = { batch_size: c.B!, block_size: c.T!, lr: 3e-4, weight_decay: 0.1, grad_clip: 1.0 };
    const rss0 = process.memoryUsage().rss;
    // On a GPU the train loop hands the engine runs of steps (trainBatches: each queued before the last has
    // ended); the bench times runs of 8 and reports the time per step. On the CPU, one step a call.
    const run = c.device === 'cuda' ? 8 : 1;
    const { lr, ...rest } = opts;
    const ms = run === 1 ? await timeAsync(() => model.trainBatch(opts), c.warmup, c.repeats)
      : (await timeAsync(() => model.trainBatches({ ...rest, lrs: new Array(run).fill(lr) }), c.warmup, c.repeats)).map((t) => t / run);
    const timing = summarize(ms);
    const tok = (c.B! * c.T!) / (timing.median_ms / 1e3);
    const row: BenchRow = { id: c.id, suite: c.suite, device: c.device, timing, tokens_per_s: tok };
    if (c.device === 'cuda') {
      row.mfu = (trainFlopsPerToken(m, c.T!) * tok) / PEAK_BF16;
      const gpu1 = gpuBytes();
      const held = gpu1.allocated - gpu0!.allocated, used = gpu1.inUse - gpu0!.inUse;
      if (Number.isFinite(held)) row.peak_mb = held / 2 ** 20;
      if (Number.isFinite(used)) row.driver_mb = used / 2 ** 20;
    } else row.peak_mb = Math.max(0, process.memoryUsage().rss - rss0) / 2 ** 20;
    return row;
  } finally {
    model.dispose();
  }
}

async function runGenerate(c: BenchCase): Promise<BenchRow> {
  const model = createModel({ ...c.model!, device: c.device, dropout: 0, seed: 1 });
  try {
    const ttft: number[] = [];
    // the prompt: one token, or T seeded ids below the vocabulary (op sizes: T is the prompt's length)
    const prompt = c.T ? Array.from({ length: c.T }, (_, i) => (i * 7919 + 13) % c.model!.vocab_size) : [0];
    const run = async () => {
      const t0 = process.hrtime.bigint();
      let first = -1;
      await model.generate(prompt, {
        max_new_tokens: c.max_new_tokens!, temperature: 1, seed: 3,
        onToken: () => { if (first < 0) first = Number(process.hrtime.bigint() - t0) / 1e6; },
      });
      ttft.push(first);
    };
    const ms = await timeAsync(run, c.warmup, c.repeats);
    const timing = summarize(ms);
    const t = summarize(ttft.slice(c.warmup)).median_ms;
    return {
      id: c.id, suite: c.suite, device: c.device, timing,
      tokens_per_s: c.max_new_tokens! / (timing.median_ms / 1e3), ttft_ms: t,
    };
  } finally {
    model.dispose();
  }
}

async function runCheckpoint(c: BenchCase): Promise<BenchRow> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-bench-'));
  const file = path.join(dir, 'sd.pt');
  try {
    const n = Math.floor((c.mb! * 2 ** 20) / 4);
    const per = 1 << 22;
    const sd: Record<string, { dtype: 'float32'; shape: number[]; data: Float32Array }> = {};
    for (let i = 0, left = n; left > 0; i++, left -= per) {
      const data = new Float32Array(Math.min(per, left));
      for (let j = 0; j < data.length; j += 97) data[j] = Math.random();
      sd[`t${i}`] = { dtype: 'float32', shape: [data.length], data };
    }
    await saveTorch(file, sd);
    const once = async () => {
      if (c.what === 'save') return saveTorch(file, sd);
      const loaded = (await loadTorch(file)) as Map<string, { dtype: string; shape: number[]; data: ArrayBufferView }>;
      for (const t of loaded.values()) toFloat32(t as never); // touch every byte
    };
    const ms = await timeAsync(once, c.warmup, c.repeats);
    const timing = summarize(ms);
    return { id: c.id, suite: c.suite, device: c.device, timing, mb_per_s: c.mb! / (timing.median_ms / 1e3) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function findPythonWithTorch(): string | null {
  for (const py of [process.env.MYPT_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean) as string[]) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60000 });
    if (r.status === 0) return py;
  }
  return null;
}

type RefResult = {
  median_ms?: number; compile_median_ms?: number; fsync_median_ms?: number; error?: string;
  peak_mb?: number; compile_peak_mb?: number;
};

function runPyTorch(cases: BenchCase[]): { version: string; results: Map<string, RefResult> } {
  const py = findPythonWithTorch();
  if (!py) throw new MyptError('E_UNSUPPORTED', '--compare pytorch needs a python3 with torch', 'set MYPT_PYTHON to one');
  const script = path.join(__dirname, '..', '..', '..', 'bench', 'pytorch_ref.py');
  const r = spawnSync(py, [script], {
    input: JSON.stringify(cases),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    // OpenMP's default active waiting makes PyTorch's CPU step 3x slower on a small machine: give it its best
    env: { OMP_WAIT_POLICY: 'passive', ...process.env, MYPT_BENCH_THREADS: String(os.cpus().length) },
  });
  if (r.status !== 0) throw new MyptError('E_NATIVE', `the PyTorch reference failed: ${(r.stderr || '').trim().split('\n').pop()}`);
  const out = JSON.parse(r.stdout) as { torch: string; results: (RefResult & { id: string })[] };
  return { version: out.torch, results: new Map(out.results.map((x) => [x.id, x])) };
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const cases = casesFor(o.device, !!o.quick).filter((c) => (!o.suites || o.suites.includes(c.suite as Suite)) &&
    (!o.cases || o.cases.some((k) => c.id.includes(k))));
  if (o.cases && !cases.length) {
    throw new MyptError('E_BAD_ARGUMENT', `--case ${o.cases.join(' ')}: no ${o.device} bench case's name contains it${o.suites ? ' in ' + o.suites.join(', ') : ''}`,
      'the names are the first column of a bench table, e.g. --case "train_step B16"');
  }
  const rows: BenchRow[] = [];
  for (const c of cases) {
    let row: BenchRow;
    if (c.suite === 'data') {
      let data: BenchRow[];
      try { data = await runData(c); } catch (e) { data = [{ id: c.id, suite: c.suite, device: c.device, error: (e as Error).message.split('\n')[0] }]; }
      for (const r of data) { rows.push(r); if (!o.compare) o.onRow?.(r); }
      continue;
    }
    try {
      if (c.op === 'train_step') row = await runTrain(c);
      else if (c.op === 'generate') row = await runGenerate(c);
      else if (c.op === 'checkpoint') row = await runCheckpoint(c);
      else if (c.op.startsWith('modded_')) row = await runModded(c);
      else if (c.op.startsWith('serve_')) row = await runServe(c);
      else row = await runOp(c);
    } catch (e) {
      row = { id: c.id, suite: c.suite, device: c.device, error: (e as Error).message.split('\n')[0] };
    }
    rows.push(row);
    if (!o.compare) o.onRow?.(row);
  }
  const report: BenchReport = { machine: machineInfo(), rows };
  if (o.compare === 'pytorch') {
    const ref = runPyTorch(cases.filter((c) => !(SUITES_WITHOUT_PYTORCH as readonly string[]).includes(c.suite)));
    report.pytorch = ref.version;
    for (const row of rows) {
      const p = ref.results.get(row.id);
      if (p?.median_ms !== undefined) {
        row.pytorch_ms = p.median_ms;
        row.pytorch_compile_ms = p.compile_median_ms;
        row.pytorch_fsync_ms = p.fsync_median_ms;
        row.pytorch_peak_mb = p.peak_mb ?? undefined;
        row.pytorch_compile_peak_mb = p.compile_peak_mb ?? undefined;
        const best = Math.min(p.median_ms, p.compile_median_ms ?? Infinity);
        if (row.timing) row.speedup = best / row.timing.median_ms;
      } else if (p?.error) row.pytorch_error = p.error;
      o.onRow?.(row);
    }
  }
  return report;
}
