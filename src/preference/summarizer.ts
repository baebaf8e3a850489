/**
 * Optional LLM summary of a keyword preference (DESIGN.md §2, step 2; PMG-style): the top weighted
 * keywords of a user's history are sent to an OpenAI-compatible chat endpoint
 * (`POST {baseUrl}/chat/completions`: OpenAI, vLLM, llama.cpp server, Ollama's `/v1`, LM Studio…),
 * which answers with a short comma-separated description of the user's visual preference.
 *
 * **Fallback, never a throw for endpoint faults.** The LLM is an optional refinement, so when the
 * endpoint times out, refuses the connection, answers non-2xx, answers something that is not JSON,
 * lacks `choices[0].message.content`, or returns empty or overlong content, {@link summarizePreference}
 * returns the plain keyword text ({@link keywordText}) with `source: 'keywords'` and a `warning`
 * naming what went wrong. Bad *arguments* (an invalid `baseUrl`, an empty model name, a non-finite
 * keyword score…) are the caller's bug and throw a {@link RagarError} (`BAD_INPUT`).
 *
 * @module
 */
import { RagarError } from '../util/errors.js';

/** One keyword of a keyword preference and its weighted score (higher = stronger preference). */
export interface PreferenceKeyword {
  keyword: string;
  score: number;
}

/** What to summarise: the weighted keywords and, optionally, the reference item's text. */
export interface PreferenceInput {
  keywords: readonly PreferenceKeyword[];
  /** Text of the reference item being personalised; gives the LLM context. */
  referenceText?: string;
}

/** Endpoint and limits of {@link summarizePreference}. */
export interface SummarizerOptions {
  /** Base URL of the OpenAI-compatible API, e.g. `http://127.0.0.1:11434/v1`; `/chat/completions` is appended (unless already there). */
  baseUrl: string;
  /** Model name sent in the request. */
  model: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Whole-request deadline (connect, reply, body) in milliseconds; default 15000. */
  timeoutMs?: number;
  /** `max_tokens` of the completion; default 128. */
  maxTokens?: number;
  /** Keywords sent to the LLM and used for the fallback text, strongest first; default all. */
  maxKeywords?: number;
  /** Longest accepted summary in characters (after cleaning); longer replies fall back. Default 400. */
  maxChars?: number;
  /** Sampling temperature; default 0 (deterministic where the server allows). */
  temperature?: number;
  /** `fetch` to use (tests, proxies); default the global `fetch`. */
  fetchImpl?: typeof fetch;
}

/** Result of {@link summarizePreference}. */
export interface PreferenceSummary {
  /** The preference text to put into a prompt. */
  text: string;
  /** `'llm'` when the endpoint's summary is used, `'keywords'` for the plain keyword text. */
  source: 'llm' | 'keywords';
  /** Why the LLM summary was not used (only with `source: 'keywords'` after an endpoint fault). */
  warning?: string;
}

/** System prompt of the summary request. */
export const SUMMARY_SYSTEM_PROMPT =
  "You describe a user's visual preference for an image generator. You are given weighted keywords " +
  'taken from images the user liked (a higher weight means a stronger preference). Reply with one ' +
  'short comma-separated list of visual descriptors (style, medium, colours, shading, line work, ' +
  'mood), strongest first, at most 12 short phrases and under 60 words. Reply with the list only: ' +
  'no sentences, no explanations, no quotes.';

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_TOKENS = 128;
const DEFAULT_MAX_CHARS = 400;
/** Replies larger than this are not read to the end. */
const MAX_BODY_BYTES = 1 << 20;

/**
 * The plain keyword text: the `m` highest-scoring keywords (ties by keyword, duplicates keep their
 * best score), trimmed and joined by `", "`. Keywords are validated as in {@link summarizePreference}.
 *
 * @example
 * keywordText([{ keyword: 'cartoon', score: 0.4 }, { keyword: 'flat', score: 0.9 }, { keyword: '3d', score: 0.1 }], 2);
 * // -> 'flat, cartoon'
 */
export function keywordText(keywords: readonly PreferenceKeyword[], m: number): string {
  if (!Number.isInteger(m) || m <= 0) throw new RagarError(`keyword count m must be a positive integer, got ${m}`, 'BAD_INPUT');
  return topKeywords(keywords, m)
    .map((k) => k.keyword)
    .join(', ');
}

/** Validated, trimmed, de-duplicated keywords, strongest first (ties by keyword), at most `m`. */
function topKeywords(keywords: readonly PreferenceKeyword[], m: number): PreferenceKeyword[] {
  if (!Array.isArray(keywords)) throw new RagarError('keywords must be an array of { keyword, score }', 'BAD_INPUT');
  const best = new Map<string, number>();
  keywords.forEach((k, i) => {
    if (k === null || typeof k !== 'object') throw new RagarError(`keyword ${i} must be an object { keyword, score }`, 'BAD_INPUT');
    if (typeof k.keyword !== 'string' || k.keyword.trim() === '') {
      throw new RagarError(`keyword ${i} must have a non-empty string keyword, got ${JSON.stringify(k.keyword)}`, 'BAD_INPUT');
    }
    if (typeof k.score !== 'number' || !Number.isFinite(k.score)) {
      throw new RagarError(`keyword ${i} (${JSON.stringify(k.keyword)}) must have a finite score, got ${k.score}`, 'BAD_INPUT');
    }
    const word = k.keyword.trim();
    const prev = best.get(word);
    if (prev === undefined || k.score > prev) best.set(word, k.score);
  });
  return [...best]
    .map(([keyword, score]) => ({ keyword, score }))
    .sort((a, b) => (a.score !== b.score ? b.score - a.score : a.keyword < b.keyword ? -1 : a.keyword > b.keyword ? 1 : 0))
    .slice(0, m);
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new RagarError(`${name} must be a positive integer, got ${value}`, 'BAD_INPUT');
  return value;
}

/** The chat-completions URL for a base URL; throws a RagarError unless it is an http(s) URL. */
function endpointUrl(baseUrl: string): string {
  if (typeof baseUrl !== 'string' || baseUrl.trim() === '') throw new RagarError('baseUrl must be a non-empty URL', 'BAD_INPUT');
  let url: URL;
  try {
    url = new URL(baseUrl.trim());
  } catch {
    throw new RagarError(`baseUrl ${JSON.stringify(baseUrl)} is not a valid URL`, 'BAD_INPUT');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RagarError(`baseUrl must be an http or https URL, got ${JSON.stringify(baseUrl)}`, 'BAD_INPUT');
  }
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = path.endsWith('/chat/completions') ? path : `${path}/chat/completions`;
  return url.toString();
}

/** The user message: weighted keywords, strongest first, and the reference text. */
function userMessage(keywords: readonly PreferenceKeyword[], referenceText: string | undefined): string {
  const list = keywords.map((k) => `${k.keyword} (${Number(k.score.toPrecision(3))})`).join(', ');
  const lines = [`Weighted keywords from images this user liked: ${list}`];
  if (referenceText !== undefined && referenceText.trim() !== '') lines.push(`Image to personalise: ${referenceText.trim()}`);
  lines.push("Describe this user's visual preference as a short comma-separated list.");
  return lines.join('\n');
}

/** Strip `<think>` reasoning blocks and wrapping quotes/backticks; collapse whitespace. */
function cleanContent(content: string): string {
  let text = content.replace(/<think>[\s\S]*?<\/think>/gi, ' ').replace(/\s+/g, ' ').trim();
  for (let changed = true; changed && text.length >= 2; ) {
    changed = false;
    const first = text[0];
    const last = text[text.length - 1];
    if ((first === '"' && last === '"') || (first === "'" && last === "'") || (first === '`' && last === '`')) {
      text = text.slice(1, -1).trim();
      changed = true;
    }
  }
  return text;
}

/** One-line, bounded excerpt of a reply body for a warning. */
function excerpt(text: string, max = 120): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** A message for a failed fetch: timeout, refused connection, DNS, or the error's own message. */
function describeFetchError(error: unknown, timedOut: boolean, timeoutMs: number, url: string): string {
  if (timedOut) return `the endpoint did not answer within ${timeoutMs} ms`;
  const e = error as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string } };
  const code = e?.cause?.code ?? e?.code;
  const origin = new URL(url).host;
  if (code === 'ECONNREFUSED') return `connection refused by ${origin}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host ${new URL(url).hostname} not found`;
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return `connection to ${origin} was reset`;
  if (e?.name === 'TimeoutError') return `the endpoint did not answer within ${timeoutMs} ms`;
  const message = e?.cause?.message ?? e?.message ?? String(error);
  return `request to ${origin} failed: ${message}${code ? ` (${code})` : ''}`;
}

/** Read a response body as text, at most {@link MAX_BODY_BYTES}. */
async function readBody(response: Response): Promise<{ text: string; truncated: boolean }> {
  if (!response.body) return { text: await response.text(), truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    bytes += value.byteLength;
    if (bytes > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => undefined);
      return { text: '', truncated: true };
    }
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
}

/** A fallback the request path signals with, carrying the warning text. */
class Fallback {
  constructor(readonly reason: string) {}
}

/**
 * Summarise a keyword preference with an LLM, falling back to the plain keyword text on any
 * endpoint fault (see the module comment). With no keywords it returns `{ text: '', source:
 * 'keywords' }` without a request.
 *
 * @example
 * const summary = await summarizePreference(
 *   { keywords: [{ keyword: 'flat', score: 0.9 }, { keyword: 'pastel', score: 0.5 }], referenceText: 'a red apple' },
 *   { baseUrl: 'http://127.0.0.1:11434/v1', model: 'llama3.2', timeoutMs: 5000 },
 * );
 * // { text: 'flat vector style, pastel colours, soft shading', source: 'llm' }
 * // or, with the endpoint down: { text: 'flat, pastel', source: 'keywords', warning: 'connection refused by 127.0.0.1:11434; ...' }
 */
export async function summarizePreference(input: PreferenceInput, options: SummarizerOptions): Promise<PreferenceSummary> {
  if (input === null || typeof input !== 'object') throw new RagarError('preference input must be an object { keywords, referenceText? }', 'BAD_INPUT');
  if (options === null || typeof options !== 'object') throw new RagarError('summarizer options must be an object { baseUrl, model, ... }', 'BAD_INPUT');
  const url = endpointUrl(options.baseUrl);
  if (typeof options.model !== 'string' || options.model.trim() === '') {
    throw new RagarError('summarizer model must be a non-empty string', 'BAD_INPUT');
  }
  if (options.apiKey !== undefined && typeof options.apiKey !== 'string') throw new RagarError('apiKey must be a string', 'BAD_INPUT');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > 2_147_483_647) {
    throw new RagarError(`timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`, 'BAD_INPUT');
  }
  const maxTokens = positiveInteger('maxTokens', options.maxTokens, DEFAULT_MAX_TOKENS);
  const maxChars = positiveInteger('maxChars', options.maxChars, DEFAULT_MAX_CHARS);
  const maxKeywords = positiveInteger('maxKeywords', options.maxKeywords, Number.MAX_SAFE_INTEGER);
  const temperature = options.temperature ?? 0;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) {
    throw new RagarError(`temperature must be a non-negative number, got ${temperature}`, 'BAD_INPUT');
  }
  if (input.referenceText !== undefined && typeof input.referenceText !== 'string') {
    throw new RagarError('referenceText must be a string', 'BAD_INPUT');
  }
  const fetchImpl = options.fetchImpl ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new RagarError('fetchImpl must be a fetch function', 'BAD_INPUT');

  const keywords = topKeywords(input.keywords, maxKeywords);
  const plain = keywords.map((k) => k.keyword).join(', ');
  if (keywords.length === 0) return { text: '', source: 'keywords' };

  const body = {
    model: options.model,
    messages: [
      { role: 'system', content: SUMMARY_SYSTEM_PROMPT },
      { role: 'user', content: userMessage(keywords, input.referenceText) },
    ],
    max_tokens: maxTokens,
    temperature,
    stream: false,
  };
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;

  const controller = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // The deadline also guards a fetchImpl that ignores its signal.
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      const error = new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError');
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });

  const request = async (): Promise<string | Fallback> => {
    let response: Response;
    try {
      response = await fetchImpl(url, { method: 'POST', headers, body: JSON.stringify(body), signal: controller.signal });
    } catch (error) {
      return new Fallback(describeFetchError(error, timedOut, timeoutMs, url));
    }
    let raw: { text: string; truncated: boolean };
    try {
      raw = await readBody(response);
    } catch (error) {
      return new Fallback(`reading the reply failed: ${describeFetchError(error, timedOut, timeoutMs, url)}`);
    }
    if (!response.ok) {
      let detail = raw.text;
      try {
        const parsed = JSON.parse(raw.text) as { error?: { message?: unknown } | string; message?: unknown };
        const message = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message);
        if (typeof message === 'string') detail = message;
      } catch {
        // keep the raw text
      }
      const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
      return new Fallback(detail.trim() ? `${status}: ${excerpt(detail)}` : status);
    }
    if (raw.truncated) return new Fallback(`reply is larger than ${MAX_BODY_BYTES} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.text);
    } catch {
      return new Fallback(`reply is not JSON: "${excerpt(raw.text, 60)}"`);
    }
    const content = (parsed as { choices?: { message?: { content?: unknown } }[] } | null)?.choices?.[0]?.message?.content;
    if (typeof content !== 'string') return new Fallback('reply has no choices[0].message.content');
    const text = cleanContent(content);
    if (text === '') return new Fallback('reply content is empty');
    if (text.length > maxChars) return new Fallback(`reply content is too long (${text.length} characters, limit ${maxChars})`);
    return text;
  };

  let outcome: string | Fallback;
  try {
    outcome = await Promise.race([request(), deadline]);
  } catch (error) {
    outcome = new Fallback(describeFetchError(error, timedOut, timeoutMs, url));
  } finally {
    clearTimeout(timer);
  }
  if (outcome instanceof Fallback) {
    return { text: plain, source: 'keywords', warning: `LLM preference summary unavailable (${outcome.reason}); using the keyword text` };
  }
  return { text: outcome, source: 'llm' };
}
