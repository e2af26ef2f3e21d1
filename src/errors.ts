// Errors with a name, a code and a next step. Every error the package throws on purpose is a MyptError.

export type ErrorCode =
  | 'E_BAD_CONFIG'
  | 'E_BAD_ARGUMENT'
  | 'E_BAD_FILE'
  | 'E_NO_CHECKPOINT'
  | 'E_UNSUPPORTED'
  | 'E_NATIVE'
  | 'E_NO_ADDON'
  | 'E_NO_CUDA'
  | 'E_DISPOSED'
  | 'E_TOKENIZER'
  | 'E_IO';

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
