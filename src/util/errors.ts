/**
 * Errors of the library: every failure a caller can act on is a {@link RagarError} with one code
 * of the closed set {@link ERROR_CODES}; the CLI prints its message on one line and exits with
 * the code's exit status (no stack trace). Library code throws no plain `Error`.
 */

/**
 * The closed set of error codes: what each means and the CLI's exit status for it (0 is
 * success; 2 a usage error, as for Commander's own; 130 an interruption, as for SIGINT).
 */
export const ERROR_CODES = {
  /** The command line or call is malformed (missing or conflicting options). */
  USAGE: { exit: 2, meaning: 'usage error' },
  /** An argument or input value is invalid (bad option value, malformed row, wrong dimension). */
  BAD_INPUT: { exit: 1, meaning: 'invalid input' },
  /** Image bytes that cannot be decoded. */
  BAD_IMAGE: { exit: 1, meaning: 'undecodable image' },
  /** A named thing does not exist (dataset, user, item, model, file). */
  NOT_FOUND: { exit: 1, meaning: 'not found' },
  /** The request contradicts what exists (a dataset already there, a model of other data). */
  CONFLICT: { exit: 1, meaning: 'conflict' },
  /** A saved file of another format or version. */
  VERSION: { exit: 1, meaning: 'unsupported format version' },
  /** A saved file that is damaged (checksum, size, header). */
  CORRUPT: { exit: 1, meaning: 'corrupt file' },
  /** The implementation cannot do this (e.g. an id-only ranker asked to score a new image). */
  UNSUPPORTED: { exit: 1, meaning: 'unsupported' },
  /** A download or system tool failed (apt-get, dpkg-deb). */
  FETCH: { exit: 1, meaning: 'fetch failed' },
  /** Training diverged (loss not finite). */
  DIVERGED: { exit: 1, meaning: 'training diverged' },
  /** A numerical routine failed (no convergence). */
  NUMERIC: { exit: 1, meaning: 'numerical failure' },
  /** Stopped by an AbortSignal (Ctrl-C on the command line); finished work is kept. */
  ABORTED: { exit: 130, meaning: 'interrupted' },
  /** A generation server (ComfyUI, AUTOMATIC1111) cannot be reached (connection refused, DNS, reset). */
  UNREACHABLE: { exit: 1, meaning: 'server unreachable' },
  /** A generation server answered with an error (HTTP status, rejected prompt, failed job). */
  REMOTE: { exit: 1, meaning: 'server error' },
  /** A generation server answered something that is not what its API documents (not JSON, no image). */
  BAD_RESPONSE: { exit: 1, meaning: 'malformed server response' },
  /** A generation server did not answer in time. */
  TIMEOUT: { exit: 1, meaning: 'timed out' },
  /** The generator trainer's name for ABORTED (to be merged into it). */
  INTERRUPTED: { exit: 130, meaning: 'interrupted' },
  /** Missing, unknown or revoked credentials (the service's API keys). */
  UNAUTHORIZED: { exit: 1, meaning: 'unauthorized' },
  /** An input over a size limit (upload bytes, image pixels). */
  TOO_LARGE: { exit: 1, meaning: 'too large' },
  /** A capacity limit reached: the job queue is full or a rate limit was hit; retry later. */
  BUSY: { exit: 1, meaning: 'busy, retry later' },
  /** A broken invariant inside ragar (a bug: please report it). */
  INTERNAL: { exit: 1, meaning: 'internal error' },
} as const satisfies Record<string, { exit: number; meaning: string }>;

/** One error code (a key of {@link ERROR_CODES}). */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The CLI's exit status for an error code.
 *
 * @example
 * exitCodeOf('USAGE'); // 2
 */
export function exitCodeOf(code: ErrorCode): number {
  return ERROR_CODES[code].exit;
}

/**
 * The error every library failure is: a message naming what was wrong and a code from
 * {@link ERROR_CODES}.
 *
 * @example
 * throw new RagarError(`no item "x" in dataset emoji-styles`, 'NOT_FOUND');
 */
export class RagarError extends Error {
  /** Machine-readable code. */
  readonly code: ErrorCode;
  constructor(message: string, code: ErrorCode = 'INTERNAL', options?: { cause?: unknown }) {
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
