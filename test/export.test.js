// `export`: a tiny GPT-2-family model trained here, out to a Hugging Face folder and to GGUF files, checked with
// this package's own readers (transformers and llama.cpp themselves: check_hf_export.py on a host with them,
// export.llama.test.js, export.tokenizers.test.js). Round trips give the same logits (bit for bit in fp32, within
// each type's precision otherwise); the folder's files have transformers' names, shapes and keys; the
// refusals name what has no GPT-2 equivalent.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const m = require('../lib');
const { gpt2Files } = require('../lib/tokenizer/gpt2-vocab');
const { tmpdir, tinyModel, saveCheckpoint, relErr, CORPUS } = require('./export.helpers');

const dir = tmpdir();
const out = (name) => path.join(dir, name);
const CLI = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const cli = (...args) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
const TEXT = CORPUS.slice(10_000, 10_048);

let tiny;   // { model, tokenizer, file }: char vocabulary, tanh GELU, tied head, every bias
const ids = () => tiny.tokenizer.encode(TEXT);

/** The tiny model's greedy continuation of `prompt`, as text. */
async function greedyText(prompt, n) {
  return tiny.tokenizer.decode(await tiny.model.generate(tiny.tokenizer.encode(prompt), { max_new_tokens: n, temperature: 0 }));
}

async function logitsOf(target, tokens) {
  const mm = await m.loadModel(target, { device: 'cpu' });
  try {
    return { logits: (await mm.forward([tokens])).logits, model: mm.info() };
  } finally {
    mm.dispose();
  }
}

test.before(async () => {
  tiny = await tinyModel(dir, { steps: 120 });
});
test.after(() => tiny.model.dispose());

test('hf: config.json, generation_config.json, model.safetensors in Conv1D layout, the char tokenizer.json; reloads bit for bit', async () => {
  const r = await m.exportModel({ format: 'hf', checkpoint: tiny.file, out: out('hf') });
  assert.equal(r.files, ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  assert.equal(r.check, { tokens: 16, relErr: 0, maxAbsDiff: 0, top1: 16 });
  const c = JSON.parse(fs.readFileSync(out('hf/config.json'), 'utf8'));
  const cfg = tiny.model.config;
  for (const [k, v] of Object.entries({
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', activation_function: 'gelu_new', vocab_size: cfg.vocab_size,
    n_positions: 64, n_ctx: 64, n_embd: 64, n_layer: 2, n_head: 2, n_inner: null, layer_norm_epsilon: 1e-5,
    tie_word_embeddings: true, bos_token_id: null, eos_token_id: null, torch_dtype: 'float32', scale_attn_weights: true,
  })) assert.equal(c[k], v, `config.json ${k}`);
  assert.equal(JSON.parse(fs.readFileSync(out('hf/generation_config.json'), 'utf8')), { _from_model_config: true });
  const st = m.loadSafetensorsSync(out('hf/model.safetensors'));
  assert.equal(st.metadata, { format: 'pt' });
  const shapes = Object.fromEntries([...st.tensors].map(([k, t]) => [k, t.shape]));
  const C = 64, V = cfg.vocab_size;
  assert.equal(shapes['transformer.wte.weight'], [V, C]);
  assert.equal(shapes['transformer.wpe.weight'], [64, C]);
  assert.equal(shapes['transformer.h.0.attn.c_attn.weight'], [C, 3 * C], 'Conv1D: [in, out]');
  assert.equal(shapes['transformer.h.0.attn.c_proj.weight'], [C, C]);
  assert.equal(shapes['transformer.h.1.mlp.c_fc.weight'], [C, 4 * C]);
  assert.equal(shapes['transformer.h.1.mlp.c_proj.weight'], [4 * C, C]);
  assert.equal(shapes['transformer.ln_f.bias'], [C]);
  assert.not.ok('lm_head.weight' in shapes, 'tied: no lm_head.weight, as save_pretrained writes');
  assert.is(Object.keys(shapes).length, 2 + 2 * 12 + 2);
  // c_attn stored transposed: [in, out][i][o] = canonical qkv [out, in][o][i]
  const qkv = tiny.model.getParameters()['h.0.attn.qkv.weight'].data;
  const conv = st.tensors.get('transformer.h.0.attn.c_attn.weight').data;
  for (const [o, i] of [[0, 0], [5, 9], [191, 63], [100, 1]]) assert.is(conv[i * 3 * C + o], qkv[o * C + i]);
  // the tokenizer: our reader of HF tokenizer files gives the model's ids and the text back
  const hf = m.loadTokenizerFile(out('hf/tokenizer.json'));
  const text = CORPUS.slice(50_000, 52_000);
  assert.equal(hf.encode(text), tiny.tokenizer.encode(text));
  assert.is(hf.decode(tiny.tokenizer.encode(text)), text);
  assert.equal(JSON.parse(fs.readFileSync(out('hf/tokenizer_config.json'), 'utf8')).tokenizer_class, 'PreTrainedTokenizerFast');
  // loadModel reads the folder back with its character vocabulary and the same logits
  const back = await logitsOf(out('hf'), ids());
  const want = (await tiny.model.forward([ids()])).logits;
  assert.equal(Array.from(back.logits), Array.from(want));
  assert.match(back.model.tokenizer, /char \(65 tokens\)/);
  const mm = await m.loadModel(out('hf'), { device: 'cpu' });
  assert.is(await mm.generate('ROMEO:', { max_new_tokens: 20, temperature: 0 }), await greedyText('ROMEO:', 20));
  mm.dispose();
});

test('hf --dtype float16 / bfloat16: safetensors of that dtype, torch_dtype recorded, logits within its precision', async () => {
  const want = (await tiny.model.forward([ids()])).logits;
  for (const [dtype, st, tol] of [['float16', 'float16', 2e-3], ['bfloat16', 'bfloat16', 2e-2]]) {
    const r = await m.exportModel({ format: 'hf', checkpoint: tiny.file, out: out(`hf-${dtype}`), dtype });
    assert.is(r.encoding, dtype);
    const file = m.loadSafetensorsSync(out(`hf-${dtype}/model.safetensors`));
    assert.ok([...file.tensors.values()].every((t) => t.dtype === st), dtype);
    assert.is(JSON.parse(fs.readFileSync(out(`hf-${dtype}/config.json`), 'utf8')).torch_dtype, dtype);
    const got = (await logitsOf(out(`hf-${dtype}`), ids())).logits;
    assert.ok(relErr(got, want) < tol, `${dtype}: ${relErr(got, want)}`);
    assert.ok(r.check.relErr < tol && r.check.relErr > 0);
  }
});

test('gguf f32 / f16 / bf16 / q8_0: llama.cpp\'s names, dims and keys; loadModel reads them back (f32 exactly)', async () => {
  const want = (await tiny.model.forward([ids()])).logits;
  const tols = { f32: 0, f16: 2e-3, bf16: 2e-2, q8_0: 2e-2 };
  for (const type of ['f32', 'f16', 'bf16', 'q8_0']) {
    const file = out(`tiny-${type}.gguf`);
    const r = await m.exportModel({ format: 'gguf', checkpoint: tiny.file, out: file, type });
    assert.equal(r.files, [file]);
    const g = m.readGgufHeader(file);
    const meta = (k) => g.metadata.get(k)?.value;
    assert.is(meta('general.architecture'), 'gpt2');
    assert.is(meta('gpt2.context_length'), 64);
    assert.is(meta('gpt2.embedding_length'), 64);
    assert.is(meta('gpt2.block_count'), 2);
    assert.is(meta('gpt2.feed_forward_length'), 256);
    assert.is(meta('gpt2.attention.head_count'), 2);
    assert.is(meta('gpt2.attention.layer_norm_epsilon'), Math.fround(1e-5));
    assert.is(meta('general.file_type'), { f32: 0, f16: 1, bf16: 32, q8_0: 7 }[type]);
    assert.is(meta('general.quantization_version'), type === 'q8_0' ? 2 : undefined);
    assert.is(meta('tokenizer.ggml.model'), 'gpt2');
    assert.equal(meta('tokenizer.ggml.tokens').slice(0, 3), ['Ċ', 'Ġ', '!'], 'newline and space in the byte-level alphabet');
    assert.ok(meta('tokenizer.ggml.token_type').every((t) => t === 1));
    assert.equal(meta('tokenizer.ggml.merges'), [], 'an ASCII character vocabulary needs no merges');
    const dims = Object.fromEntries(g.tensors.map((t) => [t.name, t.dims]));
    const types = Object.fromEntries(g.tensors.map((t) => [t.name, t.type]));
    const V = tiny.model.config.vocab_size;
    assert.equal(dims['token_embd.weight'], [64, V]);
    assert.equal(dims['position_embd.weight'], [64, 64]);
    assert.equal(dims['blk.0.attn_qkv.weight'], [64, 192]);
    assert.equal(dims['blk.0.attn_qkv.bias'], [192]);
    assert.equal(dims['blk.1.attn_output.weight'], [64, 64]);
    assert.equal(dims['blk.1.ffn_up.weight'], [64, 256]);
    assert.equal(dims['blk.1.ffn_down.weight'], [256, 64]);
    assert.equal(dims['output_norm.bias'], [64]);
    assert.not.ok('output.weight' in dims, 'tied: no output.weight (llama.cpp uses token_embd)');
    assert.is(g.tensors.length, 2 + 2 * 12 + 2);
    const wtype = { f32: 0, f16: 1, bf16: 30, q8_0: 8 }[type];
    assert.is(types['blk.0.attn_qkv.weight'], wtype);
    assert.is(types['token_embd.weight'], wtype);
    assert.is(types['position_embd.weight'], 0, 'positions stay f32');
    assert.is(types['blk.0.attn_norm.weight'], 0, 'norms stay f32');
    assert.is(types['blk.0.ffn_up.bias'], 0, 'biases stay f32');
    for (const t of g.tensors) assert.is((g.dataStart + t.offset) % 32, 0, `${t.name} aligned`);
    const back = await logitsOf(file, ids());
    const e = relErr(back.logits, want);
    if (type === 'f32') assert.equal(Array.from(back.logits), Array.from(want));
    else assert.ok(e > 0 && e < tols[type], `${type}: ${e}`);
    assert.is(back.model.origin.format, 'gguf');
    assert.is(back.model.config.activation, 'gelu_tanh');
  }
});

test('inspect, generate, trainStep, convert (then train --init_from_model) take a .gguf', async () => {
  const file = out('tiny-f32.gguf');
  const info = await m.getModelInfo(file);
  assert.is(info.format, 'gguf');
  fs.mkdirSync(out('one-gguf'));
  fs.copyFileSync(file, out('one-gguf/model.gguf'));
  assert.is((await m.getModelInfo(out('one-gguf'))).location, out('one-gguf/model.gguf'), 'a folder with a single .gguf');
  assert.is(info.tokenizer.kind, 'char');
  assert.equal(info.dtypes, ['F32']);
  const r = cli('generate', '--checkpoint', file, '--prompt', 'ROMEO:', '--max_new_tokens', '20', '--temperature', '0', '--device', 'cpu');
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, `ROMEO:${await greedyText('ROMEO:', 20)}\n`, 'the prompt, then the greedy continuation');
  const i = cli('inspect', file);
  assert.is(i.status, 0, i.stderr);
  assert.match(i.stdout, /gguf/);
  // trainable as loaded; to a bundle, then fine-tuned as any bundle
  const lm = await m.loadModel(file, { device: 'cpu' });
  const loss = await lm.trainStep({ tokens: [ids().slice(0, 32)], targets: [ids().slice(1, 33)] });
  assert.ok(Number.isFinite(loss) && loss > 0 && loss < 5, `loss ${loss}`);
  lm.dispose();
  const c = cli('convert', '--checkpoint', file, '--out', out('ckpts/from-gguf'));
  assert.is(c.status, 0, c.stderr + c.stdout);
  const back = await logitsOf(out('ckpts/from-gguf'), ids());
  assert.equal(Array.from(back.logits), Array.from((await tiny.model.forward([ids()])).logits));
  fs.writeFileSync(out('ft.txt'), CORPUS.slice(0, 20_000));
  const t = cli('train', '--checkpoints_dir', out('ckpts'), '--init_from_model', 'from-gguf', '--model_name', 'ft', '--input_file', out('ft.txt'),
    '--tokenization', 'char', '--max_iters', '2', '--eval_interval', '1', '--eval_iters', '1', '--batch_size', '2', '--device', 'cpu');
  assert.is(t.status, 0, t.stderr);
  assert.match(t.stdout, /Initializing from base model 'from-gguf'/);
  assert.ok(fs.existsSync(out('ckpts/ft/model.pt')));
});

test('GPT-2 vocabulary: vocab.json, merges.txt and tokenizer.json as GPT-2\'s; the padded 50304 rows kept; GGUF placeholders', async () => {
  const model = m.createModel({ vocab_size: 50304, block_size: 32, n_layer: 1, n_head: 2, n_embd: 32, arch: 'gpt2', activation: 'gelu_tanh', tied_head: false });
  const file = saveCheckpoint(out('gpt2vocab.safetensors'), model, { token_kind: 'gpt2', chars: null });
  const r = await m.exportModel({ format: 'hf', checkpoint: file, out: out('hf-gpt2') });
  assert.equal(r.files, ['config.json', 'generation_config.json', 'merges.txt', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json']);
  assert.match(r.changes.join('\n'), /stays padded to 50304 rows/);
  const c = JSON.parse(fs.readFileSync(out('hf-gpt2/config.json'), 'utf8'));
  assert.is(c.vocab_size, 50304);
  assert.is(c.tie_word_embeddings, false);
  assert.is(c.eos_token_id, 50256);
  assert.match(c.mypt_native.changes.join(' '), /ids 50257\.\.50303 are rows no text maps to/);
  assert.equal(JSON.parse(fs.readFileSync(out('hf-gpt2/generation_config.json'), 'utf8')), { _from_model_config: true, bos_token_id: 50256, eos_token_id: 50256 });
  const st = m.loadSafetensorsSync(out('hf-gpt2/model.safetensors'));
  assert.equal(st.tensors.get('lm_head.weight').shape, [50304, 32], 'untied: lm_head.weight');
  // vocab.json: 50,257 byte-level tokens, ids = GPT-2's; merges.txt: the version line and 50,000 merges
  const vocab = JSON.parse(fs.readFileSync(out('hf-gpt2/vocab.json'), 'utf8'));
  assert.is(Object.keys(vocab).length, 50257);
  for (const [tok, id] of [['!', 0], ['Ġthe', 262], ['Ġ', 220], ['Ċ', 198], ['<|endoftext|>', 50256], ['ĠThe', 383]]) assert.is(vocab[tok], id, tok);
  const merges = fs.readFileSync(out('hf-gpt2/merges.txt'), 'utf8').split('\n').filter(Boolean);
  assert.is(merges[0], '#version: 0.2');
  assert.is(merges.length, 50001);
  assert.equal(merges.slice(1, 6), ['Ġ t', 'Ġ a', 'h e', 'i n', 'r e']);
  // every merge makes a token, each later than the last (merge i makes token 256 + i), from two earlier tokens
  merges.slice(1).forEach((line, i) => {
    const [a, b] = line.split(' ');
    assert.is(vocab[a + b], 256 + i, `merge ${i} (${line})`);
    assert.ok(vocab[a] < 256 + i && vocab[b] < 256 + i, `merge ${i} parts`);
  });
  // tokenizer.json through our Hugging Face BPE reader gives js-tiktoken's ids on a varied text
  const hf = m.loadTokenizerFile(out('hf-gpt2/tokenizer.json'));
  const text = `${CORPUS.slice(0, 3000)}\n  Numbers 1234567 and 3.14159, URLs https://example.com/a?b=c, code: for (let i=0;i<10;i++) {}\n` +
    "It's we're they'll I'd   spaces\t\ttabs\r\nÜnïcödé — “quotes” 日本語 😀👍🏽 ٱلْعَرَبِيَّة";
  const gpt2 = new m.Gpt2Tokenizer();
  assert.equal(hf.encode(text), gpt2.encode(text));
  assert.is(hf.decode(gpt2.encode(text)), text);
  // loadModel reads the folder back (GPT-2's tokenizer, the same logits)
  const toks = gpt2.encode('Hello world, this is a test.');
  assert.equal(Array.from((await logitsOf(out('hf-gpt2'), toks)).logits), Array.from((await model.forward([toks])).logits));
  // GGUF: GPT-2's tokens, 47 placeholders of type unused, merges, eos/bos 50256
  await m.exportModel({ format: 'gguf', checkpoint: file, out: out('gpt2vocab.gguf') });
  const g = m.readGgufHeader(out('gpt2vocab.gguf'));
  const meta = (k) => g.metadata.get(k)?.value;
  const tokens = meta('tokenizer.ggml.tokens');
  const types = meta('tokenizer.ggml.token_type');
  assert.is(tokens.length, 50304);
  assert.equal(tokens.slice(0, 50257), gpt2Files().tokens);
  assert.equal(tokens.slice(50257, 50259), ['[PAD50257]', '[PAD50258]']);
  assert.equal([types[0], types[50255], types[50256], types[50257], types[50303]], [1, 1, 3, 5, 5]);
  assert.equal(meta('tokenizer.ggml.merges'), merges.slice(1));
  assert.equal([meta('tokenizer.ggml.bos_token_id'), meta('tokenizer.ggml.eos_token_id'), meta('tokenizer.ggml.add_bos_token')], [50256, 50256, false]);
  assert.is(meta('tokenizer.ggml.pre'), 'gpt-2');
  assert.ok(g.tensors.some((t) => t.name === 'output.weight'), 'untied: output.weight');
  const back = await m.loadModel(out('gpt2vocab.gguf'), { device: 'cpu' });
  assert.is(back.tokenizer.kind, 'gpt2');
  assert.equal(Array.from((await back.forward([toks])).logits), Array.from((await model.forward([toks])).logits));
  back.dispose();
  model.dispose();
});

test('nanoGPT\'s bias=False exact-GELU model: zero biases written, the exact GELU kept (HF gelu; GGUF records it, with a warning)', async () => {
  const model = m.createModel({ vocab_size: tiny.tokenizer.vocabSize, block_size: 32, n_layer: 2, n_head: 4, n_embd: 32, arch: 'gpt2', bias: false, seed: 3 });
  assert.is(model.config.activation, 'gelu');
  const file = saveCheckpoint(out('nobias.safetensors'), model, tiny.tokenizer);
  const want = (await model.forward([ids().slice(0, 32)])).logits;
  const r = await m.exportModel({ format: 'hf', checkpoint: file, out: out('hf-nobias') });
  assert.match(r.changes.join('\n'), /biases the model does not have are written as zeros \(ln1.bias, attn.qkv.bias, attn.proj.bias, ln2.bias, mlp.fc.bias, mlp.proj.bias, lnf.bias\)/);
  assert.is(JSON.parse(fs.readFileSync(out('hf-nobias/config.json'), 'utf8')).activation_function, 'gelu');
  const st = m.loadSafetensorsSync(out('hf-nobias/model.safetensors'));
  assert.ok(st.tensors.get('transformer.h.0.attn.c_attn.bias').data.every((v) => v === 0));
  assert.equal(Array.from((await logitsOf(out('hf-nobias'), ids().slice(0, 32))).logits), Array.from(want));
  const warnings = [];
  const g = await m.exportModel({ format: 'gguf', checkpoint: file, out: out('nobias.gguf'), onWarning: (w) => warnings.push(w) });
  assert.match(warnings.join('\n'), /exact \(erf\) GELU; llama.cpp's gpt2 computes the tanh approximation/);
  assert.equal(g.warnings, warnings);
  const h = m.readGgufHeader(out('nobias.gguf'));
  assert.is(h.metadata.get('mypt_native.activation').value, 'gelu');
  assert.is(h.metadata.get('mypt_native.biases').value, false);
  const back = await m.loadModel(out('nobias.gguf'), { device: 'cpu' });
  assert.is(back.config.activation, 'gelu');
  assert.is(back.config.qkv_bias, false, 'the zero biases are taken out again');
  assert.is(back.numParams, model.numParams);
  assert.equal(Array.from((await back.forward([ids().slice(0, 32)])).logits), Array.from(want));
  back.dispose();
  model.dispose();
});

test('MyPT architecture: refused with the one-line reason; a head bias of zeros and n_embd^-0.5 attention export exactly', async () => {
  const mypt = m.createModel({ vocab_size: tiny.tokenizer.vocabSize, block_size: 32, n_layer: 1, n_head: 2, n_embd: 32, seed: 5 });
  assert.is(mypt.config.arch, 'mypt');
  const file = saveCheckpoint(out('mypt.safetensors'), mypt, tiny.tokenizer);
  for (const format of ['hf', 'gguf']) {
    try {
      await m.exportModel({ format, checkpoint: file, out: out(format === 'hf' ? 'hf-mypt' : 'mypt.gguf') });
      assert.unreachable();
    } catch (e) {
      assert.is(e.code, 'E_UNSUPPORTED');
      assert.not.match(e.message, /\n/);
      assert.match(e.message, format === 'hf'
        ? /^this model \(a MyPT-architecture model\) has no GPT-2 \(transformers\) equivalent: its output layer has a bias \(65 values added to the logits\), and GPT2LMHeadModel's lm_head is a Linear layer without one: no GPT-2 config computes these logits$/
        : /^this model \(a MyPT-architecture model\) has no llama.cpp gpt2 equivalent: its output layer has a bias .*; its MLP uses relu, and llama.cpp's gpt2 graph is hard-wired to GELU$/);
    }
  }
  assert.not.ok(fs.existsSync(out('hf-mypt')) || fs.existsSync(out('mypt.gguf')), 'nothing written');
  const r = cli('export', '--checkpoint', file, '--format', 'hf', '--out', out('hf-mypt'));
  assert.is(r.status, 1);
  assert.match(r.stderr, /^error: this model \(a MyPT-architecture model\) has no GPT-2 \(transformers\) equivalent: .*\n$/);
  mypt.dispose();

  // the lecture trainer's n_embd^-0.5 attention and ReLU, with a head bias of zeros: transformers' GPT-2
  // computes it (q scaled, the zero bias left out)
  const lect = m.createModel({ vocab_size: tiny.tokenizer.vocabSize, block_size: 32, n_layer: 2, n_head: 4, n_embd: 32, attn_scale: 'embd', seed: 6 });
  const p = lect.getParameters();
  lect.setParameters({ ...p, 'head.bias': { shape: p['head.bias'].shape, data: new Float32Array(p['head.bias'].data.length) } });
  const lf = saveCheckpoint(out('lecture.safetensors'), lect, tiny.tokenizer);
  const x = await m.exportModel({ format: 'hf', checkpoint: lf, out: out('hf-lecture') });
  assert.match(x.changes.join('\n'), /the output bias is all zeros: left out/);
  assert.match(x.changes.join('\n'), /attention scaled by 0\.176777 \(not head_size\^-0.5 = 0\.353553\): q multiplied by 0\.500000/);
  assert.is(JSON.parse(fs.readFileSync(out('hf-lecture/config.json'), 'utf8')).activation_function, 'relu');
  const want = (await lect.forward([ids().slice(0, 32)])).logits;
  assert.ok(relErr((await logitsOf(out('hf-lecture'), ids().slice(0, 32))).logits, want) < 1e-6);
  try {
    await m.exportModel({ format: 'gguf', checkpoint: lf, out: out('lecture.gguf') });
    assert.unreachable();
  } catch (e) {
    assert.match(e.message, /^this model has no llama.cpp gpt2 equivalent: its MLP uses relu, and llama.cpp's gpt2 graph is hard-wired to GELU$/);
  }
  lect.dispose();
});

test('options: an existing output needs --overwrite (and a re-export drops the old tokenizer files); bad flags are one line', async () => {
  let e;
  try { await m.exportModel({ format: 'hf', checkpoint: tiny.file, out: out('hf') }); } catch (x) { e = x; }
  assert.is(e && e.code, 'E_IO');
  assert.match(e.message, /hf already exists \(give --overwrite to replace it\)/);
  // a GPT-2 export replaced by a char one: vocab.json and merges.txt go, a user's file stays
  fs.writeFileSync(out('hf-gpt2/README.md'), 'mine');
  await m.exportModel({ format: 'hf', checkpoint: tiny.file, out: out('hf-gpt2'), overwrite: true });
  assert.equal(fs.readdirSync(out('hf-gpt2')).sort(), ['README.md', 'config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  for (const [args, re] of [
    [['--format', 'onnx', '--out', 'x'], /^error: --format onnx: expected hf, gguf$/],
    [['--format', 'gguf', '--out', 'x.bin', '--checkpoint', tiny.file], /^error: --out x.bin: a GGUF file's name ends in \.gguf$/],
    [['--format', 'gguf', '--out', 'x.gguf', '--type', 'q4_0'], /^error: --type q4_0: expected f32, f16, bf16, q8_0$/],
    [['--format', 'hf', '--out', 'x', '--type', 'f16'], /^error: --type is for --format gguf \(Hugging Face folders take --dtype\)$/],
    [['--format', 'hf', '--out', 'x', '--checkpoint', out('nope.pt')], /^error: .*nope\.pt: no such file or folder$/],
  ]) {
    const r = cli('export', ...args);
    assert.is(r.status, 1, args.join(' '));
    assert.match(r.stderr.trim(), re);
  }
  const r = cli('export', '--format', 'gguf', '--checkpoint', tiny.file, '--out', out('cli.gguf'), '--type', 'q8_0');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^exported .*tiny\.safetensors \(safetensors\) -> GGUF file .*cli\.gguf: q8_0, [\d.]+ KB, tokenizer char \(65 characters\)\n  read back: logits over 16 tokens differ by [\d.]+e-\d relative \(max [\d.]+e-\d\), top-1 agrees at \d+\/16\n$/);
});

test('other trainers\' files: nanoGPT\'s ckpt.pt (meta.pkl vocabulary) exports both ways; a toy HF GPT-2 without a fitting vocabulary gets no tokenizer files (hf) or is refused (gguf)', async () => {
  const F = path.join(__dirname, 'fixtures', 'foreign');
  const nano = path.join(F, 'nanogpt', 'out-shakespeare-char', 'ckpt.pt');
  const toks = [1, 5, 9, 2, 7, 3];
  const want = (await logitsOf(nano, toks)).logits;
  for (const [format, o] of [['hf', out('nano-hf')], ['gguf', out('nano.gguf')]]) {
    const r = await m.exportModel({ format, checkpoint: nano, out: o, onWarning: () => {} });
    assert.is(r.tokenizer, 'char (27 characters)');
    assert.equal(Array.from((await logitsOf(o, toks)).logits), Array.from(want), format);
  }
  const warnings = [];
  const r = await m.exportModel({ format: 'hf', checkpoint: path.join(F, 'hf_gpt2'), out: out('toy-hf'), onWarning: (w) => warnings.push(w) });
  assert.is(r.tokenizer, 'none');
  assert.match(warnings.join('\n'), /a GPT-2 tokenizer with a 13-token model: ids 13\.\.50256 would have no row; the folder gets no tokenizer files/);
  assert.not.ok(fs.existsSync(out('toy-hf/tokenizer.json')));
  try {
    await m.exportModel({ format: 'gguf', checkpoint: path.join(F, 'hf_gpt2'), out: out('toy.gguf') });
    assert.unreachable();
  } catch (e) {
    assert.is(e.code, 'E_TOKENIZER');
    assert.match(e.message, /a GGUF file must hold a vocabulary that fits the model$/);
  }
});

test('--reference writes the text, its ids and the exported logits for check_hf_export.py', async () => {
  const r = cli('export', '--format', 'hf', '--checkpoint', tiny.file, '--out', out('hf-ref'), '--dtype', 'bfloat16', '--reference', out('ref.json'), '--reference_text', 'KING HENRY:\nOnce more');
  assert.is(r.status, 0, r.stderr);
  const ref = JSON.parse(fs.readFileSync(out('ref.json'), 'utf8'));
  assert.is(ref.text, 'KING HENRY:\nOnce more');
  assert.equal(ref.ids, tiny.tokenizer.encode(ref.text));
  assert.equal(ref.shape, [1, ref.ids.length, 65]);
  assert.is(ref.encoding, 'bfloat16');
  const b = Buffer.from(ref.logits_float32_base64, 'base64');
  const logits = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  assert.equal(Array.from(logits), Array.from((await logitsOf(out('hf-ref'), ref.ids)).logits), 'the logits of the exported (bf16) weights');
  const py = spawnSync('python3', ['-m', 'py_compile', path.join(__dirname, 'fixtures', 'check_hf_export.py')], { encoding: 'utf8' });
  if (py.error) console.log('skipping the syntax check of check_hf_export.py: no python3');
  else assert.is(py.status, 0, py.stderr);
});

test.run();
