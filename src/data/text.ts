// Reading a training corpus as MyPT does: UTF-8, universal newlines (\r\n and \r become \n), BOM kept.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../errors';

/** The bundled Tiny Shakespeare corpus (data/tinyshakespeare.txt in the package). */
export const DEFAULT_CORPUS = path.join(__dirname, '..', '..', 'data', 'tinyshakespeare.txt');

/** Python's universal newlines on already-decoded text. */
export function universalNewlines(text: string): string {
  return text.indexOf('\r') < 0 ? text : text.replace(/\r\n?/g, '\n');
}

export function readTextFile(file: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a text file' : (e as Error).message;
    throw new MyptError('E_IO', `--input_file ${file}: ${what}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new MyptError('E_BAD_FILE', `--input_file ${file}: not valid UTF-8 text`);
  }
  if (text.length === 0) throw new MyptError('E_BAD_FILE', `--input_file ${file}: the file is empty`);
  return universalNewlines(text);
}
