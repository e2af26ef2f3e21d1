// MyPT state_dict <-> canonical layout, checked against a state_dict, fused q|k|v and AdamW state that
// PyTorch produced (test/fixtures/make_foreign_checkpoints.py -> foreign/mypt_layout.json).
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');
const {
  myptToCanonical, canonicalToMypt, myptOptimizerToCanonical, canonicalToMyptOptimizer, myptParamNames,
} = require('../lib/formats/layouts/mypt');
const { canonicalParams } = require('../lib/formats/layouts/common');

const fx = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/foreign/mypt_layout.json'), 'utf8'));

const tensor = (shape, values) => ({ dtype: 'float32', shape, data: Float32Array.from(values) });
function stateDict(c) {
  const m = new Map();
  c.keys.forEach((k, i) => m.set(k, tensor(c.shapes[i], c.values[i])));
  return m;
}
function sameBits(a, b, what) {
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) if (Object.is(a[i], b[i]) === false && a[i] !== b[i]) assert.unreachable(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}
function optimizerSd(c) {
  const state = new Map();
  for (const [i, s] of Object.entries(c.optimizer.state)) {
    const shape = c.shapes[c.keys.indexOf(c.param_names[Number(i)])];
    state.set(Number(i), new Map([
      ['step', { dtype: 'float32', shape: [], data: Float32Array.of(s.step) }],
      ['exp_avg', tensor(shape, s.exp_avg)],
      ['exp_avg_sq', tensor(shape, s.exp_avg_sq)],
    ]));
  }
  return new Map([['state', state], ['param_groups', c.optimizer.param_groups.map((g) => new Map(Object.entries(g)))]]);
}

for (const c of fx.cases) {
  const tag = `bias=${c.config.bias} L=${c.config.n_layer}`;

  test(`${tag}: config and canonical names/shapes from a PyTorch MyPT state_dict`, () => {
    const { config, params } = myptToCanonical(stateDict(c), c.config);
    for (const k of ['vocab_size', 'block_size', 'n_layer', 'n_head', 'n_embd']) assert.is(config[k], c.config[k], k);
    assert.is(config.arch, 'mypt');
    assert.is(config.bias, c.config.bias);
    assert.is(config.qkv_bias, c.config.bias);
    assert.is(config.activation, 'relu');
    const expected = canonicalParams(config);
    assert.equal(Object.keys(params), expected.map(([n]) => n), 'canonical order');
    for (const [n, shape] of expected) assert.equal(params[n].shape, shape, n);
  });

  test(`${tag}: per-head q/k/v fuse exactly to torch.cat(query heads | key heads | value heads)`, () => {
    const { params } = myptToCanonical(stateDict(c), c.config);
    c.qkv.forEach((ref, i) => {
      sameBits(params[`h.${i}.attn.qkv.weight`].data, Float32Array.from(ref.weight), `h.${i}.attn.qkv.weight`);
      if (ref.bias) sameBits(params[`h.${i}.attn.qkv.bias`].data, Float32Array.from(ref.bias), `h.${i}.attn.qkv.bias`);
      else assert.not.ok(params[`h.${i}.attn.qkv.bias`]);
    });
    const val = (k) => Float32Array.from(c.values[c.keys.indexOf(k)]);
    sameBits(params['h.0.mlp.fc.weight'].data, val('blocks.0.fwd.net.0.weight'), 'fc');
    sameBits(params['h.0.mlp.proj.bias'].data, val('blocks.0.fwd.net.2.bias'), 'proj bias');
    sameBits(params['head.bias'].data, val('lm_head.bias'), 'head.bias');
    sameBits(params.wpe.data, val('position_embedding_table.weight'), 'wpe');
  });

  test(`${tag}: canonical -> MyPT gives torch's exact key order (every tril first) and the same values`, () => {
    const { config, params } = myptToCanonical(stateDict(c), c.config);
    const sd = canonicalToMypt(params, config);
    assert.equal([...sd.keys()], c.keys);
    c.keys.forEach((k, i) => {
      assert.equal(sd.get(k).shape, c.shapes[i], k);
      assert.is(sd.get(k).dtype, 'float32');
      sameBits(sd.get(k).data, Float32Array.from(c.values[i]), k);
    });
  });

  test(`${tag}: optimizer params order = named_parameters order; AdamW state round trip`, () => {
    const { config } = myptToCanonical(stateDict(c), c.config);
    assert.equal(myptParamNames(config), c.param_names);
    const opt = myptOptimizerToCanonical(optimizerSd(c), config);
    assert.is(opt.step, 2);
    assert.equal(opt.hyper, { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.01 });
    // the moments follow the same per-head fusion as the weights: check one q row block against the source
    const C = c.config.n_embd, hs = C / c.config.n_head;
    const kIdx = c.param_names.indexOf('blocks.0.sa.heads.1.key.weight');
    const got = opt.exp_avg['h.0.attn.qkv.weight'].data.slice((C + hs) * C, (C + 2 * hs) * C);
    sameBits(got, Float32Array.from(c.optimizer.state[kIdx].exp_avg), 'exp_avg of head 1 key');
    const back = canonicalToMyptOptimizer(opt, config, opt.hyper);
    const groups = back.get('param_groups');
    assert.is(groups.length, 1);
    const g = groups[0];
    assert.equal([...g.keys()], ['lr', 'betas', 'eps', 'weight_decay', 'amsgrad', 'maximize', 'foreach', 'capturable', 'differentiable', 'fused', 'params']);
    assert.equal(g.get('params'), c.param_names.map((_, i) => i));
    assert.equal([...g.get('betas')].map(Number), [0.9, 0.999]);
    assert.is(Number(g.get('weight_decay')), 0.01);
    assert.is(back.ordered, false, 'optimizer state_dict is a plain dict');
    const st = back.get('state');
    assert.equal([...st.keys()], c.param_names.map((_, i) => i));
    for (const [i, s] of Object.entries(c.optimizer.state)) {
      const e = st.get(Number(i));
      assert.equal([...e.keys()], ['step', 'exp_avg', 'exp_avg_sq']);
      assert.equal(e.get('step').shape, []);
      assert.is(e.get('step').data[0], 2);
      sameBits(e.get('exp_avg').data, Float32Array.from(s.exp_avg), `exp_avg ${i}`);
      sameBits(e.get('exp_avg_sq').data, Float32Array.from(s.exp_avg_sq), `exp_avg_sq ${i}`);
    }
  });
}

test('a MyPT optimizer saved before the first step ("state": {}) maps to step 0 with zero moments and back', () => {
  const c = fx.cases[0];
  const { config } = myptToCanonical(stateDict(c), c.config);
  const sd = new Map([['state', new Map()], ['param_groups', [new Map([['lr', 3e-4], ['betas', [0.9, 0.999]], ['eps', 1e-8], ['weight_decay', 0.01], ['params', c.param_names.map((_, i) => i)]])]]]);
  const opt = myptOptimizerToCanonical(sd, config);
  assert.is(opt.step, 0);
  assert.ok(opt.exp_avg.wte.data.every((x) => x === 0));
  assert.is(canonicalToMyptOptimizer(opt, config).get('state').size, 0);
});

test('errors name the file and the key: missing tensor, wrong shape, config disagreeing with weights, non-MyPT arch', () => {
  const c = fx.cases[0];
  const sd = stateDict(c);
  sd.delete('blocks.1.sa.heads.1.value.weight');
  assert.throws(() => myptToCanonical(sd, c.config, 'x/model.pt'), /x\/model\.pt: state_dict has no tensor 'blocks\.1\.sa\.heads\.1\.value\.weight'/);
  assert.throws(() => myptToCanonical(stateDict(c), { ...c.config, n_embd: 16 }, 'm.pt'), /config says n_embd=16 but the weights have n_embd=6/);
  const sd2 = stateDict(c);
  sd2.set('ln_f.weight', tensor([5], [1, 1, 1, 1, 1]));
  assert.throws(() => myptToCanonical(sd2, c.config), /'ln_f\.weight' has shape \[5\], expected \[6\]/);
  const sd3 = stateDict(c);
  sd3.set('blocks.0.sa.rope.freqs', tensor([2], [1, 2]));
  assert.throws(() => myptToCanonical(sd3, c.config), /unexpected keys blocks\.0\.sa\.rope\.freqs/);
  const { config, params } = myptToCanonical(stateDict(c), c.config);
  assert.throws(() => canonicalToMypt(params, { ...config, activation: 'gelu' }), /not MyPT's architecture: activation gelu/);
  assert.throws(() => canonicalToMypt(params, { ...config, tied_head: true }), /tied_head/);
});

test.run();
