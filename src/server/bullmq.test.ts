import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockGeneratorEngine } from '../generation/mockEngine.js';
import { bullmqQueue, startBullmqWorker, type BullmqWorker } from './bullmq.js';
import { ServiceFiles } from './files.js';
import { startService, type RunningService } from './serve.js';
import { serviceHome } from './testing/fixture.js';
import { SlowEngine } from './testing/slowEngine.js';
import { openEvents, type SseEvent } from './testing/sse.js';
import { freePort } from '../util/freePort.js';

const REDIS = '/usr/bin/redis-server';
const hasRedis = fs.existsSync(REDIS) || spawnSync('which', ['redis-server']).status === 0;
let redis: ChildProcess | undefined;
let url = '';
let home = '';
let svc: RunningService | undefined;
const workers: BullmqWorker[] = [];
const children: ChildProcess[] = [];
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


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
  svc = await startService({ settings: { home }, port: 0, auth: false, engines: { mock: new MockGeneratorEngine(), slow: new SlowEngine() }, defaultEngine: 'mock', queue: bullmqQueue({ url, maxQueued: 50 }) });
}, 600_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
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

/** A worker process (`testing/worker.ts`: the slow engine, 2 s locks, a stalled check every second). */
function workerProcess(label: string, delayMs: number, logFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/server/testing/worker.ts'), home, url, label, String(delayMs), logFile], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('"ready"') && resolve(child));
    child.once('exit', (code) => reject(new Error(`worker ${label} exited ${code}: ${err}`)));
  });
}

async function job(id: string) {
  return (await fetch(`${svc!.url}/v1/generations/${id}`)).json();
}

async function waitDone(id: string, seconds = 120) {
  for (let i = 0; i < seconds * 10; i++) {
    const j = await job(id);
    if (['succeeded', 'failed', 'cancelled'].includes(j.status)) return j;
    await sleep(100);
  }
  throw new Error(`job ${id} did not finish in ${seconds} s`);
}

const submit = async (seed: number, engine: string) => {
  const user = svc!.ragar.users()[1].externalId;
  const item = svc!.ragar.items()[1].externalId;
  const r = await fetch(`${svc!.url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, reference: item, candidates: 2, seed, engine }) });
  expect(r.status).toBe(202);
  return (await r.json()).id as string;
};

describe.skipIf(!hasRedis)('BullMQ: cancelling and stalled-job recovery', () => {
  it('cancels a running job: the worker aborts the engine, the job ends cancelled (not retried), the worker takes the next job', async () => {
    for (const w of workers.splice(0)) await w.close();
    const engine = new SlowEngine({ delayMs: 120_000 });
    workers.push(startBullmqWorker({ url, ctx: { ragar: svc!.ragar, files: new ServiceFiles(home), engines: { slow: engine, mock: new MockGeneratorEngine() }, defaultEngine: 'slow' } }));
    const id = await submit(11, 'slow');
    const stream = await openEvents(`${svc!.url}/v1/generations/${id}/events`);
    for (let i = 0; i < 1200 && engine.started === 0; i++) await sleep(50);
    expect(engine.started).toBe(1);
    expect((await job(id)).status).toBe('running');
    const del = await fetch(`${svc!.url}/v1/generations/${id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect((await del.json()).status).toBe('cancelled');
    for (let i = 0; i < 200 && engine.aborted === 0; i++) await sleep(50);
    expect(engine.aborted).toBe(1); // the worker saw the cancel and aborted the engine
    let last: SseEvent | undefined;
    for (let e = await stream.next(); e; e = await stream.next()) {
      last = e;
      if (['succeeded', 'failed', 'cancelled'].includes(e.event)) break;
    }
    await stream.close();
    expect(last?.event).toBe('cancelled');
    const next = await waitDone(await submit(12, 'mock'));
    expect(next.status).toBe('succeeded');
    await sleep(1500);
    expect(await job(id)).toMatchObject({ status: 'cancelled', result: null });
    expect(engine.started).toBe(1); // never retried
  }, 300_000);

  it('finishes a job whose worker process was killed (kill -9) mid-job on another worker, exactly once', async () => {
    for (const w of workers.splice(0)) await w.close();
    const log = path.join(home, 'worker-calls.log');
    const a = await workerProcess('A', 300_000, log);
    const id = await submit(21, 'slow');
    const lines = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []);
    for (let i = 0; i < 1800 && !lines().length; i++) await sleep(100);
    expect(lines().map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['start A']);
    expect((await job(id)).status).toBe('running');
    a.kill('SIGKILL');
    await new Promise((r) => (a.exitCode !== null || a.signalCode !== null ? r(null) : a.once('exit', r)));
    await workerProcess('B', 100, log);
    const done = await waitDone(id, 180);
    expect(done.status).toBe('succeeded');
    await sleep(3000); // no further run after completion
    const calls = lines().map((l) => l.split(' '));
    expect(calls.map((c) => `${c[0]} ${c[1]}`)).toEqual(['start A', 'start B', 'done B']);
    expect(new Set(calls.map((c) => c[2])).size).toBe(1); // the same job's call each time
    expect(done.result.candidates).toHaveLength(2);
    const png = await fetch(`${svc!.url}${done.result.image}`);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(await (await fetch(`${svc!.url}/healthz`)).json()).toMatchObject({ queue: { queued: 0, running: 0 } });
  }, 400_000);
});
