#!/usr/bin/env node
// The arithmetic of bench/nanogpt-side-by-side.sh: reads the two training logs (nanoGPT's train.py and
// `mypt-native train --log_interval 1`) and prints the side-by-side table.
//   node bench/nanogpt-side-by-side.js --nanogpt LOG --mypt LOG --tokens_per_iter N --skip S --eval_interval E
//        [--nanogpt_cmd FILE] [--mypt_cmd FILE] [--nanogpt_wall SECONDS] [--mypt_wall SECONDS] [--json FILE]
// Both trainers print "iter N: loss X, time Yms" for every step (nanoGPT adds ", mfu Z%", mypt-native
// ", lr ..., N tokens/s") and "step N: train loss X, val loss Y" at every evaluation.
// Tokens/s is the steady state: the tokens of the iterations from `skip` on, over the sum of their times,
// leaving out each iteration at a multiple of eval_interval (nanoGPT's time of that iteration includes the
// evaluation and its checkpoint save; mypt-native's does not, and is left out the same way).
'use strict';
const fs = require('fs');

/** Iterations { iter, loss, ms } and evaluations { step, train, val } of a training log, in order. */
function parseLog(text) {
  const iters = [];
  const evals = [];
  for (const line of text.split(/\r?\n/)) {
    let m = /^iter (\d+): loss (\S+), time ([\d.]+) ?ms\b/.exec(line);
    if (m) {
      iters.push({ iter: Number(m[1]), loss: Number(m[2]), ms: Number(m[3]) });
      continue;
    }
    m = /^step (\d+): train loss (\S+), val loss ([^\s,]+)/.exec(line);
    if (m) evals.push({ step: Number(m[1]), train: Number(m[2]), val: Number(m[3]) });
  }
  return { iters, evals };
}

/** The figures of one run: steady-state tokens/s and median step time, best and last validation loss. */
function summarizeRun(log, { tokensPerIter, skip, evalInterval }) {
  const timed = log.iters.filter((x) => x.iter >= skip && !(evalInterval > 0 && x.iter % evalInterval === 0));
  const out = {
    iters_logged: log.iters.length,
    iters_timed: timed.length,
    first_timed: timed.length ? timed[0].iter : null,
    last_timed: timed.length ? timed[timed.length - 1].iter : null,
    tokens_per_s: null,
    median_ms: null,
    best_val: null,
    best_step: null,
    final_val: null,
    final_step: null,
  };
  if (timed.length) {
    const ms = timed.map((x) => x.ms);
    out.tokens_per_s = (timed.length * tokensPerIter) / (ms.reduce((a, b) => a + b, 0) / 1000);
    const s = [...ms].sort((a, b) => a - b);
    out.median_ms = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
  for (const e of log.evals) {
    if (Number.isFinite(e.val) && (out.best_val === null || e.val < out.best_val)) {
      out.best_val = e.val;
      out.best_step = e.step;
    }
  }
  if (log.evals.length) {
    const last = log.evals[log.evals.length - 1];
    out.final_val = last.val;
    out.final_step = last.step;
  }
  return out;
}

const fmt = {
  int: (x) => (x === null ? 'n/a' : Math.round(x).toLocaleString('en-US')),
  ms: (x) => (x === null ? 'n/a' : x.toFixed(2)),
  loss: (x, step) => (x === null ? 'n/a' : `${x.toFixed(4)} (step ${step})`),
  s: (x) => (x === undefined || x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(1)),
};

/** The table: one row a figure, nanoGPT's column, mypt-native's, and mypt-native's over nanoGPT's where that means something. */
function formatTable(nano, mypt, o = {}) {
  const ratio = (a, b, inverse) => (a === null || b === null ? '' : `${(inverse ? a / b : b / a).toFixed(2)}x`);
  const span = (r) => (r.first_timed === null ? '' : ` ${r.first_timed}-${r.last_timed}`);
  const rows = [
    ['', 'nanoGPT train.py', 'mypt-native train', 'mypt-native / nanoGPT'],
    [`tokens/s (steady state)`, fmt.int(nano.tokens_per_s), fmt.int(mypt.tokens_per_s), ratio(nano.tokens_per_s, mypt.tokens_per_s)],
    ['ms per iteration (median)', fmt.ms(nano.median_ms), fmt.ms(mypt.median_ms), ratio(nano.median_ms, mypt.median_ms, true)],
    ['best val loss', fmt.loss(nano.best_val, nano.best_step), fmt.loss(mypt.best_val, mypt.best_step), ''],
    ['last val loss', fmt.loss(nano.final_val, nano.final_step), fmt.loss(mypt.final_val, mypt.final_step), ''],
    ['iterations timed (of logged)', `${nano.iters_timed}${span(nano)} (${nano.iters_logged})`, `${mypt.iters_timed}${span(mypt)} (${mypt.iters_logged})`, ''],
    ['wall time of the command, s', fmt.s(o.nanoWall), fmt.s(o.myptWall), ''],
  ];
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd());
  const note = `tokens/s: ${o.tokensPerIter ?? '?'} tokens an iteration, iterations from ${o.skip ?? '?'} on, those at multiples of ${o.evalInterval ?? '?'} (evaluations, saves) left out; ratios above 1 favour mypt-native`;
  return [...lines, '', note].join('\n');
}

function args(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z_]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument ${argv[i]}`);
    a[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
  }
  return a;
}

function main() {
  const a = args(process.argv.slice(2));
  for (const k of ['nanogpt', 'mypt', 'tokens_per_iter', 'skip', 'eval_interval']) {
    if (a[k] === undefined) throw new Error(`--${k} is required`);
  }
  const opts = { tokensPerIter: Number(a.tokens_per_iter), skip: Number(a.skip), evalInterval: Number(a.eval_interval) };
  const runs = {};
  for (const who of ['nanogpt', 'mypt']) {
    const log = parseLog(fs.readFileSync(a[who], 'utf8'));
    runs[who] = summarizeRun(log, opts);
    if (!runs[who].iters_timed) throw new Error(`${a[who]}: no "iter N: loss X, time Yms" line from iteration ${opts.skip} on`);
    if (runs[who].best_val === null) throw new Error(`${a[who]}: no "step N: train loss X, val loss Y" line`);
  }
  const wall = (x) => (x === undefined ? undefined : Number(x));
  console.log(formatTable(runs.nanogpt, runs.mypt, { ...opts, nanoWall: wall(a.nanogpt_wall), myptWall: wall(a.mypt_wall) }));
  const cmds = {};
  for (const who of ['nanogpt', 'mypt']) {
    if (a[`${who}_cmd`]) cmds[who] = fs.readFileSync(a[`${who}_cmd`], 'utf8').trim();
  }
  if (cmds.nanogpt || cmds.mypt) {
    console.log('\ncommands run:');
    if (cmds.nanogpt) console.log(`  nanoGPT:     ${cmds.nanogpt}`);
    if (cmds.mypt) console.log(`  mypt-native: ${cmds.mypt}`);
  }
  if (a.json) {
    const record = { ...opts, nanogpt: { ...runs.nanogpt, wall_s: wall(a.nanogpt_wall), command: cmds.nanogpt },
      mypt: { ...runs.mypt, wall_s: wall(a.mypt_wall), command: cmds.mypt } };
    fs.writeFileSync(a.json, JSON.stringify(record, null, 2) + '\n');
  }
}

module.exports = { parseLog, summarizeRun, formatTable };

if (require.main === module) {
  try {
    main();
  } catch (e) {
    console.error(`error: ${e.message}`);
    process.exit(1);
  }
}
