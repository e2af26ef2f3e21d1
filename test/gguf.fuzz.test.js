// Mutation fuzzing of the GGUF reader: seeded mutations of small GGUF files (a tiny gpt2 model exported
// here, F32 and Q8_0, with its vocabulary; a file of every metadata type), read through the header parser,
// every tensor's data and the gpt2 mapping the registry uses. Every outcome must be a read or a MyptError
// (E_BAD_FILE, E_UNSUPPORTED, E_TOKENIZER): anything else (TypeError, RangeError, a huge allocation, a hang)
// fails, and the input is kept for the bug report.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const m = require('../lib');
const { readGgufCheckpoint } = require('../lib/formats/gguf/gpt2');
const { GGUF_TYPE } = require('../lib/formats/gguf/types');
const { tempDir } = require('./torch.helpers');
const { mulberry32, saveCheckpoint } = require('./export.helpers');

const tmp = tempDir('mypt-gguf-fuzz-');
const SEED = Number(process.env.MYPT_FUZZ_SEED || 20261204);
const ROUNDS = Number(process.env.MYPT_FUZZ_ROUNDS || 500);
const rnd = mulberry32(SEED);
const ri = (n) => Math.floor(rnd() * n);
const INTS = [0, 1, 2, 7, 8, 9, 12, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0];

function mutate(src, headerEnd) {
  let b = Buffer.from(src);
  const k = 1 + ri(4);
  // most mutations hit the header (where the parsing is); some the data
  const pos = () => (ri(4) ? ri(Math.min(headerEnd, b.length)) : ri(b.length));
  for (let j = 0; j < k && b.length; j++) {
    switch (ri(7)) {
      case 0: { const i = pos(); b[i] ^= 1 << ri(8); break; }
      case 1: b[pos()] = ri(256); break;
      case 2: if (b.length > 8) b.writeUInt32LE(INTS[ri(INTS.length)], Math.min(pos(), b.length - 4)); break;
      case 3: if (b.length > 8) b.writeBigUInt64LE(BigInt(INTS[ri(INTS.length)]) << BigInt(ri(2) * 32), Math.min(pos(), b.length - 8)); break;
      case 4: b = b.subarray(0, ri(b.length + 1)); break;
      case 5: { const i = pos(); b = Buffer.concat([b.subarray(0, i), Buffer.from([ri(256), ri(256), ri(256), ri(256)]), b.subarray(i)]); break; }
      case 6: { const i = pos(), n = 1 + ri(16); b = Buffer.concat([b.subarray(0, i), b.subarray(i + n)]); break; }
    }
  }
  return b;
}

const outcomes = { read: 0, rejected: 0 };
const ALLOWED = new Set(['E_BAD_FILE', 'E_UNSUPPORTED', 'E_TOKENIZER', 'E_BAD_CONFIG']);
function attempt(file, what) {
  const t0 = Date.now();
  try {
    const g = m.readGgufHeader(file);
    for (const t of g.tensors) void m.readGgufTensor(g, t).length;
    if (g.metadata.get('general.architecture')) readGgufCheckpoint(file);
    outcomes.read++;
  } catch (e) {
    if (!(e instanceof m.MyptError) || !ALLOWED.has(e.code)) {
      const keep = path.join(os.tmpdir(), `mypt-gguf-fuzz-crash-${SEED}-${Date.now()}.gguf`);
      fs.copyFileSync(file, keep);
      throw new Error(`${what}: ${e && e.stack} (input kept at ${keep})`);
    }
    outcomes.rejected++;
  }
  assert.ok(Date.now() - t0 < 2000, `${what}: took ${Date.now() - t0} ms`);
}

test(`seeded byte mutations of GGUF files (seed ${SEED}, ${ROUNDS} rounds each)`, async () => {
  const chars = m.CharTokenizer.fromText('abcdefghijklmnopqrstuvwxyz ,.\n\'éü—');
  const model = m.createModel({ vocab_size: chars.vocabSize, block_size: 8, n_layer: 1, n_head: 2, n_embd: 32, arch: 'gpt2', activation: 'gelu_tanh', tied_head: false });
  const ckpt = saveCheckpoint(path.join(tmp, 'src.safetensors'), model, chars);
  model.dispose();
  const sources = [];
  for (const type of ['f32', 'q8_0']) {
    const f = path.join(tmp, `src-${type}.gguf`);
    await m.exportModel({ format: 'gguf', checkpoint: ckpt, out: f, type, verify: false });
    sources.push(f);
  }
  const T = GGUF_TYPE;
  m.writeGgufSync(path.join(tmp, 'types.gguf'), {
    metadata: [['a.u8', { type: T.UINT8, value: 1 }], ['a.i64', { type: T.INT64, value: -5n }], ['a.f64', { type: T.FLOAT64, value: 0.25 }],
      ['a.b', { type: T.BOOL, value: true }], ['a.s', { type: T.ARRAY, itemType: T.STRING, value: ['x', 'yz'] }],
      ['a.i', { type: T.ARRAY, itemType: T.INT16, value: [1, 2, 3] }]],
    tensors: [{ name: 't', dims: [4, 2], type: 1, bytes: new Uint8Array(16) }],
    alignment: 64,
  });
  sources.push(path.join(tmp, 'types.gguf'));
  const file = path.join(tmp, 'x.gguf');
  for (const src of sources) {
    const bytes = fs.readFileSync(src);
    const headerEnd = m.readGgufHeader(src).dataStart;
    for (let r = 0; r < ROUNDS; r++) {
      fs.writeFileSync(file, mutate(bytes, headerEnd));
      attempt(file, `${path.basename(src)} round ${r}`);
    }
  }
  console.log(`  gguf fuzz: ${outcomes.read} read, ${outcomes.rejected} rejected with MyptError`);
  assert.ok(outcomes.rejected > 0 && outcomes.read > 0);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
