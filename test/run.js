#!/usr/bin/env node
// Runs the uvu suites under a folder (default: test/) and ends with the line CI reads:
//   N passed, N failed, N skipped
// Usage: node test/run.js [dir] [pattern]
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const dir = process.argv[2] || 'test';
const pattern = process.argv[3] || '\\.test\\.js$';
const uvu = path.join(path.dirname(require.resolve('uvu')), '..', 'bin.js');
const r = spawnSync(process.execPath, [uvu, dir, pattern, '--no-color'], {
  cwd: path.join(__dirname, '..'),
  encoding: 'utf8',
  maxBuffer: 256 * 1024 * 1024,
});
process.stdout.write(r.stdout || '');
process.stderr.write(r.stderr || '');
const num = (label) => {
  const m = (r.stdout || '').match(new RegExp(`${label}:\\s+(\\d+)`));
  return m ? Number(m[1]) : 0;
};
const total = num('Total');
const passed = num('Passed');
const skipped = num('Skipped');
let failed = Math.max(0, total - passed); // uvu's Total counts the tests that ran; skips are apart
if (r.status !== 0 && failed === 0) failed = 1; // a suite crashed outside any test
// why tests or checks were skipped, grouped: the lines suites print ("skip ...", "skipping ...", "(skipped: ...)")
const reasons = new Map();
for (const line of (r.stdout || '').split('\n')) {
  const m = /^\s*\(?(skip(?:ped|ping)?\b[: ]?.*?)\)?\s*$/i.exec(line.replace(/\x1b\[[\d;]*m/g, ''));
  if (m && !/^skipped:\s*\d+$/i.test(m[1])) reasons.set(m[1], (reasons.get(m[1]) || 0) + 1);
}
if (reasons.size) {
  console.log('skipped, by reason:');
  for (const [why, n] of [...reasons].sort((a, b) => b[1] - a[1])) console.log(`  ${n} x ${why}`);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
