// The package as users get it: `npm pack` (prepack puts the built addon into prebuilds/), then the tarball
// installed into an empty folder outside the clone (dependencies from the registry; nothing from the
// clone's node_modules), then the command line and require('mypt-native') from there.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const PKG = require('../package.json');
const npm = (args, cwd, env = {}) => spawnSync('npm', args, {
  cwd, encoding: 'utf8', env: { ...process.env, NODE_PATH: '', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', ...env }, maxBuffer: 64 << 20,
});
const out = (r) => `${r.stdout}\n${r.stderr}`.slice(-3000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-pack-'));
const app = path.join(tmp, 'app');
let tarball;

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('npm pack holds a prebuilt addon where node-gyp-build looks, and no build outputs or tests', () => {
  const hadPrebuilds = fs.existsSync(path.join(ROOT, 'prebuilds'));
  // MYPT_PREPACK=copy: the addon this suite runs on, even where a source is newer (no full prebuild in a test)
  const r = npm(['pack', '--json', '--pack-destination', tmp], ROOT, { MYPT_PREPACK: 'copy' });
  if (!hadPrebuilds) fs.rmSync(path.join(ROOT, 'prebuilds'), { recursive: true, force: true });
  assert.is(r.status, 0, out(r));
  const info = JSON.parse(r.stdout.slice(r.stdout.search(/^\[$/m)))[0]; // after the prepack / prepare scripts' lines
  tarball = path.join(tmp, info.filename);
  const files = info.files.map((f) => f.path);
  const libc = fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
  assert.ok(files.includes(`prebuilds/${process.platform}-${process.arch}/node.napi.${libc}.node`), files.filter((f) => /prebuild/.test(f)).join(', '));
  for (const f of ['bin/mypt-native.js', 'lib/index.js', 'lib/cli/commands/doctor.js', 'scripts/install.js', 'CMakeLists.txt', 'binding/napi/addon.cc', 'cuda/lib_search.cc'])
    assert.ok(files.includes(f), `${f} is packed`);
  assert.not.ok(files.some((f) => /^(build|node_modules|test|checkpoints)\//.test(f)), 'no build/, node_modules/, test/ or checkpoints/');
  assert.ok(PKG.dependencies['cmake-js'], 'cmake-js is a dependency: a source build works from the tarball');
});

test('the tarball installs into an empty folder, and its CLI and require() work from there', () => {
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  const i = npm(['install', '--no-audit', '--no-fund', '--foreground-scripts', tarball], app);
  assert.is(i.status, 0, out(i));
  const installed = path.join(app, 'node_modules', 'mypt-native');
  assert.ok(fs.existsSync(path.join(installed, 'package.json')));
  assert.not.ok(fs.existsSync(path.join(installed, 'build')), 'no source build: the prebuilt binary fits');
  // where npm ran the install script, it printed its one line (npm's allow-lists may skip it: fine, node-gyp-build finds the prebuilt)
  const said = i.stdout.split('\n').filter((l) => /^mypt-native: /.test(l));
  assert.ok(said.length <= 1, said.join('\n'));
  if (said.length) assert.match(said[0], /^mypt-native: using prebuilds\/linux-x64\/node\.napi\.(glibc|musl)\.node \(CPU (only|and CUDA)\)$/);

  const npx = (args) => spawnSync('npx', ['--no-install', 'mypt-native', ...args], { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_PATH: '', CI: 'true' } });
  const h = npx(['--help']);
  assert.is(h.status, 0, out(h));
  assert.match(h.stdout, /mypt-native doctor/);

  const d = npx(['doctor', '--json']);
  assert.is(d.status, 0, out(d));
  const doc = JSON.parse(d.stdout);
  assert.is(doc.binary.loaded, true);
  assert.is(doc.binary.kind, 'prebuilt');
  assert.is(fs.realpathSync(path.dirname(doc.binary.path)), fs.realpathSync(path.join(installed, 'prebuilds', `${process.platform}-${process.arch}`)));

  fs.writeFileSync(path.join(app, 'corpus.txt'), fs.readFileSync(path.join(ROOT, 'data', 'tinyshakespeare.txt'), 'utf8').slice(0, 20000));
  const t = npx(['train', '--model_name', 'packed', '--input_file', 'corpus.txt', '--device', 'cpu', '--max_iters', '20', '--eval_interval', '10',
    '--eval_iters', '2', '--batch_size', '4', '--block_size', '32', '--n_layer', '1', '--n_head', '2', '--n_embd', '32', '--seed', '1']);
  assert.is(t.status, 0, out(t));
  assert.match(t.stdout, /step 20: train loss \d+\.\d{4}, val loss \d+\.\d{4}/);
  assert.ok(fs.existsSync(path.join(app, 'checkpoints', 'packed')), 'saved under the app folder');

  const g = npx(['generate', '--model_name', 'packed', '--prompt', 'ROMEO:', '--max_new_tokens', '30', '--seed', '1', '--device', 'cpu']);
  assert.is(g.status, 0, out(g));
  assert.match(g.stdout, /ROMEO:/);

  fs.writeFileSync(path.join(app, 'plain.js'), `const mypt = require('mypt-native');
const m = mypt.createModel({ vocab_size: 16, block_size: 8, n_layer: 1, n_head: 2, n_embd: 16, arch: 'gpt2' });
m.trainStep({ tokens: [[1, 2, 3, 4]], targets: [[2, 3, 4, 5]], lr: 1e-3 }).then((loss) => {
  console.log(JSON.stringify({ loss, cpu: mypt.backends().cpu, from: require.resolve('mypt-native') }));
  m.dispose();
});
`);
  const p = spawnSync(process.execPath, ['plain.js'], { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } });
  assert.is(p.status, 0, out(p));
  const res = JSON.parse(p.stdout);
  assert.ok(res.loss > 2 && res.loss < 3.5, `loss of a fresh 16-token model near ln 16 = 2.77, got ${res.loss}`);
  assert.is(res.cpu, true);
  assert.is(fs.realpathSync(res.from), fs.realpathSync(path.join(installed, 'lib', 'index.js')));
});

test.run();
