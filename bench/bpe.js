#!/usr/bin/env node
// GPT-2 BPE throughput: the native BPE (src/tokenizer/bpe-native.ts) on one thread and on all threads, beside
// js-tiktoken, on tinyshakespeare repeated to ~50 MB. Needs the built package (npm run build).
//
//   node bench/bpe.js [--mb 50] [--js-mb 5] [--reps 3] [--json]
// js-tiktoken runs on the first --js-mb MB only (about 1.5 MB/s: the whole text would take half a minute);
// its ids there are checked against the native ones. MB are 10^6 bytes of UTF-8. The repeated text suits
// the native merge cache (a piece merged once is looked up after); the row 'text once' is a single copy.
// MB/CPU-s: MB per second of CPU time summed over the process's threads (per-core efficiency).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const targetMB = opt('mb', 50);
const jsMB = opt('js-mb', 5);
const reps = opt('reps', 3);

const native = require(path.join(__dirname, '..', 'lib', 'tokenizer', 'bpe-native'));
const { Tiktoken } = require('js-tiktoken/lite');
const ranksModule = require('js-tiktoken/ranks/gpt2');

const base = fs.readFileSync(path.join(__dirname, '..', 'data', 'tinyshakespeare.txt'), 'utf8');
const text = base.repeat(Math.max(1, Math.round((targetMB * 1e6) / Buffer.byteLength(base))));
const bytes = Buffer.from(text);
const mb = bytes.length / 1e6;
const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;

// the best wall time of `reps` runs, and the least CPU time (all threads of the process: a per-core figure
// that a busy machine disturbs less than the wall time)
async function best(fn) {
  let t = Infinity;
  let cpu = Infinity;
  let out;
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    out = await fn();
    const c = process.cpuUsage(c0);
    t = Math.min(t, Number(process.hrtime.bigint() - t0) / 1e9);
    cpu = Math.min(cpu, (c.user + c.system) / 1e6);
  }
  return { s: t, cpu, out };
}

(async () => {
  const rows = [];
  const t0 = process.hrtime.bigint();
  native.gpt2Bpe(); // load the ranks and build the tables once
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const ref = await best(async () => native.encode(bytes));
  const count = ref.out.length;
  const row = (name, threads, input, r, size = mb) => {
    if (r.out && r.out.length !== undefined && size === mb) {
      if (r.out.length !== count || r.out.some((v, i) => v !== ref.out[i])) throw new Error(`${name}: ids differ from encode()`);
    }
    rows.push({ name, threads, input, mb: +size.toFixed(2), seconds: +r.s.toFixed(3), mbPerSecond: +(size / r.s).toFixed(1),
      mbPerCpuSecond: +(size / r.cpu).toFixed(1) });
  };
  row('native encode (sync)', 1, 'Buffer', ref);
  row('native encode (sync)', 1, 'string', await best(async () => native.encode(text)));
  const once = Buffer.from(base);
  row('native encode, text once (cold cache)', 1, 'Buffer', await best(async () => native.encode(once)), once.length / 1e6);
  row('native encodeAsync', 1, 'Buffer', await best(() => native.encodeAsync(bytes, 1)));
  row('native encodeAsync', cores, 'Buffer', await best(() => native.encodeAsync(bytes, 0)));
  row('native encodeAsync', cores, 'string', await best(() => native.encodeAsync(text, 0)));

  const jsText = bytes.subarray(0, Math.min(bytes.length, Math.round(jsMB * 1e6))).toString('utf8').replace(/\uFFFD$/, '');
  const jsSize = Buffer.byteLength(jsText) / 1e6;
  const enc = new Tiktoken(ranksModule.default || ranksModule);
  const jsRun = await best(async () => enc.encode(jsText, [], []));
  const mine = native.encode(jsText, 'gpt2-js');
  if (mine.length !== jsRun.out.length || mine.some((v, i) => v !== jsRun.out[i])) throw new Error('js-tiktoken ids differ');
  row('js-tiktoken encode(text, [], [])', 1, 'string', jsRun, jsSize);

  const result = {
    text: `tinyshakespeare x${text.length / base.length} (${mb.toFixed(1)} MB, ${count} ids)`,
    cores,
    loadMs: +loadMs.toFixed(0),
    rows,
  };
  if (args.includes('--json')) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  console.log(`${result.text}; ${cores} cores; native tables built in ${result.loadMs} ms; best of ${reps}`);
  for (const r of rows) {
    console.log(`  ${r.name.padEnd(38)} ${String(r.threads).padStart(2)} thread${r.threads === 1 ? ' ' : 's'} ${r.input.padEnd(6)} ${r.mbPerSecond.toFixed(1).padStart(7)} MB/s  ${r.mbPerCpuSecond.toFixed(1).padStart(7)} MB/CPU-s  (${r.mb} MB in ${r.seconds} s)`);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
