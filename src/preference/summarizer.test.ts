import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RagarError } from '../util/errors.js';
import { keywordText, summarizePreference, SUMMARY_SYSTEM_PROMPT, type PreferenceKeyword } from './summarizer.js';

/** Every test here is bounded well below vitest's default timeout. */
const BOUND_MS = 5000;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const KEYWORDS: PreferenceKeyword[] = [
  { keyword: 'pastel', score: 0.42 },
  { keyword: 'flat', score: 0.9123 },
  { keyword: 'thick outline', score: 0.42 },
  { keyword: 'glossy', score: 0.05 },
];
const PLAIN = 'flat, pastel, thick outline, glossy';

function completion(content: unknown): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    model: 'fake',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  });
}

/**
 * A fake OpenAI-compatible server; the first path segment picks the behaviour:
 * /good/v1/chat/completions answers a completion, /slow waits 3 s, /fail answers 500, /garbage
 * answers text, /nochoices answers JSON without choices, /empty, /long, /think, /quoted.
 */
let server: http.Server;
let base = '';
const seen: Seen[] = [];
const timers = new Set<ReturnType<typeof setTimeout>>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const mode = (req.url ?? '').split('/')[1];
      const json = (status: number, text: string): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(text);
      };
      switch (mode) {
        case 'good':
          return json(200, completion('  flat vector style,\n pastel colours, thick outlines  '));
        case 'slow': {
          const t = setTimeout(() => json(200, completion('too late')), 3000);
          timers.add(t);
          return;
        }
        case 'fail':
          return json(500, JSON.stringify({ error: { message: 'model exploded', type: 'server_error' } }));
        case 'garbage':
          res.writeHead(200, { 'content-type': 'text/html' });
          return res.end('<html><body>Bad Gateway, please try again</body></html>');
        case 'nochoices':
          return json(200, JSON.stringify({ id: 'x', object: 'chat.completion', usage: { total_tokens: 3 } }));
        case 'empty':
          return json(200, completion('   \n  '));
        case 'nullcontent':
          return json(200, completion(null));
        case 'long':
          return json(200, completion('very '.repeat(200) + 'long'));
        case 'think':
          return json(200, completion('<think>The user likes flat things.\nOK.</think>\n"flat shapes, soft pastel palette"'));
        default:
          return json(404, JSON.stringify({ error: 'no such route' }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const t of timers) clearTimeout(t);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A port on 127.0.0.1 with nothing listening (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function lastRequest(): Seen {
  const r = seen.at(-1);
  if (!r) throw new Error('no request reached the fake server');
  return r;
}

describe('keywordText', () => {
  it('joins the top m keywords by score, ties by keyword, duplicates keeping their best score', () => {
    expect(keywordText(KEYWORDS, 2)).toBe('flat, pastel');
    expect(keywordText(KEYWORDS, 10)).toBe(PLAIN);
    expect(
      keywordText(
        [
          { keyword: ' glossy ', score: 0.1 },
          { keyword: 'glossy', score: 0.8 },
          { keyword: 'flat', score: 0.5 },
        ],
        5,
      ),
    ).toBe('glossy, flat');
    expect(keywordText([], 3)).toBe('');
  });

  it('throws a RagarError for a bad m or bad keywords', () => {
    expect(() => keywordText(KEYWORDS, 0)).toThrow(RagarError);
    expect(() => keywordText(KEYWORDS, 1.5)).toThrow(RagarError);
    expect(() => keywordText([{ keyword: 'x', score: Number.NaN }], 1)).toThrow(RagarError);
    expect(() => keywordText([{ keyword: '  ', score: 1 }], 1)).toThrow(RagarError);
    expect(() => keywordText('flat' as never, 1)).toThrow(RagarError);
  });
});

describe('summarizePreference', () => {
  it(
    'sends model, system prompt and weighted keywords, and returns the cleaned LLM summary',
    async () => {
      const result = await summarizePreference(
        { keywords: KEYWORDS, referenceText: 'a red apple' },
        { baseUrl: `${base}/good/v1`, model: 'tiny-llm', maxTokens: 64, timeoutMs: 2000 },
      );
      expect(result).toEqual({ text: 'flat vector style, pastel colours, thick outlines', source: 'llm' });
      const req = lastRequest();
      expect(req.method).toBe('POST');
      expect(req.url).toBe('/good/v1/chat/completions');
      expect(req.headers['content-type']).toMatch(/^application\/json/);
      expect(req.headers.authorization).toBeUndefined();
      const body = JSON.parse(req.body) as {
        model: string;
        messages: { role: string; content: string }[];
        max_tokens: number;
        temperature: number;
        stream: boolean;
      };
      expect(body.model).toBe('tiny-llm');
      expect(body.max_tokens).toBe(64);
      expect(body.temperature).toBe(0);
      expect(body.stream).toBe(false);
      expect(body.messages.map((m) => m.role)).toEqual(['system', 'user']);
      expect(body.messages[0].content).toBe(SUMMARY_SYSTEM_PROMPT);
      expect(body.messages[0].content).toMatch(/comma-separated/);
      // strongest first, weights rounded to 3 significant digits, reference text included
      expect(body.messages[1].content).toContain('flat (0.912), pastel (0.42), thick outline (0.42), glossy (0.05)');
      expect(body.messages[1].content).toContain('a red apple');
    },
    BOUND_MS,
  );

  it(
    'sends the API key as a bearer token, accepts a trailing slash or the full endpoint, and limits keywords',
    async () => {
      const a = await summarizePreference(
        { keywords: KEYWORDS },
        { baseUrl: `${base}/good/v1/`, model: 'm', apiKey: 'sk-test-123', maxKeywords: 2 },
      );
      expect(a.source).toBe('llm');
      const req = lastRequest();
      expect(req.url).toBe('/good/v1/chat/completions');
      expect(req.headers.authorization).toBe('Bearer sk-test-123');
      const user = (JSON.parse(req.body) as { messages: { content: string }[] }).messages[1].content;
      expect(user).toContain('flat (0.912), pastel (0.42)');
      expect(user).not.toContain('thick outline');
      expect(user).not.toContain('Image to personalise');
      await summarizePreference({ keywords: KEYWORDS }, { baseUrl: `${base}/good/v1/chat/completions`, model: 'm' });
      expect(lastRequest().url).toBe('/good/v1/chat/completions');
    },
    BOUND_MS,
  );

  it(
    'strips <think> blocks and wrapping quotes from the reply',
    async () => {
      const r = await summarizePreference({ keywords: KEYWORDS }, { baseUrl: `${base}/think`, model: 'm' });
      expect(r).toEqual({ text: 'flat shapes, soft pastel palette', source: 'llm' });
    },
    BOUND_MS,
  );

  it(
    'falls back to the keyword text when the endpoint is slower than timeoutMs',
    async () => {
      const start = performance.now();
      const r = await summarizePreference({ keywords: KEYWORDS }, { baseUrl: `${base}/slow`, model: 'm', timeoutMs: 200 });
      const elapsed = performance.now() - start;
      expect(r.text).toBe(PLAIN);
      expect(r.source).toBe('keywords');
      expect(r.warning).toMatch(/did not answer within 200 ms/);
      expect(elapsed).toBeLessThan(1500);
    },
    BOUND_MS,
  );

  it(
    'falls back when the connection is refused',
    async () => {
      const port = await closedPort();
      const r = await summarizePreference({ keywords: KEYWORDS }, { baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm', timeoutMs: 2000 });
      expect(r).toMatchObject({ text: PLAIN, source: 'keywords' });
      expect(r.warning).toMatch(/connection refused/);
      expect(r.warning).toContain(`127.0.0.1:${port}`);
    },
    BOUND_MS,
  );

  const faults: [string, RegExp][] = [
    ['fail', /HTTP 500 Internal Server Error: model exploded/],
    ['garbage', /reply is not JSON: "<html><body>Bad Gateway/],
    ['nochoices', /no choices\[0\]\.message\.content/],
    ['nullcontent', /no choices\[0\]\.message\.content/],
    ['empty', /reply content is empty/],
    ['long', /too long \(1004 characters, limit 400\)/],
    ['missing', /HTTP 404 Not Found: no such route/],
  ];
  for (const [route, warning] of faults) {
    it(
      `falls back with a warning on a faulty reply: ${route}`,
      async () => {
        const r = await summarizePreference({ keywords: KEYWORDS }, { baseUrl: `${base}/${route}/v1`, model: 'm', timeoutMs: 2000 });
        expect(r.text).toBe(PLAIN);
        expect(r.source).toBe('keywords');
        expect(r.warning).toMatch(warning);
        expect(r.warning).toMatch(/using the keyword text/);
      },
      BOUND_MS,
    );
  }

  it(
    'honours maxChars and maxKeywords in the fallback',
    async () => {
      const r = await summarizePreference(
        { keywords: KEYWORDS },
        { baseUrl: `${base}/good`, model: 'm', maxChars: 10, maxKeywords: 3 },
      );
      expect(r.source).toBe('keywords');
      expect(r.text).toBe('flat, pastel, thick outline');
      expect(r.warning).toMatch(/too long \(49 characters, limit 10\)/);
    },
    BOUND_MS,
  );

  it(
    'uses fetchImpl, and turns its failures (even one that ignores the abort signal) into fallbacks',
    async () => {
      const calls: string[] = [];
      const ok: typeof fetch = async (input) => {
        calls.push(String(input));
        return new Response(completion('crisp pixel art'), { status: 200, headers: { 'content-type': 'application/json' } });
      };
      expect(await summarizePreference({ keywords: KEYWORDS }, { baseUrl: 'https://llm.example/v1', model: 'm', fetchImpl: ok })).toEqual({
        text: 'crisp pixel art',
        source: 'llm',
      });
      expect(calls).toEqual(['https://llm.example/v1/chat/completions']);

      const broken: typeof fetch = async () => {
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND llm.example'), { code: 'ENOTFOUND' }) });
      };
      const r = await summarizePreference({ keywords: KEYWORDS }, { baseUrl: 'https://llm.example/v1', model: 'm', fetchImpl: broken });
      expect(r).toMatchObject({ source: 'keywords', text: PLAIN });
      expect(r.warning).toMatch(/host llm\.example not found/);

      const hanging: typeof fetch = () => new Promise<Response>(() => undefined);
      const start = performance.now();
      const h = await summarizePreference({ keywords: KEYWORDS }, { baseUrl: 'https://llm.example/v1', model: 'm', fetchImpl: hanging, timeoutMs: 100 });
      expect(h.warning).toMatch(/did not answer within 100 ms/);
      expect(performance.now() - start).toBeLessThan(1500);
    },
    BOUND_MS,
  );

  it(
    'returns empty keyword text without a request when there are no keywords',
    async () => {
      const before = seen.length;
      const r = await summarizePreference({ keywords: [] }, { baseUrl: `${base}/good/v1`, model: 'm' });
      expect(r).toEqual({ text: '', source: 'keywords' });
      expect(seen.length).toBe(before);
    },
    BOUND_MS,
  );

  it(
    'throws a RagarError for bad arguments (and sends nothing)',
    async () => {
      const before = seen.length;
      const good = { baseUrl: `${base}/good/v1`, model: 'm' };
      const input = { keywords: KEYWORDS };
      for (const baseUrl of ['', 'not a url', 'ftp://127.0.0.1/v1', '127.0.0.1:8080']) {
        await expect(summarizePreference(input, { ...good, baseUrl })).rejects.toBeInstanceOf(RagarError);
      }
      await expect(summarizePreference(input, { ...good, model: ' ' })).rejects.toBeInstanceOf(RagarError);
      for (const timeoutMs of [0, -5, Number.NaN]) {
        await expect(summarizePreference(input, { ...good, timeoutMs })).rejects.toBeInstanceOf(RagarError);
      }
      await expect(summarizePreference(input, { ...good, maxTokens: 0 })).rejects.toBeInstanceOf(RagarError);
      await expect(summarizePreference(input, { ...good, maxChars: 2.5 })).rejects.toBeInstanceOf(RagarError);
      await expect(summarizePreference({ keywords: [{ keyword: 'x', score: Number.POSITIVE_INFINITY }] }, good)).rejects.toBeInstanceOf(
        RagarError,
      );
      await expect(summarizePreference({ keywords: KEYWORDS, referenceText: 5 as never }, good)).rejects.toBeInstanceOf(RagarError);
      await expect(summarizePreference(null as never, good)).rejects.toBeInstanceOf(RagarError);
      expect(seen.length).toBe(before);
    },
    BOUND_MS,
  );
});
