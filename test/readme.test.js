// Every ```js block of README.md runs as a user would copy it (issue #22): in an empty folder, with
// require('mypt-native') resolving to this package, and must exit 0 without an error line.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const blocks = [...fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

test('the README has JavaScript examples', () => {
  assert.ok(blocks.length >= 1);
});

blocks.forEach((code, i) => {
  test(`README js block ${i + 1} runs as pasted into a file`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'readme-'));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'mypt-native'), 'dir');
    fs.writeFileSync(path.join(dir, 'example.js'), code);
    const r = spawnSync(process.execPath, ['example.js'], { cwd: dir, encoding: 'utf8', timeout: 300000, env: { ...process.env, CI: '1' } });
    assert.is(r.status, 0, `block ${i + 1} failed:\n${r.stderr}\n${r.stdout.slice(-2000)}`);
    assert.not.match(r.stderr, /error/i, r.stderr);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

test.run();
