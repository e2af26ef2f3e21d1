// Flag errors from the command line: one line that names the flag, the value and what is accepted.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const path = require('path');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const cli = (args) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

test('a value outside a flag\'s choices: the flag, the value and the choices, on one line, exit 1', () => {
  const r = cli(['bench', '--suite', 'nope']);
  assert.is(r.status, 1);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /Argument: suite, Given: "nope", Choices: "matmul", "attention"/);
});

test('bench --json into a missing folder fails before any timing, naming the folder', () => {
  const r = cli(['bench', '--json', '/nonexistent-dir/x.json', '--device', 'cpu']);
  assert.is(r.status, 1);
  assert.is(r.stderr.trim(), 'error: --json /nonexistent-dir/x.json: the folder /nonexistent-dir does not exist');
  assert.is(r.stdout, '', 'nothing was timed');
});

test('a bad value that came from --config_file or a default is named as such, not as a flag the user never gave', () => {
  const fs = require('fs');
  const os = require('os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-msg-'));
  const file = path.join(dir, 'c.json');
  fs.writeFileSync(file, JSON.stringify({ n_layer: 3, n_embd: 32 }));
  const r = spawnSync(process.execPath, [BIN, 'train', '--config_file', file], { encoding: 'utf8', cwd: dir });
  assert.is(r.status, 1);
  assert.is(r.stderr.trim(), 'error: n_head 6 (the default): n_embd 32 is not divisible by n_head 6');
  const z = spawnSync(process.execPath, [BIN, 'train', '--config_file', file, '--n_head', '5'], { encoding: 'utf8', cwd: dir });
  assert.is(z.stderr.trim(), 'error: --n_head 5: n_embd 32 is not divisible by n_head 5');
  assert.equal(fs.readdirSync(dir), ['c.json'], 'nothing written');
  fs.rmSync(dir, { recursive: true });
});

test.run();
