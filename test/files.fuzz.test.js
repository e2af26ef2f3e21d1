// Mutation fuzzing of every file the package reads besides .pt (issue #22): safetensors, tokenizer.json,
// config.json, training_state.json, metrics.jsonl, meta.pkl and the env-var files. Seeded; a few seconds
// by default, longer with MYPT_FUZZ_ITERS=N (per file kind) and another seed with MYPT_FUZZ_SEED. Every
// outcome must be a result or a MyptError with a code (one clear error); a TypeError, a RangeError, a
// crash or a hang fails. Reading never alters the file.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const api = require('..');
const { readMetrics } = require('../lib/use-cases/train/metrics');
const { readTrainingEnv } = require('../lib/use-cases/load-checkpoint/env');

const SEED = Number(process.env.MYPT_FUZZ_SEED || 20261205);
const ITERS = Number(process.env.MYPT_FUZZ_ITERS || 150);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'files-fuzz-'));

const { mulberry32 } = require('./helpers/rng');
const rnd = mulberry32(SEED);
const ri = (n) => Math.floor(rnd() * n);
const TOKENS = ['"', '{', '}', '[', ']', ',', ':', '-1', '1e308', 'null', 'true', '"x"', '0', '99999999999', '\\u0000', '\n', '\u00ff'];

/** 1-4 edits: bit flips, random bytes, JSON-ish tokens, truncation, duplication of a slice. */
function mutate(src) {
  let b = Buffer.from(src);
  const k = 1 + ri(4);
  for (let j = 0; j < k && b.length; j++) {
    switch (ri(6)) {
      case 0: b[ri(b.length)] ^= 1 << ri(8); break;
      case 1: b[ri(b.length)] = ri(256); break;
      case 2: { const i = ri(b.length); b = Buffer.concat([b.subarray(0, i), Buffer.from(TOKENS[ri(TOKENS.length)]), b.subarray(i + ri(4))]); break; }
      case 3: b = b.subarray(0, ri(b.length + 1)); break;
      case 4: { const i = ri(b.length), n = ri(64); b = Buffer.concat([b.subarray(0, i), b.subarray(i, i + n), b.subarray(i)]); break; }
      default: if (b.length > 8) b.writeUInt32LE([0, 0xffffffff, 0x7fffffff, 0x10000][ri(4)], ri(b.length - 3));
    }
  }
  return b;
}

/** Runs `read` on ITERS mutations of `file`'s bytes; returns the count of each outcome. */
async function fuzz(file, read) {
  const original = fs.readFileSync(file);
  const seen = { ok: 0, errors: {} };
  for (let i = 0; i < ITERS; i++) {
    const bytes = mutate(original);
    fs.writeFileSync(file, bytes);
    try {
      await read(file);
      seen.ok++;
    } catch (e) {
      if (!(e instanceof api.MyptError)) {
        fs.writeFileSync(path.join(dir, `failing-${path.basename(file)}`), bytes);
        assert.unreachable(`${path.basename(file)} mutation ${i} (seed ${SEED}): ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
      }
      assert.ok(api.ERROR_CODES.includes(e.code), e.code);
      assert.not.match(e.message, /\n/, `one line: ${JSON.stringify(e.message)}`);
      seen.errors[e.code] = (seen.errors[e.code] ?? 0) + 1;
    }
    assert.ok(fs.readFileSync(file).equals(bytes), 'reading never alters the file');
  }
  fs.writeFileSync(file, original);
  return seen;
}

let bundle;
test.before(async () => {
  await api.train({ model_name: 'f', checkpoints_dir: dir, max_iters: 2, eval_interval: 1, eval_iters: 1, n_layer: 1, n_embd: 16, n_head: 2,
    batch_size: 2, block_size: 8, sample_tokens: 0, device: 'cpu' });
  bundle = path.join(dir, 'f');
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('safetensors', async () => {
  const file = path.join(dir, 'w.safetensors');
  api.saveSafetensorsSync(file, { a: { data: new Float32Array(24).fill(0.5), shape: [4, 6], dtype: 'float32' }, b: { data: new Float32Array(3), shape: [3], dtype: 'float32' } }, { k: 'v' });
  const s = await fuzz(file, (f) => { const r = api.loadSafetensorsSync(f); for (const t of r.tensors.values()) void (t.data ?? t); });
  assert.ok(s.errors.E_BAD_FILE > 0, JSON.stringify(s));
});

test('a bundle: config.json, tokenizer.json, training_state.json, metrics.jsonl', async () => {
  for (const name of ['config.json', 'tokenizer.json', 'training_state.json']) {
    await fuzz(path.join(bundle, name), async () => { const b = await api.loadBundle(bundle); void b.params; });
  }
  await fuzz(path.join(bundle, 'metrics.jsonl'), () => { readMetrics(bundle, 100); return api.listCheckpoints(dir); });
  await fuzz(path.join(bundle, 'config.json'), (f) => api.loadConfig(f));
});

test('a tokenizer file (MyPT tokenizer.json) loaded on its own, then used', async () => {
  const file = path.join(dir, 'tok.json');
  fs.copyFileSync(path.join(bundle, 'tokenizer.json'), file);
  await fuzz(file, (f) => { const t = api.loadTokenizerFile(f); t.decode(t.encode('hello')); });
});

test("nanoGPT's meta.pkl beside a ckpt.pt", async () => {
  const nano = path.join(dir, 'nano');
  fs.mkdirSync(nano);
  const src = path.join(__dirname, 'fixtures', 'foreign', 'nanogpt');
  fs.copyFileSync(path.join(src, 'out-shakespeare-char', 'ckpt.pt'), path.join(nano, 'ckpt.pt'));
  fs.copyFileSync(path.join(src, 'data', 'shakespeare_char', 'meta.pkl'), path.join(nano, 'meta.pkl'));
  const ckpt = path.join(nano, 'ckpt.pt');
  await fuzz(path.join(nano, 'meta.pkl'), () => api.detectCheckpointSync(ckpt));
});

test('env-var settings files (a .env read as the environment)', async () => {
  const file = path.join(dir, 'train.env');
  fs.writeFileSync(file, 'ENABLE_CHECKPOINTS=true\nCHECKPOINT_INTERVAL=500\nCHECKPOINT_DIR=checkpoints\n');
  await fuzz(file, (f) => {
    const env = {};
    for (const line of fs.readFileSync(f, 'latin1').split('\n')) { const i = line.indexOf('='); if (i > 0) env[line.slice(0, i)] = line.slice(i + 1); }
    return readTrainingEnv(env);
  });
});

test.run();
