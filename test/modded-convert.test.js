// Converting modded-nanogpt files between the small and medium layouts: tensors moved exactly,
// the function kept (same logits before and after), PyTorch loads the output.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { convertModded, defaultModdedOut } = require('../lib/formats/modded/convert');
const { parseModded } = require('../lib/formats/modded/modded');
const { loadModdedModel } = require('../lib');
const { loadTorch, saveTorch, PyDict } = require('../lib/formats/torch');
const { toFloat32 } = require('../lib/formats/tensor');

const { FIX, ref, relErr } = require('./modded-util');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-modded-'));
const P = '_orig_mod.';

const torchCheck = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
const haveTorch = torchCheck.status === 0;
if (!haveTorch) console.log('modded-convert: PyTorch checks skipped (/usr/bin/python3 -c "import torch" failed)');


function copyFixture(name, as) {
  const p = path.join(tmp, as);
  fs.copyFileSync(path.join(FIX, name), p);
  return p;
}

const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

test('small -> medium: every tensor where FORMATS.md puts it, c_proj untransposed, pad dropped', async () => {
  const inPath = copyFixture('small.pt', 'best_state_step001750_val3.2817.pt');
  const r = await convertModded(inPath, { to: 'medium' });
  assert.is(r.out, path.join(tmp, 'best_state_step001750_val3.2817-medium.pt'));
  assert.is(r.out, defaultModdedOut(inPath, 'medium'));
  assert.is(r.forward, 'small');
  const src = await loadTorch(inPath);
  const dst = await loadTorch(r.out);
  const s = src.get('model');
  const d = dst.get('model');
  // top level kept, forward recorded
  assert.equal([...dst.keys()], ['step', 'code', 'model', 'optimizers', 'val_loss', 'forward']);
  assert.is(dst.get('forward'), 'small');
  assert.is(dst.get('step'), 1750);
  assert.is(Number(dst.get('val_loss')), 3.2817);
  // the optimizer shard is carried over untouched
  const so = src.get('optimizers')[0];
  const dop = dst.get('optimizers')[0];
  assert.equal([...dop.get('param_groups')[0].get('betas')], [0.8, 0.95]);
  assert.is(Number(dop.get('param_groups')[0].get('eps')), 1e-10);
  const st = dop.get('state').get(0);
  assert.ok(same(st.get('exp_avg').data, so.get('state').get(0).get('exp_avg').data));
  assert.is(Number(st.get('step').data[0]), 1750);
  for (let i = 0; i < 12; i++) {
    const b = `${P}blocks.${i}.`;
    if (i === 7) {
      assert.not.ok(d.has(`${b}attn.qkvo_w`), 'layer 7 keeps no attention keys');
    } else {
      const qkvo = d.get(`${b}attn.qkvo_w`);
      assert.equal(qkvo.shape, [4, 32, 32]);
      assert.is(qkvo.dtype, 'float32');
      const qkv = s.get(`${b}attn.qkv_w`).data;
      const o = s.get(`${b}attn.c_proj.weight`).data;
      assert.ok(same(qkvo.data.subarray(0, qkv.length), qkv), `qkvo_w[0:3] = qkv_w (layer ${i})`);
      assert.ok(same(qkvo.data.subarray(qkv.length), o), `qkvo_w[3] = c_proj.weight as stored (layer ${i})`);
    }
    assert.ok(same(d.get(`${b}mlp.fc_w`).data, s.get(`${b}mlp.c_fc.weight`).data));
    assert.ok(same(d.get(`${b}mlp.proj_w`).data, s.get(`${b}mlp.c_proj.weight`).data));
  }
  assert.equal(d.get(`${P}lm_head_w`).shape, [128, 32], 'already a multiple of 128: not padded again');
  assert.equal(s.get(`${P}scalars`).shape, [64]);
  assert.equal(d.get(`${P}scalars`).shape, [60]);
  assert.ok(same(d.get(`${P}scalars`).data, s.get(`${P}scalars`).data.subarray(0, 60)));
  assert.is(d.get(`${P}embed.weight`).dtype, 'bfloat16');
  assert.is(d.size, s.size - 11, 'qkv_w + c_proj become one qkvo_w on the 11 attention layers');
  assert.ok([...d.keys()].every((k) => k.startsWith(P)));
});

test('converted small model: same logits with its recorded (small) forward; the medium forward is another model', async () => {
  const r = ref('small');
  const out = path.join(tmp, 'best_state_step001750_val3.2817-medium.pt');
  const before = await loadModdedModel(path.join(FIX, 'small.pt'));
  const after = await loadModdedModel(out);
  assert.is(after.spec.layout, 'medium');
  assert.is(after.forwardKind, 'small');
  const a = (await before.forward(r.tokens)).logits;
  const b = (await after.forward(r.tokens)).logits;
  assert.is(relErr(b, a), 0, 'bit-identical: the same numbers in the same order');
  assert.ok(relErr(b, r.logits) < 1e-4);
  const wrong = await loadModdedModel(out, { forward: 'medium' });
  assert.ok(relErr((await wrong.forward(r.tokens)).logits, a) > 0.1);
});

test('a transposed c_proj (the original converter) changes the function', async () => {
  const r = ref('small');
  const obj = await loadTorch(path.join(tmp, 'best_state_step001750_val3.2817-medium.pt'));
  const sd = obj.get('model');
  for (const [k, t] of sd) {
    if (!k.endsWith('attn.qkvo_w')) continue;
    const n = 32 * 32;
    const data = Float32Array.from(t.data);
    const o = data.slice(3 * n);
    for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) data[3 * n + i * 32 + j] = o[j * 32 + i];
    sd.set(k, { dtype: 'float32', shape: t.shape, data });
  }
  const m = await loadModdedModel(obj);
  const e = relErr((await m.forward(r.tokens)).logits, r.logits);
  assert.ok(e > 1e-2, `transposed output projections: relative change ${e}`);
});

test('PyTorch loads the converted file (weights-only) and its forward gives the same logits', async () => {
  if (!haveTorch) return;
  const r = ref('small');
  const out = path.join(tmp, 'best_state_step001750_val3.2817-medium.pt');
  const p = spawnSync('/usr/bin/python3', [path.join(__dirname, 'fixtures', 'make_modded.py'), 'check', out], { encoding: 'utf8' });
  assert.is(p.status, 0, p.stderr);
  const got = JSON.parse(p.stdout);
  assert.is(got.layout, 'medium');
  assert.is(got.forward, 'small');
  assert.is(got.dtypes[`${P}blocks.0.attn.qkvo_w`], 'float32');
  assert.equal(got.shapes[`${P}blocks.0.attn.qkvo_w`], [4, 32, 32]);
  assert.ok(relErr(got.logits, r.logits) < 1e-6, 'PyTorch, small forward on the converted file = the fixture');
});

test('medium -> small: lossless, and back again gives the same tensors', async () => {
  const inPath = copyFixture('medium.pt', 'state_step005960.pt');
  const r1 = await convertModded(inPath, { to: 'small' });
  assert.is(r1.out, path.join(tmp, 'state_step005960-small.pt'));
  assert.is(r1.forward, 'medium');
  const small = await loadTorch(r1.out);
  assert.is(small.get('forward'), 'medium', 'medium weights in the small layout need the medium forward');
  const info = parseModded(small, r1.out).info;
  assert.is(info.layout, 'small');
  assert.is(info.forward, 'medium');
  assert.is(info.dtypes.matrices, 'bfloat16');
  assert.is(info.scalars_len, 80);
  // it runs as the medium model it is
  const r = ref('medium');
  const m = await loadModdedModel(r1.out);
  assert.ok(relErr((await m.forward(r.tokens)).logits, r.logits) < 1e-4);
  // and back: identical tensors, forward key gone again (it is the medium layout's own)
  const r2 = await convertModded(r1.out, { to: 'medium', out: path.join(tmp, 'roundtrip.pt') });
  const a = (await loadTorch(inPath)).get('model');
  const b = await loadTorch(r2.out);
  assert.not.ok(b.has('forward'));
  const bm = b.get('model');
  assert.equal([...bm.keys()].sort(), [...a.keys()].sort());
  for (const [k, t] of a) {
    assert.equal(bm.get(k).shape, t.shape, k);
    assert.is(bm.get(k).dtype, t.dtype, k);
    assert.ok(same(bm.get(k).data, t.data), k);
  }
});

test('medium -> small with world_size re-adds the pad of ones; small -> medium -> small round trip', async () => {
  const inPath = copyFixture('small.pt', 'rt.pt');
  const r1 = await convertModded(inPath, { to: 'medium' });
  const r2 = await convertModded(r1.out, { to: 'small', world_size: 8, out: path.join(tmp, 'rt-back.pt') });
  const a = await loadTorch(inPath);
  const b = await loadTorch(r2.out);
  assert.equal([...b.keys()], [...a.keys()], 'same top-level keys: the forward key is gone again');
  const am = a.get('model');
  const bm = b.get('model');
  assert.equal([...bm.keys()].sort(), [...am.keys()].sort());
  for (const [k, t] of am) assert.ok(same(bm.get(k).data, t.data), k);
  assert.is(parseModded(b, r2.out).info.world_sizes.join(','), '8');
  // without world_size: 60 scalars (a 1/2/4-GPU small file), read by their meaning: same function
  const r3 = await convertModded(r1.out, { to: 'small', out: path.join(tmp, 'rt-60.pt') });
  const info = parseModded(await loadTorch(r3.out), r3.out).info;
  assert.is(info.scalars_len, 60);
  assert.equal(info.world_sizes, [1, 2, 3, 4, 5, 6]);
  const m = await loadModdedModel(r3.out);
  assert.ok(relErr((await m.forward(ref('small').tokens)).logits, ref('small').logits) < 1e-4);
});

test('a head that is not a multiple of 128 is padded once, and never again', async () => {
  const obj = await loadTorch(path.join(FIX, 'small.pt'));
  const sd = obj.get('model');
  const head = sd.get(`${P}lm_head.weight`);
  // an old file with an unpadded head (100 rows) and unpadded embeddings
  const cut = (t, n) => ({ dtype: t.dtype, shape: [n, t.shape[1]], data: t.data.slice(0, n * t.shape[1]) });
  sd.set(`${P}lm_head.weight`, cut(head, 100));
  for (const k of ['embed.weight', 'value_embeds.0.weight', 'value_embeds.1.weight', 'value_embeds.2.weight']) sd.set(P + k, cut(sd.get(P + k), 100));
  const p = path.join(tmp, 'unpadded.pt');
  await saveTorch(p, obj);
  const r = await convertModded(p, { to: 'medium' });
  assert.ok(r.notes.some((n) => /padded with zero rows from 100 to 128/.test(n)));
  const h = (await loadTorch(r.out)).get('model').get(`${P}lm_head_w`);
  assert.equal(h.shape, [128, 32]);
  assert.ok(same(h.data.subarray(0, 3200), head.data.subarray(0, 3200)));
  assert.ok(h.data.subarray(3200).every((v) => v === 0));
  // converting the result back and forth keeps 128 rows
  const r2 = await convertModded(r.out, { to: 'small', out: path.join(tmp, 'unpadded-back.pt') });
  const r3 = await convertModded(r2.out, { to: 'medium', out: path.join(tmp, 'unpadded-again.pt') });
  assert.equal((await loadTorch(r3.out)).get('model').get(`${P}lm_head_w`).shape, [128, 32]);
  // the logits over the real vocab are unchanged by the padding (the padded columns are new)
  const before = await loadModdedModel(p);
  const after = await loadModdedModel(r.out);
  const t = ref('small').tokens;
  const a = (await before.forward(t)).logits;
  const b = (await after.forward(t)).logits;
  for (let row = 0; row < t.length; row++) assert.ok(relErr(b.subarray(row * 128, row * 128 + 100), a.subarray(row * 100, row * 100 + 100)) === 0);
});

test('no prefix in, no prefix out; trim_embeddings cuts to the real vocab', async () => {
  const obj = await loadTorch(path.join(FIX, 'small.pt'));
  const sd = new PyDict();
  sd.ordered = true;
  for (const [k, t] of obj.get('model')) sd.set(k.slice(P.length), t);
  obj.set('model', sd);
  const p = path.join(tmp, 'noprefix.pt');
  await saveTorch(p, obj);
  const r = await convertModded(p, { to: 'medium', trim_embeddings: true });
  const d = (await loadTorch(r.out)).get('model');
  assert.ok([...d.keys()].every((k) => !k.startsWith(P)));
  assert.equal(d.get('embed.weight').shape, [100, 32]);
  assert.equal(d.get('value_embeds.2.weight').shape, [100, 32]);
  assert.ok(r.notes.some((n) => /cut from 128 to 100 rows/.test(n)));
  const m = await loadModdedModel(r.out);
  assert.ok(relErr((await m.forward(ref('small').tokens)).logits, ref('small').logits) < 1e-4);
});

test('convert refuses: same layout, an existing output, a wrong --to', async () => {
  const inPath = path.join(FIX, 'medium.pt');
  for (const [opts, re] of [
    [{ to: 'medium' }, /already in the modded medium layout/],
    [{ to: 'small', out: path.join(tmp, 'rt.pt') }, /exists/],
    [{ to: 'large' }, /--to must be small or medium/],
  ]) {
    try {
      await convertModded(inPath, opts);
      assert.unreachable();
    } catch (e) {
      assert.is(e.name, 'MyptError');
      assert.match(e.message, re);
    }
  }
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
