// File names of the env-var trainer's checkpoints (FORMATS.md section 4):
//   checkpoint_{model}_{source}_step{N:06d}_{%m%d%Y_%H%M%S}.pt
// Its documentation shows a 4-digit step (`step0500`): both parse. {model} may itself hold an underscore
// (`from_scratch`), so known model types are matched first; {source} may hold underscores (`carolyn_hax`).

const KNOWN_MODELS = ['from_scratch', 'gpt2', 'bigram'];
const NAME_RE = /^checkpoint_(.+)_step(\d{4,})_(\d{2})(\d{2})(\d{4})_(\d{2})(\d{2})(\d{2})\.pt$/;

export interface EnvCheckpointName {
  model: string;
  source: string;
  step: number;
  time: Date;          // local time, as Python's datetime.now() wrote it
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** A name part as the file name keeps it: letters, digits, '-', '.', and '_' for anything else. */
export function sanitizeNamePart(s: string): string {
  const t = s.replace(/[^A-Za-z0-9.-]+/g, '_').replace(/^_+|_+$/g, '');
  return t === '' ? 'model' : t;
}

export function envCheckpointFileName(model: string, source: string, step: number, time: Date = new Date()): string {
  const stamp = `${pad(time.getMonth() + 1, 2)}${pad(time.getDate(), 2)}${time.getFullYear()}_` +
    `${pad(time.getHours(), 2)}${pad(time.getMinutes(), 2)}${pad(time.getSeconds(), 2)}`;
  return `checkpoint_${sanitizeNamePart(model)}_${sanitizeNamePart(source)}_step${pad(step, 6)}_${stamp}.pt`;
}

export function parseEnvCheckpointFileName(fileName: string): EnvCheckpointName | null {
  const base = fileName.replace(/^.*[\\/]/, '');
  const m = NAME_RE.exec(base);
  if (!m) return null;
  const both = m[1];
  let model = KNOWN_MODELS.find((k) => both.startsWith(k + '_'));
  if (!model) {
    const i = both.indexOf('_');
    if (i <= 0) return null;
    model = both.slice(0, i);
  }
  const source = both.slice(model.length + 1);
  if (source === '') return null;
  const [mo, d, y, h, mi, s] = [m[3], m[4], m[5], m[6], m[7], m[8]].map(Number);
  return { model, source, step: Number(m[2]), time: new Date(y, mo - 1, d, h, mi, s) };
}
