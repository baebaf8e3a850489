import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Job, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { newJobId } from '../store/service.js';
import { RagarError, type ErrorCode } from '../util/errors.js';
import { runGeneration, type GenerationResult, type GenerationWorkerContext, type StoredGenerationRequest } from './generation.js';
import type { JobQueue, JobView } from './queue.js';

/** The BullMQ queue's name. */
export const QUEUE_NAME = 'ragar-generations';
/** Attempts of a job (a retry after a failure that may pass: a crashed worker, a busy resource). */
export const ATTEMPTS = 3;
const CANCEL = (id: string) => `ragar:cancelled:${id}`;
/** Errors a retry cannot fix: the job fails at once. */
const PERMANENT: readonly ErrorCode[] = ['USAGE', 'BAD_INPUT', 'BAD_IMAGE', 'NOT_FOUND', 'CONFLICT', 'UNSUPPORTED', 'VERSION', 'CORRUPT'];

function connection(url: string): Redis {
  if (!/^rediss?:\/\//.test(url)) throw new RagarError(`--queue takes a redis:// or rediss:// URL, got ${JSON.stringify(url)}`, 'USAGE');
  return new Redis(url, { maxRetriesPerRequest: null });
}

/**
 * The service's view of a BullMQ job. `knownState`, when given, was read before `job` was fetched:
 * a job fetched while running and asked for its state after it completed would otherwise read as
 * succeeded with no result.
 */
async function viewOfJob(job: Job, redis: Redis, knownState?: string): Promise<JobView> {
  const state = knownState ?? (await job.getState());
  const cancelled = (await redis.exists(CANCEL(job.id!))) === 1;
  const status = cancelled && state !== 'completed' ? 'cancelled' : state === 'active' ? 'running' : state === 'completed' ? 'succeeded' : state === 'failed' ? 'failed' : 'queued';
  return {
    id: job.id!,
    status,
    progress: typeof job.progress === 'object' && job.progress ? (job.progress as JobView['progress']) : {},
    result: status === 'succeeded' ? (job.returnvalue as Record<string, unknown>) : null,
    error: status === 'failed' ? (job.failedReason ?? 'failed') : null,
    attempts: job.attemptsStarted ?? job.attemptsMade,
    createdAt: job.timestamp,
    startedAt: job.processedOn ?? null,
    finishedAt: status === 'succeeded' || status === 'failed' ? (job.finishedOn ?? null) : null,
  };
}

/**
 * The API side of the BullMQ scale-out (`ragar serve --queue redis://…`): jobs go on the
 * `ragar-generations` queue with {@link ATTEMPTS} attempts and exponential backoff; BullMQ's
 * job id is the service's job id (derived from the owner and the Idempotency-Key when one is
 * given, so a repeated request finds the same job); progress and state changes come back through
 * QueueEvents. Results and images are in the data home, which the workers must share.
 */
export function bullmqQueue(o: { url: string; maxQueued?: number; work?: boolean; log?: (line: string) => void }): (ctx: GenerationWorkerContext) => Promise<JobQueue> {
  return async (ctx) => {
    const redis = connection(o.url);
    const queue = new Queue(QUEUE_NAME, { connection: connection(o.url) });
    const events = new QueueEvents(QUEUE_NAME, { connection: connection(o.url) });
    await events.waitUntilReady();
    const emitter = new EventEmitter();
    emitter.setMaxListeners(0);
    const maxQueued = o.maxQueued ?? 64;
    let durations: number[] = [];
    const get = async (id: string) => {
      const state = await queue.getJobState(id); // before the job's data, so the data is at least as new
      const job = await Job.fromId(queue, id);
      return job ? viewOfJob(job, redis, state) : undefined;
    };
    const notify = async (jobId: string) => {
      if (!emitter.listenerCount(jobId)) return;
      const v = await get(jobId);
      if (v) emitter.emit(jobId, v);
    };
    for (const e of ['active', 'progress', 'completed', 'failed', 'waiting', 'removed'] as const) events.on(e, ({ jobId }: { jobId: string }) => void notify(jobId));
    events.on('completed', async ({ jobId }) => {
      const job = await Job.fromId(queue, jobId);
      if (job?.processedOn && job.finishedOn) durations.push((job.finishedOn - job.processedOn) / 1000);
    });
    const workers = o.work ? [startBullmqWorker({ url: o.url, ctx, log: o.log })] : [];
    const jq: JobQueue = {
      async submit(request: StoredGenerationRequest, s) {
        const id = s.idempotencyKey === null ? newJobId() : `j_${createHash('sha256').update(`${s.owner}\0${s.idempotencyKey}`).digest('hex').slice(0, 24)}`;
        const existing = await get(id); // state first, then data (see get)
        if (existing) return { job: existing, created: false };
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        const waiting = Object.values(counts).reduce((a, b) => a + b, 0);
        if (waiting >= maxQueued) throw new RagarError(`the job queue is full (${waiting} jobs waiting or running, limit ${maxQueued}); retry later`, 'BUSY');
        const job = await queue.add('generate', request, { jobId: id, attempts: ATTEMPTS, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: false, removeOnFail: false });
        return { job: await viewOfJob(job, redis), created: true };
      },
      get,
      async getRequest(id) {
        return (await Job.fromId(queue, id))?.data as StoredGenerationRequest | undefined;
      },
      async cancel(id) {
        const job = await Job.fromId(queue, id);
        if (!job) return undefined;
        const state = await job.getState();
        if (state !== 'completed' && state !== 'failed') {
          await redis.set(CANCEL(id), '1', 'EX', 7 * 24 * 3600);
          if (state !== 'active') await job.remove().catch(() => {});
        }
        // re-read (state first, then data): the job may have finished since it was fetched; a
        // queued job removed above is gone from the queue and is shown from what was fetched
        const v = (await get(id)) ?? (await viewOfJob(job, redis));
        emitter.emit(id, v);
        return v;
      },
      subscribe(id, listener) {
        emitter.on(id, listener);
        return () => emitter.off(id, listener);
      },
      async depth() {
        const c = await queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active');
        return { queued: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), running: c.active ?? 0 };
      },
      takeDurations() {
        const d = durations;
        durations = [];
        return d;
      },
      async close() {
        for (const w of workers) await w.close();
        await events.close();
        await queue.close();
        redis.disconnect();
      },
    };
    // A cancelled job that was only queued was removed; keep answering for it.
    const baseGet = jq.get;
    jq.get = async (id) => (await baseGet(id)) ?? ((await redis.exists(CANCEL(id))) ? { id, status: 'cancelled', progress: {}, result: null, error: null, attempts: 0, createdAt: 0, startedAt: null, finishedAt: null } : undefined);
    return jq;
  };
}

/** A running BullMQ worker. */
export interface BullmqWorker {
  close(): Promise<void>;
}

/**
 * A worker process's side (`ragar worker --queue redis://…`): runs generation jobs through the
 * library with `concurrency` jobs at a time, reports progress to the job, retries transient
 * failures (the job's attempts and backoff) and fails permanent ones at once; BullMQ's stalled
 * check hands a job whose worker died to another worker.
 */
export function startBullmqWorker(o: { url: string; ctx: GenerationWorkerContext; concurrency?: number; stalledIntervalMs?: number; lockDurationMs?: number; log?: (line: string) => void }): BullmqWorker {
  const redis = connection(o.url);
  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job) => {
      if (await redis.exists(CANCEL(job.id!))) throw new UnrecoverableError('cancelled');
      const controller = new AbortController();
      const poll = setInterval(() => {
        void redis.exists(CANCEL(job.id!)).then((n) => n && controller.abort(new RagarError('cancelled', 'ABORTED')));
      }, 500);
      try {
        const result: GenerationResult = await runGeneration(o.ctx, job.id!, job.data as StoredGenerationRequest, {
          signal: controller.signal,
          onProgress: (p) => void job.updateProgress(p),
        });
        return result;
      } catch (err) {
        if (err instanceof RagarError && (PERMANENT.includes(err.code) || controller.signal.aborted)) throw new UnrecoverableError(err.message);
        throw err;
      } finally {
        clearInterval(poll);
      }
    },
    { connection: connection(o.url), concurrency: o.concurrency ?? 1, stalledInterval: o.stalledIntervalMs ?? 30_000, lockDuration: o.lockDurationMs ?? 30_000, maxStalledCount: 2 },
  );
  worker.on('failed', (job, err) => o.log?.(`job ${job?.id} attempt ${job?.attemptsMade} failed: ${err.message}`));
  worker.on('error', (err) => o.log?.(`worker: ${err.message}`));
  return {
    async close() {
      await worker.close();
      redis.disconnect();
    },
  };
}
