/**
 * Approximate vector search on `usearch` (an HNSW graph in native code; pinned 2.25.3, whose
 * prebuilt binary loads on Node 20), behind the same async {@link VectorIndex} contract as the
 * exact index.
 *
 * How it meets the contract:
 * - **Storage and exact scores.** Every vector also lives in an {@link ExactIndex} (one dense
 *   float32 copy). The graph only proposes candidates; each candidate is re-scored exactly from
 *   that copy, so reported scores are the exact index's own, hits are sorted best first with ties
 *   by id, and the graph may store its vectors quantised (`f16` by default: half the memory,
 *   faster distance computations) without changing a score.
 * - **Ties and filters.** The graph is asked for more candidates than `k` (`k + max(k, 8)`); when
 *   the filter leaves fewer than `k`, or the `k`-th best ties with the worst candidate seen, the
 *   request grows 4× and repeats. Once it would cover half the index or more, the exact index
 *   answers instead (a filter that keeps few ids is an exact search anyway).
 * - **Small indexes** (fewer than `exactBelow` vectors, default 1,024) are searched exactly: an
 *   HNSW walk costs more than a scan there.
 * - **Upserts and removals.** Graph keys are internal numbers, never reused: replacing an id
 *   removes its old key from the graph and adds a new one.
 *
 * The graph's metric is always the inner product over the stored rows (unit length under
 * `'cosine'`), so graph order equals score order.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { RagarError } from '../util/errors.js';
import { ExactIndex } from './exactIndex.js';
import {
  checkDimension,
  checkK,
  checkMetric,
  compareHits,
  packRows,
  type SearchHit,
  type SearchOptions,
  type VectorIndex,
  type VectorMetric,
  type VectorRows,
} from './vectorIndex.js';

type UsearchModule = typeof import('usearch');
type UsearchIndexNative = InstanceType<UsearchModule['Index']>;

let usearchModule: UsearchModule | undefined;
function loadUsearch(): UsearchModule {
  if (!usearchModule) {
    try {
      usearchModule = createRequire(import.meta.url)('usearch') as UsearchModule;
    } catch (err) {
      throw new RagarError(`the usearch package could not be loaded (${(err as Error).message})`, 'INTERNAL', { cause: err });
    }
  }
  return usearchModule;
}

/** Options of the {@link UsearchIndex} constructor. */
export interface UsearchIndexOptions {
  /** HNSW edges per node (`M`, default 16). */
  connectivity?: number;
  /** Candidate list size while inserting (`efConstruction`, default 128). */
  expansionAdd?: number;
  /** Candidate list size while searching (`ef`, default 64; a request for more candidates widens it). */
  expansionSearch?: number;
  /** How the graph stores vectors (default `'f16'`; scores always come from the float32 copy). */
  quantization?: 'f32' | 'f16' | 'i8';
  /** Below this many vectors, search exactly (default 1,024; 0 = always use the graph). */
  exactBelow?: number;
  /** Threads usearch uses to insert a batch (default 0: all cores). */
  threads?: number;
  /**
   * Least number of candidates asked of the graph per search (default 0: `k + max(k, 8)`). usearch
   * widens its search list to the number asked (`ef = max(expansionSearch, candidates)`), so this
   * trades latency for recall on large catalogs; candidates are re-scored exactly either way.
   */
  candidates?: number;
}

const DEFAULTS = { connectivity: 16, expansionAdd: 128, expansionSearch: 64, quantization: 'f16', exactBelow: 1024, threads: 0, candidates: 0 } as const;

/**
 * Approximate (HNSW) vector index on usearch; see the module comment.
 *
 * @example
 * const index = new UsearchIndex(512, 'cosine');
 * await index.add(ids, rowMajorVectors);
 * const hits = await index.search(query, 10); // best 10 by exact cosine among the graph's candidates
 */
export class UsearchIndex implements VectorIndex {
  readonly dimension: number;
  readonly metric: VectorMetric;
  readonly options: Required<UsearchIndexOptions>;
  /** Least candidates asked of the graph per search ({@link UsearchIndexOptions.candidates}); may be changed between searches. */
  candidates: number;
  private readonly exact: ExactIndex;
  private readonly graph: UsearchIndexNative;
  private readonly keyOf = new Map<string, number>();
  private readonly idOf = new Map<number, string>();
  private nextKey = 0;

  constructor(dimension: number, metric: VectorMetric = 'cosine', options: UsearchIndexOptions = {}) {
    checkDimension(dimension);
    checkMetric(metric);
    const o = { ...DEFAULTS, ...options };
    for (const [name, v] of [
      ['connectivity', o.connectivity],
      ['expansionAdd', o.expansionAdd],
      ['expansionSearch', o.expansionSearch],
      ['exactBelow', o.exactBelow],
      ['threads', o.threads],
      ['candidates', o.candidates],
    ] as const) {
      if (!Number.isInteger(v) || v < 0) throw new RagarError(`usearch ${name} must be a whole number >= 0, got ${v}`, 'BAD_INPUT');
    }
    if (!['f32', 'f16', 'i8'].includes(o.quantization)) throw new RagarError(`usearch quantization must be f32, f16 or i8, got ${String(o.quantization)}`, 'BAD_INPUT');
    this.dimension = dimension;
    this.metric = metric;
    this.options = o;
    this.candidates = o.candidates;
    this.exact = new ExactIndex(dimension, metric);
    const { Index } = loadUsearch();
    this.graph = new Index({
      dimensions: dimension,
      metric: 'ip' as never,
      quantization: o.quantization as never,
      connectivity: o.connectivity,
      expansion_add: o.expansionAdd,
      expansion_search: o.expansionSearch,
      multi: false,
    });
  }

  /** Number of stored vectors. */
  get size(): number {
    return this.exact.size;
  }

  /**
   * Make room for `rows` vectors in the float32 copy before a bulk load (the graph grows itself).
   *
   * @example
   * index.reserve(1_000_000);
   */
  reserve(rows: number): void {
    this.exact.reserve(rows);
  }

  /** {@link VectorIndex.add}: validated (atomically) by the exact copy, then inserted into the graph. */
  async add(ids: readonly string[], vectors: VectorRows): Promise<void> {
    this.exact.addSync(ids, vectors);
    if (ids.length === 0) return;
    const d = this.dimension;
    const rows = new Float32Array(ids.length * d);
    const keys = new BigUint64Array(ids.length);
    const stale: bigint[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const old = this.keyOf.get(id);
      if (old !== undefined) {
        stale.push(BigInt(old));
        this.idOf.delete(old);
      }
      const key = this.nextKey++;
      this.keyOf.set(id, key);
      this.idOf.set(key, id);
      keys[i] = BigInt(key);
      rows.set(this.exact.viewSync(id)!, i * d);
    }
    if (stale.length) this.graph.remove(BigUint64Array.from(stale));
    this.graph.add(keys, rows, this.options.threads);
  }

  /** {@link VectorIndex.remove}. */
  async remove(ids: readonly string[]): Promise<number> {
    const removed = this.exact.removeSync(ids);
    const keys: bigint[] = [];
    for (const id of ids) {
      const key = this.keyOf.get(id);
      if (key === undefined) continue;
      this.keyOf.delete(id);
      this.idOf.delete(key);
      keys.push(BigInt(key));
    }
    if (keys.length) this.graph.remove(BigUint64Array.from(keys));
    return removed;
  }

  /** {@link VectorIndex.has}. */
  async has(id: string): Promise<boolean> {
    return this.exact.hasSync(id);
  }

  /** {@link VectorIndex.search}. */
  async search(query: Float32Array, k: number, options: SearchOptions = {}): Promise<SearchHit[]> {
    if (!(query instanceof Float32Array)) throw new RagarError('query must be a Float32Array', 'BAD_INPUT');
    return this.searchOne(query, k, options);
  }

  /** {@link VectorIndex.searchBatch}: each query as {@link search}. */
  async searchBatch(queries: VectorRows, k: number, options: SearchOptions = {}): Promise<SearchHit[][]> {
    checkK(k);
    const packed = packRows(queries, this.dimension, this.metric, 'query');
    const d = this.dimension;
    const out: SearchHit[][] = [];
    for (let q = 0; q < packed.length / d; q++) out.push(this.searchOne(packed.subarray(q * d, (q + 1) * d), k, options));
    return out;
  }

  /** Vectors the graph holds, removed ones included until it is rebuilt (for reports). */
  get graphSize(): number {
    return this.graph.size();
  }

  private searchOne(query: Float32Array, k: number, options: SearchOptions): SearchHit[] {
    checkK(k);
    const filter = options.filter;
    if (filter !== undefined && typeof filter !== 'function') throw new RagarError('search filter must be a function (id) => boolean', 'BAD_INPUT');
    const q = packRows([query], this.dimension, this.metric, 'query', 1);
    const n = this.size;
    if (n < this.options.exactBelow || n === 0) return this.exact.searchSync(q, k, options);
    let want = Math.max(k + Math.max(k, 8), this.candidates);
    for (;;) {
      if (2 * want >= n) return this.exact.searchSync(q, k, options);
      const found = this.graph.search(q, want, 0) as { keys: BigUint64Array; distances: Float32Array };
      const ids: string[] = [];
      for (const key of found.keys) {
        const id = this.idOf.get(Number(key));
        if (id !== undefined) ids.push(id);
      }
      const scores = this.exact.scoreIdsSync(q, ids);
      let floor = Infinity;
      const hits: SearchHit[] = [];
      for (let i = 0; i < ids.length; i++) {
        floor = Math.min(floor, scores[i]);
        if (filter === undefined || filter(ids[i])) hits.push({ id: ids[i], score: scores[i] });
      }
      hits.sort(compareHits);
      if (hits.length >= k && hits[k - 1].score > floor) return hits.slice(0, k);
      if (found.keys.length < want && filter === undefined && hits.length >= Math.min(k, n)) return hits.slice(0, k);
      want *= 4;
    }
  }
}
