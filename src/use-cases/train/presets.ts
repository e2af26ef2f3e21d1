// Presets are data: one JSON file per preset in src/presets/ (MyPT's configs/*.json with "name" and
// "description", plus the built-in default). The file name (without .json) is what --preset takes.
import fs from 'fs';
import path from 'path';
import { MyptError } from '../../errors';
import { ioCause } from '../../formats/atomic';

export const PRESET_DIR = path.join(__dirname, '..', '..', '..', 'presets');

export interface Preset {
  key: string;                 // --preset value (file name)
  name: string;                // display name, as MyPT's "name"
  description: string;
  values: Record<string, unknown>;  // every other key: config and training options
}

function readPreset(file: string, key: string, what = file): Preset {
  let raw: Record<string, unknown>;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MyptError('E_IO', `${what}: cannot read it: ${ioCause(e)}`);
  }
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new MyptError('E_BAD_FILE', `${file}: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new MyptError('E_BAD_FILE', `${file}: not a JSON object`);
  const { name, description, ...values } = raw;
  return { key, name: String(name ?? key), description: String(description ?? ''), values };
}

export function listPresets(): Preset[] {
  const files = fs.readdirSync(PRESET_DIR).filter((f) => f.endsWith('.json'));
  const presets = files.map((f) => readPreset(path.join(PRESET_DIR, f), f.slice(0, -5)));
  const order = (p: Preset) => (p.key === 'default' ? -1 : 0);
  return presets.sort((a, b) => order(a) - order(b) || paramsOf(a) - paramsOf(b) || a.key.localeCompare(b.key));
}

export function presetNames(): string[] {
  return listPresets().map((p) => p.key);
}

export function getPreset(key: string): Preset {
  const file = path.join(PRESET_DIR, `${key}.json`);
  if (!/^[\w.-]+$/.test(key) || !fs.existsSync(file)) {
    throw new MyptError('E_BAD_ARGUMENT', `--preset ${key}: no such preset (known: ${presetNames().join(', ')})`);
  }
  return readPreset(file, key);
}

/** Reads a MyPT --config_file (any JSON object; "name" and "description" are descriptive only). */
export function readConfigFile(file: string): Record<string, unknown> {
  if (!fs.existsSync(file)) throw new MyptError('E_IO', `--config_file ${file}: no such file`);
  if (fs.statSync(file).isDirectory()) throw new MyptError('E_IO', `--config_file ${file}: is a folder; give a config JSON file (e.g. presets/small.json)`);
  return readPreset(file, path.basename(file, '.json'), `--config_file ${file}`).values;
}

/** Parameter count of MyPT's lecture GPT with these sizes (the vocabulary as given). */
export function myptParamCount(v: { vocab_size: number; block_size: number; n_embd: number; n_layer: number; bias?: boolean }): number {
  const C = v.n_embd, V = v.vocab_size;
  const perLayer = 3 * C * C + (v.bias ? 3 * C : 0) + C * C + C + 4 * C * C + 4 * C + 4 * C * C + C + 4 * C;
  return V * C + v.block_size * C + v.n_layer * perLayer + 2 * C + V * C + V;
}

function paramsOf(p: Preset): number {
  const v = p.values as Record<string, number>;
  return typeof v.n_embd === 'number' ? myptParamCount({ vocab_size: v.vocab_size ?? 50304, block_size: v.block_size, n_embd: v.n_embd, n_layer: v.n_layer }) : 0;
}
