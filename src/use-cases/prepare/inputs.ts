// The text `prepare` reads: --input FILE | DIR | GLOB as a sorted list of files, each read in pieces of a
// few MB. A plain file is one document, cut only after a newline between printable ASCII characters:
// GPT-2's pre-tokenizer always ends a piece there, so the ids of the pieces are the ids of the whole text.
// With --jsonl each line is a JSON object and its --field a document. Bytes that are not UTF-8 are decoded
// as U+FFFD and counted.
import fs from 'fs';
import path from 'path';
import { isUtf8 } from 'buffer';
import { MyptError } from '../../errors';
import { ioCause } from '../../formats/atomic';

export interface Piece {
  /** UTF-8 bytes (valid), or the text decoded with replacements */
  data: Uint8Array | string;
  /** the first piece of a document */
  docStart: boolean;
  /** input bytes this piece stands for */
  bytes: number;
}

const GLOB = /[*?[]/;

function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else { re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`; i = end; }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The files of --input, sorted (a folder: every file below it, hidden ones skipped; a glob: in its folder). */
export function inputFiles(input: string): string[] {
  const where = `--input ${input}`;
  let files: string[];
  try {
    if (GLOB.test(path.basename(input))) {
      const dir = path.dirname(input);
      if (GLOB.test(dir)) throw new MyptError('E_BAD_ARGUMENT', `${where}: a pattern may use * ? [ ] in the file name only`);
      const re = globRegExp(path.basename(input));
      files = fs.readdirSync(dir).filter((n) => re.test(n)).sort().map((n) => path.join(dir, n)).filter((p) => fs.statSync(p).isFile());
    } else if (fs.statSync(input).isDirectory()) {
      files = walk(input);
    } else {
      files = [input];
    }
  } catch (e) {
    if (e instanceof MyptError) throw e;
    throw new MyptError('E_IO', `${where}: ${ioCause(e)}`);
  }
  if (!files.length) throw new MyptError('E_BAD_ARGUMENT', `${where}: no files match`);
  return files;
}

/** U+FFFD written by the decoder for bytes that were not UTF-8 (those spelled EF BF BD in the input excluded). */
function decodeCounting(bytes: Uint8Array): { text: string; replaced: number } {
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  let out = 0;
  for (let i = text.indexOf('\ufffd'); i >= 0; i = text.indexOf('\ufffd', i + 1)) out++;
  let lit = 0;
  for (let i = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).indexOf(REPL); i >= 0; i = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).indexOf(REPL, i + 3)) lit++;
  return { text, replaced: out - lit };
}
const REPL = Buffer.from([0xef, 0xbf, 0xbd]);

const printable = (c: number) => c > 0x20 && c < 0x7f;
/** Where a plain-text chunk may end: after the last newline with printable ASCII on both sides (0: nowhere).
 *  There GPT-2's pre-tokenizer makes the newline a piece of its own, at the end of a chunk as in the whole. */
function safeCut(b: Uint8Array, end: number): number {
  for (let i = end - 2; i >= 1; i--) if (b[i] === 0x0a && printable(b[i + 1]) && printable(b[i - 1])) return i + 1;
  return 0;
}

/** Back to the start of a UTF-8 character. */
function charStart(b: Uint8Array, end: number): number {
  let i = end;
  while (i > 0 && (b[i] & 0xc0) === 0x80) i--;
  return i > 0 ? i : end;
}

export interface ReadStats {
  replaced: number;
  /** plain files cut where no newline allowed it (a line longer than the piece limit) */
  forcedCuts: number;
}

function openRead(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (e) {
    throw new MyptError('E_IO', `--input: cannot read ${file}: ${ioCause(e)}`);
  }
}

function readInto(fd: number, buf: Buffer, at: number, file: string): number {
  try {
    return fs.readSync(fd, buf, at, buf.length - at, null);
  } catch (e) {
    throw new MyptError('E_IO', `--input: cannot read ${file}: ${ioCause(e)}`);
  }
}

/** The pieces of a plain text file (one document), about `chunk` bytes each. */
export function* textPieces(file: string, chunk: number, stats: ReadStats): Generator<Piece> {
  const fd = openRead(file);
  try {
    let buf = Buffer.alloc(chunk);
    let have = 0;
    let first = true;
    for (;;) {
      const got = readInto(fd, buf, have, file);
      have += got;
      const eof = got === 0;
      if (!eof && have < buf.length) continue;
      if (have === 0) break;
      let cut = eof ? have : safeCut(buf, have);
      if (!eof && cut === 0) {
        if (buf.length < 8 * chunk) { const bigger = Buffer.alloc(buf.length * 2); buf.copy(bigger, 0, 0, have); buf = bigger; continue; }
        cut = charStart(buf, have);
        stats.forcedCuts++;
      }
      const bytes = Buffer.from(buf.subarray(0, cut));
      yield piece(bytes, first, stats);
      first = false;
      buf.copy(buf, 0, cut, have);
      have -= cut;
      if (eof && have === 0) break;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function piece(bytes: Uint8Array, docStart: boolean, stats: ReadStats): Piece {
  if (isUtf8(bytes)) return { data: bytes, docStart, bytes: bytes.length };
  const d = decodeCounting(bytes);
  stats.replaced += d.replaced;
  return { data: d.text, docStart, bytes: bytes.length };
}

/** The documents of a JSON-lines file: each non-empty line's `field`, a string. */
export function* jsonlPieces(file: string, field: string, chunk: number, stats: ReadStats): Generator<Piece> {
  const fd = openRead(file);
  let line = 0;
  const doc = (raw: Buffer): Piece | undefined => {
    line++;
    if (raw.toString('latin1').trim() === '') return undefined;
    const { text, replaced } = isUtf8(raw) ? { text: raw.toString('utf8'), replaced: 0 } : decodeCounting(raw);
    stats.replaced += replaced;
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch (e) {
      throw new MyptError('E_BAD_FILE', `--input ${file} line ${line}: not JSON (${(e as Error).message})`, '--jsonl reads one JSON object per line');
    }
    const v = o && typeof o === 'object' ? (o as Record<string, unknown>)[field] : undefined;
    if (typeof v !== 'string') throw new MyptError('E_BAD_FILE', `--input ${file} line ${line}: no string field "${field}"`, 'name the text field with --field');
    return { data: v, docStart: true, bytes: raw.length + 1 };
  };
  try {
    const buf = Buffer.alloc(chunk);
    let rest = Buffer.alloc(0);
    for (;;) {
      const got = readInto(fd, buf, 0, file);
      const data = rest.length ? Buffer.concat([rest, buf.subarray(0, got)]) : buf.subarray(0, got);
      let start = 0;
      for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
        const p = doc(data.subarray(start, nl));
        start = nl + 1;
        if (p) yield p;
      }
      rest = Buffer.from(data.subarray(start));
      if (!got) {
        const p = rest.length ? doc(rest) : undefined;
        if (p) yield p;
        break;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}
