/**
 * Exact (brute-force) in-memory vector search: the project's default {@link VectorIndex}.
 *
 * All vectors live in one contiguous row-major `Float32Array` that grows by doubling; removal moves
 * the last row into the hole, so the storage stays dense. A query computes every dot product (the
 * inner loop is unrolled four ways, accumulating in float64) and keeps the best `k` in a small binary
 * heap, so selection costs O(n log k) on top of the O(n·d) scan. {@link ExactIndex.searchBatch}
 * walks the rows in cache-sized blocks and scores every query against a block before moving on.
 *
 * @module
 */
import { RagarError } from '../util/errors.js';
import {
  checkDimension,
  checkIds,
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

/** Options of the {@link ExactIndex} constructor. */
export interface ExactIndexOptions {
  /** Rows to allocate up front (default 16); the buffer doubles whenever it fills. */
  initialCapacity?: number;
}

/** Bytes of stored vectors scored per block in `searchBatch` (about an L2 cache's worth). */
const BLOCK_BYTES = 128 * 1024;

/**
 * Exact in-memory vector index (see the module comment and {@link VectorIndex} for the semantics).
 *
 * @example
 * const index = new ExactIndex(512, 'cosine');
 * await index.add(['a', 'b'], [embA, embB]);    // or one row-major Float32Array of 2 × 512
 * const hits = await index.search(queryEmb, 10); // [{ id: 'b', score: 0.83 }, { id: 'a', score: 0.41 }]
 * index.searchSync(queryEmb, 10, { filter: (id) => id !== 'b' }); // [{ id: 'a', score: 0.41 }]
 *
 * The `*Sync` methods are the same operations without a promise, for hot loops in this process
 * (they throw where the async methods reject).
 */
export class ExactIndex implements VectorIndex {
  readonly dimension: number;
  readonly metric: VectorMetric;
  private data: Float32Array;
  private capacityRows: number;
  private readonly rowIds: string[] = [];
  private readonly rowOf = new Map<string, number>();

  constructor(dimension: number, metric: VectorMetric = 'cosine', options: ExactIndexOptions = {}) {
    checkDimension(dimension);
    checkMetric(metric);
    const initial = options.initialCapacity ?? 16;
    if (!Number.isInteger(initial) || initial < 1) {
      throw new RagarError(`initialCapacity must be a positive integer, got ${initial}`, 'BAD_INPUT');
    }
    this.dimension = dimension;
    this.metric = metric;
    this.capacityRows = initial;
    this.data = new Float32Array(initial * dimension);
  }

  /** Number of stored vectors. */
  get size(): number {
    return this.rowIds.length;
  }

  /** Rows allocated in the backing buffer (at least {@link size}). */
  get capacity(): number {
    return this.capacityRows;
  }

  /**
   * Store vectors under ids; an existing id is replaced. Validation happens before any change.
   *
   * @example
   * index.addSync(['x', 'y'], new Float32Array([1, 0, 0, 0, 1, 0])); // two 3-d rows, row-major
   * index.addSync(['x'], [new Float32Array([0, 0, 1])]);         // replaces 'x'; size stays 2
   */
  addSync(ids: readonly string[], vectors: VectorRows): void {
    checkIds(ids);
    const packed = packRows(vectors, this.dimension, this.metric, 'vector', ids.length);
    let fresh = 0;
    for (const id of ids) if (!this.rowOf.has(id)) fresh++;
    this.reserve(this.size + fresh);
    const d = this.dimension;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      let row = this.rowOf.get(id);
      if (row === undefined) {
        row = this.rowIds.length;
        this.rowIds.push(id);
        this.rowOf.set(id, row);
      }
      this.data.set(packed.subarray(i * d, (i + 1) * d), row * d);
    }
  }

  /** {@link VectorIndex.add}: {@link addSync} as a promise. */
  async add(ids: readonly string[], vectors: VectorRows): Promise<void> {
    this.addSync(ids, vectors);
  }

  /** {@link VectorIndex.remove}: {@link removeSync} as a promise. */
  async remove(ids: readonly string[]): Promise<number> {
    return this.removeSync(ids);
  }

  /** {@link VectorIndex.has}: {@link hasSync} as a promise. */
  async has(id: string): Promise<boolean> {
    return this.hasSync(id);
  }

  /** {@link VectorIndex.search}: {@link searchSync} as a promise. */
  async search(query: Float32Array, k: number, options: SearchOptions = {}): Promise<SearchHit[]> {
    return this.searchSync(query, k, options);
  }

  /** {@link VectorIndex.searchBatch}: {@link searchBatchSync} as a promise. */
  async searchBatch(queries: VectorRows, k: number, options: SearchOptions = {}): Promise<SearchHit[][]> {
    return this.searchBatchSync(queries, k, options);
  }

  /**
   * Make room for at least `rows` vectors without further reallocation (never shrinks).
   *
   * @example
   * index.reserve(100_000); // one allocation before a bulk load
   */
  reserve(rows: number): void {
    if (rows <= this.capacityRows) return;
    let cap = this.capacityRows;
    while (cap < rows) cap *= 2;
    const next = new Float32Array(cap * this.dimension);
    next.set(this.data.subarray(0, this.size * this.dimension));
    this.data = next;
    this.capacityRows = cap;
  }

  /**
   * Remove ids (unknown ones are ignored); returns how many were removed.
   *
   * @example
   * index.removeSync(['x', 'nope']); // 1
   */
  removeSync(ids: readonly string[]): number {
    if (!Array.isArray(ids)) throw new RagarError('ids must be an array of strings', 'BAD_INPUT');
    const d = this.dimension;
    let removed = 0;
    for (const id of ids) {
      const row = this.rowOf.get(id);
      if (row === undefined) continue;
      const last = this.rowIds.length - 1;
      if (row !== last) {
        this.data.copyWithin(row * d, last * d, (last + 1) * d);
        const moved = this.rowIds[last];
        this.rowIds[row] = moved;
        this.rowOf.set(moved, row);
      }
      this.rowIds.pop();
      this.rowOf.delete(id);
      removed++;
    }
    return removed;
  }

  /**
   * Whether `id` is stored.
   *
   * @example
   * index.hasSync('x'); // true
   */
  hasSync(id: string): boolean {
    return this.rowOf.has(id);
  }

  /**
   * A copy of the stored vector (unit length under the cosine metric), or `undefined`.
   *
   * @example
   * index.get('x'); // Float32Array [0, 0, 1]
   */
  get(id: string): Float32Array | undefined {
    const row = this.rowOf.get(id);
    if (row === undefined) return undefined;
    return this.data.slice(row * this.dimension, (row + 1) * this.dimension);
  }

  /**
   * Exact scores of stored ids against one query (validated and, for cosine, normalised like a
   * search query), computed exactly as {@link searchSync} scores them; unknown ids score `NaN`.
   * An approximate index uses it to re-score its candidates.
   *
   * @example
   * index.scoreIdsSync(new Float32Array([1, 0, 0]), ['x', 'nope']); // Float64Array [1, NaN]
   */
  scoreIdsSync(query: Float32Array, ids: readonly string[]): Float64Array {
    const q = packRows([query], this.dimension, this.metric, 'query', 1);
    const out = new Float64Array(ids.length);
    const one = new Float64Array(1);
    for (let i = 0; i < ids.length; i++) {
      const row = this.rowOf.get(ids[i]);
      if (row === undefined) {
        out[i] = Number.NaN;
        continue;
      }
      scoreRows(this.data, this.dimension, q, row, row + 1, one);
      if (this.metric === 'cosine') clampUnit(one, 1);
      out[i] = one[0];
    }
    return out;
  }

  /**
   * The stored (for cosine: normalised) row of `id` as a view into the index's buffer, valid until
   * the next add or remove; `undefined` for an unknown id.
   */
  viewSync(id: string): Float32Array | undefined {
    const row = this.rowOf.get(id);
    return row === undefined ? undefined : this.data.subarray(row * this.dimension, (row + 1) * this.dimension);
  }

  /**
   * Stored ids, in storage order (which changes when ids are removed).
   *
   * @example
   * index.ids(); // ['x', 'y']
   */
  ids(): string[] {
    return this.rowIds.slice();
  }

  /**
   * The `k` best hits for one query, best first, ties by id.
   *
   * @example
   * index.searchSync(new Float32Array([1, 0, 0]), 2); // [{ id: 'x', score: 1 }, { id: 'y', score: 0 }]
   */
  searchSync(query: Float32Array, k: number, options: SearchOptions = {}): SearchHit[] {
    if (!(query instanceof Float32Array)) throw new RagarError('query must be a Float32Array', 'BAD_INPUT');
    if (query.length !== this.dimension) {
      throw new RagarError(`query has dimension ${query.length}, the index has dimension ${this.dimension}`, 'BAD_INPUT');
    }
    return this.searchBatchSync([query], k, options)[0];
  }

  /**
   * {@link search} for many queries at once (array of rows or one row-major array); the rows are
   * scanned block by block so each block is scored against every query while it is in cache.
   *
   * @example
   * const [hitsA, hitsB] = index.searchBatchSync([queryA, queryB], 5);
   */
  searchBatchSync(queries: VectorRows, k: number, options: SearchOptions = {}): SearchHit[][] {
    checkK(k);
    const filter = options.filter;
    if (filter !== undefined && typeof filter !== 'function') {
      throw new RagarError('search filter must be a function (id) => boolean', 'BAD_INPUT');
    }
    const d = this.dimension;
    const packed = packRows(queries, d, this.metric, 'query');
    const nq = packed.length / d;
    const n = this.size;
    if (nq === 0) return [];
    const heaps: TopK[] = [];
    const views: Float32Array[] = [];
    for (let q = 0; q < nq; q++) {
      heaps.push(new TopK(Math.min(k, n), this.rowIds, filter));
      views.push(packed.subarray(q * d, (q + 1) * d));
    }
    if (n > 0) {
      const blockRows = Math.max(8, Math.floor(BLOCK_BYTES / (4 * d)));
      const scores = new Float64Array(Math.min(blockRows, n));
      for (let r0 = 0; r0 < n; r0 += blockRows) {
        const r1 = Math.min(n, r0 + blockRows);
        for (let q = 0; q < nq; q++) {
          scoreRows(this.data, d, views[q], r0, r1, scores);
          if (this.metric === 'cosine') clampUnit(scores, r1 - r0);
          heaps[q].offerBlock(scores, r0, r1 - r0);
        }
      }
    }
    return heaps.map((h) => h.hits());
  }
}

/** `out[r - r0] = data[r] · q` for rows r0..r1 (exclusive), float64 accumulation, 4-way unrolled. */
function scoreRows(data: Float32Array, d: number, q: Float32Array, r0: number, r1: number, out: Float64Array): void {
  const d4 = d & ~3;
  for (let r = r0; r < r1; r++) {
    let b = r * d;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let j = 0;
    for (; j < d4; j += 4, b += 4) {
      a0 += data[b] * q[j];
      a1 += data[b + 1] * q[j + 1];
      a2 += data[b + 2] * q[j + 2];
      a3 += data[b + 3] * q[j + 3];
    }
    for (; j < d; j++, b++) a0 += data[b] * q[j];
    out[r - r0] = a0 + a1 + (a2 + a3);
  }
}

/** Clamp rounding excursions of unit-vector dot products into [-1, 1]. */
function clampUnit(scores: Float64Array, len: number): void {
  for (let i = 0; i < len; i++) {
    const s = scores[i];
    if (s > 1) scores[i] = 1;
    else if (s < -1) scores[i] = -1;
  }
}

/**
 * Bounded selection of the best `k` (score desc, id asc) rows: a binary min-heap whose root is the
 * worst kept hit, so a candidate is compared against the root and most are rejected in one compare.
 * The filter is only consulted for candidates that would enter the heap.
 */
class TopK {
  private readonly scores: Float64Array;
  private readonly rows: Int32Array;
  private count = 0;
  constructor(
    private readonly k: number,
    private readonly ids: readonly string[],
    private readonly filter: ((id: string) => boolean) | undefined,
  ) {
    this.scores = new Float64Array(k);
    this.rows = new Int32Array(k);
  }

  /** Offer rows `r0 .. r0 + len - 1` with scores `block[0 .. len - 1]`. */
  offerBlock(block: Float64Array, r0: number, len: number): void {
    const k = this.k;
    if (k === 0) return;
    const scores = this.scores;
    const ids = this.ids;
    const filter = this.filter;
    for (let i = 0; i < len; i++) {
      const s = block[i];
      const row = r0 + i;
      if (this.count === k) {
        const worst = scores[0];
        if (s < worst) continue;
        if (s === worst && ids[row] > ids[this.rows[0]]) continue;
        if (filter !== undefined && !filter(ids[row])) continue;
        scores[0] = s;
        this.rows[0] = row;
        this.siftDown(0);
      } else {
        if (filter !== undefined && !filter(ids[row])) continue;
        const at = this.count++;
        scores[at] = s;
        this.rows[at] = row;
        this.siftUp(at);
      }
    }
  }

  /** Whether heap entry `a` is worse than `b` (lower score, or equal score and larger id). */
  private worse(a: number, b: number): boolean {
    const sa = this.scores[a];
    const sb = this.scores[b];
    if (sa !== sb) return sa < sb;
    return this.ids[this.rows[a]] > this.ids[this.rows[b]];
  }

  private swap(a: number, b: number): void {
    const s = this.scores[a];
    this.scores[a] = this.scores[b];
    this.scores[b] = s;
    const r = this.rows[a];
    this.rows[a] = this.rows[b];
    this.rows[b] = r;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.worse(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.count;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.worse(r, l) ? r : l;
      if (!this.worse(child, i)) break;
      this.swap(i, child);
      i = child;
    }
  }

  /** The kept hits, best first, ties by id. */
  hits(): SearchHit[] {
    const out: SearchHit[] = [];
    for (let i = 0; i < this.count; i++) out.push({ id: this.ids[this.rows[i]], score: this.scores[i] });
    out.sort(compareHits);
    return out;
  }
}
