import fs from 'node:fs';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockGeneratorEngine } from '../generation/mockEngine.js';
import { ApiKeys } from '../store/service.js';
import { Store } from '../store/store.js';
import { EmbeddedQueue } from './queue.js';
import { startService, type RunningService } from './serve.js';
import { serviceHome } from './testing/fixture.js';

let home: string;
let svc: RunningService;
let key: string;
let revoked: string;
let user: string;
let item: string;

const auth = (k = key) => ({ authorization: `Bearer ${k}` });
const get = (p: string, k = key) => fetch(svc.url + p, { headers: auth(k) });
const postJson = (p: string, body: unknown, headers: Record<string, string> = {}) => fetch(svc.url + p, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
async function expectProblem(r: Response, status: number, detail?: RegExp) {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toBe('application/problem+json');
  const body = await r.json();
  expect(body).toMatchObject({ status, title: expect.any(String), detail: expect.any(String) });
  expect(JSON.stringify(body)).not.toMatch(/\n\s+at /); // never a stack trace
  if (detail) expect(body.detail).toMatch(detail);
  return body;
}
async function waitDone(id: string) {
  for (let i = 0; i < 600; i++) {
    const j = await (await get(`/v1/generations/${id}`)).json();
    if (['succeeded', 'failed', 'cancelled'].includes(j.status)) return j;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${id} did not finish`);
}

/** A PNG whose header claims 30000×30000 pixels (a decompression bomb), a few hundred bytes on the wire. */
function pngBomb(): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(30000, 0);
  ihdr.writeUInt32BE(30000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(30001 * 4))), chunk('IEND', Buffer.alloc(0))]);
}

beforeAll(async () => {
  home = await serviceHome();
  const store = Store.open(home);
  const keys = new ApiKeys(store);
  key = keys.create('tests').key;
  revoked = keys.create('old').key;
  keys.revoke('old');
  store.close();
  svc = await startService({ settings: { home }, port: 0, engines: { mock: new MockGeneratorEngine() }, defaultEngine: 'mock', uploads: { maxBytes: 200_000 } });
  user = svc.ragar.users()[0].externalId;
  item = svc.ragar.items().find((i) => i.style === 'twemoji')!.externalId;
}, 600_000);

afterAll(async () => {
  await svc?.close();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

describe('the service API (mock engine)', () => {
  it('serves health, metrics, the OpenAPI document, its reference page and the web pages', async () => {
    expect(await (await fetch(`${svc.url}/healthz`)).json()).toMatchObject({ status: 'ok', queue: { queued: expect.any(Number) } });
    const doc = await (await fetch(`${svc.url}/openapi.json`)).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const p of ['/v1/generations', '/v1/generations/{id}', '/v1/generations/{id}/events', '/v1/datasets', '/v1/datasets/{dataset}/users', '/v1/datasets/{dataset}/items', '/v1/users/{user}/history', '/v1/rank', '/healthz', '/metrics']) expect(Object.keys(doc.paths)).toContain(p);
    expect(doc.paths['/v1/generations'].post.requestBody.content['application/json'].schema).toBeDefined();
    expect(await (await fetch(`${svc.url}/docs`)).text()).toContain('/v1/generations/{id}/events');
    expect(await (await fetch(`${svc.url}/`)).text()).toContain('id="generate"');
    expect(await (await fetch(`${svc.url}/study`)).text()).toContain('fits better');
    await get('/v1/datasets');
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/ragar_http_requests_total\{method="GET",route="\/v1\/datasets",status="200"\} \d+/);
    expect(metrics).toMatch(/ragar_queue_jobs\{state="queued"\} \d+/);
    expect(metrics).toContain('ragar_job_duration_seconds_count');
    await expectProblem(await fetch(`${svc.url}/nowhere`), 404);
  });

  it('requires a valid, unrevoked API key on /v1', async () => {
    await expectProblem(await fetch(`${svc.url}/v1/datasets`), 401, /API key is required/);
    await expectProblem(await get('/v1/datasets', revoked), 401, /revoked/);
    await expectProblem(await get('/v1/datasets', 'rgr_not-a-real-key-at-all'), 401);
    expect((await get('/v1/datasets')).headers.get('access-control-allow-origin')).toBeNull(); // CORS off
  });

  it('lists datasets, users and items (paged, filtered), item images; validates ids', async () => {
    expect((await (await get('/v1/datasets')).json()).datasets.map((d: { name: string }) => d.name)).toEqual(['emoji-styles']);
    const users = await (await get('/v1/datasets/emoji-styles/users?limit=5&offset=1')).json();
    expect(users).toMatchObject({ offset: 1, limit: 5, total: svc.ragar.users().length });
    expect(users.users).toHaveLength(5);
    const items = await (await get('/v1/datasets/emoji-styles/items?style=twemoji&limit=3')).json();
    expect(items.items.length).toBeGreaterThan(0);
    expect(items.items.every((i: { style: string }) => i.style === 'twemoji')).toBe(true);
    const img = await get(items.items[0].image);
    expect(img.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await img.arrayBuffer()).subarray(1, 4).toString()).toBe('PNG');
    await expectProblem(await get('/v1/datasets/nope/users'), 404);
    await expectProblem(await get('/v1/datasets/emoji-styles/users?limit=0'), 400, /limit/);
    await expectProblem(await get('/v1/datasets/emoji-styles/image?item=..%2F..%2Fetc%2Fpasswd'), 400, /item id/);
    await expectProblem(await get('/v1/datasets/emoji-styles/image?item=%2Fetc%2Fpasswd'), 400);
    await expectProblem(await get('/v1/datasets/emoji-styles/image?item=NOPE%2Fnoto'), 404);
    await expectProblem(await get('/v1/datasets/..%2F..%2Fetc/users'), 400);
  });

  it("returns the user's weighted history for a reference", async () => {
    const h = await (await get(`/v1/users/${user}/history?reference=${encodeURIComponent(item)}`)).json();
    expect(h.history.reduce((s: number, x: { weight: number }) => s + x.weight, 0)).toBeCloseTo(1, 5);
    expect(h.keywords.length).toBeGreaterThan(0);
    await expectProblem(await get(`/v1/users/${user}/history`), 400, /reference/);
    await expectProblem(await get(`/v1/users/nobody/history?reference=${encodeURIComponent(item)}`), 404);
  });

  it('queues a generation, streams its progress, returns scored candidates, and is idempotent per key', async () => {
    const r = await postJson('/v1/generations', { user, reference: item, candidates: 3, seed: 7 }, { 'idempotency-key': 'gen-1' });
    expect(r.status).toBe(202);
    const acc = await r.json();
    expect(acc).toMatchObject({ id: expect.stringMatching(/^j_[0-9a-f]{24}$/), created: true });
    const events = await (await get(`/v1/generations/${acc.id}/events`)).text();
    expect(events).toMatch(/event: succeeded/);
    const job = await waitDone(acc.id);
    expect(job.status).toBe('succeeded');
    expect(job.result.candidates).toHaveLength(3);
    expect(job.result.candidates.filter((c: { chosen: boolean }) => c.chosen)).toHaveLength(1);
    expect(job.result.candidates[0]).toMatchObject({ rankerScore: expect.any(Number), semanticScore: expect.any(Number), seed: 7 });
    expect(job.result.weights.length).toBeGreaterThan(0);
    const png = await get(job.result.image);
    expect(png.headers.get('content-type')).toBe('image/png');
    const again = await (await postJson('/v1/generations', { user, reference: item, candidates: 3, seed: 7 }, { 'idempotency-key': 'gen-1' })).json();
    expect(again).toMatchObject({ id: acc.id, created: false });
    // DELETE on a finished job leaves it as it was.
    expect((await (await fetch(`${svc.url}/v1/generations/${acc.id}`, { method: 'DELETE', headers: auth() })).json()).status).toBe('succeeded');
    await expectProblem(await get(`/v1/generations/${acc.id}/candidates/9`), 404);
  });

  it('refuses bad generation requests with problem+json', async () => {
    await expectProblem(await postJson('/v1/generations', { user }), 400, /reference/);
    await expectProblem(await postJson('/v1/generations', { user, reference: item, candidates: 99 }), 400, /candidates/);
    await expectProblem(await postJson('/v1/generations', { user, reference: item, extra: 1 }), 400);
    await expectProblem(await postJson('/v1/generations', { user, reference: item, engine: 'nope' }), 400, /unknown engine/);
    await expectProblem(await postJson('/v1/generations', { user: 'nobody', reference: item }), 404, /no user/);
    await expectProblem(await postJson('/v1/generations', { user, reference: 'NOPE/noto' }), 404, /no item/);
    await expectProblem(await postJson('/v1/generations', { user, reference: '../../etc/passwd' }), 400);
    await expectProblem(await fetch(`${svc.url}/v1/generations`, { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'hello' }), 415);
    await expectProblem(await fetch(`${svc.url}/v1/generations`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{not json' }), 400, /JSON/);
    await expectProblem(await get('/v1/generations/..%2F..%2Fetc%2Fpasswd'), 400, /job id/);
    await expectProblem(await get('/v1/generations/j_000000000000000000000000'), 404);
    await expectProblem(await fetch(`${svc.url}/v1/generations/j_000000000000000000000000`, { method: 'DELETE', headers: auth() }), 404);
    await expectProblem(await get('/v1/generations/j_000000000000000000000000/events'), 404);
  });

  it('takes an uploaded reference image (decoded by sharp) and refuses oversize, wrong-type and bomb uploads', async () => {
    const png = await sharp({ create: { width: 40, height: 30, channels: 4, background: '#3366ffcc' } }).png().toBuffer();
    const form = (file: Blob, name = 'ref.png') => {
      const f = new FormData();
      f.set('image', file, name);
      f.set('text', 'a blue square');
      f.set('user', user);
      f.set('candidates', '2');
      return f;
    };
    const post = (f: FormData) => fetch(`${svc.url}/v1/generations`, { method: 'POST', headers: auth(), body: f });
    const r = await post(form(new Blob([new Uint8Array(png)], { type: 'image/png' })));
    expect(r.status).toBe(202);
    const job = await waitDone((await r.json()).id);
    expect(job.status).toBe('succeeded');
    expect(job.result.candidates).toHaveLength(2);
    await expectProblem(await post(form(new Blob([new Uint8Array(300_000)], { type: 'image/png' }))), 413);
    await expectProblem(await post(form(new Blob([Buffer.from('#!/bin/sh\necho hi\n')], { type: 'image/png' }), 'x.png')), 415, /not a PNG, JPEG or WebP/);
    const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } }).gif().toBuffer();
    await expectProblem(await post(form(new Blob([new Uint8Array(gif)], { type: 'image/png' }), 'x.png')), 415, /gif/);
    const bomb = pngBomb();
    expect(bomb.length).toBeLessThan(10_000);
    await expectProblem(await post(form(new Blob([new Uint8Array(bomb)], { type: 'image/png' }))), 413, /30000×30000/);
    const noFile = new FormData();
    noFile.set('image', 'text, not a file');
    noFile.set('text', 'x');
    noFile.set('user', user);
    await expectProblem(await post(noFile), 400, /must be a file/);
  });

  it('ranks uploaded images for a user', async () => {
    const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#22aa44' } }).png().toBuffer();
    const f = new FormData();
    f.set('user', user);
    f.set('text', 'green');
    f.append('image', new Blob([new Uint8Array(png)]), 'a.png');
    f.append('image', new Blob([new Uint8Array(png)]), 'b.png');
    const r = await (await fetch(`${svc.url}/v1/rank`, { method: 'POST', headers: auth(), body: f })).json();
    expect(r.scores).toHaveLength(2);
    expect(Number.isFinite(r.scores[0].score)).toBe(true);
    await expectProblem(await postJson('/v1/rank', { user }), 415);
    const none = new FormData();
    none.set('user', user);
    await expectProblem(await fetch(`${svc.url}/v1/rank`, { method: 'POST', headers: auth(), body: none }), 400, /1 to 8/);
  });

  it('stores study votes for two outputs of the same user and reference and summarises them', async () => {
    const a = (await (await postJson('/v1/generations', { user, reference: item, candidates: 1, weighting: 'retrieval' })).json()).id;
    const b = (await (await postJson('/v1/generations', { user, reference: item, candidates: 1, weighting: 'uniform' })).json()).id;
    await waitDone(a);
    await waitDone(b);
    const vote = { a: { job: a, condition: 'weighting=retrieval' }, b: { job: b, condition: 'weighting=uniform' }, winner: 'a' };
    expect((await postJson('/v1/study/votes', vote)).status).toBe(201);
    expect((await postJson('/v1/study/votes', { ...vote, winner: 'b' })).status).toBe(201);
    const other = (await (await postJson('/v1/generations', { user: svc.ragar.users()[1].externalId, reference: item, candidates: 1 })).json()).id;
    await waitDone(other);
    await expectProblem(await postJson('/v1/study/votes', { ...vote, b: { job: other, condition: 'x' } }), 409, /same user/);
    await expectProblem(await postJson('/v1/study/votes', { ...vote, winner: 'c' }), 400);
    const s = await (await get('/v1/study/summary')).json();
    expect(s.comparisons).toEqual([expect.objectContaining({ first: 'weighting=retrieval', second: 'weighting=uniform', votes: 2, firstWins: 1, winRate: 0.5 })]);
  });
});

describe('limits', () => {
  it('rate-limits per key with 429 and Retry-After', async () => {
    const h = await serviceHome();
    const store = Store.open(h);
    const k = new ApiKeys(store).create('limited').key;
    store.close();
    const s = await startService({ settings: { home: h }, port: 0, engines: { mock: new MockGeneratorEngine() }, defaultEngine: 'mock', rateLimit: 3 });
    try {
      for (let i = 0; i < 3; i++) expect((await fetch(`${s.url}/v1/datasets`, { headers: auth(k) })).status).toBe(200);
      const r = await fetch(`${s.url}/v1/datasets`, { headers: auth(k) });
      await expectProblem(r, 429, /rate limit/);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await s.close();
      fs.rmSync(h, { recursive: true, force: true });
    }
  });

  it('bounds the queue (429 when full), cancels a queued job, and refuses --no-auth off loopback', async () => {
    const h = await serviceHome();
    const store = Store.open(h);
    const s = await startService({ settings: { home: h }, port: 0, auth: false, engines: { mock: new MockGeneratorEngine() }, defaultEngine: 'mock', queue: async (ctx) => new EmbeddedQueue(store, ctx, { work: false, maxQueued: 2 }) });
    try {
      const u = s.ragar.users()[0].externalId;
      const it0 = s.ragar.items()[0].externalId;
      const post = () => fetch(`${s.url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: u, reference: it0 }) });
      const first = await (await post()).json();
      expect((await post()).status).toBe(202);
      await expectProblem(await post(), 429, /queue is full/);
      const c = await (await fetch(`${s.url}/v1/generations/${first.id}`, { method: 'DELETE' })).json();
      expect(c.status).toBe('cancelled');
      expect((await post()).status).toBe(202);
    } finally {
      await s.close();
      store.close();
      fs.rmSync(h, { recursive: true, force: true });
    }
    await expect(startService({ settings: { home: h }, host: '0.0.0.0', auth: false })).rejects.toMatchObject({ code: 'USAGE' });
  });
});
