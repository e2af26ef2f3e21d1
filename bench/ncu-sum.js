#!/usr/bin/env node
// Sums an Nsight Compute CSV (`ncu --metrics gpu__time_duration.sum --csv --print-units base`) by kernel name,
// for bench/decode-kernels.sh and bench/train-kernels.sh:
//   node bench/ncu-sum.js CSV --unit REGEX [--window last|half]
// --window last: the kernels after the second-to-last kernel whose name matches --unit, through the last one
//                (one training step: adamw ends each); half: the second half of the rows (steady-state tokens).
// Times are per unit: the window's total divided by how often the first matching kernel name runs in it.
'use strict';
const fs = require('fs');

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const file = process.argv[2];
const unit = new RegExp(arg('--unit', 'adamw'));
const window = arg('--window', 'last');
if (!file || !fs.existsSync(file) || !['last', 'half'].includes(window)) {
  console.error('usage: node bench/ncu-sum.js CSV --unit REGEX [--window last|half]');
  process.exit(1);
}

const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('"'));
if (lines.length < 2) {
  console.error(`${file}: no kernel rows (did ncu run?)`);
  process.exit(1);
}
const head = JSON.parse('[' + lines[0] + ']');
const iName = head.indexOf('Kernel Name'), iVal = head.indexOf('Metric Value');
const rows = lines.slice(1).map((l) => JSON.parse('[' + l + ']'))
  .map((r) => ({ name: r[iName].replace(/\(.*$/, '').replace(/^void /, '').slice(0, 80), ns: Number(String(r[iVal]).replace(/,/g, '')) }));  // ncu writes 11,648

let win;
if (window === 'half') {
  win = rows.slice(Math.floor(rows.length / 2));
} else {
  const ends = rows.map((r, i) => (unit.test(r.name) ? i : -1)).filter((i) => i >= 0);
  win = rows.slice(ends.length >= 2 ? ends[ends.length - 2] + 1 : 0, ends.length ? ends[ends.length - 1] + 1 : rows.length);
}
const first = win.find((r) => unit.test(r.name));  // the first kernel name that matches counts the units
const units = first ? win.filter((r) => r.name === first.name).length : 1;
const by = new Map();
let total = 0;
for (const r of win) {
  const e = by.get(r.name) || { n: 0, ns: 0 };
  e.n++;
  e.ns += r.ns;
  total += r.ns;
  by.set(r.name, e);
}
console.log(`kernels in the window: ${win.length}, units (${unit.source}): ${units}, GPU us per unit ${(total / units / 1e3).toFixed(1)}`);
for (const [k, e] of [...by].sort((a, b) => b[1].ns - a[1].ns))
  console.log(String((e.ns / units / 1e3).toFixed(2)).padStart(10), 'us/unit', String(e.n / units).padStart(6), 'x', (e.ns / e.n / 1e3).toFixed(2).padStart(8), 'us each ', k);
