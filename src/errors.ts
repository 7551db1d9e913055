/**
 * Expected failures carry a stable `code` and a message that names the cause
 * and the fix. The CLI prints `message` alone for these (no stack trace);
 * anything that is not a SyswardenError is a bug and is printed in full.
 */
export class SyswardenError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SyswardenError';
    this.code = code;
  }
}

export function isSyswardenError(e: unknown): e is SyswardenError {
  return e instanceof SyswardenError;
}
