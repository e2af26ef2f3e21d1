// Detecting and describing modded-nanogpt files, and the messages partial or malformed ones give.
const { test } = require('uvu');
const assert = require('uvu/assert');
const path = require('path');
const { describeModded, detectModded, formatModdedInfo, parseModded } = require('../lib/formats/modded/modded');
const { loadTorch } = require('../lib/formats/torch');

const FIX = path.join(__dirname, 'fixtures', 'modded');
const P = '_orig_mod.';
const load = (k) => loadTorch(path.join(FIX, `${k}.pt`));

test('small file: layout, sizes, vocab, scalars and the GPU count they imply, step, val loss, dtypes', async () => {
  const obj = await load('small');
  assert.is(detectModded(obj), 'small');
  const i = describeModded(obj, 'small.pt');
  assert.is(i.layout, 'small');
  assert.is(i.forward, 'small');
  assert.is(i.forwardRecorded, false);
  assert.is(i.prefix, P);
  assert.is(i.n_layer, 12);
  assert.is(i.dim, 32);
  assert.is(i.n_head, 2);
  assert.is(i.head_dim, 16);
  assert.is(i.mlp_hidden, 128);
  assert.is(i.embed_rows, 128);
  assert.is(i.head_rows, 128);
  assert.is(i.vocab, 100);
  assert.match(i.vocabSource, /saved code/);
  assert.is(i.padded_vocab, 128);
  assert.equal(i.no_attention_layers, [7]);
  assert.is(i.scalars_len, 64);
  assert.is(i.scalars_pad, 4);
  assert.equal(i.world_sizes, [8]);
  assert.is(i.step, 1750);
  assert.is(i.val_loss, 3.2817);
  assert.equal(i.dtypes, { embed: 'bfloat16', value_embeds: 'bfloat16', matrices: 'float32', lm_head: 'float32', scalars: 'float32' });
  assert.is(i.num_tensors, 52);
  assert.is(i.optimizer_states, 1);
  // 4 embeddings of 128x32, 11 attention layers of 4*32*32, 12 MLPs of 2*128*32, head 128x32, 64 scalars
  assert.is(i.num_params, 4 * 128 * 32 + 11 * 4096 + 12 * 8192 + 128 * 32 + 64);
  const text = formatModdedInfo(i);
  assert.match(text, /modded-nanogpt small layout \(qkv_w \+ c_proj CastedLinear weights\)/);
  assert.match(text, /scalars: +64 = 5 x 12 \+ 4 pad -> trained on 8 GPUs/);
  assert.match(text, /val loss: +3.2817/);
  assert.match(text, /no attention on 7/);
});

test('medium file: unpadded embeddings give the vocab, scalars 5L, bf16 matrices', async () => {
  const i = describeModded(await load('medium'), 'medium.pt');
  assert.is(i.layout, 'medium');
  assert.is(i.n_layer, 16);
  assert.is(i.vocab, 100);
  assert.match(i.vocabSource, /unpadded/);
  assert.is(i.head_rows, 128);
  assert.is(i.scalars_len, 80);
  assert.is(i.world_sizes, null);
  assert.is(i.dtypes.matrices, 'bfloat16');
  assert.is(i.dtypes.lm_head, 'float32');
  assert.is(i.step, 5960);
  assert.match(formatModdedInfo(i), /qkvo_w, fc_w, proj_w, lm_head_w/);
});

test('a bare state dict is recognised too; other checkpoints are not', async () => {
  const obj = await load('medium');
  assert.is(detectModded(obj.get('model')), 'medium');
  const i = describeModded(obj.get('model'), 'sd', { head_dim: 16 });
  assert.is(i.step, null);
  assert.is(i.n_head, 2);
  assert.is(detectModded(new Map([['transformer.wte.weight', { dtype: 'float32', shape: [4, 2], data: new Float32Array(8) }]])), null);
  try {
    parseModded(new Map([['wte', { dtype: 'float32', shape: [1], data: new Float32Array(1) }]]), 'x.pt');
    assert.unreachable();
  } catch (e) {
    assert.is(e.code, 'E_BAD_FILE');
    assert.match(e.message, /x.pt: not a modded-nanogpt checkpoint .*found wte/);
  }
});

function expectBad(obj, re) {
  try {
    parseModded(obj, 'bad.pt');
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.is(e.name, 'MyptError');
    assert.is(e.code, 'E_BAD_FILE');
    assert.match(e.message, re);
    assert.not.match(e.message, /\n/);
  }
}

test('partial and misshapen state dicts name the keys', async () => {
  let obj = await load('small');
  let sd = obj.get('model');
  sd.delete(`${P}blocks.3.mlp.c_fc.weight`);
  sd.delete(`${P}blocks.5.attn.qkv_w`);
  expectBad(obj, /^bad\.pt: modded small layout: .*missing _orig_mod\.blocks\.3\.mlp\.c_fc\.weight/);
  expectBad(obj, /missing _orig_mod\.blocks\.5\.attn\.qkv_w/);

  obj = await load('small');
  sd = obj.get('model');
  const t = sd.get(`${P}blocks.2.attn.c_proj.weight`);
  sd.set(`${P}blocks.2.attn.c_proj.weight`, { dtype: t.dtype, shape: [32, 16], data: t.data.slice(0, 512) });
  expectBad(obj, /_orig_mod\.blocks\.2\.attn\.c_proj\.weight has shape \[32, 16\], expected \[32, 32\]/);

  obj = await load('small');
  sd = obj.get('model');
  const q = sd.get(`${P}blocks.0.attn.qkv_w`);
  sd.set(`${P}blocks.7.attn.qkv_w`, q);
  expectBad(obj, /unexpected key _orig_mod\.blocks\.7\.attn\.qkv_w/);

  obj = await load('medium');
  sd = obj.get('model');
  const s = sd.get(`${P}scalars`);
  sd.set(`${P}scalars`, { dtype: 'float32', shape: [70], data: new Float32Array(70) });
  expectBad(obj, /scalars has shape \[70\], expected \[80\]/);
  sd.set(`${P}scalars`, s);
  sd.delete(`${P}lm_head_w`);
  expectBad(obj, /lm_head_w is missing/);

  obj = await load('medium');
  obj.set('forward', 'large');
  expectBad(obj, /the 'forward' key is "large"/);
});

test('an unknown head count asks for head_dim', async () => {
  const obj = await load('small');
  obj.set('code', 'print("no model line")');
  try {
    parseModded(obj, 'nohead.pt');
    assert.unreachable();
  } catch (e) {
    assert.match(e.message, /nohead.pt: cannot tell the head count .* \(give the head size: convert --head_dim N, or the head_dim option of loadModdedModel\)/);
  }
  assert.is(parseModded(obj, 'x', { head_dim: 8 }).info.n_head, 4);
});

test('convert --head_dim: the flag the error names exists and is used', async () => {
  const fs = require('fs');
  const os = require('os');
  const { spawnSync } = require('child_process');
  const { saveTorch } = require('../lib/formats/torch');
  const obj = await load('small');
  obj.set('code', 'print("no model line")');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'headdim-'));
  await saveTorch(path.join(dir, 'nohead.pt'), obj);
  const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
  const run = (extra) => spawnSync(process.execPath, [BIN, 'convert', '--checkpoint', 'nohead.pt', '--to', 'medium', '--dry-run', ...extra], { cwd: dir, encoding: 'utf8' });
  const without = run([]);
  assert.is(without.status, 1);
  assert.match(without.stderr, /convert --head_dim N/);
  const withIt = run(['--head_dim', '8']);
  assert.is(withIt.status, 0, withIt.stderr);
  assert.match(withIt.stdout, /^would write /);
  fs.rmSync(dir, { recursive: true });
});

test.run();
