// Mutation fuzzing of the readers: thousands of seeded mutations of the committed fixtures
// (raw bytes of zip, legacy and safetensors files, and pickles re-packed with valid CRCs so the
// pickle machine itself is exercised). Every outcome must be a load (with all tensor data
// readable) or a MyptError; anything else (TypeError, RangeError, a hang) fails.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const m = require('../lib');
const { tempDir } = require('./torch.helpers');
const { ZipWriter } = require('../lib/formats/torch/zip-write');
const { ZipArchive } = require('../lib/formats/torch/zip-read');

const fixtures = path.join(__dirname, 'fixtures', 'torch');
const tmp = tempDir('mypt-fuzz-');           // tmpfs when there is one: ext4 flushes a file truncated and rewritten thousands of times
const SEED = Number(process.env.MYPT_FUZZ_SEED || 20261123);
const ROUNDS = Number(process.env.MYPT_FUZZ_ROUNDS || 600);

const { mulberry32 } = require('./helpers/rng');
const rnd = mulberry32(SEED);
const ri = (n) => Math.floor(rnd() * n);
const INTS = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0];

function mutate(src) {
  let b = Buffer.from(src);
  const k = 1 + ri(4);
  for (let j = 0; j < k; j++) {
    switch (ri(6)) {
      case 0: { const i = ri(b.length); b[i] ^= 1 << ri(8); break; }
      case 1: b[ri(b.length)] = ri(256); break;
      case 2: if (b.length > 4) b.writeUInt32LE(INTS[ri(INTS.length)], ri(b.length - 3)); break;
      case 3: b = b.subarray(0, ri(b.length + 1)); break;
      case 4: { const i = ri(b.length + 1); b = Buffer.concat([b.subarray(0, i), Buffer.from([ri(256), ri(256)]), b.subarray(i)]); break; }
      case 5: { const i = ri(b.length + 1), n = ri(16); b = Buffer.concat([b.subarray(0, i), b.subarray(i + n)]); break; }
    }
    if (b.length === 0) break;
  }
  return b;
}

function touch(v, seen = new Set()) {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (ArrayBuffer.isView(v.data) || v instanceof m.TorchTensor) { void v.data.length; return; }
  if (v instanceof Map) for (const [k, x] of v) { touch(k, seen); touch(x, seen); }
  else if (Array.isArray(v)) for (const x of v) touch(x, seen);
  else if (v instanceof m.PyObject) { touch(v.args, seen); touch(v.state, seen); }
}

const outcomes = { loaded: 0, rejected: 0 };
function attempt(file, kind, what) {
  const t0 = Date.now();
  try {
    if (kind === 'safetensors') { for (const t of m.loadSafetensorsSync(file).tensors.values()) void t.data; }
    else touch(m.loadTorchSync(file, { strict: ri(2) === 0 }));
    outcomes.loaded++;
  } catch (e) {
    if (!(e instanceof m.MyptError)) {
      const keep = path.join(os.tmpdir(), `mypt-fuzz-crash-${SEED}-${Date.now()}.bin`);
      fs.copyFileSync(file, keep);
      throw new Error(`${what}: ${e && e.stack} (input kept at ${keep})`);
    }
    outcomes.rejected++;
  }
  assert.ok(Date.now() - t0 < 2000, `${what}: took ${Date.now() - t0} ms`);
}

const RAW = ['views.pt', 'adamw.pt', 'userclass.pt', 'proto5.pt', 'legacy.pt', 'nested.pt', 'model.safetensors', '../torch2/views.pt', '../torch2/hf.safetensors'];
const file = path.join(tmp, 'x');
const fd = fs.openSync(file, 'w+');              // rewritten in place: reopening with O_TRUNC is slow on some disks
function put(bytes) {
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, bytes, 0, bytes.length, 0);
}

test(`raw byte mutations of zip, legacy and safetensors fixtures (seed ${SEED})`, () => {
  for (const name of RAW) {
    const src = fs.readFileSync(path.join(fixtures, name));
    for (let r = 0; r < ROUNDS; r++) {
      put(mutate(src));
      attempt(file, name.endsWith('.safetensors') ? 'safetensors' : 'pt', `${name} round ${r}`);
    }
  }
});

test(`pickle mutations re-packed with valid CRCs (seed ${SEED})`, () => {
  for (const name of ['views.pt', 'adamw.pt', 'userclass.pt', 'proto4.pt', 'proto5.pt', 'parameter.pt', 'model.pt']) {
    const src = path.join(fixtures, name);
    const zip = ZipArchive.open(src, fs.statSync(src).size);
    const entries = zip.entries.map((e) => ({ name: e.name, data: zip.read(e) }));
    for (let r = 0; r < ROUNDS; r++) {
      fs.ftruncateSync(fd, 0);
      const z = new ZipWriter(fd);
      for (const e of entries) {
        const d = e.name.endsWith('/data.pkl') ? mutate(e.data) : e.data;
        z.addEntry(e.name, d.length, [d]);
      }
      z.finish();
      attempt(file, 'pt', `${name} pickle round ${r}`);
    }
  }
  console.log(`  fuzz: ${outcomes.loaded} loaded, ${outcomes.rejected} rejected with MyptError`);
  assert.ok(outcomes.rejected > 0 && outcomes.loaded > 0);
});

test.after(() => { fs.closeSync(fd); fs.rmSync(tmp, { recursive: true, force: true }); });
test.run();
