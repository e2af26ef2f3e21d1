// The OpenAI wire format: request bodies checked field by field (a wrong type or range is a 400 naming the
// field, as OpenAI's own API answers) and errors in OpenAI's JSON shape {"error": {message, type, param, code}}.

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly param: string | null = null,
    readonly code: string | null = null, readonly type = status >= 500 ? 'server_error' : 'invalid_request_error',
    readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
  }
  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function badRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, param, code);
}

export interface CompletionRequest {
  model?: string;
  prompts: string[];
  max_tokens?: number;
  temperature: number;
  top_p: number;
  top_k: number;
  stop: string[];
  seed?: number;
  n: number;
  logprobs: number | null;
  echo: boolean;
  stream: boolean;
  include_usage: boolean;
}

type Obj = Record<string, unknown>;

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function num(b: Obj, key: string, ok: (x: number) => boolean, range: string, integer = false): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`'${key}' must be a number, got ${typeName(v)}`, key, 'invalid_type');
  if (integer && !Number.isInteger(v)) throw badRequest(`'${key}' must be an integer, got ${v}`, key, 'invalid_type');
  if (!ok(v)) throw badRequest(`'${key}' is ${v}: ${range}`, key, 'invalid_value');
  return v;
}

function bool(b: Obj, key: string): boolean {
  const v = b[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw badRequest(`'${key}' must be a boolean, got ${typeName(v)}`, key, 'invalid_type');
  return v;
}

/** A /v1/completions body, checked. Unknown fields are ignored (clients send their own extras). */
export function parseCompletion(body: unknown): CompletionRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  const b = body as Obj;
  if (b.model !== undefined && typeof b.model !== 'string') throw badRequest(`'model' must be a string, got ${typeName(b.model)}`, 'model', 'invalid_type');
  const p = b.prompt === undefined || b.prompt === null ? '' : b.prompt;
  let prompts: string[];
  if (typeof p === 'string') prompts = [p];
  else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === 'string')) prompts = p as string[];
  else throw badRequest(`'prompt' must be a string or a non-empty array of strings, got ${typeName(p)}`, 'prompt', 'invalid_type');
  let stop: string[] = [];
  if (b.stop !== undefined && b.stop !== null) {
    if (typeof b.stop === 'string') stop = [b.stop];
    else if (Array.isArray(b.stop) && b.stop.every((s) => typeof s === 'string')) stop = b.stop as string[];
    else throw badRequest(`'stop' must be a string or an array of strings, got ${typeName(b.stop)}`, 'stop', 'invalid_type');
    if (stop.length > 4) throw badRequest(`'stop' holds ${stop.length} sequences: at most 4`, 'stop', 'invalid_value');
    if (stop.some((s) => s === '')) throw badRequest(`'stop' sequences must not be empty`, 'stop', 'invalid_value');
  }
  const so = b.stream_options;
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so))) throw badRequest(`'stream_options' must be an object`, 'stream_options', 'invalid_type');
  const include_usage = so ? bool(so as Obj, 'include_usage') : false;
  return {
    model: b.model as string | undefined,
    prompts,
    max_tokens: num(b, 'max_tokens', (x) => x >= 0, 'must be >= 0', true),
    temperature: num(b, 'temperature', (x) => x >= 0 && x <= 2, 'must be from 0 to 2') ?? 1,
    top_p: num(b, 'top_p', (x) => x > 0 && x <= 1, 'must be in (0, 1]') ?? 1,
    top_k: num(b, 'top_k', (x) => x >= 0, 'must be >= 0 (0: off)', true) ?? 0,
    stop,
    seed: num(b, 'seed', (x) => x >= 0 && Number.isSafeInteger(x), 'must be a whole number >= 0', true),
    n: num(b, 'n', (x) => x >= 1 && x <= 16, 'must be from 1 to 16', true) ?? 1,
    logprobs: num(b, 'logprobs', (x) => x >= 0 && x <= 5, 'must be from 0 to 5', true) ?? null,
    echo: bool(b, 'echo'),
    stream: bool(b, 'stream'),
    include_usage,
  };
}
