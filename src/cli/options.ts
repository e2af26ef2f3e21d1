// Flag value checks shared by the commands: each throws a MyptError naming the flag, which yargs turns
// into the one-line error of main.ts.
import { MyptError } from '../errors';

const fail = (flag: string, v: unknown, why: string): never => {
  throw new MyptError('E_BAD_ARGUMENT', `--${flag} ${String(v)}: ${why}`);
};

function toNumber(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) fail(flag, v.join(' '), 'given more than once');
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) fail(flag, v, 'not a number');
  return n;
}

export const intFlag = (flag: string, min = 0) => (v: unknown): number | undefined => {
  const n = toNumber(flag, v);
  if (n === undefined) return undefined;
  if (!Number.isInteger(n)) fail(flag, v, 'must be a whole number');
  if (n < min) fail(flag, v, `must be at least ${min}`);
  return n;
};

export const numFlag = (flag: string, ok: (x: number) => boolean = () => true, why = 'out of range') => (v: unknown): number | undefined => {
  const n = toNumber(flag, v);
  if (n === undefined) return undefined;
  if (!ok(n)) fail(flag, v, why);
  return n;
};

export const choiceFlag = <T extends string>(flag: string, choices: readonly T[]) => (v: unknown): T | undefined => {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) fail(flag, v.join(' '), 'given more than once');
  if (!choices.includes(String(v) as T)) fail(flag, v, `expected ${choices.join(', ')}`);
  return String(v) as T;
};

export const stringFlag = (flag: string) => (v: unknown): string | undefined => {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) fail(flag, v.join(' '), 'given more than once');
  if (typeof v !== 'string' && typeof v !== 'number') fail(flag, v, 'expected a value');
  return String(v);
};
