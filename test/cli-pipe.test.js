const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawn } = require('child_process');
const path = require('path');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');

test('a reader that closes the pipe early (`| head`) ends the command quietly, exit 0, no stack trace', async () => {
  // generation streams its text in many writes, so writes after the close meet the broken pipe
  const bundle = path.join(__dirname, 'fixtures', 'mypt_bundle');
  const args = [BIN, 'generate', '--checkpoint', bundle, '--max_new_tokens', '3000', '--seed', '1', '--device', 'cpu'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // read one chunk, then close our end, as `head -1` does
  await new Promise((resolve) => child.stdout.once('data', resolve));
  child.stdout.destroy();
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.is(code, 0);
  assert.not.match(stderr, /EPIPE|at .*\.js/);
});

test.run();
