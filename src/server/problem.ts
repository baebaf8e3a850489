import type { Context } from 'hono';
import { RagarError, type ErrorCode } from '../util/errors.js';

/** The HTTP status of each error code (a problem+json response's `status`). */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  USAGE: 400,
  BAD_INPUT: 400,
  BAD_IMAGE: 415,
  NOT_FOUND: 404,
  CONFLICT: 409,
  VERSION: 500,
  CORRUPT: 500,
  UNSUPPORTED: 400,
  FETCH: 502,
  UNREACHABLE: 502,
  REMOTE: 502,
  BAD_RESPONSE: 502,
  TIMEOUT: 504,
  DIVERGED: 500,
  NUMERIC: 500,
  ABORTED: 409,
  INTERRUPTED: 409,
  UNAUTHORIZED: 401,
  TOO_LARGE: 413,
  BUSY: 429,
  INTERNAL: 500,
};

/**
 * A {@link RagarError} with an explicit HTTP status (where the code's default does not fit, e.g.
 * 415 for a wrong content type) and optional response headers (`Retry-After`).
 */
export class HttpProblem extends RagarError {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, code: ErrorCode, headers: Record<string, string> = {}) {
    super(message, code);
    this.name = 'HttpProblem';
    this.status = status;
    this.headers = headers;
  }
}

/** RFC 9457 problem details, as this service writes them. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
}

/**
 * The `application/problem+json` response for any thrown value: a {@link RagarError}'s message
 * and code; anything else is a 500 with a generic message (never a stack trace; the error is
 * logged by `log`).
 */
export function problemResponse(c: Context, err: unknown, log: (line: string) => void = () => {}): Response {
  let status = 500;
  let code: ErrorCode = 'INTERNAL';
  let detail = 'internal error (logged on the server)';
  let headers: Record<string, string> = {};
  if (err instanceof HttpProblem) {
    ({ status, code, headers } = err);
    detail = err.message;
  } else if (err instanceof RagarError) {
    code = err.code;
    status = HTTP_STATUS[code];
    detail = status >= 500 ? `${code.toLowerCase()}: ${err.message}` : err.message;
  } else {
    log(`internal error on ${c.req.method} ${c.req.path}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  const body: Problem = { type: `https://ragar.dev/problems/${code.toLowerCase()}`, title: titleOf(status), status, detail, code };
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/problem+json', ...headers } });
}

function titleOf(status: number): string {
  const titles: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    404: 'Not Found',
    405: 'Method Not Allowed',
    409: 'Conflict',
    413: 'Content Too Large',
    415: 'Unsupported Media Type',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
  };
  return titles[status] ?? 'Error';
}
