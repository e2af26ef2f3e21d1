// Tokenizer files for modded-nanogpt models: a Hugging Face byte-level BPE tokenizer.json gives the ids
// the `tokenizers` library itself gives (test/fixtures/make_hf_tokenizer.py), MyPT's tokenizer.json
// record works too, `generate --tokenizer` uses the file, and bad files fail in one line naming them.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { loadTokenizerFile, gpt2Codec } = require('../lib/tokenizer/file');
const { loadModdedModel } = require('../lib');
const { FIX: MODDED } = require('./modded-util');

const HF = path.join(__dirname, 'fixtures', 'hf_tokenizer');
const expected = JSON.parse(fs.readFileSync(path.join(HF, 'expected.json'), 'utf8'));
const BIN = path.join(__dirname, '..', 'bin', 'mypt-native.js');
const cli = (args) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: os.tmpdir() });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenizer-file-'));
const write = (name, obj) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return p;
};

test('Hugging Face byte-level BPE: the ids and text of the tokenizers library', () => {
  const t = loadTokenizerFile(path.join(HF, 'tokenizer.json'));
  assert.is(t.vocabSize, expected.vocab_size);
  assert.is(t.eot, 0); // <|endoftext|>, the trainer's first special token
  for (const c of expected.cases) {
    assert.equal(t.encode(c.text), c.ids, JSON.stringify(c.text));
    assert.is(t.decode(c.ids), c.decoded);
  }
  // real merges happen: Shakespeare's words take fewer tokens than bytes
  const c0 = expected.cases[0];
  assert.ok(c0.ids.length < Buffer.byteLength(c0.text) / 2, `${c0.ids.length} ids`);
});

// expected.json's patches, applied as make_hf_tokenizer.py applies them
function patched(base, patch) {
  const d = JSON.parse(JSON.stringify(base));
  for (const [op, p, value] of patch) {
    let o = d;
    for (const k of p.slice(0, -1)) o = o[k];
    const k = p[p.length - 1];
    if (op === 'set') o[k] = value;
    else if (op === 'update') Object.assign(o[k], value);
    else o[k].push(...value);
  }
  return d;
}

test('Hugging Face edge cases, each against the library: prefix spaces beside added tokens, text a Split pattern skips, ignore_merges, overlapping added tokens, merges keyed by pair', () => {
  const { HfByteLevelBpe } = require('../lib/tokenizer/hf-bpe');
  const base = JSON.parse(fs.readFileSync(path.join(HF, 'tokenizer.json'), 'utf8'));
  assert.is(expected.variants.length, 5);
  for (const v of expected.variants) {
    const t = new HfByteLevelBpe(patched(base, v.patch), v.name);
    for (const c of v.cases) assert.equal(t.encode(c.text), c.ids, `${v.name}: ${JSON.stringify(c.text)}`);
  }
});

test('GPT-2 default: <|endoftext|> in the text is the document token 50256, as the scripts tokenise', () => {
  const t = gpt2Codec();
  assert.equal(t.encode('<|endoftext|>Hello'), [50256, 15496]);
  assert.is(t.decode([50256, 15496, 50300]), '<|endoftext|>Hello');
});

test("MyPT's tokenizer.json record (char and gpt2) is a tokenizer file too", () => {
  const c = loadTokenizerFile(write('char.json', { token_kind: 'char', chars: ['\n', ' ', 'a', 'b', 'c'] }));
  assert.equal(c.encode('ab c\n'), [2, 3, 1, 4, 0]);
  assert.is(c.decode([4, 3, 2]), 'cba');
  const g = loadTokenizerFile(write('gpt2.json', { token_kind: 'gpt2', chars: null }));
  assert.equal(g.encode('Hello'), [15496]);
});

test('bad tokenizer files: one line naming the file and what is wrong', () => {
  const hfBase = JSON.parse(fs.readFileSync(path.join(HF, 'tokenizer.json'), 'utf8'));
  const cases = [
    [write('noid.json', { ...hfBase, added_tokens: [{ content: '<x>' }] }), 'E_TOKENIZER', 'needs an integer id'],
    [write('strid.json', { ...hfBase, model: { ...hfBase.model, vocab: { a: 'one' } } }), 'E_TOKENIZER', 'not a non-negative integer'],
    [write('nummerge.json', { ...hfBase, model: { ...hfBase.model, merges: [7] } }), 'E_TOKENIZER', 'merge 0 is not a pair of strings'],
    [write('nulladded.json', { ...hfBase, added_tokens: [null] }), 'E_TOKENIZER', 'needs an integer id'],
    [path.join(tmp, 'missing.json'), 'E_IO', 'cannot read'],
    [write('notjson.json', '{oops'), 'E_TOKENIZER', 'not a JSON tokenizer file'],
    [write('wordpiece.json', { model: { type: 'WordPiece', vocab: {} } }), 'E_TOKENIZER', 'model type WordPiece is not supported'],
    [write('meta.json', { pre_tokenizer: null }), 'E_TOKENIZER', 'neither'],
    [write('charbad.json', { token_kind: 'char' }), 'E_BAD_FILE', 'without a "chars" list'],
  ];
  const hf = JSON.parse(fs.readFileSync(path.join(HF, 'tokenizer.json'), 'utf8'));
  cases.push([write('bert.json', { ...hf, pre_tokenizer: { type: 'BertPreTokenizer' } }), 'E_TOKENIZER', 'pre_tokenizer BertPreTokenizer']);
  cases.push([write('merge.json', { ...hf, model: { ...hf.model, merges: ['q z'] } }), 'E_TOKENIZER', 'merge 0 (q z) makes no vocab token']);
  for (const [file, code, what] of cases) {
    let err;
    try { loadTokenizerFile(file); } catch (e) { err = e; }
    assert.ok(err, file);
    assert.is(err.code, code, `${file}: ${err.message}`);
    assert.match(err.message, file);
    assert.match(err.message, what);
    assert.not.match(err.message, '\n');
  }
});

test('generate --tokenizer: a modded model samples through the given file', async () => {
  // a char vocabulary inside the fixture's 100-token embedding
  const chars = [...' etaoinshrdlucmfwypvbgkqjxz\n.,!?ETAOINSHRDLU'];
  const file = write('tok.json', { token_kind: 'char', chars });
  const model = path.join(MODDED, 'small.pt');
  const r = cli(['generate', '--checkpoint', model, '--tokenizer', file, '--prompt', 'the', '--max_new_tokens', '12', '--temperature', '0', '--device', 'cpu']);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, `${model}: modded-nanogpt small layout, small forward pass, ${file}, on cpu\n`);
  const m = await loadModdedModel(model, { tokenizer: file });
  const ids = await m.generate([...'the'].map((ch) => chars.indexOf(ch)), { max_new_tokens: 12, temperature: 0, vocab_limit: chars.length });
  m.dispose();
  const text = ids.map((i) => chars[i]).join('');
  assert.is(r.stdout, `the${text}\n`);
  assert.ok([...text].every((ch) => chars.includes(ch)));
  // a tokenizer bigger than the model's embedding: one line, naming both
  const big = cli(['generate', '--checkpoint', model, '--tokenizer', path.join(HF, 'tokenizer.json'), '--prompt', 'ROMEO: wherefore', '--device', 'cpu']);
  assert.is(big.status, 1);
  const lines = big.stderr.trim().split('\n');  // the status line, then the error in one line
  assert.is(lines.length, 2, big.stderr);
  assert.match(lines[0], 'modded-nanogpt small layout, small forward pass, ');
  assert.match(lines[1], "the model's embedding has");
  assert.match(lines[1], 'tokenizer.json');
  assert.is(big.stdout, '', 'nothing printed before the error');
  // --tokenizer is for modded files only
  const other = cli(['generate', '--checkpoint', path.join(__dirname, 'fixtures', 'foreign', 'nanogpt', 'out-plain', 'ckpt.pt'), '--tokenizer', file]);
  assert.is(other.status, 1);
  assert.match(other.stderr, '--tokenizer applies to modded-nanogpt files');
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
