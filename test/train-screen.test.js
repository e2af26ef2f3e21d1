// What `train` leaves on the screen (issue #22): on a terminal the last eval line and the saves are not
// overwritten by the progress bar, and the run ends with a summary (steps, time, tokens/s, final losses,
// the bundle). A terminal is made with script(1); the test skips where there is none.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
const SMALL = ['--max_iters', '40', '--eval_interval', '20', '--eval_iters', '2', '--n_layer', '1', '--n_embd', '32',
  '--batch_size', '4', '--block_size', '16', '--sample_tokens', '0'];
const shq = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The text a terminal shows at the end: carriage returns and cursor moves resolved to lines. */
function screen(raw) {
  const lines = [];
  for (const chunk of raw.replace(/\x1b\[\?[\d;]*[hl]/g, '').split('\n')) {
    // a line cleared and redrawn (\x1b[1G\x1b[2K or \x1b[0J) keeps only what came after the last clear
    const parts = chunk.split(/\x1b\[1G(?:\x1b\[[02]?[JK])?|\r/);
    const last = parts.map((p) => p.replace(/\x1b\[[\d;]*[A-Za-z]/g, '')).filter((p) => p.trim() !== '');
    if (last.length) lines.push(last[last.length - 1]);
  }
  return lines;
}

test('on a terminal: the final eval line, the saves and a summary stay on screen', () => {
  if (!hasScript) { console.log('  (skipped: no script(1) to make a terminal)'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'screen-'));
  const cmd = [process.execPath, BIN, 'train', '--model_name', 't', ...SMALL].map(shq).join(' ');
  const r = spawnSync('script', ['-q', '-e', '-c', cmd, path.join(dir, 'out.raw')], { cwd: dir, encoding: 'utf8', env: { ...process.env, CI: '' } });
  assert.is(r.status, 0, r.stderr);
  const raw = fs.readFileSync(path.join(dir, 'out.raw'), 'utf8');
  assert.match(raw, /step \d+\/40 \[/, 'the live bar was drawn (a terminal)');
  const lines = screen(raw).filter((l) => !/^Script (started|done)/.test(l)).map((l) => l.replace(/\s+$/, ''));
  const i = lines.findIndex((l) => /^step 40: train loss [\d.]+, val loss [\d.]+$/.test(l));
  assert.ok(i >= 0, `the final eval line is on screen:\n${lines.join('\n')}`);
  assert.ok(lines.slice(i).some((l) => l.startsWith('Saved model weights to checkpoints/t/model.pt')), 'the last save is on screen');
  const m = /^step 40: train loss ([\d.]+), val loss ([\d.]+)$/.exec(lines[i]);
  const end = lines.slice(-4);
  assert.match(end[0] ?? '', /Training finished/, lines.join('\n'));
  assert.match(end[0], /^Training finished at step 40 in [\d.]+s \([\d,]+ tokens\/s\)\.$/);
  assert.is(end[1], '  steps:  40 this run');
  assert.is(end[2], `  loss:   train ${m[1]}, val ${m[2]} (final eval)`);
  assert.is(end[3], '  bundle: checkpoints/t');
  fs.rmSync(dir, { recursive: true });
});

test.run();
