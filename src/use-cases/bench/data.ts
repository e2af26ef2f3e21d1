// The `data` bench suite: GPT-2 tokenization MB/s (the native BPE on one thread and on every core, beside
// js-tiktoken in the same run) and the peak resident size of training from a large memory-mapped token
// file (MYPT_BENCH_DATA_GB, default 1; --quick 0.25), measured in a forked child.
import { fork, spawnSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import type { BenchCase, Device } from './cases';
import { summarize, Timing, timeAsync } from './stats';
import { encodeAsync, ranksTable, TiktokenRanks } from '../../tokenizer/bpe-native';
import { metaPklBytes } from '../../formats/tokens';
import { DEFAULT_CORPUS } from '../../data';

/** A row of run.ts's table (DataRow's fields this suite fills). */
interface DataRow {
  id: string;
  suite: string;
  device: Device;
  timing?: Timing;
  mb_per_s?: number;
  peak_mb?: number;
  tokens_per_s?: number;
  error?: string;
}

function corpus(mb: number): Uint8Array {
  const one = fs.readFileSync(DEFAULT_CORPUS);
  const out = Buffer.alloc(Math.round(mb * 1e6));
  for (let o = 0; o < out.length; o += one.length) one.copy(out, o, 0, Math.min(one.length, out.length - o));
  // end on a whole character
  let end = out.length;
  while (end > 0 && (out[end - 1] & 0xc0) === 0x80) end--;
  return out.subarray(0, end);
}

async function tokenizeRow(c: BenchCase): Promise<DataRow> {
  const text = corpus(c.mb!);
  let once: () => Promise<unknown>;
  if (c.what === 'js-tiktoken') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { Tiktoken } = require('js-tiktoken/lite');
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const ranks = require('js-tiktoken/ranks/gpt2');
    const enc = new Tiktoken(ranks.default ?? ranks);
    const s = new TextDecoder().decode(text);
    once = async () => enc.encode(s, [], []);
  } else {
    once = () => encodeAsync(text, c.N);
  }
  const timing = summarize(await timeAsync(once, c.warmup, c.repeats));
  return { id: c.id, suite: c.suite, device: c.device, timing, mb_per_s: c.mb! / (timing.median_ms / 1e3) };
}

/** tiktoken (Python) on the same text, on 1 thread and on `threads`, where a python3 has it (bench/tiktoken_ref.py). */
function tiktokenRows(c: BenchCase): DataRow[] {
  const text = corpus(c.mb!);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-bench-tiktoken-'));
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require('js-tiktoken/ranks/gpt2');
    const ranks = (mod.default ?? mod) as TiktokenRanks & { pat_str: string };
    const t = ranksTable(ranks);
    const lines: string[] = [];
    for (let i = 0; i < 50256; i++) lines.push(`${Buffer.from(t.bytes.subarray(t.offsets[i], t.offsets[i + 1])).toString('base64')} ${i}`);
    fs.writeFileSync(path.join(dir, 'ranks'), lines.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'corpus.txt'), text);
    const req = { corpus: path.join(dir, 'corpus.txt'), ranks: path.join(dir, 'ranks'), pat_str: ranks.pat_str, threads: [1, c.N!], repeats: c.repeats };
    const script = path.join(__dirname, '..', '..', '..', 'bench', 'tiktoken_ref.py');
    for (const py of [process.env.MYPT_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean) as string[]) {
      const r = spawnSync(py, [script], { input: JSON.stringify(req), encoding: 'utf8', maxBuffer: 16 << 20, timeout: 600000 });
      if (r.status !== 0) continue;
      const out = JSON.parse(r.stdout) as { error?: string; tiktoken?: string; results?: { threads: number; median_ms: number; ids: number }[] };
      if (out.error || !out.results) continue;
      return out.results.map((x) => ({
        id: `${c.suite}/tokenize N${x.threads} tiktoken ${out.tiktoken} (Python) ${c.mb}MB`, suite: c.suite, device: c.device,
        timing: summarize([x.median_ms]), mb_per_s: c.mb! / (x.median_ms / 1e3),
      }));
    }
    return []; // no python3 with tiktoken here: no rows
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A nanoGPT-shaped folder: train.bin of `gb` GB (ids below 96), a small val.bin and a 96-character meta.pkl. */
function tokenFolder(gb: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-bench-data-'));
  const chunk = new Uint16Array(4 << 20);
  let s = 12345;
  for (let i = 0; i < chunk.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; chunk[i] = (s >>> 16) % 96; }
  const bytes = Buffer.from(chunk.buffer);
  const fd = fs.openSync(path.join(dir, 'train.bin'), 'w');
  try {
    for (let left = Math.round(gb * 2 ** 30); left > 0; left -= bytes.length) fs.writeSync(fd, bytes, 0, Math.min(left, bytes.length));
  } finally {
    fs.closeSync(fd);
  }
  fs.writeFileSync(path.join(dir, 'val.bin'), bytes.subarray(0, 1 << 20));
  fs.writeFileSync(path.join(dir, 'meta.pkl'), metaPklBytes(Array.from({ length: 96 }, (_, i) => String.fromCharCode(32 + i))));
  return dir;
}

function child(mode: string, dir: string, steps: number): Promise<Record<string, number> & { error?: string }> {
  return new Promise((resolve, reject) => {
    const p = fork(path.join(__dirname, 'data-child.js'), [mode, dir, String(steps)], { stdio: 'ignore' });
    let got: Record<string, number> | undefined;
    p.on('message', (m) => { got = m as Record<string, number>; });
    p.on('error', reject);
    p.on('exit', (code) => (got ? resolve(got) : reject(new Error(`the ${mode} child ended with code ${code}`))));
  });
}

async function rssRows(c: BenchCase): Promise<DataRow[]> {
  const gb = c.mb! / 1024;
  const dir = tokenFolder(gb);
  try {
    const rows: DataRow[] = [];
    for (const mode of ['train', 'no-release']) {
      const r = await child(mode, dir, c.repeats);
      const id = `${c.id} ${mode === 'train' ? 'train --data' : 'engine, pages kept'}`;
      if (r.error) { rows.push({ id, suite: c.suite, device: c.device, error: r.error }); continue; }
      rows.push({ id, suite: c.suite, device: c.device, peak_mb: r.hwm_mb, tokens_per_s: r.tokens_per_s });
    }
    return rows;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function runData(c: BenchCase): Promise<DataRow[]> {
  if (c.op === 'tokenize') return c.what === 'tiktoken' ? tiktokenRows(c) : [await tokenizeRow(c)];
  return rssRows(c);
}
