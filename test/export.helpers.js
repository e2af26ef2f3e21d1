// Tiny models for the export tests, made here (nothing big is committed): a GPT-2-family model trained for a
// few hundred steps on Tiny Shakespeare so greedy decoding has clear margins, saved the way `convert
// --format safetensors` saves a checkpoint (canonical weights, config and tokenizer in the metadata).
const fs = require('fs');
const os = require('os');
const path = require('path');
const m = require('../lib');
const { canonicalToStateDict } = require('../lib/formats/layouts');

const CORPUS = fs.readFileSync(path.join(__dirname, '..', 'data', 'tinyshakespeare.txt'), 'utf8');

const { mulberry32 } = require('./helpers/rng');

/** A temp folder removed at exit. */
function tmpdir(prefix = 'mypt-export-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Writes a checkpoint of `model` (+ tokenizer record) as convert --format safetensors does. */
function saveCheckpoint(file, model, tokenizer) {
  const cfg = { ...model.config };
  delete cfg.device; delete cfg.precision; delete cfg.seed; delete cfg.init;
  const sd = canonicalToStateDict(model.getParameters(), cfg);
  const tensors = new Map();
  const seen = new Set();
  for (const [k, t] of sd) {
    if (String(k).endsWith('.tril') || seen.has(t)) continue;
    seen.add(t);
    tensors.set(String(k), { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data) });
  }
  const meta = { format: 'pt', 'mypt_native.config': JSON.stringify(cfg) };
  if (tokenizer) meta['mypt_native.tokenizer'] = JSON.stringify(tokenizer.toJSON ? tokenizer.toJSON() : tokenizer);
  m.saveSafetensorsSync(file, tensors, meta);
  return file;
}

/**
 * A char-level model of the given architecture trained `steps` AdamW steps on Tiny Shakespeare (0: as
 * initialised). Returns { model, tokenizer, file } with the checkpoint written under `dir`.
 */
async function tinyModel(dir, { steps = 200, seed = 1, name = 'tiny', lr = 2e-3, ...arch } = {}) {
  const tokenizer = m.CharTokenizer.fromText(CORPUS);
  const ids = tokenizer.encodeToInt32(CORPUS.slice(0, 200_000));
  const config = { vocab_size: tokenizer.vocabSize, block_size: 64, n_layer: 2, n_head: 2, n_embd: 64, arch: 'gpt2', activation: 'gelu_tanh', seed, ...arch };
  const model = m.createModel(config);
  const rnd = mulberry32(seed);
  const B = 8, T = config.block_size;
  for (let s = 0; s < steps; s++) {
    const x = new Int32Array(B * T), y = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const at = Math.floor(rnd() * (ids.length - T - 1));
      x.set(ids.subarray(at, at + T), b * T);
      y.set(ids.subarray(at + 1, at + T + 1), b * T);
    }
    await model.trainStep({ tokens: { data: x, shape: [B, T] }, targets: { data: y, shape: [B, T] }, lr, weight_decay: 0 });
  }
  const file = saveCheckpoint(path.join(dir, `${name}.safetensors`), model, tokenizer);
  return { model, tokenizer, file };
}

/** ||a - b|| / ||b||. */
function relErr(a, b) {
  let n = 0, d = 0;
  for (let i = 0; i < b.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  return Math.sqrt(n / d);
}

module.exports = { CORPUS, tmpdir, saveCheckpoint, tinyModel, relErr, mulberry32 };
