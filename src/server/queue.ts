import { EventEmitter } from 'node:events';
import { JobTable, type JobRow, type JobStatus } from '../store/service.js';
import type { Store } from '../store/store.js';
import { RagarError } from '../util/errors.js';
import { runGeneration, type GenerationWorkerContext, type StoredGenerationRequest } from './generation.js';

/** A job as the API shows it. */
export interface JobView {
  id: string;
  status: JobStatus;
  progress: { stage?: string; done?: number; total?: number };
  result: Record<string, unknown> | null;
  error: string | null;
  attempts: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** Terminal states: no more events follow. */
export const TERMINAL: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

/**
 * Where the service puts generation jobs: the embedded SQLite queue with its in-process worker
 * ({@link EmbeddedQueue}) or BullMQ on Redis (`bullmq.ts`). The routes see only this.
 */
export interface JobQueue {
  /** Accept a job (once per owner and idempotency key); `BUSY` when the queue is full. */
  submit(request: StoredGenerationRequest, options: { owner: string; idempotencyKey: string | null }): Promise<{ job: JobView; created: boolean }>;
  get(id: string): Promise<JobView | undefined>;
  /** The stored request of job `id`. */
  getRequest(id: string): Promise<StoredGenerationRequest | undefined>;
  /** Cancel a queued or running job; undefined when there is no such job. */
  cancel(id: string): Promise<JobView | undefined>;
  /** Follow a job's changes; returns the unsubscribe function. */
  subscribe(id: string, listener: (job: JobView) => void): () => void;
  /** Jobs waiting and running. */
  depth(): Promise<{ queued: number; running: number }>;
  /** Durations of finished jobs (seconds), for the metrics; drained by the reader. */
  takeDurations(): number[];
  close(): Promise<void>;
}

/** A stored row as the API shows it. */
export function viewOf(row: JobRow): JobView {
  return {
    id: row.id,
    status: row.status,
    progress: row.progress,
    result: row.result,
    error: row.error,
    attempts: row.attempts,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
  };
}

/** Options of {@link EmbeddedQueue}. */
export interface EmbeddedQueueOptions {
  /** Most jobs queued or running; more is `BUSY` (HTTP 429). Default 64. */
  maxQueued?: number;
  /** Run the worker loop in this process (default true). */
  work?: boolean;
  log?: (line: string) => void;
}

/**
 * The embedded default: jobs in the SQLite store's job table, one worker loop in the server
 * process. Jobs left `running` by a killed process are queued again when it starts, and a job's
 * result and its `succeeded` state are written in one transaction, so each accepted job finishes
 * exactly once.
 */
export class EmbeddedQueue implements JobQueue {
  private readonly table: JobTable;
  private readonly events = new EventEmitter();
  private readonly maxQueued: number;
  private readonly log: (line: string) => void;
  private readonly running = new Map<string, AbortController>();
  private durations: number[] = [];
  private wake: (() => void) | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;

  private readonly ctx: GenerationWorkerContext;

  constructor(store: Store, ctx: GenerationWorkerContext, options: EmbeddedQueueOptions = {}) {
    this.ctx = ctx;
    this.table = new JobTable(store);
    this.maxQueued = options.maxQueued ?? 64;
    this.log = options.log ?? (() => {});
    this.events.setMaxListeners(0);
    const requeued = this.table.requeueInterrupted();
    if (requeued) this.log(`requeued ${requeued} job(s) interrupted by a previous stop`);
    if (options.work ?? true) this.loop = this.work();
  }

  async submit(request: StoredGenerationRequest, options: { owner: string; idempotencyKey: string | null }) {
    const { job, created } = this.table.submit({ ...options, request: request as unknown as Record<string, unknown>, maxQueued: this.maxQueued });
    if (created) this.wake?.();
    return { job: viewOf(job), created };
  }

  async get(id: string) {
    const row = this.table.get(id);
    return row ? viewOf(row) : undefined;
  }

  async getRequest(id: string) {
    return this.table.get(id)?.request as unknown as StoredGenerationRequest | undefined;
  }

  async cancel(id: string) {
    const row = this.table.cancel(id);
    if (!row) return undefined;
    this.running.get(id)?.abort(new RagarError('cancelled', 'ABORTED'));
    this.emit(id);
    return viewOf(row);
  }

  subscribe(id: string, listener: (job: JobView) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  async depth() {
    return this.table.depth();
  }

  takeDurations(): number[] {
    const d = this.durations;
    this.durations = [];
    return d;
  }

  async close(): Promise<void> {
    this.stopped = true;
    for (const c of this.running.values()) c.abort(new RagarError('the server is stopping', 'ABORTED'));
    this.wake?.();
    await this.loop;
  }

  private emit(id: string): void {
    const row = this.table.get(id);
    if (row) this.events.emit(id, viewOf(row));
  }

  private async work(): Promise<void> {
    while (!this.stopped) {
      const job = this.table.claim();
      if (!job) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, 1000).unref();
        });
        this.wake = null;
        continue;
      }
      await this.runOne(job);
    }
  }

  private async runOne(job: JobRow): Promise<void> {
    this.emit(job.id);
    const controller = new AbortController();
    this.running.set(job.id, controller);
    const t0 = performance.now();
    let lastWrite = 0;
    try {
      const result = await runGeneration(this.ctx, job.id, job.request as unknown as StoredGenerationRequest, {
        signal: controller.signal,
        onProgress: (p) => {
          const now = performance.now();
          if (now - lastWrite < 100 && p.done < p.total) return;
          lastWrite = now;
          this.table.progress(job.id, p);
          this.emit(job.id);
        },
      });
      if (this.table.finish(job.id, { status: 'succeeded', result: result as unknown as Record<string, unknown> })) this.durations.push((performance.now() - t0) / 1000);
    } catch (err) {
      if (this.stopped && controller.signal.aborted && this.table.get(job.id)?.status === 'running') return; // stays running: requeued on the next start
      const message = err instanceof RagarError ? err.message : 'internal error while generating (logged on the server)';
      if (!(err instanceof RagarError)) this.log(`job ${job.id}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      this.table.finish(job.id, { status: 'failed', error: message });
    } finally {
      this.running.delete(job.id);
      this.emit(job.id);
    }
  }
}
