import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createRagar, type Ragar } from '../api/ragar.js';
import type { RagarSettings } from '../api/settings.js';
import type { GeneratorEngineV1 } from '../generation/types.js';
import { Store } from '../store/store.js';
import { RagarError } from '../util/errors.js';
import { createServiceApp } from './app.js';
import { ServiceFiles } from './files.js';
import { engineNames, type GenerationWorkerContext } from './generation.js';
import { EmbeddedQueue, type JobQueue } from './queue.js';
import { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from './uploads.js';

/** Options of {@link startService} (what `ragar serve` passes). */
export interface ServiceOptions {
  /** Library settings (the data home, models, defaults). */
  settings: RagarSettings;
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Require API keys (default true); false only on a loopback host. */
  auth?: boolean;
  /** Named engines besides the built-in variants (e.g. `{ mock: new MockGeneratorEngine() }`). */
  engines?: Record<string, GeneratorEngineV1>;
  /** Engine of requests that name none (default `ragar`). */
  defaultEngine?: string;
  /** Requests a minute per key (default 600). */
  rateLimit?: number;
  /** Most jobs queued or running (default 64). */
  maxQueued?: number;
  uploads?: Partial<UploadLimits>;
  corsOrigins?: string[];
  /** A queue factory replacing the embedded one (BullMQ); gets the worker context. */
  queue?: (ctx: GenerationWorkerContext) => Promise<JobQueue>;
  log?: (line: string) => void;
}

/** A running service. */
export interface RunningService {
  url: string;
  port: number;
  ragar: Ragar;
  queue: JobQueue;
  /** Stop accepting, stop the worker (a running job stays queued for the next start), close everything. */
  close(): Promise<void>;
}

/** Whether `host` is a loopback address. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Start the service (`ragar serve`): the library opened on the data home, the job queue with its
 * worker (embedded by default), and the HTTP server.
 */
export async function startService(o: ServiceOptions): Promise<RunningService> {
  const host = o.host ?? '127.0.0.1';
  const auth = o.auth ?? true;
  if (!auth && !isLoopback(host)) throw new RagarError(`--no-auth is allowed only on a loopback host (127.0.0.1, ::1, localhost), not ${host}`, 'USAGE');
  const log = o.log ?? (() => {});
  const ragar = createRagar(o.settings);
  const store = Store.open(ragar.settings.home);
  const files = new ServiceFiles(ragar.settings.home);
  const engines = o.engines ?? {};
  const ctx: GenerationWorkerContext = { ragar, files, engines, defaultEngine: o.defaultEngine ?? 'ragar' };
  const queue = o.queue ? await o.queue(ctx) : new EmbeddedQueue(store, ctx, { maxQueued: o.maxQueued, log });
  const app = createServiceApp({
    ragar,
    store,
    queue,
    files,
    engines: engineNames(ctx),
    auth,
    rateLimit: o.rateLimit ?? 600,
    uploads: { ...DEFAULT_UPLOAD_LIMITS, ...o.uploads },
    corsOrigins: o.corsOrigins,
    log,
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: o.port ?? 8787, hostname: host }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closed = false;
  return {
    url,
    port,
    ragar,
    queue,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await queue.close();
      for (const e of Object.values(engines)) await e.dispose();
      await ragar.close();
      store.close();
    },
  };
}
