/**
 * The one interface behind which every vector search in the project sits (DESIGN.md §5, "vector
 * search"): the exact in-memory index ({@link ExactIndex} in `./exactIndex.ts`) is the default, and
 * an ANN index or a vector database can replace it as long as it passes the shared contract suite
 * (`runVectorIndexContract` in `./vectorIndex.contract.testing.ts`).
 *
 * Semantics every implementation must follow (the contract suite checks each one):
 *
 * - **Metric.** `'cosine'` L2-normalises every stored vector and every query, so scores are cosine
 *   similarities in [-1, 1]; a zero vector has no direction and is rejected. `'ip'` stores vectors as
 *   given and scores are raw inner products.
 * - **Duplicate ids.** `add` with an id that is already in the index **replaces** its vector (upsert);
 *   `size` does not change. The same id twice *within one* `add` call is a {@link RagarError}
 *   (`CONFLICT`), since which copy should win is ambiguous.
 * - **Validation is atomic.** Wrong dimension, NaN or ±Infinity, empty or non-string ids, a count
 *   mismatch between ids and vectors: the whole call throws a {@link RagarError} (`BAD_INPUT`) and
 *   the index is unchanged.
 * - **Search.** Hits are best first (highest score); equal scores are ordered by id (ascending
 *   UTF-16 code-unit order, JavaScript's `<`), so results are deterministic. `k` must be a positive
 *   integer; `k` larger than the number of (filtered) vectors returns them all. Searching an empty
 *   index returns `[]`.
 * - **Filter.** `options.filter(id)` keeps only ids for which it returns true. It may be called for
 *   any subset of the ids, in any order, any number of times (an index may skip ids that cannot
 *   enter the top k), so it must be a pure predicate.
 *
 * @module
 */
import { RagarError } from '../util/errors.js';

/** Similarity used to score a query against stored vectors. */
export type VectorMetric = 'cosine' | 'ip';

/** One search result: a stored id and its similarity to the query (higher is better). */
export interface SearchHit {
  id: string;
  score: number;
}

/** Options of {@link VectorIndex.search} and {@link VectorIndex.searchBatch}. */
export interface SearchOptions {
  /** Keep only ids for which this returns true. Must be pure: it may be called on any subset of ids. */
  filter?: (id: string) => boolean;
}

/**
 * Vectors for {@link VectorIndex.add} / queries for {@link VectorIndex.searchBatch}: either one
 * `Float32Array` per row, or all rows in one row-major `Float32Array` of length `rows × dimension`.
 */
export type VectorRows = readonly Float32Array[] | Float32Array;

/**
 * A searchable set of fixed-dimension vectors keyed by string ids. Every operation but the
 * `dimension`, `metric` and `size` properties is asynchronous, so that an index in another thread,
 * process or service (a vector database) can implement it; in-memory indexes resolve at once.
 * Validation errors reject the returned promise (never throw synchronously).
 *
 * @example
 * import { ExactIndex } from './exactIndex.js';
 * const index: VectorIndex = new ExactIndex(3, 'cosine');
 * await index.add(['cat', 'car'], [new Float32Array([1, 0, 0]), new Float32Array([0, 1, 0])]);
 * await index.search(new Float32Array([0.9, 0.1, 0]), 1); // [{ id: 'cat', score: 0.99... }]
 */
export interface VectorIndex {
  /** Length of every stored vector and query. */
  readonly dimension: number;
  /** Similarity used for scoring. */
  readonly metric: VectorMetric;
  /** Number of stored vectors (after every settled `add` / `remove`). */
  readonly size: number;
  /**
   * Store `vectors[i]` under `ids[i]`; an existing id is replaced (upsert). Rejects with a
   * {@link RagarError} (and changes nothing) on a count or dimension mismatch, a non-finite value, an
   * empty id, a repeated id within the call, or (cosine) a zero vector.
   */
  add(ids: readonly string[], vectors: VectorRows): Promise<void>;
  /** Remove these ids; unknown ids are ignored. Resolves to how many were removed. */
  remove(ids: readonly string[]): Promise<number>;
  /** Whether `id` is stored. */
  has(id: string): Promise<boolean>;
  /** The `k` best hits for `query`, best first, ties by id. */
  search(query: Float32Array, k: number, options?: SearchOptions): Promise<SearchHit[]>;
  /** {@link search} for each query; result `i` belongs to query `i`. */
  searchBatch(queries: VectorRows, k: number, options?: SearchOptions): Promise<SearchHit[][]>;
}

/** A constructor-like factory, as the contract suite and the CLI take it. */
export type VectorIndexFactory = (dimension: number, metric: VectorMetric) => VectorIndex;

/**
 * Order of hits: higher score first, then smaller id. Usable directly with `Array.prototype.sort`.
 *
 * @example
 * hits.sort(compareHits); // [{ id: 'a', score: 0.9 }, { id: 'b', score: 0.9 }, { id: 'c', score: 0.1 }]
 */
export function compareHits(a: SearchHit, b: SearchHit): number {
  if (a.score !== b.score) return b.score > a.score ? 1 : -1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Check a dimension given to an index constructor: a positive integer.
 *
 * @example
 * checkDimension(512); // ok
 * checkDimension(0);   // throws RagarError BAD_INPUT
 */
export function checkDimension(dimension: number): void {
  if (!Number.isInteger(dimension) || dimension <= 0) {
    throw new RagarError(`vector index dimension must be a positive integer, got ${dimension}`, 'BAD_INPUT');
  }
}

/**
 * Check a metric name given to an index constructor.
 *
 * @example
 * checkMetric('cosine'); // ok
 * checkMetric('l2');     // throws RagarError BAD_INPUT
 */
export function checkMetric(metric: string): asserts metric is VectorMetric {
  if (metric !== 'cosine' && metric !== 'ip') {
    throw new RagarError(`vector index metric must be 'cosine' or 'ip', got ${JSON.stringify(metric)}`, 'BAD_INPUT');
  }
}

/**
 * Check `k` for a search: a positive integer.
 *
 * @example
 * checkK(10); // ok
 * checkK(0);  // throws RagarError BAD_INPUT
 */
export function checkK(k: number): void {
  if (!Number.isInteger(k) || k <= 0) {
    throw new RagarError(`search k must be a positive integer, got ${k}`, 'BAD_INPUT');
  }
}

/**
 * Validate rows (see {@link VectorRows}) and copy them into one row-major `Float32Array`, normalised
 * to unit length when `metric` is `'cosine'`. `what` names the rows in error messages. With
 * `expectedRows` set, the row count must match it. The input is never modified.
 *
 * @example
 * const rows = packRows([new Float32Array([3, 4])], 2, 'cosine', 'vector'); // Float32Array [0.6, 0.8]
 * packRows(new Float32Array(5), 2, 'ip', 'query');                          // throws: 5 is not a multiple of 2
 */
export function packRows(rows: VectorRows, dimension: number, metric: VectorMetric, what: string, expectedRows?: number): Float32Array {
  let out: Float32Array;
  if (rows instanceof Float32Array) {
    if (rows.length % dimension !== 0) {
      throw new RagarError(
        `row-major ${what}s have length ${rows.length}, which is not a multiple of the index dimension ${dimension}`,
        'BAD_INPUT',
      );
    }
    const n = rows.length / dimension;
    if (expectedRows !== undefined && n !== expectedRows) {
      throw new RagarError(`got ${expectedRows} ids but ${n} ${what}s (row-major, dimension ${dimension})`, 'BAD_INPUT');
    }
    out = rows.slice();
  } else {
    if (!Array.isArray(rows)) throw new RagarError(`${what}s must be a Float32Array or an array of Float32Array`, 'BAD_INPUT');
    if (expectedRows !== undefined && rows.length !== expectedRows) {
      throw new RagarError(`got ${expectedRows} ids but ${rows.length} ${what}s`, 'BAD_INPUT');
    }
    out = new Float32Array(rows.length * dimension);
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r];
      if (!(row instanceof Float32Array)) throw new RagarError(`${what} ${r} is not a Float32Array`, 'BAD_INPUT');
      if (row.length !== dimension) {
        throw new RagarError(`${what} ${r} has dimension ${row.length}, the index has dimension ${dimension}`, 'BAD_INPUT');
      }
      out.set(row, r * dimension);
    }
  }
  const n = out.length / dimension;
  for (let r = 0; r < n; r++) {
    const base = r * dimension;
    let sq = 0;
    for (let j = 0; j < dimension; j++) {
      const x = out[base + j];
      if (!Number.isFinite(x)) {
        throw new RagarError(`${what} ${r} has a non-finite value (${x}) at position ${j}`, 'BAD_INPUT');
      }
      sq += x * x;
    }
    if (metric === 'cosine') {
      // Squares are summed in float64, so no non-zero float32 vector underflows to norm 0.
      if (sq === 0) {
        throw new RagarError(`${what} ${r} is a zero vector, which has no direction under the cosine metric`, 'BAD_INPUT');
      }
      const inv = 1 / Math.sqrt(sq);
      for (let j = 0; j < dimension; j++) out[base + j] *= inv;
    }
  }
  return out;
}

/**
 * Validate ids for {@link VectorIndex.add}: non-empty strings, none repeated within the call.
 *
 * @example
 * checkIds(['a', 'b']); // ok
 * checkIds(['a', 'a']); // throws RagarError CONFLICT
 */
export function checkIds(ids: readonly string[]): void {
  if (!Array.isArray(ids)) throw new RagarError('ids must be an array of strings', 'BAD_INPUT');
  const seen = new Set<string>();
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (typeof id !== 'string' || id.length === 0) {
      throw new RagarError(`id ${i} must be a non-empty string, got ${JSON.stringify(id)}`, 'BAD_INPUT');
    }
    if (seen.has(id)) throw new RagarError(`id ${JSON.stringify(id)} appears twice in one add() call`, 'CONFLICT');
    seen.add(id);
  }
}
