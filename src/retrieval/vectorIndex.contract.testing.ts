/**
 * The shared contract every {@link VectorIndex} must pass (Hono-style runtime tests): the exact
 * in-memory index today, an HNSW / usearch index or a vector database later. Call it from the
 * implementation's own test file:
 *
 * ```ts
 * import { runVectorIndexContract } from './vectorIndex.contract.testing.js';
 * runVectorIndexContract('ExactIndex', { create: (dimension, metric) => new ExactIndex(dimension, metric) });
 * // an approximate index:
 * runVectorIndexContract('Hnsw', { create: (d, m) => new HnswIndex(d, m), recallAtLeast: 0.9 });
 * ```
 *
 * The reference is brute force in float64 over the vectors the test itself keeps, so the suite does
 * not trust anything the index reports. Data come from seeded {@link Rng} streams.
 *
 * @module
 */
import { describe, expect, it } from 'vitest';
import { RagarError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { compareHits, type SearchHit, type VectorIndex, type VectorMetric } from './vectorIndex.js';

/** How {@link runVectorIndexContract} builds and judges an implementation. */
export interface VectorIndexContractOptions {
  /** A fresh, empty index. Must throw a `RagarError` for a dimension that is not a positive integer. */
  create: (dimension: number, metric: VectorMetric) => VectorIndex;
  /**
   * For approximate indexes: the least mean recall@k against brute force on the random-data tests
   * (e.g. 0.9). Leave unset for exact indexes, which must then return exactly the brute-force top k.
   */
  recallAtLeast?: number;
  /** Allowed |reported score − true score| (default 1e-5; raise it for quantised storage). */
  scoreTolerance?: number;
}

/** A brute-force model of an index: the vectors the test stored, scored in float64. */
class Reference {
  readonly vectors = new Map<string, Float64Array>();
  constructor(
    readonly dimension: number,
    readonly metric: VectorMetric,
  ) {}

  add(ids: readonly string[], vectors: readonly Float32Array[]): void {
    ids.forEach((id, i) => this.vectors.set(id, this.prepare(vectors[i])));
  }

  remove(ids: readonly string[]): void {
    for (const id of ids) this.vectors.delete(id);
  }

  prepare(v: Float32Array): Float64Array {
    const out = Float64Array.from(v);
    if (this.metric === 'cosine') {
      const norm = Math.hypot(...out);
      for (let i = 0; i < out.length; i++) out[i] /= norm;
    }
    return out;
  }

  score(id: string, query: Float32Array): number {
    const v = this.vectors.get(id);
    if (!v) throw new Error(`reference has no ${id}`);
    const q = this.prepare(query);
    let s = 0;
    for (let i = 0; i < q.length; i++) s += q[i] * v[i];
    return s;
  }

  search(query: Float32Array, k: number, filter?: (id: string) => boolean): SearchHit[] {
    const all: SearchHit[] = [];
    for (const id of this.vectors.keys()) if (!filter || filter(id)) all.push({ id, score: this.score(id, query) });
    return all.sort(compareHits).slice(0, k);
  }
}

function randomVector(rng: Rng, dimension: number): Float32Array {
  const v = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) v[i] = rng.normal();
  return v;
}

function randomVectors(rng: Rng, count: number, dimension: number): Float32Array[] {
  return Array.from({ length: count }, () => randomVector(rng, dimension));
}

/** Ids that do not sort in insertion order, so id order and storage order differ. */
function idOf(i: number): string {
  return `item-${((i * 7919) % 100_003).toString(36)}-${i}`;
}

function rowMajor(rows: readonly Float32Array[], dimension: number): Float32Array {
  const out = new Float32Array(rows.length * dimension);
  rows.forEach((r, i) => out.set(r, i * dimension));
  return out;
}

function vec(...xs: number[]): Float32Array {
  return Float32Array.from(xs);
}

async function expectRagarError(fn: () => unknown, code?: string): Promise<void> {
  let thrown: unknown;
  try {
    await fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a RagarError').toBeInstanceOf(RagarError);
  if (code !== undefined) expect((thrown as RagarError).code).toBe(code);
}

/**
 * Register the contract tests for one {@link VectorIndex} implementation under `describe(name)`.
 *
 * @example
 * runVectorIndexContract('ExactIndex', { create: (d, m) => new ExactIndex(d, m) });
 */
export function runVectorIndexContract(name: string, options: VectorIndexContractOptions): void {
  const { create } = options;
  const tol = options.scoreTolerance ?? 1e-5;
  const approximate = options.recallAtLeast !== undefined;

  /** Check `hits` against the reference: sorted, true scores, and exact (or recall) top k. */
  function checkHits(
    ref: Reference,
    hits: SearchHit[],
    query: Float32Array,
    k: number,
    filter?: (id: string) => boolean,
  ): { found: number; wanted: number } {
    const want = ref.search(query, k, filter);
    expect(new Set(hits.map((h) => h.id)).size, 'ids are unique').toBe(hits.length);
    for (let i = 0; i < hits.length; i++) {
      const h = hits[i];
      expect(ref.vectors.has(h.id), `hit ${h.id} is stored`).toBe(true);
      if (filter) expect(filter(h.id), `hit ${h.id} passes the filter`).toBe(true);
      expect(Math.abs(h.score - ref.score(h.id, query)), `score of ${h.id}`).toBeLessThanOrEqual(tol);
      if (i > 0) expect(compareHits(hits[i - 1], h), 'best first, ties by id').toBeLessThan(0);
    }
    if (!approximate) {
      expect(hits.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) expect(Math.abs(hits[i].score - want[i].score)).toBeLessThanOrEqual(tol);
    } else {
      expect(hits.length).toBeLessThanOrEqual(want.length);
    }
    const wanted = new Set(want.map((h) => h.id));
    return { found: hits.filter((h) => wanted.has(h.id)).length, wanted: want.length };
  }

  function expectRecall(results: { found: number; wanted: number }[]): void {
    const found = results.reduce((s, r) => s + r.found, 0);
    const wanted = results.reduce((s, r) => s + r.wanted, 0);
    const recall = wanted === 0 ? 1 : found / wanted;
    expect(recall).toBeGreaterThanOrEqual(options.recallAtLeast ?? 1);
  }

  async function filled(metric: VectorMetric, count: number, dimension: number, seed: number): Promise<{ index: VectorIndex; ref: Reference; rng: Rng }> {
    const rng = new Rng(seed);
    const index = create(dimension, metric);
    const ref = new Reference(dimension, metric);
    const ids = Array.from({ length: count }, (_, i) => idOf(i));
    const vectors = randomVectors(rng, count, dimension);
    await index.add(ids, vectors);
    ref.add(ids, vectors);
    return { index, ref, rng };
  }

  describe(`VectorIndex contract: ${name}`, () => {
    describe('construction and empty index', () => {
      it('reports dimension, metric and size 0', async () => {
        for (const metric of ['cosine', 'ip'] as const) {
          const index = create(8, metric);
          expect(index.dimension).toBe(8);
          expect(index.metric).toBe(metric);
          expect(index.size).toBe(0);
          expect(await index.has('a')).toBe(false);
        }
      });

      it('returns [] when searching an empty index, and [] per query in a batch', async () => {
        for (const metric of ['cosine', 'ip'] as const) {
          const index = create(4, metric);
          expect(await index.search(vec(1, 2, 3, 4), 5)).toEqual([]);
          expect(await index.searchBatch([vec(1, 0, 0, 0), vec(0, 1, 0, 0)], 3)).toEqual([[], []]);
          expect(await index.searchBatch(new Float32Array(0), 3)).toEqual([]);
        }
      });

      it('throws a RagarError for a dimension that is not a positive integer', async () => {
        for (const d of [0, -3, 1.5, Number.NaN]) await expectRagarError(() => create(d, 'cosine'));
      });
    });

    describe('add, has, size', () => {
      it('stores vectors given as an array of rows or one row-major array, with the same results', async () => {
        const rng = new Rng(11);
        const vectors = randomVectors(rng, 30, 6);
        const ids = vectors.map((_, i) => idOf(i));
        const a = create(6, 'cosine');
        const b = create(6, 'cosine');
        await a.add(ids, vectors);
        await b.add(ids, rowMajor(vectors, 6));
        expect(a.size).toBe(30);
        expect(b.size).toBe(30);
        for (const id of ids) expect((await a.has(id)) && (await b.has(id))).toBe(true);
        expect(await a.has('missing')).toBe(false);
        const q = randomVector(rng, 6);
        expect(await b.search(q, 7)).toEqual(await a.search(q, 7));
      });

      it('accepts an empty add', async () => {
        const index = create(3, 'ip');
        await index.add([], []);
        await index.add([], new Float32Array(0));
        expect(index.size).toBe(0);
      });

      it('copies vectors: later changes to the caller’s arrays do not change the index', async () => {
        for (const metric of ['cosine', 'ip'] as const) {
          const index = create(3, metric);
          const v = vec(1, 0, 0);
          const flat = vec(0, 1, 0);
          await index.add(['a'], [v]);
          await index.add(['b'], flat);
          v.set([0, 0, 1]);
          flat.set([0, 0, 1]);
          expect((await index.search(vec(0, 0, 1), 2)).map((h) => h.score)).toEqual([0, 0]);
          expect(await index.search(vec(1, 0, 0), 1)).toEqual([{ id: 'a', score: expect.closeTo(1, 5) }]);
        }
      });

      it('replaces the vector of an id that is already stored (upsert); size does not change', async () => {
        for (const metric of ['cosine', 'ip'] as const) {
          const index = create(2, metric);
          await index.add(['a', 'b'], [vec(1, 0), vec(0, 1)]);
          await index.add(['a'], [vec(0, -1)]);
          expect(index.size).toBe(2);
          const hits = await index.search(vec(0, 1), 2);
          expect(hits.map((h) => h.id)).toEqual(['b', 'a']);
          expect(hits[1].score).toBeCloseTo(-1, 5);
          // replacing and adding in one call
          await index.add(['c', 'b'], [vec(1, 1), vec(1, 0)]);
          expect(index.size).toBe(3);
          expect((await index.search(vec(1, 0), 1))[0]).toEqual({ id: 'b', score: expect.closeTo(1, 5) });
        }
      });

      it('rejects the same id twice within one add (CONFLICT) and leaves the index unchanged', async () => {
        const index = create(2, 'ip');
        await index.add(['x'], [vec(1, 1)]);
        await expectRagarError(() => index.add(['a', 'a'], [vec(1, 0), vec(0, 1)]), 'CONFLICT');
        expect(index.size).toBe(1);
        expect(await index.has('a')).toBe(false);
      });

      it('rejects empty or non-string ids', async () => {
        const index = create(2, 'ip');
        await expectRagarError(() => index.add([''], [vec(1, 0)]));
        await expectRagarError(() => index.add([7 as unknown as string], [vec(1, 0)]));
        expect(index.size).toBe(0);
      });
    });

    describe('search equals brute force', () => {
      for (const metric of ['cosine', 'ip'] as const) {
        it(`top-k matches float64 brute force on seeded random data (${metric})`, async () => {
          const { index, ref, rng } = await filled(metric, 400, 24, metric === 'cosine' ? 101 : 202);
          const results: { found: number; wanted: number }[] = [];
          for (const k of [1, 10, 50]) {
            for (let q = 0; q < 15; q++) {
              const query = randomVector(rng, 24);
              const hits = await index.search(query, k);
              results.push(checkHits(ref, hits, query, k));
              if (!approximate) expect(hits.map((h) => h.id)).toEqual(ref.search(query, k).map((h) => h.id));
            }
          }
          expectRecall(results);
        });
      }

      it('searchBatch equals search for each query, for array and row-major queries', async () => {
        for (const metric of ['cosine', 'ip'] as const) {
          const { index, ref, rng } = await filled(metric, 300, 16, 303);
          const queries = randomVectors(rng, 9, 16);
          const single = await Promise.all(queries.map((q) => index.search(q, 12)));
          expect(await index.searchBatch(queries, 12)).toEqual(single);
          expect(await index.searchBatch(rowMajor(queries, 16), 12)).toEqual(single);
          expectRecall(queries.map((q, i) => checkHits(ref, single[i], q, 12)));
        }
      });

      it('returns all vectors, sorted, when k is larger than size', async () => {
        for (const metric of ['cosine', 'ip'] as const) {
          const { index, ref, rng } = await filled(metric, 7, 5, 404);
          const query = randomVector(rng, 5);
          const hits = await index.search(query, 100);
          expect(hits).toHaveLength(7);
          checkHits(ref, hits, query, 100);
          expect((await index.searchBatch([query], 1000))[0]).toEqual(hits);
        }
      });

      it('does not modify the query', async () => {
        const { index } = await filled('cosine', 20, 4, 505);
        const q = vec(3, 4, 0, 0);
        await index.search(q, 3);
        await index.searchBatch([q], 3);
        expect(Array.from(q)).toEqual([3, 4, 0, 0]);
      });
    });

    describe('scores', () => {
      it('cosine: scores are cosine similarities, independent of vector and query length', async () => {
        const index = create(3, 'cosine');
        await index.add(['same', 'opposite', 'orthogonal', 'diag'], [vec(10, 0, 0), vec(-0.5, 0, 0), vec(0, 3, 0), vec(1, 1, 0)]);
        const hits = await index.search(vec(0.25, 0, 0), 4);
        expect(hits.map((h) => h.id)).toEqual(['same', 'diag', 'orthogonal', 'opposite']);
        expect(hits[0].score).toBeCloseTo(1, 5);
        expect(hits[1].score).toBeCloseTo(Math.SQRT1_2, 5);
        expect(hits[2].score).toBeCloseTo(0, 5);
        expect(hits[3].score).toBeCloseTo(-1, 5);
        for (const h of hits) {
          expect(h.score).toBeLessThanOrEqual(1);
          expect(h.score).toBeGreaterThanOrEqual(-1);
        }
        expect(await index.search(vec(1000, 0, 0), 4)).toEqual(hits);
      });

      it('ip: scores are raw inner products, so a longer vector can win', async () => {
        const index = create(2, 'ip');
        await index.add(['unit', 'long', 'neg'], [vec(1, 0), vec(3, 3), vec(-2, 0)]);
        const hits = await index.search(vec(2, 0.5), 3);
        expect(hits.map((h) => h.id)).toEqual(['long', 'unit', 'neg']);
        expect(hits.map((h) => h.score)).toEqual([expect.closeTo(7.5, 5), expect.closeTo(2, 5), expect.closeTo(-4, 5)]);
        // a zero vector is a legitimate ip vector and query
        await index.add(['zero'], [vec(0, 0)]);
        expect((await index.search(vec(0, 0), 4)).map((h) => h.score)).toEqual([0, 0, 0, 0]);
      });
    });

    describe('ordering and ties', () => {
      it('breaks equal scores by id, whatever the insertion order', async () => {
        for (const metric of ['cosine', 'ip'] as const) {
          const ids = ['m', 'b', 'zz', 'a', 'c'];
          const vectors = [vec(1, 1), vec(1, 1), vec(-1, 0), vec(1, 1), vec(1, 1)];
          const forward = create(2, metric);
          await forward.add(ids, vectors);
          const backward = create(2, metric);
          for (let i = ids.length - 1; i >= 0; i--) await backward.add([ids[i]], [vectors[i]]);
          for (const index of [forward, backward]) {
            expect((await index.search(vec(1, 1), 5)).map((h) => h.id)).toEqual(['a', 'b', 'c', 'm', 'zz']);
            expect((await index.search(vec(1, 1), 2)).map((h) => h.id)).toEqual(['a', 'b']);
            expect((await index.search(vec(2, 2), 3, { filter: (id) => id !== 'a' })).map((h) => h.id)).toEqual(['b', 'c', 'm']);
          }
        }
      });

      it('returns the same results for the same data added in a different order', async () => {
        const rng = new Rng(606);
        const vectors = randomVectors(rng, 120, 8);
        const ids = vectors.map((_, i) => idOf(i));
        const a = create(8, 'cosine');
        await a.add(ids, vectors);
        const b = create(8, 'cosine');
        const order = rng.shuffle(ids.map((_, i) => i));
        for (const i of order) await b.add([ids[i]], [vectors[i]]);
        const q = randomVector(rng, 8);
        expect(await b.search(q, 15)).toEqual(await a.search(q, 15));
      });
    });

    describe('filter', () => {
      it('keeps only ids the filter accepts, still exact over the filtered set', async () => {
        for (const metric of ['cosine', 'ip'] as const) {
          const { index, ref, rng } = await filled(metric, 300, 12, 707);
          const keep = (id: string): boolean => id.endsWith('3') || id.endsWith('7');
          const results: { found: number; wanted: number }[] = [];
          for (let q = 0; q < 10; q++) {
            const query = randomVector(rng, 12);
            const hits = await index.search(query, 10, { filter: keep });
            results.push(checkHits(ref, hits, query, 10, keep));
          }
          expectRecall(results);
          const query = randomVector(rng, 12);
          expect((await index.searchBatch([query], 10, { filter: keep }))[0]).toEqual(await index.search(query, 10, { filter: keep }));
        }
      });

      it('returns [] when the filter rejects everything and all matches when fewer than k pass', async () => {
        const { index, ref } = await filled('cosine', 50, 4, 808);
        expect(await index.search(vec(1, 0, 0, 0), 5, { filter: () => false })).toEqual([]);
        const few = new Set([idOf(3), idOf(17), idOf(40)]);
        const hits = await index.search(vec(1, 2, 3, 4), 10, { filter: (id) => few.has(id) });
        expect(hits.map((h) => h.id).sort()).toEqual([...few].sort());
        checkHits(ref, hits, vec(1, 2, 3, 4), 10, (id) => few.has(id));
      });
    });

    describe('remove', () => {
      it('removes ids, ignores unknown ones, and returns how many were removed', async () => {
        const index = create(2, 'ip');
        await index.add(['a', 'b', 'c'], [vec(1, 0), vec(2, 0), vec(3, 0)]);
        expect(await index.remove(['b', 'nope', 'b'])).toBe(1);
        expect(index.size).toBe(2);
        expect(await index.has('b')).toBe(false);
        expect((await index.search(vec(1, 0), 5)).map((h) => h.id)).toEqual(['c', 'a']);
        expect(await index.remove([])).toBe(0);
        expect(await index.remove(['a', 'c'])).toBe(2);
        expect(index.size).toBe(0);
        expect(await index.search(vec(1, 0), 5)).toEqual([]);
        await index.add(['b'], [vec(5, 0)]);
        expect(await index.search(vec(1, 0), 5)).toEqual([{ id: 'b', score: expect.closeTo(5, 5) }]);
      });

      it('agrees with brute force after a seeded sequence of adds, replacements and removals', async () => {
        for (const metric of ['cosine', 'ip'] as const) {
          const rng = new Rng(metric === 'cosine' ? 909 : 910);
          const d = 10;
          const index = create(d, metric);
          const ref = new Reference(d, metric);
          let next = 0;
          const results: { found: number; wanted: number }[] = [];
          for (let step = 0; step < 60; step++) {
            const op = rng.next();
            const stored = [...ref.vectors.keys()];
            if (op < 0.55 || stored.length < 5) {
              const count = 1 + rng.int(25);
              const ids = Array.from({ length: count }, () => idOf(next++));
              // some replacements of stored ids in the same call
              for (let i = 0; i < 3 && stored.length > 0; i++) {
                const id = rng.pick(stored);
                if (!ids.includes(id)) ids.push(id);
              }
              const vectors = randomVectors(rng, ids.length, d);
              if (rng.next() < 0.5) await index.add(ids, vectors);
              else await index.add(ids, rowMajor(vectors, d));
              ref.add(ids, vectors);
            } else {
              const ids = rng.shuffle(stored).slice(0, 1 + rng.int(10));
              ids.push(`never-${step}`);
              expect(await index.remove(ids)).toBe(ids.length - 1);
              ref.remove(ids);
            }
            expect(index.size).toBe(ref.vectors.size);
            if (step % 6 === 5) {
              const query = randomVector(rng, d);
              results.push(checkHits(ref, await index.search(query, 8), query, 8));
            }
          }
          for (const id of ref.vectors.keys()) expect(await index.has(id)).toBe(true);
          expectRecall(results);
        }
      });
    });

    describe('errors', () => {
      it('rejects vectors of the wrong dimension and count mismatches, changing nothing', async () => {
        const index = create(3, 'cosine');
        await index.add(['keep'], [vec(1, 2, 3)]);
        await expectRagarError(() => index.add(['a'], [vec(1, 2)]), 'BAD_INPUT');
        await expectRagarError(() => index.add(['a', 'b'], [vec(1, 2, 3), vec(1, 2, 3, 4)]), 'BAD_INPUT');
        await expectRagarError(() => index.add(['a'], new Float32Array(4)), 'BAD_INPUT');
        await expectRagarError(() => index.add(['a', 'b'], new Float32Array(3)), 'BAD_INPUT');
        await expectRagarError(() => index.add(['a'], [vec(1, 2, 3), vec(1, 2, 3)]), 'BAD_INPUT');
        expect(index.size).toBe(1);
        expect(await index.has('a')).toBe(false);
      });

      it('rejects NaN and infinite values in vectors (atomically) and queries', async () => {
        for (const metric of ['cosine', 'ip'] as const) {
          const index = create(3, metric);
          await index.add(['keep'], [vec(1, 2, 3)]);
          await expectRagarError(() => index.add(['a', 'b'], [vec(1, 2, 3), vec(1, Number.NaN, 3)]), 'BAD_INPUT');
          await expectRagarError(() => index.add(['a'], vec(1, Number.POSITIVE_INFINITY, 3)), 'BAD_INPUT');
          await expectRagarError(() => index.add(['keep'], [vec(Number.NaN, 0, 0)]), 'BAD_INPUT');
          expect(index.size).toBe(1);
          expect(await index.has('a')).toBe(false);
          expect((await index.search(vec(1, 2, 3), 1))[0].id).toBe('keep');
          expect((await index.search(vec(1, 2, 3), 1))[0].score).toBeCloseTo(metric === 'cosine' ? 1 : 14, 4);
          await expectRagarError(() => index.search(vec(1, Number.NaN, 0), 1), 'BAD_INPUT');
          await expectRagarError(() => index.searchBatch([vec(1, 0, 0), vec(Number.NEGATIVE_INFINITY, 0, 0)], 1), 'BAD_INPUT');
        }
      });

      it('rejects queries of the wrong dimension, also on an empty index', async () => {
        for (const size of [0, 2]) {
          const index = create(3, 'ip');
          if (size) await index.add(['a', 'b'], [vec(1, 0, 0), vec(0, 1, 0)]);
          await expectRagarError(() => index.search(vec(1, 0), 1), 'BAD_INPUT');
          await expectRagarError(() => index.search(vec(1, 0, 0, 0, 0, 0), 1), 'BAD_INPUT');
          await expectRagarError(() => index.searchBatch([vec(1, 0, 0), vec(1, 0)], 1), 'BAD_INPUT');
          await expectRagarError(() => index.searchBatch(new Float32Array(4), 1), 'BAD_INPUT');
        }
      });

      it('rejects k that is not a positive integer, also on an empty index', async () => {
        for (const size of [0, 2]) {
          const index = create(2, 'cosine');
          if (size) await index.add(['a', 'b'], [vec(1, 0), vec(0, 1)]);
          for (const k of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
            await expectRagarError(() => index.search(vec(1, 0), k), 'BAD_INPUT');
            await expectRagarError(() => index.searchBatch([vec(1, 0)], k), 'BAD_INPUT');
          }
        }
      });

      it('cosine: rejects zero vectors and zero queries (they have no direction)', async () => {
        const index = create(2, 'cosine');
        await expectRagarError(() => index.add(['z'], [vec(0, 0)]), 'BAD_INPUT');
        expect(index.size).toBe(0);
        await index.add(['a'], [vec(1, 0)]);
        await expectRagarError(() => index.search(vec(0, 0), 1), 'BAD_INPUT');
      });
    });
  });
}
