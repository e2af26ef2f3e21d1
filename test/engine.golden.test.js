// The CPU engine against PyTorch (test/fixtures/make_golden.py): tiny GPTs of both families with random
// weights; logits and loss within 1e-5, every gradient and the parameters after 3 clipped AdamW steps
// within 1e-4 (relative error ||ours - torch|| / ||torch|| per tensor).
const { test } = require('uvu');
const assert = require('uvu/assert');

const { index, slice, build } = require('./helpers/golden');
const { relErr } = require('./helpers/relerr');

const { adamw } = index;
const worst = { logits: 0, loss: 0, grads: 0, after: 0 };

for (const c of index.cases) {
  test(`${c.name}: logits and loss match PyTorch within 1e-5`, async () => {
    const { model, tokens, targets } = build(c);
    const f = await model.forward(tokens);
    assert.equal(f.shape, [c.B, c.T, c.config.vocab_size]);
    const e = relErr(f.logits, slice(c.logits));
    const l = await model.loss(tokens, targets);
    const el = Math.abs(l - c.loss) / Math.abs(c.loss);
    worst.logits = Math.max(worst.logits, e);
    worst.loss = Math.max(worst.loss, el);
    assert.ok(e <= 1e-5, `logits relative error ${e}`);
    assert.ok(el <= 1e-5, `loss ${l} vs ${c.loss}`);
    model.dispose();
  });

  test(`${c.name}: every gradient matches PyTorch within 1e-4`, async () => {
    const { model, tokens, targets } = build(c);
    const l = await model.forwardBackward(tokens, targets, { train: true });
    assert.ok(Math.abs(l - c.loss) / c.loss <= 1e-5);
    const grads = model.getGradients();
    assert.equal(Object.keys(grads).sort(), Object.keys(c.grads).sort());
    for (const [name, e] of Object.entries(c.grads)) {
      const err = relErr(grads[name].data, slice(e));
      worst.grads = Math.max(worst.grads, err);
      assert.ok(err <= 1e-4, `${name}: relative error ${err}`);
    }
    model.dispose();
  });

  test(`${c.name}: parameters after ${adamw.steps} clipped AdamW steps match PyTorch within 1e-4`, async () => {
    const { model, tokens, targets } = build(c);
    if (c.config.arch !== 'gpt2') model.setDecayMask(() => true); // MyPT: one group, all decayed
    for (let s = 0; s < adamw.steps; s++) {
      const loss = await model.forwardBackward(tokens, targets);
      assert.ok(Math.abs(loss - c.step_losses[s]) / c.step_losses[s] <= 1e-4, `step ${s} loss ${loss} vs ${c.step_losses[s]}`);
      const { gradNorm } = await model.optimizerStep({ lr: adamw.lr, weight_decay: adamw.weight_decay, betas: adamw.betas,
        eps: adamw.eps, grad_clip: adamw.grad_clip });
      assert.ok(Math.abs(gradNorm - c.grad_norms[s]) / c.grad_norms[s] <= 1e-4, `step ${s} norm ${gradNorm} vs ${c.grad_norms[s]}`);
    }
    const after = model.getParameters();
    for (const [name, e] of Object.entries(c.after)) {
      let ours = after[name].data, ref = slice(e);
      if (name.endsWith('attn.qkv.bias')) {
        // The key bias adds q.b_k to every score of a query row, which softmax ignores: its gradient is
        // exactly 0 in exact arithmetic, and Adam (m / sqrt(v)) turns the rounding noise of either side
        // into +-lr steps. So: those entries only move by at most lr per step; Q and V are compared.
        const C = c.config.n_embd;
        for (let i = C; i < 2 * C; i++)
          assert.ok(Math.abs(ours[i] - ref[i]) <= 2 * adamw.lr * adamw.steps + 1e-6, `${name}[${i}] key bias drifted`);
        ours = Float32Array.from([...ours.subarray(0, C), ...ours.subarray(2 * C)]);
        ref = Float32Array.from([...ref.subarray(0, C), ...ref.subarray(2 * C)]);
      }
      const err = relErr(ours, ref);
      worst.after = Math.max(worst.after, err);
      assert.ok(err <= 1e-4, `${name}: relative error ${err}`);
    }
    assert.is(model.getOptimizerState().step, adamw.steps);
    model.dispose();
  });

  test(`${c.name}: trainStep gives the same parameters as forwardBackward + optimizerStep`, async () => {
    const { model, tokens, targets } = build(c);
    if (c.config.arch !== 'gpt2') model.setDecayMask(() => true);
    const loss = await model.trainStep({ tokens, targets, lr: adamw.lr, weight_decay: adamw.weight_decay,
      betas: adamw.betas, eps: adamw.eps, grad_clip: adamw.grad_clip });
    assert.ok(Math.abs(loss - c.loss) / c.loss <= 1e-5);
    model.dispose();
  });
}

test('worst relative errors vs PyTorch (printed for the record)', () => {
  console.log(`  golden worst relative errors: logits ${worst.logits.toExponential(2)}, loss ${worst.loss.toExponential(2)}, ` +
    `gradients ${worst.grads.toExponential(2)}, params after steps ${worst.after.toExponential(2)}`);
});

test.run();
