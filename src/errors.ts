// Errors with a name, a code and a next step: the one vocabulary of codes every layer uses. Every error
// the package throws on purpose is a MyptError; the CLI prints it as one `error:` line (exit 1).
//
//   E_BAD_ARGUMENT   a flag, option or argument is out of range or of the wrong type
//   E_BAD_CONFIG     a model configuration cannot be built
//   E_BAD_FILE       a file exists but is not what it should be (corrupt, truncated, wrong kind)
//   E_NO_CHECKPOINT  no checkpoint where one was named (missing file, folder or model name)
//   E_IO             a file or folder cannot be read or written (permissions, a directory, a full disk)
//   E_TOKENIZER      no tokenizer, or one that does not fit the model
//   E_UNSUPPORTED    a valid request this model family or build does not do
//   E_OUT_OF_MEMORY  the sizes asked for need more memory (CPU RAM or GPU) than there is
//   E_NO_CUDA        device 'cuda' without a usable GPU or CUDA build
//   E_NO_ADDON       the native addon cannot be loaded
//   E_DISPOSED       a call on a disposed model
//   E_DISTRIBUTED    a rank of a data-parallel job failed or timed out, or the job could not be formed
//   E_NATIVE         the engine failed (a bug or a hardware fault: please report it)

export const ERROR_CODES = [
  'E_BAD_ARGUMENT', 'E_BAD_CONFIG', 'E_BAD_FILE', 'E_NO_CHECKPOINT', 'E_IO', 'E_TOKENIZER', 'E_UNSUPPORTED',
  'E_OUT_OF_MEMORY', 'E_NO_CUDA', 'E_NO_ADDON', 'E_DISPOSED', 'E_DISTRIBUTED', 'E_NATIVE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(c: unknown): c is ErrorCode {
  return typeof c === 'string' && (ERROR_CODES as readonly string[]).includes(c);
}

export class MyptError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  constructor(code: ErrorCode, message: string, hint?: string) {
    super(hint ? `${message} (${hint})` : message);
    this.name = 'MyptError';
    this.code = code;
    this.hint = hint;
  }
}

export function fail(code: ErrorCode, message: string, hint?: string): never {
  throw new MyptError(code, message, hint);
}

/** Checks that a public function's argument is a path (a non-empty string): anything else, such as an already
 *  loaded object, is an E_BAD_ARGUMENT naming the function and what it got. */
export function expectPath(value: unknown, where: string): string {
  if (typeof value === 'string' && value.length > 0) return value;
  const got = value === null ? 'null' : value === undefined ? 'undefined' : typeof value === 'string' ? 'an empty string'
    : typeof value === 'object' ? `${Array.isArray(value) ? 'an array' : `an object${(value as object).constructor?.name && (value as object).constructor.name !== 'Object' ? ` (${(value as object).constructor.name})` : ''}`}`
    : `a ${typeof value}`;
  throw new MyptError('E_BAD_ARGUMENT', `${where}: expected a path (a string), got ${got}`, 'pass the file or folder name, not what was loaded from it');
}
