import { createHash, randomBytes } from 'node:crypto';
import { RagarError } from '../util/errors.js';
import type { Store } from './store.js';

/** A generation job's state. `queued` → `running` → `succeeded` | `failed`; `cancelled` from either of the first two. */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One job row, its JSON columns parsed. */
export interface JobRow {
  id: string;
  owner: string;
  idempotencyKey: string | null;
  request: Record<string, unknown>;
  status: JobStatus;
  progress: { stage?: string; done?: number; total?: number };
  result: Record<string, unknown> | null;
  error: string | null;
  /** Times the job was claimed by a worker (more than 1 after a crash and restart). */
  attempts: number;
  /** Times a worker finished it (the test of exactly-once: never more than 1). */
  runs: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

interface RawJob {
  id: string;
  owner: string;
  idempotency_key: string | null;
  request: string;
  status: JobStatus;
  progress: string;
  result: string | null;
  error: string | null;
  attempts: number;
  runs: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const toJob = (r: RawJob): JobRow => ({
  id: r.id,
  owner: r.owner,
  idempotencyKey: r.idempotency_key,
  request: JSON.parse(r.request) as Record<string, unknown>,
  status: r.status,
  progress: JSON.parse(r.progress) as JobRow['progress'],
  result: r.result === null ? null : (JSON.parse(r.result) as Record<string, unknown>),
  error: r.error,
  attempts: r.attempts,
  runs: r.runs,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

/** Job ids: `j_` and 24 hex digits (what the service's routes accept). */
export const JOB_ID = /^j_[0-9a-f]{24}$/;

/** A new random job id. */
export function newJobId(): string {
  return `j_${randomBytes(12).toString('hex')}`;
}

/**
 * The durable job table of the embedded service (schema version 3). Every state change is one
 * SQLite statement or transaction, so a job accepted here survives a crash of the process: on
 * restart {@link JobTable.requeueInterrupted} puts jobs that were `running` back in the queue.
 * A job is stored once per (owner, idempotency key).
 */
export class JobTable {
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }

  /**
   * Insert a queued job unless the owner already has one with this idempotency key (then that
   * one is returned with `created: false`). Throws `BUSY` when `maxQueued` jobs are waiting.
   */
  submit(job: { owner: string; idempotencyKey: string | null; request: Record<string, unknown>; maxQueued: number }): { job: JobRow; created: boolean } {
    const db = this.store.db;
    return db.transaction(() => {
      if (job.idempotencyKey !== null) {
        const existing = db.prepare('SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?').get(job.owner, job.idempotencyKey) as RawJob | undefined;
        if (existing) return { job: toJob(existing), created: false };
      }
      const waiting = db.prepare("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')").pluck().get() as number;
      if (waiting >= job.maxQueued) throw new RagarError(`the job queue is full (${waiting} jobs waiting or running, limit ${job.maxQueued}); retry later`, 'BUSY');
      const id = newJobId();
      db.prepare("INSERT INTO jobs (id, owner, idempotency_key, request, status, created_at) VALUES (?, ?, ?, ?, 'queued', ?)").run(id, job.owner, job.idempotencyKey, JSON.stringify(job.request), Date.now());
      return { job: this.get(id)!, created: true };
    })();
  }

  /** The job `id`, or undefined. */
  get(id: string): JobRow | undefined {
    const r = this.store.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as RawJob | undefined;
    return r ? toJob(r) : undefined;
  }

  /** Atomically move the oldest queued job to `running` and return it (undefined when none). */
  claim(): JobRow | undefined {
    const db = this.store.db;
    return db.transaction(() => {
      const r = db.prepare("SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_at, rowid LIMIT 1").get() as { id: string } | undefined;
      if (!r) return undefined;
      db.prepare("UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ? WHERE id = ? AND status = 'queued'").run(Date.now(), r.id);
      return this.get(r.id);
    })();
  }

  /** Record progress of a running job. */
  progress(id: string, progress: JobRow['progress']): void {
    this.store.db.prepare("UPDATE jobs SET progress = ? WHERE id = ? AND status = 'running'").run(JSON.stringify(progress), id);
  }

  /**
   * Finish a running job (one transaction: the result and the state change together). Returns
   * false when the job was no longer running (cancelled meanwhile): the result is then dropped.
   */
  finish(id: string, outcome: { status: 'succeeded'; result: Record<string, unknown> } | { status: 'failed'; error: string }): boolean {
    const r = this.store.db
      .prepare("UPDATE jobs SET status = ?, result = ?, error = ?, runs = runs + 1, finished_at = ? WHERE id = ? AND status = 'running'")
      .run(outcome.status, outcome.status === 'succeeded' ? JSON.stringify(outcome.result) : null, outcome.status === 'failed' ? outcome.error : null, Date.now(), id);
    return r.changes === 1;
  }

  /** Cancel a queued or running job; returns the row afterwards (undefined when absent). */
  cancel(id: string): JobRow | undefined {
    this.store.db.prepare("UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ? AND status IN ('queued', 'running')").run(Date.now(), id);
    return this.get(id);
  }

  /** Put jobs left `running` by a process that died back in the queue; returns how many. */
  requeueInterrupted(): number {
    return this.store.db.prepare("UPDATE jobs SET status = 'queued', progress = '{}' WHERE status = 'running'").run().changes;
  }

  /** Jobs waiting (`queued`) and in progress (`running`). */
  depth(): { queued: number; running: number } {
    const rows = this.store.db.prepare("SELECT status, COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running') GROUP BY status").all() as { status: string; n: number }[];
    return { queued: rows.find((r) => r.status === 'queued')?.n ?? 0, running: rows.find((r) => r.status === 'running')?.n ?? 0 };
  }
}

/** An API key's listing (never the key itself, which is stored only as its SHA-256). */
export interface ApiKeyInfo {
  id: string;
  name: string;
  createdAt: number;
  revokedAt: number | null;
}

const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

/**
 * API keys of the service, stored hashed (SHA-256 of 32 random bytes: a fast hash suffices for
 * keys of full entropy). The key text is returned once, by {@link ApiKeys.create}.
 */
export class ApiKeys {
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }

  /** Create a key named `name`; the returned `key` is shown only here. */
  create(name: string): ApiKeyInfo & { key: string } {
    if (!/^[\w .@-]{1,64}$/.test(name)) throw new RagarError(`key name must be 1-64 letters, digits, spaces or ._@- (got ${JSON.stringify(name)})`, 'BAD_INPUT');
    const id = `k_${randomBytes(6).toString('hex')}`;
    const key = `rgr_${randomBytes(32).toString('base64url')}`;
    const createdAt = Date.now();
    this.store.db.prepare('INSERT INTO api_keys (id, name, hash, created_at) VALUES (?, ?, ?, ?)').run(id, name, hashKey(key), createdAt);
    return { id, name, createdAt, revokedAt: null, key };
  }

  /** All keys, oldest first. */
  list(): ApiKeyInfo[] {
    return (this.store.db.prepare('SELECT id, name, created_at, revoked_at FROM api_keys ORDER BY created_at, rowid').all() as { id: string; name: string; created_at: number; revoked_at: number | null }[]).map((r) => ({
      id: r.id,
      name: r.name,
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
    }));
  }

  /** Revoke the key with id (or name) `idOrName`; NOT_FOUND when there is none. */
  revoke(idOrName: string): ApiKeyInfo {
    const r = this.store.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL').run(Date.now(), idOrName, idOrName);
    if (r.changes === 0) throw new RagarError(`no active API key with id or name ${JSON.stringify(idOrName)}`, 'NOT_FOUND');
    return this.list().find((k) => k.id === idOrName || k.name === idOrName)!;
  }

  /** The active key whose text is `key`, or undefined (unknown or revoked). */
  verify(key: string): ApiKeyInfo | undefined {
    const r = this.store.db.prepare('SELECT id, name, created_at, revoked_at FROM api_keys WHERE hash = ? AND revoked_at IS NULL').get(hashKey(key)) as
      | { id: string; name: string; created_at: number; revoked_at: number | null }
      | undefined;
    return r ? { id: r.id, name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at } : undefined;
  }
}

/** One vote of the study: which of two outputs fits the user better. */
export interface StudyVote {
  dataset: string;
  user: string;
  reference: string;
  conditionA: string;
  conditionB: string;
  jobA: string;
  jobB: string;
  winner: 'a' | 'b';
  voter: string;
}

/** The votes of the human-evaluation study. */
export class StudyVotes {
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }

  /** Store a vote; returns its id. */
  add(v: StudyVote): number {
    const r = this.store.db
      .prepare('INSERT INTO study_votes (dataset, user_id, reference, condition_a, condition_b, job_a, job_b, winner, voter, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(v.dataset, v.user, v.reference, v.conditionA, v.conditionB, v.jobA, v.jobB, v.winner, v.voter, Date.now());
    return Number(r.lastInsertRowid);
  }

  /** All votes, oldest first. */
  list(): StudyVote[] {
    return (this.store.db.prepare('SELECT * FROM study_votes ORDER BY id').all() as Record<string, string>[]).map((r) => ({
      dataset: r.dataset,
      user: r.user_id,
      reference: r.reference,
      conditionA: r.condition_a,
      conditionB: r.condition_b,
      jobA: r.job_a,
      jobB: r.job_b,
      winner: r.winner as 'a' | 'b',
      voter: r.voter,
    }));
  }
}
