import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockGeneratorEngine } from '../generation/mockEngine.js';
import { bullmqQueue, startBullmqWorker, type BullmqWorker } from './bullmq.js';
import { ServiceFiles } from './files.js';
import { startService, type RunningService } from './serve.js';
import { serviceHome } from './testing/fixture.js';

const REDIS = '/usr/bin/redis-server';
const hasRedis = fs.existsSync(REDIS) || spawnSync('which', ['redis-server']).status === 0;
let redis: ChildProcess | undefined;
let url = '';
let home = '';
let svc: RunningService | undefined;
const workers: BullmqWorker[] = [];

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  if (!hasRedis) return;
  const port = await freePort();
  redis = spawn(fs.existsSync(REDIS) ? REDIS : 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)));
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  home = await serviceHome();
  svc = await startService({ settings: { home }, port: 0, auth: false, engines: { mock: new MockGeneratorEngine() }, defaultEngine: 'mock', queue: bullmqQueue({ url, maxQueued: 50 }) });
}, 600_000);

afterAll(async () => {
  for (const w of workers) await w.close();
  await svc?.close();
  redis?.kill('SIGKILL');
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

function worker(onCall?: (n: number) => void, concurrency = 1) {
  // One library instance per process (as in `ragar worker`): here the server's, shared by the in-process workers.
  const ragar = svc!.ragar;
  const w = startBullmqWorker({ url, concurrency, ctx: { ragar, files: new ServiceFiles(home), engines: { mock: new MockGeneratorEngine({ onCall }) }, defaultEngine: 'mock' } });
  workers.push(w);
  return w;
}

describe.skipIf(!hasRedis)('BullMQ scale-out against a real redis-server', () => {
  it('runs jobs on separate workers with progress events back to the API, retries a transient failure, and dedupes by Idempotency-Key', async () => {
    let calls = 0;
    worker((n) => {
      calls = n;
      if (n === 1) throw new Error('transient failure (simulated crash of the engine)');
    });
    worker(undefined, 2);
    const user = svc!.ragar.users()[0].externalId;
    const item = svc!.ragar.items()[0].externalId;
    const post = (key: string, seed: number) => fetch(`${svc!.url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ user, reference: item, candidates: 2, seed }) });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await (await post(`b${i}`, i + 1)).json()).id);
    expect((await (await post('b0', 1)).json())).toMatchObject({ id: ids[0], created: false });
    const events = await (await fetch(`${svc!.url}/v1/generations/${ids[3]}/events`)).text();
    expect(events).toMatch(/event: succeeded/);
    const jobs = [];
    for (const id of ids) {
      for (let i = 0; i < 600; i++) {
        const j = await (await fetch(`${svc!.url}/v1/generations/${id}`)).json();
        if (['succeeded', 'failed'].includes(j.status)) {
          jobs.push(j);
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(jobs.some((j) => j.attempts >= 2)).toBe(true); // the failed attempt was retried
    const png = await fetch(`${svc!.url}${jobs[0].result.image}`);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(await (await fetch(`${svc!.url}/healthz`)).json()).toMatchObject({ queue: { queued: 0, running: 0 } });
  });
});
