// modded-nanogpt files through the CLI as a user runs it (inspect, generate, convert --to medium) and through
// the API (generate works; loadModel's error names the way in). Expected values come from the fixtures'
// PyTorch records (small.json / medium.json), the file system, and the modded engine's own forward/generate
// (checked against PyTorch in modded.test.js).
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { getEncoding } = require('js-tiktoken');
const { FIX, ref } = require('./modded-util');
const { loadModdedModel } = require('../lib');
const api = require('../lib');

const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const cli = (args, cwd) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: cwd ?? os.tmpdir() });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wiring-modded-'));
const tok = getEncoding('gpt2');
const PROMPT = 'Q';   // one GPT-2 id (48), inside the fixtures' 128-row embedding

for (const layout of ['small', 'medium']) {
  test(`inspect ${layout}.pt: the modded description, text and --json`, () => {
    const file = path.join(FIX, `${layout}.pt`);
    const r = ref(layout);
    const t = cli(['inspect', file]);
    assert.is(t.status, 0, t.stderr);
    assert.match(t.stdout, `modded-nanogpt ${layout} layout`);
    assert.match(t.stdout, new RegExp(`layers:\\s+${r.n_layer}\\b`));
    assert.match(t.stdout, new RegExp(`step:\\s+${r.step}\\b`));
    assert.match(t.stdout, new RegExp(`val loss:\\s+${r.val_loss}\\b`));
    const j = cli(['inspect', file, '--json']);
    assert.is(j.status, 0, j.stderr);
    const info = JSON.parse(j.stdout);
    assert.is(info.format, `modded-${layout}`);
    assert.is(info.file_bytes, fs.statSync(file).size);
    assert.equal([info.n_layer, info.dim, info.n_head, info.head_dim, info.vocab, info.step], [r.n_layer, r.dim, r.n_head, r.head_dim, r.vocab, r.step]);
  });
}

test('generate --checkpoint small.pt: streams prompt + the text of the ids the engine samples with the same options', async () => {
  const file = path.join(FIX, 'small.pt');
  const opts = { max_new_tokens: 16, temperature: 0.8, top_k: 20, top_p: 0.9, seed: 5 };
  const r = cli(['generate', '--checkpoint', file, '--prompt', PROMPT, '--max_new_tokens', '16', '--temperature', '0.8', '--top_k', '20', '--top_p', '0.9', '--seed', '5']);
  assert.is(r.status, 0, r.stderr);
  const m = await loadModdedModel(file);
  try {
    assert.equal(tok.encode(PROMPT), [48]);
    const ids = await m.generate(tok.encode(PROMPT), opts);
    assert.is(ids.length, 16);
    assert.ok(ids.every((id) => id < ref('small').vocab), 'sampled among the real vocabulary');
    assert.is(r.stdout, PROMPT + tok.decode(ids) + '\n');
    const other = cli(['generate', '--checkpoint', file, '--prompt', PROMPT, '--max_new_tokens', '16', '--temperature', '0.8', '--top_k', '20', '--top_p', '0.9', '--seed', '6']);
    assert.is.not(other.stdout, r.stdout, 'another seed, other text');
    // greedy: the first token is the argmax of the forward pass's logits over the real vocabulary
    const g = cli(['generate', '--checkpoint', file, '--prompt', PROMPT, '--max_new_tokens', '1', '--temperature', '0']);
    assert.is(g.status, 0, g.stderr);
    const { logits } = await m.forward([48]);
    let best = 0;
    for (let i = 1; i < ref('small').vocab; i++) if (logits[i] > logits[best]) best = i;
    assert.is(g.stdout, PROMPT + tok.decode([best]) + '\n');
  } finally {
    m.dispose();
  }
});

test('API: generate({checkpoint}) samples a modded file; loadModel opens it as the same Model as any other', async () => {
  const file = path.join(FIX, 'medium.pt');
  const text = await api.generate({ checkpoint: file, prompt: PROMPT, max_new_tokens: 10, seed: 2, device: 'cpu' });
  const m = await loadModdedModel(file, { device: 'cpu' });
  const ids = await m.generate([48], { max_new_tokens: 10, seed: 2 });
  m.dispose();
  assert.is(text, tok.decode(ids));
  const l = await api.loadModel(file, { device: 'cpu' });
  try {
    assert.is(l.family, 'modded');
    assert.is(l.info().family, 'modded');
    assert.is(l.origin.format, 'modded-medium');
    assert.equal(await l.generate([48], { max_new_tokens: 10, seed: 2 }), ids, 'the same tokens as loadModdedModel');
    assert.is(await l.generate(PROMPT, { max_new_tokens: 10, seed: 2 }), text, 'text in, text out, as generate()');
    const f = await l.forward([[48, 49], [50, 51]]);
    assert.equal(f.shape, [2, 2, ref('medium').padded_vocab], 'a batch of two rows');
    const one = await l.forward([50, 51]);
    assert.equal(Array.from(one.logits), Array.from(f.logits.subarray(f.logits.length / 2)), 'row 1 equals the row alone');
    let err;
    try { await l.trainStep({ tokens: [[1, 2]], targets: [[2, 3]] }); } catch (e) { err = e; }
    assert.is(err && err.code, 'E_UNSUPPORTED');
  } finally {
    l.dispose();
  }
});

test('generate --device cuda on a modded file: runs on a GPU, or says in one line that none is usable', () => {
  const file = path.join(FIX, 'medium.pt');
  const r = cli(['generate', '--checkpoint', file, '--prompt', PROMPT, '--max_new_tokens', '4', '--temperature', '0', '--device', 'cuda']);
  if (require('../lib/native').loadAddon().backends().cuda) {
    assert.is(r.status, 0, r.stderr);
    assert.ok(r.stdout.startsWith(PROMPT) && r.stdout.length > PROMPT.length + 1, r.stdout);
  } else {
    assert.is(r.status, 1);
    assert.match(r.stderr, "device 'cuda' is not available");
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('list names modded files as such; load-checkpoint and convert --to separated refuse them in one line', () => {
  const l = cli(['list', FIX, '--json']);
  assert.is(l.status, 0, l.stderr);
  const byName = Object.fromEntries(JSON.parse(l.stdout).checkpoints.map((e) => [e.name, e]));
  for (const layout of ['small', 'medium']) {
    const e = byName[`${layout}.pt`];
    assert.is(e.format, `modded-${layout}`);
    assert.is(e.step, ref(layout).step);
    assert.is(e.valLoss, ref(layout).val_loss);
  }
  const file = path.join(FIX, 'small.pt');
  const env = { ...process.env, CHECKPOINT_PATH: file, MODE: 'inference' };
  const lc = spawnSync(process.execPath, [BIN, 'load-checkpoint'], { encoding: 'utf8', cwd: os.tmpdir(), env });
  const cv = cli(['convert', '--to', 'separated', '--checkpoint', file, '--dry-run']);
  const dir = spawnSync(process.execPath, [BIN, 'load-checkpoint'], { encoding: 'utf8', cwd: os.tmpdir(), env: { ...env, CHECKPOINT_PATH: FIX } });
  for (const [r, what] of [[lc, 'a modded-nanogpt small-layout checkpoint'], [cv, 'a modded-nanogpt small-layout checkpoint'], [dir, 'only modded-nanogpt checkpoints']]) {
    assert.is(r.status, 1, r.stdout);
    assert.match(r.stderr, what);
    assert.match(r.stderr, 'generate --checkpoint');
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('convert --to medium: --dry-run writes nothing; the output is a medium file recording the small forward; --yes to overwrite', () => {
  const src = path.join(tmp, 'small.pt');
  fs.copyFileSync(path.join(FIX, 'small.pt'), src);
  const out = path.join(tmp, 'small-medium.pt');
  const dry = cli(['convert', '--to', 'medium', '--checkpoint', src, '--dry-run']);
  assert.is(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, `would write ${out}`);
  assert.not.ok(fs.existsSync(out));
  const r = cli(['convert', '--to', 'medium', '--checkpoint', src]);
  assert.is(r.status, 0, r.stderr);
  assert.ok(fs.existsSync(out));
  const info = JSON.parse(cli(['inspect', out, '--json']).stdout);
  assert.is(info.format, 'modded-medium');
  assert.is(info.forward, 'small');
  // generate runs the recorded forward and says so (stderr; stdout stays the text): the small file's text
  const gm = cli(['generate', '--checkpoint', out, '--prompt', PROMPT, '--max_new_tokens', '6', '--temperature', '0', '--device', 'cpu']);
  const gs = cli(['generate', '--checkpoint', src, '--prompt', PROMPT, '--max_new_tokens', '6', '--temperature', '0', '--device', 'cpu']);
  assert.is(gm.status, 0, gm.stderr);
  assert.is(gm.stdout, gs.stdout);
  assert.is(gm.stderr, `${out}: modded-nanogpt medium layout, small forward pass (recorded in the file), GPT-2 tokenizer, on cpu\n`);
  const again = cli(['convert', '--to', 'medium', '--checkpoint', src]);
  assert.is(again.status, 1);
  assert.is(again.stderr.trim().split('\n').length, 1, again.stderr);
  assert.match(again.stderr, '--yes');
  assert.is(cli(['convert', '--to', 'medium', '--checkpoint', src, '--yes']).status, 0);
  const custom = path.join(tmp, 'elsewhere.pt');
  assert.is(cli(['convert', '--to', 'medium', '--checkpoint', src, '--out', custom]).status, 0);
  assert.ok(fs.existsSync(custom));
  const bad = cli(['convert', '--to', 'large', '--checkpoint', src]);
  assert.is(bad.status, 1);
  assert.match(bad.stderr, 'separated, model-only, unified, small, medium');
});

test.run();
