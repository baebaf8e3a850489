/**
 * Errors that the CLI reports as a clear one-line message instead of a stack trace.
 * Every user-facing failure (bad input, unknown id, missing file) should be a {@link RagarError}.
 */
export class RagarError extends Error {
  /** Machine-readable code, e.g. `BAD_INPUT`, `NOT_FOUND`, `CONFLICT`. */
  readonly code: string;
  constructor(message: string, code = 'ERROR', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RagarError';
    this.code = code;
  }
}

/**
 * A problem with one place in an input file. The message names the file and line.
 *
 * @example
 * throw new InputError('ratings.csv', 12, 'rating "abc" is not a number');
 * // -> ratings.csv:12: rating "abc" is not a number
 */
export class InputError extends RagarError {
  readonly file: string;
  readonly line: number | undefined;
  readonly reason: string;
  constructor(file: string, line: number | undefined, reason: string) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${reason}`, 'BAD_INPUT');
    this.name = 'InputError';
    this.file = file;
    this.line = line;
    this.reason = reason;
  }
}

/** Thrown when a named entity (dataset, user, item) does not exist. */
export class NotFoundError extends RagarError {
  constructor(message: string) {
    super(message, 'NOT_FOUND');
    this.name = 'NotFoundError';
  }
}

/**
 * Collects bad rows when `--skip-bad` is on, or throws the first one when it is off.
 *
 * @example
 * const bad = new BadRowPolicy(opts.skipBad);
 * bad.report(new InputError('a.csv', 3, 'missing column')); // throws unless skipping
 */
export class BadRowPolicy {
  readonly skipBad: boolean;
  readonly skipped: InputError[] = [];
  constructor(skipBad: boolean) {
    this.skipBad = skipBad;
  }
  /** Throw `error`, or record it as a counted skip when skipping is on. */
  report(error: InputError): void {
    if (!this.skipBad) throw error;
    this.skipped.push(error);
  }
  /** Number of skipped rows. */
  get count(): number {
    return this.skipped.length;
  }
}
