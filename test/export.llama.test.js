// The GGUF files `export` writes, run by llama.cpp itself through node-llama-cpp (a dev dependency whose
// prebuilt CPU binary is used as shipped; nothing is built or downloaded): a GPT-2-family char model with the
// tanh GELU (llama.cpp's gpt2 maths), trained here for a few hundred steps, is loaded and decoded greedily.
//   - greedy generation of 32 tokens from a prompt gives our `generate` tokens at temperature 0 (f32, f16);
//   - teacher-forced over a window of Shakespeare, llama.cpp's next token (argmax) agrees with ours at every
//     position for f32 and f16, and at >= 95% of them for q8_0 (its activations are quantised too);
//   - llama.cpp's tokenizer gives the model's character ids, and GPT-2's (js-tiktoken's) ids for a padded
//     GPT-2 vocabulary;
//   - an exact-GELU model (nanoGPT's), which llama.cpp runs with the tanh GELU: measured, >= 90% top-1.
// A character vocabulary has no end-of-text token, yet llama.cpp takes id 11 as one: evaluate yields it anyway.
// Skips, saying why, where node-llama-cpp or its binary cannot load.
const { test } = require('uvu');
const assert = require('uvu/assert');
const path = require('path');
const { spawnSync } = require('child_process');
const m = require('../lib');
const { tmpdir, tinyModel, CORPUS } = require('./export.helpers');

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = 'true';
const LLAMA_OPTIONS = { gpu: false, build: 'never', usePrebuiltBinaries: true, progressLogs: false };

// Whether node-llama-cpp and its prebuilt binary load here, asked once in a child process (the tests are
// registered as skipped otherwise, so the summary counts them as such)
const probe = spawnSync(process.execPath, ['-e', `import('node-llama-cpp').then((n) => n.getLlama(${JSON.stringify(LLAMA_OPTIONS)}))
  .then(() => process.exit(0), (e) => { console.error(String(e && e.message).split('\\n')[0]); process.exit(1); })`],
{ cwd: path.join(__dirname, '..'), encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' } });
const skip = probe.status === 0 ? undefined : (probe.stderr || String(probe.error || probe.signal)).trim().split('\n').pop();
if (skip) console.log(`skipping the llama.cpp checks: node-llama-cpp cannot load here (${skip})`);
const maybe = skip ? test.skip : test;

const dir = tmpdir('mypt-llama-');
let nlc;
let llama;
let tiny;

test.before(async () => {
  if (skip) return;
  nlc = await import('node-llama-cpp');
  llama = await nlc.getLlama({ ...LLAMA_OPTIONS, logLevel: nlc.LlamaLogLevel.error });
  tiny = await tinyModel(dir, { steps: 200 });
});

test.after(async () => {
  if (tiny) tiny.model.dispose();
  if (llama) await llama.dispose();
});

/** llama.cpp on a GGUF file: greedy continuation, teacher-forced argmax over a window, and its tokenizer. */
async function withLlama(file, fn) {
  const model = await llama.loadModel({ modelPath: file });
  const ctx = await model.createContext({ contextSize: 64, batchSize: 64, threads: 2 });
  try {
    return await fn(model, ctx);
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}

async function llamaGreedy(ctx, prompt, n) {
  const seq = ctx.getSequence();
  const out = [];
  for await (const t of seq.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
    out.push(t);
    if (out.length >= n) break;
  }
  seq.dispose();
  return out;
}

/** llama.cpp's next token after each prefix of `window` (the true token is fed each time, not its own). */
async function llamaTeacherForced(ctx, window) {
  const seq = ctx.getSequence();
  const gen = seq.evaluate([window[0]], { temperature: 0, yieldEogToken: true });
  const preds = [];
  let r = await gen.next();
  for (let i = 1; i < window.length; i++) {
    preds.push(r.value);
    r = await gen.next(i + 1 < window.length ? window[i] : undefined);
    if (i + 1 === window.length) break;
  }
  await gen.return();
  seq.dispose();
  return preds;
}

async function oursTeacherForced(window) {
  const { logits, shape } = await tiny.model.forward([window]);
  const V = shape[2];
  const out = [];
  for (let t = 0; t < window.length - 1; t++) {
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[t * V + v] > logits[t * V + best]) best = v;
    out.push(best);
  }
  return out;
}

const agreement = (a, b) => a.filter((x, i) => x === b[i]).length;

const figures = {};

for (const type of ['f32', 'f16', 'q8_0']) {
  maybe(`${type}: llama.cpp decodes the exported model greedily as mypt-native does`, async () => {
    const file = path.join(dir, `tiny-${type}.gguf`);
    await m.exportModel({ format: 'gguf', checkpoint: tiny.file, out: file, type, verify: false });
    const prompt = tiny.tokenizer.encode('KING RICHARD:\n');
    const ours = await tiny.model.generate(prompt, { max_new_tokens: 32, temperature: 0 });
    const window = tiny.tokenizer.encode(CORPUS.slice(20_000, 20_064));
    const oursTf = await oursTeacherForced(window);
    const got = await withLlama(file, async (model, ctx) => ({
      tokenize: Array.from(model.tokenize(CORPUS.slice(30_000, 30_200))),
      greedy: await llamaGreedy(ctx, prompt, 32),
      tf: await llamaTeacherForced(ctx, window),
    }));
    assert.equal(got.tokenize, tiny.tokenizer.encode(CORPUS.slice(30_000, 30_200)), 'llama.cpp\'s tokenizer gives the character ids');
    const same = agreement(got.greedy, ours);
    const tf = agreement(got.tf, oursTf);
    figures[type] = `greedy ${same}/32 tokens equal, teacher-forced top-1 ${tf}/${oursTf.length}`;
    if (type === 'q8_0') {
      assert.ok(tf >= Math.ceil(0.95 * oursTf.length), `q8_0 top-1 agreement ${tf}/${oursTf.length}`);
    } else {
      assert.equal(got.greedy, ours, `${type}: llama.cpp ${JSON.stringify(tiny.tokenizer.decode(got.greedy))} vs ours ${JSON.stringify(tiny.tokenizer.decode(ours))}`);
      assert.equal(got.tf, oursTf, `${type}: teacher-forced argmax`);
    }
  });
}

maybe('an exact-GELU model in llama.cpp (which computes the tanh GELU): a warning at export, agreement measured (>= 90% top-1 asserted)', async () => {
  const exact = await tinyModel(dir, { steps: 200, activation: 'gelu', name: 'exact' });
  const file = path.join(dir, 'exact.gguf');
  const warnings = [];
  await m.exportModel({ format: 'gguf', checkpoint: exact.file, out: file, verify: false, onWarning: (w) => warnings.push(w) });
  assert.match(warnings.join(' '), /exact \(erf\) GELU/);
  const prompt = exact.tokenizer.encode('KING RICHARD:\n');
  const ours = await exact.model.generate(prompt, { max_new_tokens: 32, temperature: 0 });
  const window = exact.tokenizer.encode(CORPUS.slice(20_000, 20_064));
  const { logits, shape } = await exact.model.forward([window]);
  const oursTf = [];
  for (let t = 0; t < window.length - 1; t++) {
    let best = 0;
    for (let v = 1; v < shape[2]; v++) if (logits[t * shape[2] + v] > logits[t * shape[2] + best]) best = v;
    oursTf.push(best);
  }
  const got = await withLlama(file, async (_, ctx) => ({ greedy: await llamaGreedy(ctx, prompt, 32), tf: await llamaTeacherForced(ctx, window) }));
  figures['f32, exact-GELU model'] = `greedy ${agreement(got.greedy, ours)}/32 tokens equal, teacher-forced top-1 ${agreement(got.tf, oursTf)}/${oursTf.length}`;
  assert.ok(agreement(got.tf, oursTf) >= Math.ceil(0.9 * oursTf.length), figures['f32, exact-GELU model']);
  exact.model.dispose();
});

maybe('GPT-2 vocabulary (padded to 50304): llama.cpp tokenizes and detokenizes as js-tiktoken does', async () => {
  const { saveCheckpoint } = require('./export.helpers');
  const model = m.createModel({ vocab_size: 50304, block_size: 64, n_layer: 1, n_head: 2, n_embd: 32, arch: 'gpt2', activation: 'gelu_tanh', seed: 2 });
  const ckpt = saveCheckpoint(path.join(dir, 'gpt2vocab.safetensors'), model, { token_kind: 'gpt2', chars: null });
  const file = path.join(dir, 'gpt2vocab.gguf');
  await m.exportModel({ format: 'gguf', checkpoint: ckpt, out: file, type: 'f32', verify: false });
  const gpt2 = new m.Gpt2Tokenizer();
  const text = `${CORPUS.slice(0, 1500)}\nNumbers 1234567 and 3.14159, https://example.com/a?b=c, for (let i=0;i<10;i++) {}\n` +
    "It's we're they'll I'd   spaces\t\ttabs\n\n\nÜnïcödé — “quotes” 日本語 😀👍🏽 trailing ";
  const prompt = gpt2.encode('The meaning of life is');
  const ours = await model.generate(prompt, { max_new_tokens: 16, temperature: 0 });
  const got = await withLlama(file, async (lm, ctx) => ({
    ids: Array.from(lm.tokenize(text)), text: lm.detokenize(gpt2.encode(text)), greedy: await llamaGreedy(ctx, prompt, 16),
    eos: lm.tokens.eos,
  }));
  assert.equal(got.ids, gpt2.encode(text));
  assert.is(got.text, text);
  assert.is(got.eos, 50256);
  figures['f32, GPT-2 vocabulary, untrained'] = `greedy ${agreement(got.greedy, ours)}/16 tokens equal`;
  model.dispose();
});

maybe('the agreement figures', () => {
  for (const [k, v] of Object.entries(figures)) console.log(`  llama.cpp vs mypt-native, ${k}: ${v}`);
});

test.run();
