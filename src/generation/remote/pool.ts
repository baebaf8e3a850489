import { RagarError } from '../../util/errors.js';
import { RemoteError, throwIfAborted } from './http.js';

/** What a pool reports about one finished job. */
export interface PoolOutcome<R> {
  result: R;
  /** The server that ran it. */
  server: string;
  /** Servers tried before it that were unreachable. */
  failedOver: string[];
}

/**
 * Several generation servers as one: jobs run at most `concurrency` at a time on each server
 * (a GPU runs one prompt at a time), in order, each on the next free server. A server that is
 * unreachable is dropped for the rest of the run and its job moves to another server; any other
 * error stops the run (the other jobs are aborted through their signal) and is thrown.
 *
 * @example
 * const pool = new ServerPool(['http://gpu0:8188', 'http://gpu1:8188']);
 * const out = await pool.run(jobs, (server, job, signal) => runOne(server, job, signal), signal);
 */
export class ServerPool {
  readonly servers: readonly string[];
  readonly concurrency: number;
  constructor(servers: readonly string[], concurrency = 1) {
    if (servers.length === 0) throw new RagarError('a server pool needs at least one server URL', 'BAD_INPUT');
    if (new Set(servers).size !== servers.length) throw new RagarError(`a server appears twice in the pool: ${servers.join(', ')}`, 'BAD_INPUT');
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RagarError(`concurrency per server must be an integer ≥ 1, got ${concurrency}`, 'BAD_INPUT');
    this.servers = [...servers];
    this.concurrency = concurrency;
  }

  /**
   * Run every job; results come back in job order.
   *
   * @example
   * const outcomes = await pool.run([1, 2, 3], async (server, n) => `${server} did ${n}`);
   */
  async run<J, R>(jobs: readonly J[], work: (server: string, job: J, signal: AbortSignal) => Promise<R>, signal?: AbortSignal): Promise<PoolOutcome<R>[]> {
    throwIfAborted(signal);
    const inner = new AbortController();
    const onAbort = () => inner.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const down = new Set<string>();
    const queue = jobs.map((job, index) => ({ job, index, failedOver: [] as string[] }));
    const out: (PoolOutcome<R> | undefined)[] = jobs.map(() => undefined);
    let firstError: unknown = null;
    const slot = async (server: string): Promise<void> => {
      while (queue.length > 0 && firstError === null && !down.has(server)) {
        const entry = queue.shift()!;
        try {
          out[entry.index] = { result: await work(server, entry.job, inner.signal), server, failedOver: entry.failedOver };
        } catch (e) {
          if (e instanceof RemoteError && e.code === 'UNREACHABLE' && !signal?.aborted) {
            down.add(server);
            entry.failedOver.push(server);
            if (down.size < this.servers.length) {
              queue.unshift(entry);
              return;
            }
          }
          if (firstError === null) {
            firstError = e;
            inner.abort();
          }
        }
      }
    };
    try {
      // A job handed back by a server that went down is picked up in the next round.
      while (queue.length > 0 && firstError === null && down.size < this.servers.length) {
        const alive = this.servers.filter((s) => !down.has(s));
        await Promise.all(alive.flatMap((s) => Array.from({ length: this.concurrency }, () => slot(s))));
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (firstError !== null) throw firstError;
    throwIfAborted(signal);
    if (out.some((o) => o === undefined)) throw new RagarError(`every server of the pool is unreachable: ${[...down].join(', ')}`, 'UNREACHABLE');
    return out as PoolOutcome<R>[];
  }
}
