import { RagarError, type ErrorCode } from '../../util/errors.js';

/** The error codes the remote engines throw (a subset of the closed set `ERROR_CODES`). */
export type RemoteErrorCode = Extract<ErrorCode, 'UNREACHABLE' | 'REMOTE' | 'BAD_RESPONSE' | 'TIMEOUT' | 'ABORTED' | 'NOT_FOUND' | 'BAD_INPUT' | 'BAD_IMAGE' | 'UNSUPPORTED'>;

/**
 * A failure talking to a generation server: the message names the server and what failed;
 * `server` is its base URL, `status` the HTTP status when one came back.
 *
 * @example
 * throw new RemoteError('http://127.0.0.1:8188', 'rejected the prompt: …', 'REMOTE', 400);
 */
export class RemoteError extends RagarError {
  readonly server: string;
  readonly status: number | undefined;
  constructor(server: string, message: string, code: RemoteErrorCode, status?: number, options?: { cause?: unknown }) {
    super(`${server}: ${message}`, code, options);
    this.name = 'RemoteError';
    this.server = server;
    this.status = status;
  }
}

/** Options of one HTTP call to a generation server. */
export interface HttpCallOptions {
  method?: 'GET' | 'POST';
  /** A JSON body (serialised here) or a ready body (FormData, string). */
  json?: unknown;
  body?: FormData | string;
  /** Milliseconds before the call fails with `TIMEOUT`. */
  timeoutMs: number;
  /** Aborts the call (`ABORTED`). */
  signal?: AbortSignal;
  /** What the call does, for messages ("queue the prompt"). */
  what: string;
}

/** What came back from {@link httpCall}. */
export interface HttpResponse {
  status: number;
  bytes: Buffer;
  contentType: string;
  /** The exact body that was sent (the JSON text for `json` calls), for records. */
  sentBody: string | null;
}

/** Throw `ABORTED` if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, server = 'generation'): void {
  if (signal?.aborted) throw new RemoteError(server, 'generation aborted', 'ABORTED');
}

/** Strip a trailing slash and check that `url` is an http(s) URL. */
export function normaliseServerUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RagarError(`server URL "${url}" is not a URL (expected e.g. http://127.0.0.1:8188)`, 'BAD_INPUT');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new RagarError(`server URL "${url}" must start with http:// or https://`, 'BAD_INPUT');
  return parsed.toString().replace(/\/+$/, '');
}

const NET_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

function causeCode(e: unknown): string | undefined {
  let c: unknown = e;
  for (let i = 0; i < 4 && c && typeof c === 'object'; i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    c = (c as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * One HTTP call to `server + path` with a timeout and an abort signal; network failures become
 * `UNREACHABLE`, the timeout `TIMEOUT`, the signal `ABORTED`. Non-2xx answers are returned (the
 * caller words them); see {@link expectOk}.
 *
 * @example
 * const r = await httpCall('http://127.0.0.1:8188', '/object_info/KSampler', { timeoutMs: 10_000, what: 'read node types' });
 */
export async function httpCall(server: string, path: string, options: HttpCallOptions): Promise<HttpResponse> {
  throwIfAborted(options.signal, server);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const sentBody = options.json !== undefined ? JSON.stringify(options.json) : typeof options.body === 'string' ? options.body : null;
  const headers: Record<string, string> = {};
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(server + path, {
      method: options.method ?? (options.json !== undefined || options.body !== undefined ? 'POST' : 'GET'),
      headers,
      body: options.json !== undefined ? sentBody! : options.body,
      signal,
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    return { status: res.status, bytes, contentType: res.headers.get('content-type') ?? '', sentBody };
  } catch (e) {
    if (options.signal?.aborted) throw new RemoteError(server, `generation aborted (while trying to ${options.what})`, 'ABORTED', undefined, { cause: e });
    if (timeout.aborted) throw new RemoteError(server, `no answer within ${options.timeoutMs} ms (while trying to ${options.what})`, 'TIMEOUT', undefined, { cause: e });
    const code = causeCode(e);
    if (code && NET_CODES.has(code)) throw new RemoteError(server, `server unreachable (${code}) while trying to ${options.what}; is it running and is the URL right?`, 'UNREACHABLE', undefined, { cause: e });
    throw new RemoteError(server, `request failed while trying to ${options.what}: ${e instanceof Error ? e.message : String(e)}`, 'UNREACHABLE', undefined, { cause: e });
  }
}

/** Up to `n` characters of a body, printable, for messages. */
export function excerpt(bytes: Buffer, n = 300): string {
  const s = bytes.toString('utf8').replace(/\s+/g, ' ').trim();
  return s.length > n ? `${s.slice(0, n)}…` : s || '(empty body)';
}

/**
 * Throw `REMOTE` (with the status and an excerpt of the body) unless the answer is 2xx.
 *
 * @example
 * expectOk(server, await httpCall(server, '/interrupt', { method: 'POST', timeoutMs: 5000, what: 'interrupt' }), 'interrupt');
 */
export function expectOk(server: string, res: HttpResponse, what: string): HttpResponse {
  if (res.status < 200 || res.status >= 300) throw new RemoteError(server, `HTTP ${res.status} while trying to ${what}: ${excerpt(res.bytes)}`, 'REMOTE', res.status);
  return res;
}

/**
 * Parse a JSON body, throwing `BAD_RESPONSE` (with an excerpt) for anything that is not JSON.
 *
 * @example
 * const body = parseJson(server, res, 'queue the prompt');
 */
export function parseJson(server: string, res: HttpResponse, what: string): unknown {
  try {
    return JSON.parse(res.bytes.toString('utf8'));
  } catch {
    throw new RemoteError(server, `answered something that is not JSON while trying to ${what} (HTTP ${res.status}): ${excerpt(res.bytes)}`, 'BAD_RESPONSE', res.status);
  }
}

/** True for a plain JSON object. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Wait `ms` milliseconds, or reject with `ABORTED` when the signal fires.
 *
 * @example
 * await sleep(250, signal);
 */
export function sleep(ms: number, signal?: AbortSignal, server = 'generation'): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RemoteError(server, 'generation aborted', 'ABORTED'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new RemoteError(server, 'generation aborted', 'ABORTED'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
