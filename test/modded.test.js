// The modded-nanogpt forward passes (small S2, medium M1) against PyTorch references written from
// MODDED.md (test/fixtures/make_modded.py), and generation through the KV cache.
const { test } = require('uvu');
const assert = require('uvu/assert');
const path = require('path');
const { loadModdedModel } = require('../lib');
const { loadTorch } = require('../lib/formats/torch');

const { FIX, ref, relErr } = require('./modded-util');

function argmax(a, from, n) {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[from + j] > a[from + best]) best = j;
  return best;
}

// Greedy generation through the KV cache must pick, at every step, the argmax (over the real vocab) of a
// full forward pass of the sequence so far.
async function assertGreedyIsRecomputedArgmax(m, prompt, ids, r) {
  const seq = prompt.slice();
  for (const id of ids) {
    const { logits } = await m.forward(seq);
    assert.is(id, argmax(logits, (seq.length - 1) * r.padded_vocab, r.vocab), `step ${seq.length - prompt.length}`);
    seq.push(id);
  }
}

for (const kind of ['small', 'medium']) {
  test(`${kind} layout: logits equal PyTorch's within 1e-4 relative`, async () => {
    const r = ref(kind);
    const m = await loadModdedModel(path.join(FIX, `${kind}.pt`));
    assert.is(m.forwardKind, kind);
    const { logits, shape } = await m.forward(r.tokens);
    assert.equal(shape, [1, r.tokens.length, r.padded_vocab]);
    assert.is(logits.length, r.logits.length);
    const e = relErr(logits, r.logits);
    assert.ok(e < 1e-4, `relative error ${e}`);
    // not a trivially flat output: the soft-capped logits spread out
    const lo = Math.min(...r.logits);
    const hi = Math.max(...r.logits);
    assert.ok(hi - lo > 5, `logit range ${lo}..${hi}`);
    m.dispose();
  });
}

for (const kind of ['small', 'medium']) {
  test(`${kind}: the document mask (a token id starting documents) matches PyTorch, also through the KV cache`, async () => {
    const r = ref(kind);
    const m = await loadModdedModel(path.join(FIX, `${kind}.pt`), { doc_token: 42 });
    assert.is(m.config.doc_token, 42);
    const { logits } = await m.forward(r.tokens);
    const e = relErr(logits, r.logits_doc42);
    assert.ok(e < 1e-4, `relative error ${e}`);
    assert.ok(relErr(logits, r.logits) > 1e-3, 'the mask changes the result');
    // rows before the first 42 see the same keys either way
    const V = r.padded_vocab;
    assert.ok(relErr(logits.subarray(0, 4 * V), r.logits.slice(0, 4 * V)) < 1e-4);
    // generation: prompt with the document break, greedy ids = recomputed argmax
    const ids = await m.generate(r.tokens.slice(0, 8), { max_new_tokens: 4, temperature: 0 });
    await assertGreedyIsRecomputedArgmax(m, r.tokens.slice(0, 8), ids, r);
  });
}

for (const kind of ['small', 'medium']) {
  test(`${kind}: the block sliding window (transcribed create_blockmasks, blocks of 4) matches PyTorch; generation = forward of the prefix`, async () => {
    const r = ref(kind);
    const m = await loadModdedModel(path.join(FIX, `${kind}.pt`), { doc_token: 42, attn_block: 4, long_window_blocks: 4 });
    assert.equal(m.config.window_blocks.slice(0, 5), [4, 2, 2, 2, 4]);
    const { logits } = await m.forward(r.tokens);
    const e = relErr(logits, r.logits_window_b4_w4_doc42);
    assert.ok(e < 1e-4, `relative error ${e}`);
    assert.ok(relErr(logits, r.logits_doc42) > 1e-3, 'the window changes the result');
    // without the window: the document mask alone
    const nw = await loadModdedModel(path.join(FIX, `${kind}.pt`), { doc_token: 42, attn_block: 4, window: false });
    assert.ok(relErr((await nw.forward(r.tokens)).logits, r.logits_doc42) < 1e-4);
    // cached generation past several blocks: each id = argmax of the forward of its prefix
    const ids = await m.generate(r.tokens.slice(0, 6), { max_new_tokens: 12, temperature: 0 });
    await assertGreedyIsRecomputedArgmax(m, r.tokens.slice(0, 6), ids, r);
  });
}

test('small: the other S-variant soft-cap (30 sigmoid(z/7.5)) as an option', async () => {
  const r = ref('small');
  const m = await loadModdedModel(path.join(FIX, 'small.pt'), { softcap: 'sigmoid30' });
  assert.is(m.config.softcap, 'sigmoid30');
  const { logits } = await m.forward(r.tokens);
  const e = relErr(logits, r.logits_sigmoid30);
  assert.ok(e < 1e-4, `relative error ${e}`);
  assert.ok(relErr(logits, r.logits) > 1e-2, 'the two soft-caps give different logits');
});

test('small weights through the medium forward: PyTorch agrees, and it is a different function', async () => {
  const r = ref('small');
  const m = await loadModdedModel(path.join(FIX, 'small.pt'), { forward: 'medium' });
  assert.is(m.config.attn_input_norm, false);
  assert.is(m.config.v_norm, true);
  assert.is(m.config.skip, 'map');
  assert.equal(m.config.skip_from.slice(9, 12), [6, 4, 2]);
  const { logits } = await m.forward(r.tokens);
  assert.ok(relErr(logits, r.logits_medium_forward) < 1e-4);
  assert.ok(relErr(logits, r.logits) > 0.1, `medium forward vs small forward differ: ${relErr(logits, r.logits)}`);
});

test('resolved configs: layer 7 without attention, value embeddings on the first and last three layers', async () => {
  const s = await loadModdedModel(path.join(FIX, 'small.pt'));
  assert.equal(s.config.has_attn, [1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1]);
  assert.equal(s.config.ve_index, [0, 1, 2, -1, -1, -1, -1, -1, -1, 0, 1, 2]);
  assert.is(s.config.skip, 'unet');
  assert.is(s.config.softcap, 'sigmoid30_scaled');
  assert.is(s.config.doc_token, -1, 'no row 50256 in a 128-row embedding: plain causal');
  assert.equal(s.config.window_blocks, [14, 7, 7, 7, 14, 7, 7, 14, 7, 7, 7, 14]);
  assert.is(s.config.attn_block, 128);
  assert.ok(Math.abs(s.config.norm_eps - 1.1920929e-7) < 1e-13);
  assert.ok(Math.abs(s.config.attn_scale - 0.12) < 1e-7);
  const m = await loadModdedModel(path.join(FIX, 'medium.pt'));
  assert.is(m.config.has_attn.length, 16);
  assert.is(m.config.has_attn[7], 0);
  assert.equal(m.config.ve_index.slice(13), [0, 1, 2]);
  assert.is(m.config.softcap, 'algebraic15');
  assert.equal(m.config.window_blocks, [27, 13, 13, 13, 27, 13, 13, 13, 13, 13, 13, 27, 13, 13, 13, 27]);
});

test('a prefix of the tokens gives the same logits (causal) and positions matter (rotary)', async () => {
  const r = ref('medium');
  const m = await loadModdedModel(path.join(FIX, 'medium.pt'));
  const V = r.padded_vocab;
  const full = (await m.forward(r.tokens)).logits;
  const part = (await m.forward(r.tokens.slice(0, 7))).logits;
  assert.ok(relErr(part, full.subarray(0, 7 * V)) < 1e-6);
  // token 42 appears at positions 4 and 5: different positions, different logits
  const row4 = full.subarray(4 * V, 5 * V);
  const row5 = full.subarray(5 * V, 6 * V);
  assert.ok(relErr(row5, row4) > 1e-3);
});

for (const kind of ['small', 'medium']) {
  test(`${kind}: greedy generation with the KV cache equals argmax of full recomputation`, async () => {
    const r = ref(kind);
    const m = await loadModdedModel(path.join(FIX, `${kind}.pt`));
    const prompt = r.tokens.slice(0, 5);
    const seen = [];
    const ids = await m.generate(prompt, { max_new_tokens: 8, temperature: 0, onToken: (id) => seen.push(id) });
    assert.is(ids.length, 8);
    assert.equal(seen, ids);
    await assertGreedyIsRecomputedArgmax(m, prompt, ids, r);
  });
}

test('sampling: same seed same tokens, ids stay inside the real vocab, top_k 1 is greedy', async () => {
  const r = ref('small');
  const m = await loadModdedModel(path.join(FIX, 'small.pt'));
  const opts = { max_new_tokens: 12, temperature: 1.5, top_k: 40, seed: 7 };
  const a = await m.generate([1, 2, 3], opts);
  const b = await m.generate([1, 2, 3], opts);
  const c = await m.generate([1, 2, 3], { ...opts, seed: 8 });
  assert.equal(a, b);
  assert.not.equal(a, c);
  for (const id of [...a, ...c]) assert.ok(id >= 0 && id < r.vocab, `id ${id} < vocab ${r.vocab}`);
  const g = await m.generate([1, 2, 3], { max_new_tokens: 6, temperature: 0 });
  const k1 = await m.generate([1, 2, 3], { max_new_tokens: 6, temperature: 0.8, top_k: 1, seed: 3 });
  assert.equal(k1, g);
});

test('generation stops on abort; bad ids and a disposed model are clear errors', async () => {
  const m = await loadModdedModel(path.join(FIX, 'small.pt'));
  const ac = new AbortController();
  const got = [];
  const ids = await m.generate([5], { max_new_tokens: 50, temperature: 0, signal: ac.signal, onToken: (id) => { got.push(id); if (got.length === 3) ac.abort(); } });
  assert.is(ids.length, 3, 'the tokens delivered before the abort');
  assert.equal(ids, got);
  try {
    await m.forward([1, 500]);
    assert.unreachable();
  } catch (e) {
    assert.is(e.name, 'MyptError');
    assert.match(e.message, /token id 500 at position 1 is outside the embedding \(128 rows\)/);
  }
  // an id that Int32Array.from would wrap into another id (2^32 + 3 -> 3) is refused, not run
  for (const bad of [2 ** 32 + 3, 1.5, -1]) {
    try {
      await m.forward([1, bad]);
      assert.unreachable(String(bad));
    } catch (e) {
      assert.is(e.code, 'E_BAD_ARGUMENT');
      assert.match(e.message, `token id ${bad} at position 1 is not a non-negative integer id`);
    }
  }
  m.dispose();
  try {
    await m.forward([1]);
    assert.unreachable();
  } catch (e) {
    assert.is(e.code, 'E_DISPOSED');
  }
});

test('an already loaded dict loads too', async () => {
  const obj = await loadTorch(path.join(FIX, 'medium.pt'));
  const m = await loadModdedModel(obj);
  const r = ref('medium');
  assert.ok(relErr((await m.forward(r.tokens)).logits, r.logits) < 1e-4);
});

test('generateText: GPT-2 tokens in and out, streamed pieces add up to the text', async () => {
  // a GPT-2-vocab model (50304 rows) at a tiny width, built in memory with seeded random weights
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const t = (shape, scale) => ({ dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rand() * scale) });
  const sd = new Map();
  sd.set('scalars', { dtype: 'float32', shape: [60], data: new Float32Array(60).fill(0.5) });
  sd.set('embed.weight', t([50304, 32], 1));
  for (let j = 0; j < 3; j++) sd.set(`value_embeds.${j}.weight`, t([50304, 32], 1));
  for (let i = 0; i < 12; i++) {
    if (i !== 7) {
      sd.set(`blocks.${i}.attn.qkv_w`, t([3, 32, 32], 0.2));
      sd.set(`blocks.${i}.attn.c_proj.weight`, t([32, 32], 0.2));
    }
    sd.set(`blocks.${i}.mlp.c_fc.weight`, t([128, 32], 0.2));
    sd.set(`blocks.${i}.mlp.c_proj.weight`, t([32, 128], 0.1));
  }
  sd.set('lm_head.weight', t([50304, 32], 3));
  const m = await loadModdedModel(sd, { head_dim: 16 });
  assert.is(m.spec.vocab, 50257);
  assert.is(m.config.doc_token, 50256, 'the scripts\' EOT starts documents');
  const { getEncoding } = require('js-tiktoken');
  const enc = getEncoding('gpt2');
  const pieces = [];
  const text = await m.generateText('Hello world', { max_new_tokens: 6, temperature: 0, onText: (p) => pieces.push(p) });
  const ids = await m.generate(enc.encode('Hello world'), { max_new_tokens: 6, temperature: 0 });
  assert.is(text, enc.decode(ids));
  assert.is(pieces.join(''), text);
  for (const id of ids) assert.ok(id < 50257);
});

test('head_dim 128 (the scripts\' size; 32 rotary frequencies then 32 zeros): both layouts match PyTorch', async () => {
  const { spawnSync } = require('child_process');
  const os = require('os');
  const fs = require('fs');
  if (spawnSync('/usr/bin/python3', ['-c', 'import torch']).status !== 0) {
    console.log('modded: head_dim 128 check skipped (/usr/bin/python3 -c "import torch" failed)');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-modded128-'));
  try {
    const p = spawnSync('/usr/bin/python3', [path.join(__dirname, 'fixtures', 'make_modded.py'), '--out', dir, '--dim', '128', '--heads', '1', '--head-dim', '128'], { encoding: 'utf8' });
    assert.is(p.status, 0, p.stderr);
    for (const kind of ['small', 'medium']) {
      const r = JSON.parse(fs.readFileSync(path.join(dir, `${kind}.json`), 'utf8'));
      const m = await loadModdedModel(path.join(dir, `${kind}.pt`));
      assert.is(m.spec.head_dim, 128);
      const e = relErr((await m.forward(r.tokens)).logits, r.logits);
      assert.ok(e < 1e-4, `${kind}: relative error ${e}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('generate checks its options like Model.generate; a throwing onToken rejects; dispose while busy is E_DISPOSED', async () => {
  const { MyptError } = require('../lib/errors');
  const x = await loadModdedModel(path.join(FIX, 'small.pt'));
  const bad = [{ temperature: NaN }, { temperature: -1 }, { top_k: -5 }, { top_p: 0 }, { seed: -1 }, { vocab_limit: 0 },
    { vocab_limit: 1e9 }, { max_new_tokens: 2 ** 32 + 1 }];
  for (const o of bad) {
    try {
      await x.generate([1], { max_new_tokens: 3, ...o });
      assert.unreachable(`accepted ${JSON.stringify(o)}`);
    } catch (e) {
      assert.instance(e, MyptError);
      assert.is(e.code, 'E_BAD_ARGUMENT');
    }
  }
  let calls = 0;
  try {
    await x.generate([1], { max_new_tokens: 5, onToken: () => { calls++; throw new Error('boom'); } });
    assert.unreachable('resolved');
  } catch (e) {
    assert.is(e.message, 'boom');
  }
  assert.is(calls, 1, 'no token is delivered after the callback threw');
  const run = x.generate([1], { max_new_tokens: 200 });
  x.dispose();
  try {
    await run;
    assert.unreachable('a call cut short by dispose() resolved');
  } catch (e) {
    assert.is(e.code, 'E_DISPOSED', 'the call in flight ends with a clear error, not a short result (as GptModel)');
  }
  try {
    await x.forward([1]);
    assert.unreachable('used after dispose');
  } catch (e) {
    assert.is(e.code, 'E_DISPOSED');
  }
});

test('loadModdedModel: device and precision are checked as createModel checks them', async () => {
  const file = path.join(FIX, 'small.pt');
  for (const [opts, code, what] of [
    [{ device: 'gpu' }, 'E_BAD_ARGUMENT', `device must be 'cpu', 'cuda' or 'auto', got "gpu"`],
    [{ precision: 'bf16', device: 'cpu' }, 'E_BAD_ARGUMENT', "precision 'bf16' needs device 'cuda'"],
    [{ precision: 'fp16' }, 'E_BAD_ARGUMENT', "precision must be 'fp32' or 'bf16'"],
    [{ device_index: -1 }, 'E_BAD_ARGUMENT', 'device_index must be a non-negative integer'],
  ]) {
    let err;
    try { await loadModdedModel(file, opts); } catch (e) { err = e; }
    assert.ok(err, JSON.stringify(opts));
    assert.is(err.code, code);
    assert.match(err.message, what);
  }
});

test.run();
