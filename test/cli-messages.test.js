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

test.run();
