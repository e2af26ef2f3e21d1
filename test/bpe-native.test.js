// The native GPT-2 BPE (binding/text/bpe.h, src/tokenizer/bpe-native.ts) against js-tiktoken.
//
// References: js-tiktoken's encode(text, [], []) (= tiktoken's encode_ordinary, with JavaScript's /\s/u) for
// the 'gpt2-js' pattern; js-tiktoken with tiktoken's pattern rewritten to \p{White_Space} (what tiktoken's
// Rust regex means by \s) for the 'gpt2' pattern, which is tiktoken's; and, for 10k-letter words (js-tiktoken
// needs ~10 s for one) and invalid UTF-8, a port of tiktoken's _byte_pair_merge over the same JS regex.
// Python's tiktoken is not installed here (pip cannot reach PyPI); where it is, the 'gpt2' reference can be
// checked against it too.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const path = require('path');
const { Tiktoken } = require('js-tiktoken/lite');
const ranksModule = require('js-tiktoken/ranks/gpt2');
const native = require('../lib/tokenizer/bpe-native');
const { MyptError } = require('../lib/errors');

const ranks = ranksModule.default || ranksModule;
const jsTiktoken = new Tiktoken(ranks);
const WS_PATTERN = ranks.pat_str.replaceAll('\\s', '\\p{White_Space}').replaceAll('\\S', '\\P{White_Space}');
const wsTiktoken = new Tiktoken({ ...ranks, pat_str: WS_PATTERN });
const REF = { 'gpt2-js': jsTiktoken, gpt2: wsTiktoken };
const PATTERN = { 'gpt2-js': new RegExp(ranks.pat_str, 'gu'), gpt2: new RegExp(WS_PATTERN, 'gu') };

const shakespeare = fs.readFileSync(path.join(__dirname, '..', 'data', 'tinyshakespeare.txt'), 'utf8');

// ---- helpers ----

const { mulberry32 } = require('./helpers/rng');

function assertSameIds(got, want, label) {
  let i = 0;
  const n = Math.min(got.length, want.length);
  while (i < n && got[i] === want[i]) i++;
  if (i === n && got.length === want.length) return;
  const ctx = (ids) => JSON.stringify(Array.from(ids.slice(Math.max(0, i - 3), i + 4)));
  const text = JSON.stringify(jsTiktoken.decode(Array.from(want.slice(Math.max(0, i - 8), i + 8))));
  assert.unreachable(`${label}: ${got.length} ids, want ${want.length}; first difference at id ${i}: native ${ctx(got)}, reference ${ctx(want)} around ${text}`);
}

// Checks both patterns against their references; returns the number of ids compared.
function checkBoth(text, label) {
  let count = 0;
  for (const pattern of ['gpt2-js', 'gpt2']) {
    const want = REF[pattern].encode(text, [], []);
    assertSameIds(native.encode(text, pattern), want, `${label} (${pattern})`);
    count += want.length;
  }
  return count;
}

// the piece ends (UTF-8 byte offsets) of the JS regex
function regexPieceEnds(text, re) {
  const ends = [];
  let at = 0;
  for (const m of text.matchAll(re)) {
    at += Buffer.byteLength(m[0].toWellFormed(), 'utf8');
    ends.push(at);
  }
  return ends;
}

// tiktoken's _byte_pair_merge (src/lib.rs), ported as it is: a piece that is a token is that token; else the
// lowest-ranked adjacent pair (leftmost on a tie) is merged until none is a token.
const rankOf = new Map();
{
  const t = native.ranksTable(ranks);
  for (let id = 0; id + 1 < t.offsets.length; id++) {
    if (t.special.includes(id) || t.offsets[id] === t.offsets[id + 1]) continue;
    rankOf.set(Buffer.from(t.bytes.subarray(t.offsets[id], t.offsets[id + 1])).toString('latin1'), id);
  }
}
function refPieceIds(bytes) {
  const rank = (a, b) => rankOf.get(Buffer.from(bytes.subarray(a, b)).toString('latin1'));
  const whole = rank(0, bytes.length);
  if (whole !== undefined) return [whole];
  const parts = [];
  for (let i = 0; i + 1 < bytes.length; i++) parts.push([i, rank(i, i + 2) ?? Infinity]);
  parts.push([bytes.length - 1, Infinity], [bytes.length, Infinity]);
  const get = (i) => (i + 3 < parts.length ? rank(parts[i][0], parts[i + 3][0]) ?? Infinity : Infinity);
  for (;;) {
    let min = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < parts.length; i++) if (parts[i][1] < min) { min = parts[i][1]; at = i; }
    if (at < 0) break;
    if (at > 0) parts[at - 1][1] = get(at - 1);
    parts[at][1] = get(at);
    parts.splice(at + 1, 1);
  }
  const ids = [];
  for (let i = 0; i + 1 < parts.length; i++) ids.push(rank(parts[i][0], parts[i + 1][0]));
  return ids;
}

// The documented reading of bytes: a well-formed UTF-8 sequence is its code point, any other byte one code
// point of class "other" (here U+E000 + byte, a private-use character: neither letter, number nor space).
// Returns the string to run the regex on and, per UTF-16 unit, the byte offset it starts at.
function readBytes(bytes) {
  let s = '';
  const at = [];
  for (let i = 0; i < bytes.length;) {
    const b0 = bytes[i];
    let len = 0;
    let cp = 0;
    const cont = (k) => i + k < bytes.length && (bytes[i + k] & 0xc0) === 0x80;
    if (b0 < 0x80) { len = 1; cp = b0; }
    else if (b0 >= 0xc2 && b0 <= 0xdf && cont(1)) { len = 2; cp = ((b0 & 0x1f) << 6) | (bytes[i + 1] & 0x3f); }
    else if (b0 >= 0xe0 && b0 <= 0xef && cont(1) && cont(2)) {
      cp = ((b0 & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
      if (cp >= 0x800 && !(cp >= 0xd800 && cp <= 0xdfff)) len = 3;
    } else if (b0 >= 0xf0 && b0 <= 0xf4 && cont(1) && cont(2) && cont(3)) {
      cp = ((b0 & 0x07) << 18) | ((bytes[i + 1] & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) | (bytes[i + 3] & 0x3f);
      if (cp >= 0x10000 && cp <= 0x10ffff) len = 4;
    }
    if (!len) { len = 1; cp = 0xe000 + b0; }
    const ch = String.fromCodePoint(cp);
    for (let k = 0; k < ch.length; k++) at.push(i);
    s += ch;
    i += len;
  }
  at.push(bytes.length);
  return { s, at };
}

function refBytesIds(bytes, pattern) {
  const { s, at } = readBytes(bytes);
  const ids = [];
  for (const m of s.matchAll(PATTERN[pattern])) {
    ids.push(...refPieceIds(bytes.subarray(at[m.index], at[m.index + m[0].length])));
  }
  return ids;
}

// ---- the varied corpus ----

const SPACES = [' ', '\t', '\n', '\r', '\r\n', '\v', '\f', '\u0085', '\u00a0', '\u1680', '\u2000', '\u2005', '\u200a',
  '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff', '\u180e', '\u200b'];
const CONTRACTIONS = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'rE", "'ve", "'VE", "'m", "'M", "'ll", "'LL",
  "'Ll", "'lL", "'d", "'D", "'x", "''s", "'", "\u2019s", "'l", "'r", "'v", "'e"];
const EMOJI = ['\u{1F600}', '\u{1F469}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466}', '\u{1F3F3}\uFE0F\u200D\u{1F308}',
  '\u{1F44D}\u{1F3FD}', '\u{1F1FA}\u{1F1F8}', '\u2764\uFE0F', '1\uFE0F\u20E3', '\u{1F9D1}\u200D\u{1F4BB}'];
const NUMBERS = ['0', '7', '42', '2024', '1234567890123', '3.14159', '\u0661\u0662\u0663', '\u0967\u0968', '\uFF11\uFF12',
  '\u00B2\u00B3', '\u00BD', '\u216B', '\u{1D7CE}\u{1D7CF}', '\u2460', '\u3007', '\u{10107}'];
const CJK = ['\u4E2D\u6587\u5B57', '\u65E5\u672C\u8A9E\u3067\u3059', '\u3072\u3089\u304C\u306A', '\u30AB\u30BF\u30AB\u30CA',
  '\uD55C\uAD6D\uC5B4', '\u3002', '\u3001', '\u300C\u300D', '\uFF01', '\u{20000}\u{2A700}'];
const WORDS = ['the', 'The', 'THE', 'hello', 'world', 'naïve', 'café', 'Straße', 'ǅemal', 'ﬁ', 'Ωμέγα', 'Москва',
  'שלום', 'مرحبا', 'नमस्ते', 'สวัสดี', 'ዓለም', 'ᚠᚢᚦ', 'e\u0301', 'a\u0308\u0304', '<|endoftext|>', '<|endoftext|', 'endoftext'];

// letters, marks, numbers and symbols of every block: up to 3 assigned code points from each 128-code-point block
function everyBlock(rand) {
  const out = [];
  const assigned = /\P{Cn}/u;
  for (let base = 0; base < 0x110000; base += 0x80) {
    if (base >= 0xd800 && base < 0xe000) continue;
    if ((base >= 0xe000 && base < 0xf900) || base >= 0xf0000) { // private use: a few blocks only
      if (rand() > 0.02) continue;
    }
    const cps = [];
    for (let cp = base; cp < base + 0x80; cp++) if (assigned.test(String.fromCodePoint(cp))) cps.push(cp);
    if (!cps.length) continue;
    const pick = () => String.fromCodePoint(cps[Math.floor(rand() * cps.length)]);
    for (let k = 0; k < 3; k++) {
      let w = '';
      for (let n = 1 + Math.floor(rand() * 5); n > 0; n--) w += pick();
      out.push(w);
    }
  }
  return out;
}

// The native classes come from Unicode 17.0 (binding/text/unicode_tables.h, from Node 20's ICU); a Node with
// other Unicode data reads some rare code points differently, so the every-block sample needs the same version.
const SAME_UNICODE = native.gpt2Bpe().unicodeVersion === process.versions.unicode;

function variedCorpus(seed, size) {
  const rand = mulberry32(seed);
  const pick = (a) => a[Math.floor(rand() * a.length)];
  if (!SAME_UNICODE) console.log(`  (no every-block sample: this Node has Unicode ${process.versions.unicode}, the tables ${native.gpt2Bpe().unicodeVersion})`);
  const blocks = SAME_UNICODE ? everyBlock(rand) : WORDS;
  const parts = [];
  let n = 0;
  const put = (s) => { parts.push(s); n += s.length; };
  for (const w of blocks) { put(w); put(pick([' ', '', '\n', '  ', ', '])); }
  while (n < size) {
    const r = rand();
    if (r < 0.2) put(pick(WORDS));
    else if (r < 0.3) put((rand() < 0.5 ? ' ' : '') + pick(WORDS));
    else if (r < 0.4) { let s = ''; for (let k = Math.floor(rand() * 6); k >= 0; k--) s += pick(SPACES); put(s); }
    else if (r < 0.5) put(pick(CONTRACTIONS));
    else if (r < 0.56) put(pick(NUMBERS));
    else if (r < 0.62) put(pick(EMOJI));
    else if (r < 0.68) put(pick(CJK));
    else if (r < 0.74) put(pick(blocks));
    else if (r < 0.8) { let s = ''; for (let k = Math.floor(rand() * 12); k >= 0; k--) s += String.fromCharCode(32 + Math.floor(rand() * 95)); put(s); }
    else if (r < 0.85) put(String(Math.floor(rand() * 1e9)).repeat(1 + Math.floor(rand() * 4)));
    else put(pick([' ', ' ', ' ', '\n', '. ', ', ', '"', '(', ')', ':', '?']));
  }
  // long words and runs (a few: js-tiktoken's merge is quadratic in the length of a piece)
  for (let k = 0; k < 16; k++) {
    let w = '';
    for (let n = 200 + Math.floor(rand() * 1300); n > 0; n--) w += String.fromCharCode((rand() < 0.5 ? 65 : 97) + Math.floor(rand() * 26));
    parts.splice(Math.floor(rand() * parts.length), 0, pick(['', ' ', '\n']) + w);
    parts.splice(Math.floor(rand() * parts.length), 0, pick(['!', '-', '=', '.', '\u2014', '9', '\u00e9']).repeat(50 + Math.floor(rand() * 400)));
  }
  // runs of whitespace before the end of the text, of every kind
  put(pick(WORDS) + '  \t \u3000 \n\n');
  return parts.join('');
}

const corpus = variedCorpus(1, 600000);

// ---- tests ----

test('tinyshakespeare: the ids of js-tiktoken (both patterns), and decode(encode(x)) === x', () => {
  const count = checkBoth(shakespeare, 'tinyshakespeare');
  assert.ok(count > 600000);
  console.log(`  tinyshakespeare: ${Buffer.byteLength(shakespeare)} bytes, ${count / 2} ids per pattern, 0 mismatches`);
  assert.is(native.decode(native.encode(shakespeare)), shakespeare);
});

test('a varied corpus (every Unicode block, whitespace of every kind, contractions, digits, emoji, CJK, long words): the ids of the references', () => {
  const count = checkBoth(corpus, 'varied corpus');
  console.log(`  varied corpus: ${Buffer.byteLength(corpus)} bytes, ${corpus.length} UTF-16 units, ${count / 2} ids per pattern, 0 mismatches`);
  for (const pattern of ['gpt2-js', 'gpt2']) {
    const ends = Array.from(native.gpt2Bpe(pattern).pieces(corpus));
    assert.equal(ends, regexPieceEnds(corpus, PATTERN[pattern]), `pieces (${pattern})`);
  }
  assert.is(native.decode(native.encode(corpus)), corpus);
});

test('whitespace runs, contractions and the lookahead rule, case by case', () => {
  const cases = [
    '', ' ', '  ', 'a', ' a', '  a', '   a', 'a ', 'a  ', '\n', '\n\n', 'a\n\nb', 'a \n b', 'a\t\tb', 'x \t y', 'x\u00a0y',
    'x\u00a0 y', 'x \u00a0y', 'x\u3000\u3000y', 'end   ', 'end \n', '\r\n\r\nHello', 'a\r\n b', '  \t\n',
    "it's", "IT'S", "I'LL", "we'Re", "'s", "''s", "'ss", "'", "''", "a'", "' s", " 's", "'sup", "don't stop", "y'all'll",
    '123', ' 123', '1 2  3', '12abc', 'abc12', '1.2.3', ' !!', '!!a', ' \u00e9', 'e\u0301e\u0301', '\u0301a',
    '<|endoftext|>', 'a<|endoftext|>b', '<|endoftext|><|endoftext|>',
    '\ufeffHello', 'a\ufeff b', 'a \ufeffb', '!\ufeff', '\ufeff\ufeff', '\u0085', 'a\u0085b', 'a \u0085b', 'a\u0085 b',
    ' \u0085\u0085x', '!\u0085!', 'x\u200by', 'x\u180ey',
  ];
  for (const c of cases) checkBoth(c, JSON.stringify(c));
});

test('tiktoken\'s \\s is White_Space: U+0085 and U+FEFF are where the two patterns differ', () => {
  const b = native.gpt2Bpe('gpt2');
  const piecesOf = (s) => {
    const bytes = Buffer.from(s);
    let at = 0;
    return Array.from(b.pieces(s), (e) => bytes.subarray(at, (at = e)).toString());
  };
  assert.equal(piecesOf('a \u0085b'), ['a', ' ', '\u0085', 'b']); // NEL is a space: " " then the lone "\u0085"
  assert.equal(piecesOf('!\ufeff!'), ['!\ufeff!']); // the BOM is "other", as punctuation
  assert.equal(Array.from(native.encode('a \u0085b', 'gpt2-js')), jsTiktoken.encode('a \u0085b', [], []));
  assert.not.equal(Array.from(native.encode('a \u0085b', 'gpt2')), jsTiktoken.encode('a \u0085b', [], []));
});

test('10k-letter words: the ids of tiktoken\'s merge (js-tiktoken needs ~10 s for one)', () => {
  const rand = mulberry32(7);
  const words = [
    Array.from({ length: 10000 }, () => String.fromCharCode(97 + Math.floor(rand() * 26))).join(''),
    'a'.repeat(10000), 'ab'.repeat(5000), 'é'.repeat(5000), 'Supercalifragilistic'.repeat(500),
    '!'.repeat(10000), '1'.repeat(10000), ' '.repeat(10000), '\u4e2d'.repeat(4000),
  ];
  for (const w of words) {
    for (const text of [w, ` ${w} `, `x${w}\n`]) {
      const bytes = Buffer.from(text);
      assertSameIds(native.encode(text), refBytesIds(bytes, 'gpt2'), `${JSON.stringify(w.slice(0, 12))}... x${w.length}`);
    }
  }
  // a shorter long word against js-tiktoken itself
  const w = words[0].slice(0, 1500);
  checkBoth(` ${w}, ${w.toUpperCase()}.`, '1500-letter word');
});

test('bytes: invalid UTF-8 is read byte by byte as "other", encoded losslessly', () => {
  const rand = mulberry32(3);
  const bpe = native.gpt2Bpe('gpt2');
  const fixed = [[0x61, 0xff, 0x62], [0x20, 0xff, 0xfe, 0x21], [0xe2, 0x82], [0xe2, 0x82, 0x20, 0x61], [0xc0, 0xaf], [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80], [0x27, 0x73, 0x80], [0x80, 0x27, 0x73], [0xc2, 0xa0, 0xc2], [0x20, 0xc2, 0x85, 0x61]];
  const buffers = fixed.map((a) => Buffer.from(a));
  for (let k = 0; k < 300; k++) {
    const bytes = Buffer.alloc(1 + Math.floor(rand() * 200));
    for (let i = 0; i < bytes.length; i++) {
      const r = rand();
      bytes[i] = r < 0.4 ? 32 + Math.floor(rand() * 95) : r < 0.5 ? [32, 10, 39, 115][Math.floor(rand() * 4)] : Math.floor(rand() * 256);
    }
    buffers.push(bytes);
  }
  buffers.push(Buffer.from(corpus.slice(0, 30000)));
  for (const bytes of buffers) {
    for (const pattern of ['gpt2', 'gpt2-js']) {
      const ids = native.encode(bytes, pattern);
      assertSameIds(ids, refBytesIds(bytes, pattern), `bytes ${bytes.subarray(0, 16).toString('hex')} (${pattern})`);
      assert.ok(Buffer.from(bpe.decode(ids)).equals(bytes), 'decode gives the bytes back');
    }
  }
  // well-formed bytes read as the string they encode
  assertSameIds(native.encode(Buffer.from(corpus)), native.encode(corpus), 'a Buffer of the corpus');
});

test('seeded fuzz: random strings of the characters that matter', () => {
  const rand = mulberry32(12345);
  const alphabet = [
    ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', ...'sStTlLrReEvVdDmM\'\'\'"!?.,;:-_()[]<>|/\\',
    ' ', ' ', ' ', ' ', '\t', '\n', '\r', '\v', '\f', '\u0085', '\u00a0', '\u1680', '\u2002', '\u2028', '\u202f', '\u3000', '\ufeff',
    'é', 'ß', 'ǅ', 'Ω', 'ж', 'א', 'ب', 'क', '\u0301', '\u0308', '\u093f', '中', '日', 'ー', 'ア', '한', '\u3002',
    '\u0661', '\u0967', '\uff11', '\u00b2', '\u00bd', '\u2167', '\u{1D7CE}', '\u{1F600}', '\u200d', '\ufe0f', '\u{1F3FD}',
    '\u{10400}', '\u{20000}', '\ud800', '\udc00', '\uffff', '\ufffd', '\u0000', '\u007f', '\u00ad', '\u2019',
  ];
  let strings = 0;
  let ids = 0;
  const t0 = Date.now();
  for (let k = 0; k < 12000; k++) {
    let s = '';
    for (let n = Math.floor(rand() * 60); n > 0; n--) s += alphabet[Math.floor(rand() * alphabet.length)];
    ids += checkBoth(s, `fuzz ${k} ${JSON.stringify(s)}`);
    assert.is(native.decode(native.encode(s)), s.toWellFormed(), `fuzz ${k} round trip`);
    strings++;
  }
  console.log(`  fuzz: ${strings} strings, ${ids} ids, 0 mismatches (${Date.now() - t0} ms)`);
});

test('parallel and batch encoding give the sequential ids', async () => {
  const big = shakespeare + corpus + shakespeare.slice(0, 300000);
  const seq = native.encode(big);
  for (const threads of [1, 2, 3, 8, undefined]) {
    assertSameIds(await native.encodeAsync(big, threads), seq, `encodeAsync, ${threads} threads`);
  }
  assertSameIds(await native.encodeAsync(Buffer.from(big), 2), seq, 'encodeAsync of a Buffer');
  const docs = [big, '', 'Hello', Buffer.from(' world'), ...corpus.slice(0, 200000).split('\n'), Buffer.alloc(0), shakespeare];
  const want = docs.map((d) => native.encode(d));
  for (const threads of [1, 2, 5]) {
    const { ids, docOffsets } = await native.encodeBatchAsync(docs, { threads });
    assert.is(docOffsets.length, docs.length + 1);
    assert.is(docOffsets[docs.length], ids.length);
    for (let d = 0; d < docs.length; d++) {
      assertSameIds(ids.subarray(docOffsets[d], docOffsets[d + 1]), want[d], `batch doc ${d}, ${threads} threads`);
    }
  }
});

test('binding/text/unicode_tables.h is what scripts/gen-unicode-tables.js makes (on a Node of the same Unicode)', () => {
  if (!SAME_UNICODE) { console.log('  skip: another Unicode version'); return; }
  const { spawnSync } = require('child_process');
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'gen-unicode-tables.js'), '--check'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
});

test('decode: ids to bytes, <|endoftext|> included; bad ids are E_BAD_ARGUMENT', () => {
  const ids = jsTiktoken.encode('Hello, world!<|endoftext|>', 'all');
  assert.is(ids[ids.length - 1], 50256);
  assert.is(native.decode(ids), 'Hello, world!<|endoftext|>');
  assert.is(native.decode(Uint32Array.from(ids)), 'Hello, world!<|endoftext|>');
  assert.is(native.decode(Int32Array.from(ids)), 'Hello, world!<|endoftext|>');
  assert.is(native.decode([]), '');
  for (const bad of [[50257], [-1], [1.5], ['a'], Int32Array.from([-2])]) {
    try {
      native.decode(bad);
      assert.unreachable(`decode(${JSON.stringify(bad)}) should throw`);
    } catch (e) {
      assert.instance(e, MyptError, e.message);
      assert.is(e.code, 'E_BAD_ARGUMENT', e.message);
    }
  }
  try {
    native.decode([1, 2, 50300]);
    assert.unreachable();
  } catch (e) {
    assert.match(e.message, /token id 50300 at position 2 is outside the vocabulary of 50257/);
  }
});

test('bad arguments are E_BAD_ARGUMENT errors', async () => {
  const bpe = native.gpt2Bpe();
  const { Bpe } = require('node-gyp-build')(path.join(__dirname, '..'));
  const code = (fn) => {
    try {
      fn();
    } catch (e) {
      return e.code;
    }
    return 'no error';
  };
  assert.is(code(() => bpe.encode(42)), 'E_BAD_ARGUMENT');
  assert.is(code(() => bpe.pieces({})), 'E_BAD_ARGUMENT');
  assert.is(code(() => bpe.encodeAsync('x', -1)), 'E_BAD_ARGUMENT');
  assert.is(code(() => bpe.encodeAsync('x', 1.5)), 'E_BAD_ARGUMENT');
  assert.is(code(() => bpe.encodeBatchAsync('x')), 'E_BAD_ARGUMENT');
  assert.is(code(() => bpe.encodeBatchAsync(['x', 3])), 'E_BAD_ARGUMENT');
  const t = native.ranksTable(ranks);
  assert.is(code(() => new Bpe(t.bytes, t.offsets, 'cl100k')), 'E_BAD_ARGUMENT');
  assert.is(code(() => new Bpe(t.bytes, Array.from(t.offsets), 'gpt2')), 'E_BAD_ARGUMENT');
  assert.is(code(() => new Bpe(t.bytes, t.offsets.slice(1), 'gpt2')), 'E_BAD_ARGUMENT');
  assert.is(code(() => new Bpe(t.bytes, t.offsets, 'gpt2', { special: [60000] })), 'E_BAD_ARGUMENT');
  // not byte-level: byte 0x41 missing (an empty entry)
  const offsets = t.offsets.slice();
  const id = rankOf.get('A');
  const bytes = Buffer.concat([Buffer.from(t.bytes.subarray(0, offsets[id])), Buffer.from(t.bytes.subarray(offsets[id + 1]))]);
  for (let i = id + 1; i < offsets.length; i++) offsets[i] -= 1;
  let err;
  try {
    new Bpe(bytes, offsets, 'gpt2');
  } catch (e) {
    err = e;
  }
  assert.is(err && err.code, 'E_BAD_ARGUMENT');
  assert.match(err.message, /byte 65 is not a token/);
  // a duplicate token
  const dup = t.offsets.slice();
  const dupBytes = Buffer.from(t.bytes);
  dupBytes[dup[id]] = 0x42; // "A" becomes "B": two tokens "B", and no "A"
  assert.is(code(() => new Bpe(dupBytes, dup, 'gpt2')), 'E_BAD_ARGUMENT');
  let rejected;
  await bpe.encodeAsync(Buffer.from('fine'), 0).then(() => {}, (e) => { rejected = e; });
  assert.is(rejected, undefined);
  assert.is(bpe.vocabSize, 50257);
  assert.is(bpe.pattern, 'gpt2');
});

test.run();
