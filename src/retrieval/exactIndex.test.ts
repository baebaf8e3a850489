import { describe, expect, it } from 'vitest';
import { RagarError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { ExactIndex } from './exactIndex.js';
import { runVectorIndexContract } from './vectorIndex.contract.testing.js';
import { compareHits, type SearchHit } from './vectorIndex.js';

runVectorIndexContract('ExactIndex', { create: (dimension, metric) => new ExactIndex(dimension, metric) });
// Growth from a single row exercises every doubling step.
runVectorIndexContract('ExactIndex (initialCapacity 1)', {
  create: (dimension, metric) => new ExactIndex(dimension, metric, { initialCapacity: 1 }),
});

function randomRows(rng: Rng, rows: number, dimension: number): Float32Array {
  const out = new Float32Array(rows * dimension);
  for (let i = 0; i < out.length; i++) out[i] = rng.normal();
  return out;
}

describe('ExactIndex specifics', () => {
  it('grows its buffer by doubling and keeps vectors across growth; reserve never shrinks', () => {
    const index = new ExactIndex(4, 'ip', { initialCapacity: 2 });
    expect(index.capacity).toBe(2);
    for (let i = 0; i < 9; i++) index.addSync([`v${i}`], [Float32Array.from([i, 0, 0, 1])]);
    expect(index.size).toBe(9);
    expect(index.capacity).toBe(16);
    expect(Array.from(index.get('v5') ?? [])).toEqual([5, 0, 0, 1]);
    index.reserve(3);
    expect(index.capacity).toBe(16);
    index.reserve(100);
    expect(index.capacity).toBe(128);
    expect(index.searchSync(Float32Array.from([1, 0, 0, 0]), 1)).toEqual([{ id: 'v8', score: 8 }]);
  });

  it('get returns a copy of the stored (normalised) vector; ids lists storage order', () => {
    const index = new ExactIndex(2, 'cosine');
    index.addSync(['a', 'b', 'c'], new Float32Array([3, 4, 1, 0, 0, 2]));
    const a = index.get('a');
    expect(a && Array.from(a)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
    a?.fill(0);
    expect(index.get('a')?.[0]).toBeCloseTo(0.6, 6);
    expect(index.get('zzz')).toBeUndefined();
    index.removeSync(['a']);
    expect(index.ids()).toEqual(['c', 'b']); // the last row moved into the hole
  });

  it('validates constructor arguments', () => {
    expect(() => new ExactIndex(4, 'l2' as 'ip')).toThrow(RagarError);
    expect(() => new ExactIndex(4, 'ip', { initialCapacity: 0 })).toThrow(RagarError);
    const index = new ExactIndex(2, 'ip');
    index.addSync(['a'], [Float32Array.from([1, 0])]);
    expect(() => index.searchSync(Float32Array.from([1, 0]), 1, { filter: 'x' as never })).toThrow(RagarError);
    expect(() => index.searchSync([1, 0] as never, 1)).toThrow(RagarError);
  });

  it('matches a sort of all scores on a larger set (block boundaries, odd dimension)', () => {
    const rng = new Rng(5);
    const n = 3000;
    const d = 37; // not a multiple of 4: exercises the unrolled loop's tail
    const data = randomRows(rng, n, d);
    const ids = Array.from({ length: n }, (_, i) => `r${i}`);
    const index = new ExactIndex(d, 'ip');
    index.addSync(ids, data);
    const queries = randomRows(rng, 5, d);
    const batch = index.searchBatchSync(queries, 25);
    for (let q = 0; q < 5; q++) {
      const all: SearchHit[] = ids.map((id, r) => {
        let s = 0;
        for (let j = 0; j < d; j++) s += data[r * d + j] * queries[q * d + j];
        return { id, score: s };
      });
      all.sort(compareHits);
      expect(batch[q].map((h) => h.id)).toEqual(all.slice(0, 25).map((h) => h.id));
      expect(index.searchSync(queries.subarray(q * d, (q + 1) * d), 25)).toEqual(batch[q]);
    }
  });

  it('consults the filter only for candidates that can enter the top k', () => {
    const index = new ExactIndex(1, 'ip');
    const n = 1000;
    index.addSync(
      Array.from({ length: n }, (_, i) => `i${String(i).padStart(4, '0')}`),
      Float32Array.from({ length: n }, (_, i) => -i), // best first in storage order
    );
    let calls = 0;
    const hits = index.searchSync(Float32Array.from([1]), 3, {
      filter: (id) => {
        calls++;
        return id !== 'i0001';
      },
    });
    expect(hits.map((h) => h.id)).toEqual(['i0000', 'i0002', 'i0003']);
    expect(calls).toBe(4);
  });
});

/**
 * Latency benchmark (skipped unless RAGAR_BENCH=1): median of 20 top-10 queries over 100,000
 * random vectors of 512 and 1280 dimensions, cosine metric.
 *
 *     RAGAR_BENCH=1 npx vitest run src/retrieval/exactIndex.test.ts -t benchmark
 */
describe.runIf(process.env.RAGAR_BENCH === '1')('ExactIndex benchmark', () => {
  for (const d of [512, 1280]) {
    it(`benchmark: 100k × ${d}, top-10`, () => {
      const n = 100_000;
      const rng = new Rng(d);
      const index = new ExactIndex(d, 'cosine');
      index.reserve(n);
      const chunk = 10_000;
      for (let start = 0; start < n; start += chunk) {
        const ids = Array.from({ length: chunk }, (_, i) => `v${start + i}`);
        index.addSync(ids, randomRows(rng, chunk, d));
      }
      const queries = Array.from({ length: 23 }, () => randomRows(rng, 1, d));
      for (const q of queries.slice(0, 3)) index.searchSync(q, 10); // warm-up
      const times: number[] = [];
      for (const q of queries.slice(3)) {
        const t = performance.now();
        index.searchSync(q, 10);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      const median = (times[9] + times[10]) / 2;
      const batchQueries = randomRows(rng, 20, d);
      const t = performance.now();
      index.searchBatchSync(batchQueries, 10);
      const perQueryBatch = (performance.now() - t) / 20;
      console.log(
        `ExactIndex 100k x ${d} top-10: median ${median.toFixed(1)} ms (min ${times[0].toFixed(1)}, max ${times[19].toFixed(1)}); ` +
          `searchBatch(20) ${perQueryBatch.toFixed(1)} ms/query`,
      );
      expect(median).toBeGreaterThan(0);
    });
  }
});
