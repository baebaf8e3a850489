/**
 * Service load benchmark (issue 14): `npm run bench:serve -- [--home DIR] [--concurrency N]
 * [--seconds S] [--configs embedded,bullmq-1,bullmq-2] [--candidates M] [--json]`.
 *
 * For each configuration it starts `ragar serve` as a child process on loopback (the embedded
 * SQLite queue, or `--queue redis://…` with 1 or 2 `ragar worker` processes and a redis-server it
 * starts on a free loopback port), warms the workers up, then runs `concurrency` closed-loop
 * clients for `seconds`: each submits `POST /v1/generations` and follows the job's server-sent
 * events to its end, then submits the next. After the clients stop (each finishes the job it
 * has in flight), every accepted job is read back: a job not `succeeded`, `failed` or
 * `cancelled` by then is counted as lost. Reports throughput, p50/p99 latency (submit to the
 * terminal event), p50/p99 queue wait (job start minus job creation), errors, jobs lost and the
 * machine's load averages. Not a test.
 *
 * The engine is the built-in generator (`ragar`). When its weights cannot be loaded (the shipped
 * ones of another format version, or none: `VERSION`, `NOT_FOUND`, `CORRUPT`, or the loader's
 * `BAD_INPUT` for another format), the bench trains a tiny one into the bench's data
 * home (the ranker's distilled tower, 2 epochs; the generator, a few steps) and says so in every
 * result (`engine.weights`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRagar } from '../api/ragar.js';
import { serviceHome } from '../server/testing/fixture.js';
import { RagarError } from '../util/errors.js';
import { isMainModule, machineDescription, percentile } from './stats.js';
import { freePort } from '../util/freePort.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/** Options of {@link benchServe}. */
export interface ServeBenchOptions {
  /** A data home with emoji-styles built, embedded and a ranker trained; default: a fresh copy of the tests' tiny home. */
  home?: string;
  /** Closed-loop clients (each has one job in flight). Default 4. */
  concurrency?: number;
  /** Seconds of load per configuration (clients then finish the job in flight). Default 30. */
  seconds?: number;
  /** Configurations: `embedded`, `bullmq-1`, `bullmq-2` (BullMQ with that many `ragar worker` processes). */
  configs?: string[];
  /** Candidates per generation. Default 2. */
  candidates?: number;
  /** Longest wait for a job in flight after the load window, seconds. Default 120. */
  drainSeconds?: number;
  log?: (line: string) => void;
}

/** Which engine the figures are for. */
export interface BenchEngine {
  name: string;
  /** `shipped` or `home` (weights found), or a description of the tiny fallback trained by the bench. */
  weights: string;
}

/** One configuration's figures. */
export interface ServeBenchResult {
  config: string;
  queue: 'embedded' | 'bullmq';
  workers: number;
  concurrency: number;
  candidates: number;
  engine: BenchEngine;
  /** The load window (s) and the time until the last job in flight ended (s). */
  seconds: number;
  drainedAfterSeconds: number;
  submitted: number;
  accepted: number;
  succeeded: number;
  failed: number;
  /** Submissions not answered 202, and client-side failures (connection, stream). */
  errors: number;
  /** Accepted jobs not in a terminal state (or unknown to the server) after the drain. Must be 0. */
  lost: number;
  /** Jobs that took more than one attempt. */
  retried: number;
  /** Succeeded jobs per second over the window and the drain. */
  throughputPerSecond: number;
  latencyMs: { p50: number; p99: number };
  queueWaitMs: { p50: number; p99: number };
  runMs: { p50: number; p99: number };
  /** `/proc/loadavg`'s 1-, 5-, 15-minute averages before and after the configuration. */
  loadavg: { before: number[]; after: number[] };
}

interface FinalJob {
  id: string;
  status: string;
  attempts: number;
  createdAt: number;
  startedAt: number | null;
  result: { timings?: { runMs?: number } } | null;
}

function loadavg(): number[] {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    return os.loadavg().map((x) => Math.round(x * 100) / 100);
  }
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `ragar` command line as this bench runs (tsx on the sources, or node on dist/). */
function cli(args: string[]): { command: string; args: string[] } {
  // One process (node with tsx's loader), so that signals reach the service itself.
  if (import.meta.url.endsWith('.ts')) return { command: process.execPath, args: ['--import', 'tsx', path.join(root, 'src/cli/bin.ts'), ...args] };
  return { command: process.execPath, args: [path.join(root, 'dist/cli/bin.js'), ...args] };
}

/** Start a `ragar` child process; resolves with its first JSON line on stdout. */
function startCli(args: string[], children: ChildProcess[]): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const c = cli(args);
  const child = spawn(c.command, c.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + d).slice(-4000)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, ready: JSON.parse(line) as Record<string, unknown> });
    });
    child.once('exit', (code) => reject(new RagarError(`ragar ${args.join(' ')} exited with ${code}: ${err.trim()}`, 'INTERNAL')));
  });
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

async function startRedis(children: ChildProcess[]): Promise<string> {
  const bin = fs.existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server';
  if (bin !== '/usr/bin/redis-server' && spawnSync('which', ['redis-server']).status !== 0) throw new RagarError('redis-server is not installed (apt-get install redis-server); the BullMQ configurations need it', 'NOT_FOUND');
  const port = await freePort();
  children.push(spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return `redis://127.0.0.1:${port}`;
    await sleep(50);
  }
  throw new RagarError(`redis-server did not listen on 127.0.0.1:${port}`, 'INTERNAL');
}

/** Follow a job's server-sent events to its terminal event; the job as that event shows it. */
async function follow(url: string, id: string, signal: AbortSignal): Promise<FinalJob> {
  const res = await fetch(`${url}/v1/generations/${id}/events`, { signal });
  if (res.status !== 200 || !res.body) throw new RagarError(`events of ${id}: HTTP ${res.status}`, 'INTERNAL');
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new RagarError(`events of ${id} ended before the job did`, 'INTERNAL');
      buf += value;
      for (let k = buf.indexOf('\n\n'); k >= 0; k = buf.indexOf('\n\n')) {
        const block = buf.slice(0, k);
        buf = buf.slice(k + 2);
        const event = block.split('\n').find((l) => l.startsWith('event:'))?.slice(6).trim();
        const data = block.split('\n').find((l) => l.startsWith('data:'))?.slice(5).trim();
        if (event && data && TERMINAL.includes(event)) return JSON.parse(data) as FinalJob;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

interface Sample {
  latencyMs: number;
  job: FinalJob;
}

/** Closed-loop load: `concurrency` clients for `seconds`; returns the samples and every accepted id. */
async function load(
  url: string,
  o: { concurrency: number; seconds: number; candidates: number; drainSeconds: number; pairs: { user: string; item: string }[]; seedBase: number; perClient?: number },
): Promise<{ samples: Sample[]; accepted: string[]; submitted: number; errors: number; t0: number; tEnd: number }> {
  const samples: Sample[] = [];
  const accepted: string[] = [];
  let submitted = 0;
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + o.seconds * 1000;
  let tEnd = t0;
  let n = 0;
  const client = async (c: number) => {
    for (let done = 0; o.perClient === undefined ? performance.now() < deadline : done < o.perClient; done++) {
      const k = n++;
      const pair = o.pairs[(k * 7 + c) % o.pairs.length];
      const start = performance.now();
      submitted++;
      let id: string;
      try {
        const r = await fetch(`${url}/v1/generations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ user: pair.user, reference: pair.item, candidates: o.candidates, seed: o.seedBase + k }),
        });
        const body = (await r.json()) as { id?: string };
        if (r.status !== 202 || !body.id) {
          errors++;
          await sleep(100);
          continue;
        }
        id = body.id;
        accepted.push(id);
      } catch {
        errors++;
        await sleep(100);
        continue;
      }
      try {
        const job = await follow(url, id, AbortSignal.timeout((o.seconds + o.drainSeconds) * 1000));
        samples.push({ latencyMs: performance.now() - start, job });
        tEnd = Math.max(tEnd, performance.now());
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, c) => client(c)));
  return { samples, accepted, submitted, errors, t0, tEnd };
}

/**
 * Make sure the built-in `ragar` engine can generate on `home`; when its weights cannot be
 * loaded (another format version, none), train a tiny one into the home and say so.
 */
export async function prepareEngine(home: string, log: (line: string) => void): Promise<{ engine: BenchEngine; pairs: { user: string; item: string }[] }> {
  const tryOnce = async (): Promise<{ error: RagarError | null; pairs: { user: string; item: string }[] }> => {
    const ragar = createRagar({ home });
    try {
      const users = ragar.users().slice(0, 8).map((u) => u.externalId);
      const items = ragar.items().slice(0, 8).map((i) => i.externalId);
      const pairs = users.flatMap((user) => items.map((item) => ({ user, item })));
      if (!pairs.length) throw new RagarError(`the data home ${home} has no users or items`, 'NOT_FOUND');
      try {
        await ragar.personalize({ user: users[0], reference: items[0], candidates: 1, seed: 1, engine: 'ragar' });
        return { error: null, pairs };
      } catch (err) {
        if (err instanceof RagarError && ['VERSION', 'NOT_FOUND', 'CORRUPT', 'BAD_INPUT'].includes(err.code)) return { error: err, pairs };
        throw err;
      }
    } finally {
      await ragar.close();
    }
  };
  const first = await tryOnce();
  const homeWeights = fs.existsSync(path.join(home, 'models/emoji-styles/generator/ragar/generator.json'));
  if (!first.error) return { engine: { name: 'ragar', weights: homeWeights ? 'home' : 'shipped' }, pairs: first.pairs };
  log(`the built-in engine's weights cannot be loaded (${first.error.message}); training a tiny one for the bench`);
  const steps = 3;
  for (const args of [
    ['rank', 'distill', '--epochs', '2', '--json'],
    ['train', 'generator', '--variant', 'ragar', '--steps', String(steps), '--minutes', '0', '--batch-size', '2', '--base', '4', '--levels', '2', '--json'],
  ]) {
    const c = cli(['--home', home, ...args]);
    const r = spawnSync(c.command, c.args, { encoding: 'utf8' });
    if (r.status !== 0) throw new RagarError(`ragar ${args.join(' ')} failed: ${r.stderr.trim()}`, 'INTERNAL');
  }
  const second = await tryOnce();
  if (second.error) throw second.error;
  return {
    engine: { name: 'ragar', weights: `tiny fallback trained by the bench (${steps} steps, U-Net base 4, 2 levels; ranker tower distilled 2 epochs): the shipped weights could not be loaded: ${first.error.message}` },
    pairs: second.pairs,
  };
}

/** Run one configuration: `embedded` or `bullmq-K`. */
export async function benchConfig(config: string, home: string, engine: BenchEngine, pairs: { user: string; item: string }[], o: Required<Omit<ServeBenchOptions, 'home' | 'configs' | 'log'>> & { log: (l: string) => void }): Promise<ServeBenchResult> {
  const m = config.match(/^(embedded|bullmq-(\d+))$/);
  if (!m) throw new RagarError(`unknown configuration ${JSON.stringify(config)} (known: embedded, bullmq-1, bullmq-2, … bullmq-K)`, 'USAGE');
  const queue = m[2] ? 'bullmq' : 'embedded';
  const workers = m[2] ? Number(m[2]) : 1;
  const children: ChildProcess[] = [];
  const before = loadavg();
  try {
    const redisUrl = queue === 'bullmq' ? await startRedis(children) : null;
    const serveArgs = ['--home', home, 'serve', '--port', '0', '--no-auth', '--engine', 'ragar', '--rate-limit', '100000000', '--max-queued', '10000', ...(redisUrl ? ['--queue', redisUrl] : [])];
    const server = await startCli(serveArgs, children);
    const url = String(server.ready.url);
    if (redisUrl) await Promise.all(Array.from({ length: workers }, () => startCli(['--home', home, 'worker', '--queue', redisUrl, '--engine', 'ragar'], children)));
    o.log(`${config}: serving on ${url}; warming up`);
    // Warm-up (not counted): every worker loads its models on its first job.
    await load(url, { ...o, concurrency: 2 * workers, pairs, seedBase: 1_000_000, perClient: 1 });
    o.log(`${config}: ${o.concurrency} clients for ${o.seconds} s`);
    const r = await load(url, { ...o, pairs, seedBase: 1 });
    // Every accepted job, read back after the drain.
    let lost = 0;
    const finals = new Map(r.samples.map((s) => [s.job.id, s.job]));
    for (const id of r.accepted) {
      const res = await fetch(`${url}/v1/generations/${id}`);
      const job = res.status === 200 ? ((await res.json()) as FinalJob) : null;
      if (!job || !TERMINAL.includes(job.status)) lost++;
      else finals.set(id, job);
    }
    const jobs = [...finals.values()];
    const ok = jobs.filter((j) => j.status === 'succeeded');
    const lat = r.samples.filter((s) => s.job.status === 'succeeded').map((s) => s.latencyMs);
    const waits = ok.filter((j) => j.startedAt !== null).map((j) => j.startedAt! - j.createdAt);
    const runs = ok.map((j) => j.result?.timings?.runMs).filter((x): x is number => typeof x === 'number');
    const elapsed = (r.tEnd - r.t0) / 1000;
    const round = (x: number) => (Number.isFinite(x) ? Math.round(x) : NaN);
    await stop(server.child);
    return {
      config,
      queue,
      workers,
      concurrency: o.concurrency,
      candidates: o.candidates,
      engine,
      seconds: o.seconds,
      drainedAfterSeconds: Math.round(elapsed * 10) / 10,
      submitted: r.submitted,
      accepted: r.accepted.length,
      succeeded: ok.length,
      failed: jobs.filter((j) => j.status === 'failed').length,
      errors: r.errors,
      lost,
      retried: jobs.filter((j) => j.attempts > 1).length,
      throughputPerSecond: Math.round((ok.length / elapsed) * 100) / 100,
      latencyMs: { p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)) },
      queueWaitMs: { p50: round(percentile(waits, 50)), p99: round(percentile(waits, 99)) },
      runMs: { p50: round(percentile(runs, 50)), p99: round(percentile(runs, 99)) },
      loadavg: { before, after: loadavg() },
    };
  } finally {
    for (const c of children.reverse()) await stop(c);
  }
}

/** Run every configuration of {@link ServeBenchOptions}; one result each. */
export async function benchServe(options: ServeBenchOptions = {}): Promise<ServeBenchResult[]> {
  const log = options.log ?? (() => {});
  const o = {
    concurrency: options.concurrency ?? 4,
    seconds: options.seconds ?? 30,
    candidates: options.candidates ?? 2,
    drainSeconds: options.drainSeconds ?? 120,
    log,
  };
  const ownHome = !options.home;
  const home = options.home ?? (await serviceHome());
  try {
    const { engine, pairs } = await prepareEngine(home, log);
    const out: ServeBenchResult[] = [];
    for (const config of options.configs ?? ['embedded', 'bullmq-1', 'bullmq-2']) out.push(await benchConfig(config, home, engine, pairs, o));
    return out;
  } finally {
    if (ownHome) fs.rmSync(home, { recursive: true, force: true });
  }
}

function table(results: ServeBenchResult[]): string {
  const head = ['config', 'jobs ok', 'jobs/s', 'p50 ms', 'p99 ms', 'wait p50', 'wait p99', 'run p50', 'errors', 'lost', 'load before → after'];
  const rows = results.map((r) => [r.config, String(r.succeeded), r.throughputPerSecond.toFixed(2), String(r.latencyMs.p50), String(r.latencyMs.p99), String(r.queueWaitMs.p50), String(r.queueWaitMs.p99), String(r.runMs.p50), String(r.errors), String(r.lost), `${r.loadavg.before[0]} → ${r.loadavg.after[0]}`]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(w[i])).join('  ')).join('\n');
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, min: number) => {
    const v = arg(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new RagarError(`${name} takes an integer ≥ ${min}, got ${JSON.stringify(v)}`, 'USAGE');
    return n;
  };
  const json = argv.includes('--json');
  const results = await benchServe({
    home: arg('--home'),
    concurrency: int('--concurrency', 1),
    seconds: int('--seconds', 1),
    candidates: int('--candidates', 1),
    configs: arg('--configs')?.split(','),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  if (json) for (const r of results) process.stdout.write(`${JSON.stringify({ ...r, machine: machineDescription() })}\n`);
  else process.stdout.write(`engine: ${results[0]?.engine.name} (${results[0]?.engine.weights})\n${table(results)}\n`);
}

if (isMainModule(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
