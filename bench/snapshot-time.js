// times a 124M model's snapshot: fresh arrays vs the page-locked snapshot buffers
const { createModel } = require('../lib');
const m = createModel({ arch: 'gpt2', vocab_size: 50304, block_size: 1024, n_layer: 12, n_head: 12, n_embd: 768, bias: true, device: 'cuda', precision: 'bf16', seed: 1 });
const t = (f) => { const t0 = process.hrtime.bigint(); f(); return Number(process.hrtime.bigint() - t0) / 1e6; };
for (let i = 0; i < 3; i++) console.log('fresh   params+moments ms', t(() => { m.getParameters(); m.getOptimizerState(); }).toFixed(1));
let buf; console.log('alloc pinned ms', t(() => { buf = m.snapshotBuffers(true); }).toFixed(1));
for (let i = 0; i < 3; i++) console.log('pinned  params+moments ms', t(() => { m.getParameters(buf); m.getOptimizerState(buf); }).toFixed(1));
m.dispose();
