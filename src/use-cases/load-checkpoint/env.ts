// Environment variables of the env-var checkpoint workflow (FORMATS.md section 4), read and checked once.
// An unset or empty variable takes its default; an invalid one is a one-line MyptError naming the
// variable and the values it accepts. Command-line flags override variables: `flagOr(flag, envValue)`.
import { MyptError } from '../../errors';

type Env = Record<string, string | undefined>;

export const MODEL_TYPES = ['from_scratch', 'gpt2'] as const;
export type EnvModelType = (typeof MODEL_TYPES)[number];
export const LOAD_MODES = ['inference', 'resume'] as const;
export type LoadMode = (typeof LOAD_MODES)[number];
export const ENV_DEVICES = ['auto', 'cpu', 'cuda'] as const;
export type EnvDevice = (typeof ENV_DEVICES)[number];

/** Training: ENABLE_CHECKPOINTS, CHECKPOINT_INTERVAL, CHECKPOINT_DIR, TRAINING_STEPS, MODEL_TYPE. */
export interface TrainingEnv {
  enableCheckpoints: boolean;      // ENABLE_CHECKPOINTS (false)
  checkpointInterval: number;      // CHECKPOINT_INTERVAL (500)
  checkpointDir: string;           // CHECKPOINT_DIR (checkpoints)
  trainingSteps?: number;          // TRAINING_STEPS (unset: the train command's own default)
  modelType: EnvModelType;         // MODEL_TYPE (from_scratch); the {model} part of file names
  /** GPT2_MODEL_NAME (present only when set; MODEL_TYPE=gpt2 fine-tunes it, default gpt2); its name without
   *  the hyphen ends the {source} part of file names, as the workflow writes them (`..._gpt2medium_step...`). */
  gpt2ModelName?: Gpt2ModelName;
}

export const GPT2_MODEL_NAMES = ['gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl'] as const;
export type Gpt2ModelName = (typeof GPT2_MODEL_NAMES)[number];

/** Loading: CHECKPOINT_PATH, MODE, PROMPT, MAX_NEW_TOKENS, DEVICE, TEMPERATURE, TOP_K, RESUME_*. */
export interface LoadCheckpointEnv {
  checkpointPath?: string;         // CHECKPOINT_PATH
  mode: LoadMode;                  // MODE (inference)
  prompt: string;                  // PROMPT ('')
  maxNewTokens: number;            // MAX_NEW_TOKENS (300)
  device: EnvDevice;               // DEVICE (auto)
  temperature?: number;            // TEMPERATURE (sampler default)
  topK?: number;                   // TOP_K (sampler default)
  resumeTrainingSteps: number;     // RESUME_TRAINING_STEPS (5000)
  resumeLearningRate: number;      // RESUME_LEARNING_RATE (3e-4)
}

function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function bad(name: string, value: string, accepted: string): never {
  throw new MyptError('E_BAD_ARGUMENT', `${name}=${value} is not valid: accepted values are ${accepted}`);
}

export function envBool(env: Env, name: string, dflt: boolean): boolean {
  const v = raw(env, name);
  if (v === undefined) return dflt;
  const l = v.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(l)) return true;
  if (['false', '0', 'no', 'off'].includes(l)) return false;
  return bad(name, v, 'true, false, 1, 0, yes, no');
}

/** An integer >= min; `1e3` and `1_000` are refused (digits only, as a shell user types them). */
export function envInt(env: Env, name: string, dflt: number, min?: number): number;
export function envInt(env: Env, name: string, dflt: undefined, min?: number): number | undefined;
export function envInt(env: Env, name: string, dflt: number | undefined, min = 1): number | undefined {
  const v = raw(env, name);
  if (v === undefined) return dflt;
  if (!/^[+]?\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
    return bad(name, v, `a whole number >= ${min}`);
  }
  return Number(v);
}

/** A finite number > 0 (or >= 0 with allowZero). */
export function envNumber(env: Env, name: string, dflt: number, allowZero?: boolean): number;
export function envNumber(env: Env, name: string, dflt: undefined, allowZero?: boolean): number | undefined;
export function envNumber(env: Env, name: string, dflt: number | undefined, allowZero = false): number | undefined {
  const v = raw(env, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^[+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v) || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    return bad(name, v, allowZero ? 'a number >= 0 (e.g. 0.8)' : 'a number > 0 (e.g. 3e-4)');
  }
  return n;
}

export function envEnum<T extends string>(env: Env, name: string, values: readonly T[], dflt: T): T {
  const v = raw(env, name);
  if (v === undefined) return dflt;
  if (!(values as readonly string[]).includes(v)) return bad(name, v, values.join(', '));
  return v as T;
}

export function envString(env: Env, name: string, dflt: string): string;
export function envString(env: Env, name: string, dflt?: undefined): string | undefined;
export function envString(env: Env, name: string, dflt?: string): string | undefined {
  return raw(env, name) ?? dflt;
}

export function readTrainingEnv(env: Env = process.env): TrainingEnv {
  return {
    enableCheckpoints: envBool(env, 'ENABLE_CHECKPOINTS', false),
    checkpointInterval: envInt(env, 'CHECKPOINT_INTERVAL', 500),
    checkpointDir: envString(env, 'CHECKPOINT_DIR', 'checkpoints'),
    trainingSteps: envInt(env, 'TRAINING_STEPS', undefined),
    modelType: envEnum(env, 'MODEL_TYPE', MODEL_TYPES, 'from_scratch'),
    ...(raw(env, 'GPT2_MODEL_NAME') !== undefined ? { gpt2ModelName: envEnum(env, 'GPT2_MODEL_NAME', GPT2_MODEL_NAMES, 'gpt2') } : {}),
  };
}

export function readLoadCheckpointEnv(env: Env = process.env): LoadCheckpointEnv {
  return {
    checkpointPath: envString(env, 'CHECKPOINT_PATH'),
    mode: envEnum(env, 'MODE', LOAD_MODES, 'inference'),
    // PROMPT is taken as typed (spaces and newlines are part of a prompt)
    prompt: env.PROMPT ?? '',
    maxNewTokens: envInt(env, 'MAX_NEW_TOKENS', 300),
    device: envEnum(env, 'DEVICE', ENV_DEVICES, 'auto'),
    temperature: envNumber(env, 'TEMPERATURE', undefined, true),
    topK: envInt(env, 'TOP_K', undefined),
    resumeTrainingSteps: envInt(env, 'RESUME_TRAINING_STEPS', 5000),
    resumeLearningRate: envNumber(env, 'RESUME_LEARNING_RATE', 3e-4),
  };
}

/** A flag given on the command line wins over the variable. */
export function flagOr<T>(flag: T | undefined, fromEnv: T): T {
  return flag === undefined ? fromEnv : flag;
}
