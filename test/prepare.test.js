// `prepare`: text to token shards. The ids are checked against js-tiktoken with tiktoken's pattern (\s as
// \p{White_Space}, as tiktoken's Rust regex means it; see bpe-native.test.js) on a varied corpus cut into
// small pieces; every layout byte for byte (ours, nanoGPT's train.bin/val.bin, llm.c's 256 x int32 header);
// nanoGPT's own shakespeare_char steps (test/fixtures/make_nanogpt_char.py) give the same train.bin and
// val.bin, and Python's pickle reads our meta.pkl; bad inputs end in one named error.
const { test } = require('uvu');
const assert = require('uvu/assert');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { Tiktoken } = require('js-tiktoken/lite');
const ranksModule = require('js-tiktoken/ranks/gpt2');
const { prepare } = require('../lib/use-cases/prepare/prepare');
const { describeDataset } = require('../lib/formats/tokens');
const { MyptError } = require('../lib/errors');

const ranks = ranksModule.default || ranksModule;
const WS_PATTERN = ranks.pat_str.replaceAll('\\s', '\\p{White_Space}').replaceAll('\\S', '\\P{White_Space}');
const tiktoken = new Tiktoken({ ...ranks, pat_str: WS_PATTERN });
const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'mypt-native.js');
const PY = '/usr/bin/python3';
const hasNumpy = spawnSync(PY, ['-c', 'import numpy']).status === 0;
const shakespeare = fs.readFileSync(path.join(ROOT, 'data', 'tinyshakespeare.txt'), 'utf8');

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-prepare-'));
const u16 = (file, offset = 0) => { const b = fs.readFileSync(file); return Array.from(new Uint16Array(b.buffer, b.byteOffset + offset, (b.length - offset) / 2)); };
const sha = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Text that exercises the pre-tokenizer: Unicode, whitespace runs, long words, digits, contractions, CRLF. */
function variedCorpus(seed, size) {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const parts = [
    () => shakespeare.slice(Math.floor(rnd() * 1e6), Math.floor(rnd() * 1e6) + Math.floor(rnd() * 300)),
    () => ' '.repeat(1 + Math.floor(rnd() * 9)), () => '\n'.repeat(1 + Math.floor(rnd() * 4)), () => '\t \n  \r\n',
    () => 'x'.repeat(50 + Math.floor(rnd() * 500)), () => 'Übergrößenträger naïve café 東京都 日本語のテキスト ',
    () => 'emoji 😀🎉👩‍💻 and ZWJ ', () => ` ${Math.floor(rnd() * 1e9)} 3.14159 `, () => "I'm you're they'll it's ",
    () => '\u00a0\u2003\u3000 unusual spaces ', () => 'Ελληνικά Русский עברית العربية ', () => '\n  indented line\n',
  ];
  let out = '';
  while (out.length < size) out += parts[Math.floor(rnd() * parts.length)]();
  return out;
}

test('gpt2: the ids of every file equal tiktoken encode_ordinary, <|endoftext|> between documents, cut into small pieces', async () => {
  const d = tmp();
  const inDir = path.join(d, 'in');
  fs.mkdirSync(inDir);
  const texts = [variedCorpus(1, 60000), variedCorpus(2, 30000), variedCorpus(3, 45000)];
  texts.forEach((t, i) => fs.writeFileSync(path.join(inDir, `doc${i}.txt`), t));
  const r = await prepare({ input: inDir, out: path.join(d, 'out'), val_fraction: 0.1, piece_bytes: 1024, workers: 2, shard_tokens: 7000 });
  const expected = [];
  texts.forEach((t, i) => { if (i) expected.push(50256); for (const id of tiktoken.encode(t, [], [])) expected.push(id); });
  const m = r.manifest;
  assert.is(m.documents, 3);
  assert.is(m.tokens.train + m.tokens.val, expected.length);
  assert.is(m.tokens.train, Math.floor(expected.length * 0.9));
  const got = [];
  for (const split of ['train', 'val']) for (const s of m.shards.filter((x) => x.split === split)) {
    assert.ok(s.tokens <= 7000);
    for (const id of u16(path.join(r.out, s.file))) got.push(id);
  }
  assert.equal(got, expected);
  // the files read back as the manifest says, with its checksums
  for (const s of m.shards) assert.is(sha(path.join(r.out, s.file)), s.sha256, s.file);
  assert.equal(m.shards.map((s) => s.file).slice(0, 2), ['train_000000.bin', 'train_000001.bin']);
  const info = describeDataset(r.out);
  assert.is(info.splits.train.reduce((a, s) => a + s.count, 0), m.tokens.train);
  // the same stream as nanoGPT's train.bin / val.bin; without our manifest it reads as nanoGPT's GPT-2 data (no meta.pkl)
  const ng = await prepare({ input: inDir, out: path.join(d, 'ng'), format: 'nanogpt', val_fraction: 0.1, workers: 2 });
  assert.equal([...u16(path.join(ng.out, 'train.bin')), ...u16(path.join(ng.out, 'val.bin'))].length, expected.length);
  assert.equal(u16(path.join(ng.out, 'val.bin')), expected.slice(m.tokens.train));
  fs.unlinkSync(path.join(ng.out, 'manifest.json'));
  const theirs = describeDataset(ng.out);
  assert.equal([theirs.format, theirs.tokenizer, theirs.splits.train[0].count, theirs.splits.val[0].count], ['nanogpt', { kind: 'gpt2' }, m.tokens.train, m.tokens.val]);
});

// Python's tiktoken itself (Rust core), where /usr/bin/python3 imports it (PYTHONPATH honoured): the encoding is
// built from js-tiktoken's gpt2 ranks (tiktoken's own file, nothing downloaded) and its encode_ordinary ids of
// the varied corpus must equal the shard's.
const hasTiktoken = spawnSync(PY, ['-c', 'import tiktoken']).status === 0;
test('gpt2: the ids equal Python tiktoken\'s encode_ordinary where it is installed', async () => {
  if (!hasTiktoken) { console.log('  skip Python tiktoken: not importable by /usr/bin/python3 (set PYTHONPATH to a folder holding it)'); return; }
  const d = tmp();
  const text = variedCorpus(9, 80000);
  fs.writeFileSync(path.join(d, 'a.txt'), text);
  const r = await prepare({ input: path.join(d, 'a.txt'), out: path.join(d, 'o'), val_fraction: 0, piece_bytes: 2048 });
  const { ranksTable } = require('../lib/tokenizer/bpe-native');
  const t = ranksTable(ranks);
  const lines = [];
  for (let i = 0; i < 50256; i++) lines.push(`${Buffer.from(t.bytes.subarray(t.offsets[i], t.offsets[i + 1])).toString('base64')} ${i}`);
  fs.writeFileSync(path.join(d, 'ranks'), lines.join('\n'));
  const py = spawnSync(PY, ['-c', `
import base64, json, sys, tiktoken
ranks = {base64.b64decode(a): int(b) for a, b in (l.split() for l in open(sys.argv[1], 'rb'))}
enc = tiktoken.Encoding('gpt2-test', pat_str=sys.argv[3], mergeable_ranks=ranks, special_tokens={'<|endoftext|>': 50256})
print(json.dumps(enc.encode_ordinary(open(sys.argv[2], encoding='utf-8', newline='').read())))
`, path.join(d, 'ranks'), path.join(d, 'a.txt'), ranks.pat_str], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.is(py.status, 0, py.stderr);
  const expected = JSON.parse(py.stdout);
  assert.is(r.manifest.tokens.train, expected.length);
  assert.equal(u16(path.join(d, 'o', 'train_000000.bin')), expected);
});

test('llmc: a 256 x int32 header (20240520, 1, count) then uint16, val shard 000000, train from 000001', async () => {
  const d = tmp();
  const text = variedCorpus(7, 20000);
  fs.writeFileSync(path.join(d, 'a.txt'), text);
  const out = path.join(d, 'fw');
  const r = await prepare({ input: path.join(d, 'a.txt'), out, format: 'llmc', val_fraction: 0.25, shard_tokens: 2000, workers: 1 });
  const ids = tiktoken.encode(text, [], []);
  const nTrain = Math.floor(ids.length * 0.75);
  const files = fs.readdirSync(out).filter((f) => f.endsWith('.bin')).sort();
  assert.is(files[0], 'fw_train_000001.bin');
  assert.ok(files.includes('fw_val_000000.bin'));
  const val = u16(path.join(out, 'fw_val_000000.bin'), 1024);
  assert.equal(val, ids.slice(nTrain, nTrain + 2000));
  let train = [];
  for (const f of files.filter((x) => x.includes('_train_'))) {
    const b = fs.readFileSync(path.join(out, f));
    const h = new Int32Array(b.buffer, b.byteOffset, 256);
    assert.is(h[0], 20240520);
    assert.is(h[1], 1);
    assert.is(h[2], (b.length - 1024) / 2);
    assert.ok(h.slice(3).every((x) => x === 0));
    train = train.concat(u16(path.join(out, f), 1024));
  }
  assert.equal(train, ids.slice(0, nTrain));
  assert.is(r.manifest.shards.find((s) => s.file === 'fw_val_000000.bin').header_bytes, 1024);
  // llm.c's folder without our manifest reads the same
  fs.unlinkSync(path.join(out, 'manifest.json'));
  const info = describeDataset(out);
  assert.is(info.format, 'llmc');
  assert.is(info.splits.train.reduce((a, s) => a + s.count, 0), nTrain);
  assert.is(info.splits.train[0].byteOffset, 1024);
});

test('jsonl: each line\'s field a document; invalid UTF-8 decoded as U+FFFD and counted', async () => {
  const d = tmp();
  const lines = ['{"text": "first doc", "id": 1}', '', '{"text": "second \\u00e9 doc"}', '{"body": "x", "text": "third"}'];
  fs.writeFileSync(path.join(d, 'a.jsonl'), lines.join('\n'));
  const r = await prepare({ input: path.join(d, '*.jsonl'), jsonl: true, out: path.join(d, 'o'), val_fraction: 0, workers: 1 });
  const expected = [...tiktoken.encode('first doc', [], []), 50256, ...tiktoken.encode('second é doc', [], []), 50256, ...tiktoken.encode('third', [], [])];
  assert.equal(u16(path.join(d, 'o', 'train_000000.bin')), expected);
  assert.is(r.manifest.documents, 3);
  fs.writeFileSync(path.join(d, 'bad.txt'), Buffer.concat([Buffer.from('ok \xef\xbf\xbd then ', 'latin1'), Buffer.from([0xff, 0xc3, 0x28]), Buffer.from(' end')]));
  const warnings = [];
  const r2 = await prepare({ input: path.join(d, 'bad.txt'), out: path.join(d, 'o2'), val_fraction: 0, log: (l) => warnings.push(l) });
  assert.is(r2.manifest.replaced_utf8, 2); // 0xff and the lone 0xc3; the literal U+FFFD is text
  assert.ok(warnings.some((w) => /2 invalid UTF-8 sequences/.test(w)));
  const text = new TextDecoder().decode(fs.readFileSync(path.join(d, 'bad.txt')));
  assert.equal(u16(path.join(d, 'o2', 'train_000000.bin')), tiktoken.encode(text, [], []));
});

test('nanogpt char: train.bin and val.bin equal those of nanoGPT\'s shakespeare_char steps; Python reads meta.pkl', async () => {
  const d = tmp();
  const input = path.join(d, 'input.txt');
  fs.writeFileSync(input, shakespeare.slice(0, 50000) + 'ünï ☃\n');
  const r = await prepare({ input, out: path.join(d, 'ours'), tokenization: 'char', format: 'nanogpt', val_fraction: 0.1 });
  assert.equal(fs.readdirSync(path.join(d, 'ours')).sort(), ['manifest.json', 'meta.pkl', 'train.bin', 'val.bin']);
  const chars = [...new Set(fs.readFileSync(input, 'utf8'))].sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
  assert.equal(r.manifest.tokenizer.chars, chars);
  if (!hasNumpy) { console.log('  skip nanoGPT comparison: /usr/bin/python3 has no numpy'); return; }
  const py = spawnSync(PY, [path.join(__dirname, 'fixtures', 'make_nanogpt_char.py'), input, path.join(d, 'theirs')], { encoding: 'utf8' });
  assert.is(py.status, 0, py.stderr);
  for (const f of ['train.bin', 'val.bin']) assert.ok(fs.readFileSync(path.join(d, 'ours', f)).equals(fs.readFileSync(path.join(d, 'theirs', f))), f);
  const chk = spawnSync(PY, [path.join(__dirname, 'fixtures', 'make_nanogpt_char.py'), 'check', path.join(d, 'ours')], { encoding: 'utf8' });
  assert.is(chk.status, 0, chk.stderr);
  const meta = JSON.parse(chk.stdout);
  assert.equal(meta, { vocab_size: chars.length, itos: chars, stoi_ok: true, types: ['dict', 'dict', 'dict'] });
  // their folder (no manifest) reads as nanoGPT's, with the vocabulary of their meta.pkl
  const info = describeDataset(path.join(d, 'theirs'));
  assert.is(info.format, 'nanogpt');
  assert.equal(info.tokenizer, { kind: 'char', chars });
});

test('a rerun after an interrupted run starts clean: old manifest, its shards and temporary files removed', async () => {
  const d = tmp();
  fs.writeFileSync(path.join(d, 'a.txt'), variedCorpus(4, 8000));
  const out = path.join(d, 'o');
  await prepare({ input: path.join(d, 'a.txt'), out, shard_tokens: 500, val_fraction: 0 });
  const many = fs.readdirSync(out).filter((f) => f.endsWith('.bin')).length;
  assert.ok(many > 2);
  fs.writeFileSync(path.join(out, '.train_000000.bin.tmp-123-abc'), 'partial');
  fs.writeFileSync(path.join(out, '.prepare-ids.tmp'), 'partial');
  fs.writeFileSync(path.join(out, 'notes.txt'), 'mine'); // not ours: kept
  await prepare({ input: path.join(d, 'a.txt'), out, val_fraction: 0 });
  assert.equal(fs.readdirSync(out).sort(), ['manifest.json', 'notes.txt', 'train_000000.bin']);
});

test('bad input: a missing file, an empty corpus, a bad JSON line, a nanogpt --shard_tokens, each a named error', async () => {
  const d = tmp();
  const err = async (opts, code, re) => {
    try { await prepare(opts); } catch (e) {
      assert.instance(e, MyptError);
      assert.is(e.code, code, e.message);
      assert.match(e.message, re);
      return;
    }
    assert.unreachable(`no error for ${JSON.stringify(opts)}`);
  };
  await err({ input: path.join(d, 'nope.txt'), out: path.join(d, 'o') }, 'E_IO', /--input .*nope\.txt: no such file/);
  fs.writeFileSync(path.join(d, 'empty.txt'), '');
  await err({ input: path.join(d, 'empty.txt'), out: path.join(d, 'o') }, 'E_BAD_FILE', /no text/);
  assert.not.ok(fs.existsSync(path.join(d, 'o', 'manifest.json')));
  fs.writeFileSync(path.join(d, 'b.jsonl'), '{"text": "a"}\n{oops\n');
  await err({ input: path.join(d, 'b.jsonl'), jsonl: true, out: path.join(d, 'o') }, 'E_BAD_FILE', /b\.jsonl line 2: not JSON/);
  await err({ input: path.join(d, 'b.jsonl'), out: path.join(d, 'o'), format: 'nanogpt', shard_tokens: 5 }, 'E_BAD_ARGUMENT', /--shard_tokens/);
  await err({ input: path.join(d, '*.md'), out: path.join(d, 'o') }, 'E_BAD_ARGUMENT', /no files match/);
  assert.equal(fs.readdirSync(path.join(d, 'o')), []); // nothing left behind
  // a failing rerun leaves the previous output whole
  fs.writeFileSync(path.join(d, 'good.txt'), 'some text\n');
  await prepare({ input: path.join(d, 'good.txt'), out: path.join(d, 'o'), val_fraction: 0 });
  await err({ input: path.join(d, 'b.jsonl'), jsonl: true, out: path.join(d, 'o') }, 'E_BAD_FILE', /line 2/);
  assert.equal(fs.readdirSync(path.join(d, 'o')).sort(), ['manifest.json', 'train_000000.bin']);
});

// nanoGPT's own train.py on `prepare --format nanogpt` output (char and GPT-2). Runs where NANOGPT_DIR points at a
// checkout of karpathy/nanoGPT and /usr/bin/python3 has torch; its train.py, model.py and configurator.py are
// copied into a temporary folder (the checkout is left alone). The first losses must sit at ln(vocab), the loss
// of a fresh model on valid ids.
const NANOGPT = process.env.NANOGPT_DIR;
const hasTorch = spawnSync(PY, ['-c', 'import torch']).status === 0;
test('nanoGPT train.py trains a few iterations on prepare --format nanogpt (char with meta.pkl, and gpt2)', async () => {
  if (!NANOGPT || !fs.existsSync(path.join(NANOGPT, 'train.py')) || !hasTorch) {
    console.log('  skip nanoGPT train.py: set NANOGPT_DIR to a nanoGPT checkout (and have torch in /usr/bin/python3)');
    return;
  }
  const d = tmp();
  for (const f of ['train.py', 'model.py', 'configurator.py']) fs.copyFileSync(path.join(NANOGPT, f), path.join(d, f));
  fs.writeFileSync(path.join(d, 'input.txt'), shakespeare.slice(0, 200000));
  for (const [tokenization, vocab] of [['char', null], ['gpt2', 50304]]) {
    const r = await prepare({ input: path.join(d, 'input.txt'), out: path.join(d, 'data', `mypt_${tokenization}`), tokenization, format: 'nanogpt', val_fraction: 0.1 });
    const V = vocab ?? r.manifest.tokenizer.chars.length;
    const py = spawnSync(PY, ['train.py', `--dataset=mypt_${tokenization}`, '--device=cpu', '--compile=False', '--dtype=float32', '--max_iters=2',
      '--eval_iters=2', '--eval_interval=2', '--batch_size=2', '--block_size=32', '--n_layer=1', '--n_head=2', '--n_embd=32', '--log_interval=1',
      `--out_dir=out_${tokenization}`, '--dropout=0.0'], { cwd: d, encoding: 'utf8', timeout: 600000, env: { ...process.env, OMP_NUM_THREADS: '2' } });
    assert.is(py.status, 0, py.stderr.slice(-2000));
    if (tokenization === 'char') assert.match(py.stdout, new RegExp(`found vocab_size = ${V} \\(inside data/mypt_char/meta.pkl\\)`));
    const m = py.stdout.match(/step 0: train loss ([\d.]+), val loss ([\d.]+)/);
    assert.ok(m, py.stdout);
    for (const loss of [Number(m[1]), Number(m[2])]) assert.ok(Math.abs(loss - Math.log(V)) < 0.25, `${tokenization}: ${loss} vs ln ${V} = ${Math.log(V)}`);
    assert.ok(fs.existsSync(path.join(d, `out_${tokenization}`, 'ckpt.pt')));
  }
});

test('a file size limit hit mid-shard (as a full disk): one error line naming the shard, the partial shard removed, no manifest', () => {
  const d = tmp();
  // 51,000 characters: the id stream is 102,000 bytes (under the 100 KiB limit), the llm.c shard 103,024 (over it)
  fs.writeFileSync(path.join(d, 'a.txt'), shakespeare.slice(0, 51000));
  const out = path.join(d, 'o');
  const r = spawnSync('bash', ['-c', `trap "" XFSZ; ulimit -f 100; exec "$0" "$@"`, process.execPath, BIN, 'prepare', '--input', path.join(d, 'a.txt'),
    '--out', out, '--format', 'llmc', '--tokenization', 'char', '--val_fraction', '0'], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^error: .*o_train_000001\.bin: write failed: the file is larger than this system allows \(EFBIG\)/);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.equal(fs.readdirSync(out), []);
});

test('CLI: prepare prints the splits; a bad input is one error line', () => {
  const d = tmp();
  fs.writeFileSync(path.join(d, 'a.txt'), shakespeare.slice(0, 5000));
  const ok = spawnSync(process.execPath, [BIN, 'prepare', '--input', path.join(d, 'a.txt'), '--out', path.join(d, 'o'), '--format', 'nanogpt', '--tokenization', 'char', '--val_fraction', '0.1'], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /train: 4,500 tokens in 1 shard \(train\.bin\)/);
  assert.match(ok.stdout, /val: 500 tokens/);
  // a pattern the shell expanded: several files after --input, a document each
  fs.writeFileSync(path.join(d, 'b.txt'), 'second file');
  const two = spawnSync(process.execPath, [BIN, 'prepare', '--input', path.join(d, 'a.txt'), path.join(d, 'b.txt'), '--out', path.join(d, 'o2'), '--val_fraction', '0'], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  assert.is(two.status, 0, two.stderr);
  assert.match(two.stdout, /Prepared 2 documents/);
  const bad = spawnSync(process.execPath, [BIN, 'prepare', '--input', path.join(d, 'missing'), '--out', path.join(d, 'o')], { encoding: 'utf8' });
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /^error: --input .*missing: no such file/);
  assert.is(bad.stderr.trim().split('\n').length, 1);
});

test.run();
