// How the CLI ends on an error: a MyptError (a user error) is one line and exit code 1, never a stack
// trace; anything else is a bug, reported with its stack so it can be filed.
import { MyptError } from '../errors';

export function reportAndExit(e: unknown): never {
  if (e instanceof MyptError) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(1);
  }
  const err = e as Error;
  process.stderr.write(`internal error: ${err?.message ?? String(e)}\n`);
  if (process.env.MYPT_DEBUG || !(err instanceof Error)) process.stderr.write(`${err?.stack ?? ''}\n`);
  else process.stderr.write('(set MYPT_DEBUG=1 for the stack trace, and please report it)\n');
  process.exit(2);
}

/** Wraps an async command handler so every failure ends through reportAndExit. */
export function handler<A>(fn: (argv: A) => Promise<void> | void): (argv: A) => Promise<void> {
  return async (argv: A) => {
    try {
      await fn(argv);
    } catch (e) {
      reportAndExit(e);
    }
  };
}
