/**
 * Vector search at catalog scale: the exact index against the approximate one (usearch HNSW) on
 * the same `n × 512` vectors, per-query latency (p50, p99), recall@10 of the approximate index
 * against exact search, build time and memory.
 *
 * Data: seeded synthetic vectors shaped like embeddings rather than uniform noise: 1,024 cluster
 * centres with N(0, 1) coordinates and each vector a centre plus N(0, 1) noise (cosine about 0.5
 * within a cluster, about 0 across); queries are fresh draws from the same mixture, not stored
 * vectors. Both indexes get the same rows in the same order; the latencies of one run are taken
 * back to back (exact, then approximate) so that load changes hit both alike.
 */
import { ExactIndex } from '../retrieval/exactIndex.js';
import { UsearchIndex, type UsearchIndexOptions } from '../retrieval/usearchIndex.js';
import { Rng } from '../util/rng.js';
import { percentile } from './stats.js';

/** Settings of the approximate index in the benchmark (the library defaults but a cheaper build). */
export const SEARCH_BENCH_ANN: UsearchIndexOptions = { connectivity: 16, expansionAdd: 64, expansionSearch: 64, quantization: 'f16' };

/** Result of {@link searchComparison} for one size. */
export interface SearchComparison {
  vectors: number;
  dimension: number;
  /** Per run: p50 / p99 ms per top-10 query. */
  exactP50Ms: number[];
  exactP99Ms: number[];
  annP50Ms: number[];
  annP99Ms: number[];
  /** Mean recall@10 of the approximate index against exact search over the recall queries. */
  recallAt10: number;
  exactBuildSeconds: number;
  annBuildSeconds: number;
  /** Resident memory growth while each index was built (MB; the approximate index holds its own float32 copy too). */
  exactMemoryMB: number;
  annMemoryMB: number;
  queries: { exact: number; ann: number; recall: number };
  ann: UsearchIndexOptions;
}

/** Writes seeded mixture vectors (see the module comment) into `out`. */
function mixture(rng: Rng, centres: Float32Array, clusters: number, d: number, out: Float32Array): void {
  const n = out.length / d;
  for (let i = 0; i < n; i++) {
    const c = rng.int(clusters) * d;
    const o = i * d;
    for (let j = 0; j < d; j++) out[o + j] = centres[c + j] + rng.normal();
  }
}

const rssMB = (): number => process.memoryUsage().rss / 2 ** 20;

/**
 * Build both indexes over `n` vectors and time top-10 queries, `runs` times side by side.
 * `onProgress` gets a line per phase (a 1M build takes minutes).
 *
 * @example
 * const r = await searchComparison({ n: 100_000, runs: 3, annQueries: 200, exactQueries: 50, recallQueries: 100 });
 */
export async function searchComparison(o: {
  n: number;
  dimension?: number;
  runs: number;
  annQueries: number;
  exactQueries: number;
  recallQueries: number;
  seed?: number;
  onProgress?: (line: string) => void;
}): Promise<SearchComparison> {
  const d = o.dimension ?? 512;
  const clusters = 1024;
  const rng = new Rng(o.seed ?? 1);
  const centres = new Float32Array(clusters * d);
  for (let i = 0; i < centres.length; i++) centres[i] = rng.normal();
  const chunk = 50_000;
  const rows = new Float32Array(chunk * d);
  const say = o.onProgress ?? (() => {});

  let m0 = rssMB();
  let t0 = performance.now();
  const exact = new ExactIndex(d, 'cosine', { initialCapacity: o.n });
  const ann = new UsearchIndex(d, 'cosine', SEARCH_BENCH_ANN);
  ann.reserve(o.n);
  const annSetupMB = rssMB() - m0;
  let exactSeconds = 0;
  let annSeconds = 0;
  let exactMB = 0;
  let annMB = annSetupMB;
  for (let s = 0; s < o.n; s += chunk) {
    const len = Math.min(chunk, o.n - s);
    const part = rows.subarray(0, len * d);
    mixture(rng, centres, clusters, d, part);
    const ids = Array.from({ length: len }, (_, i) => `v${s + i}`);
    m0 = rssMB();
    t0 = performance.now();
    exact.addSync(ids, part);
    exactSeconds += (performance.now() - t0) / 1000;
    exactMB += rssMB() - m0;
    m0 = rssMB();
    t0 = performance.now();
    await ann.add(ids, part);
    annSeconds += (performance.now() - t0) / 1000;
    annMB += rssMB() - m0;
    say(`search ${o.n}: ${s + len} vectors indexed (approximate build ${annSeconds.toFixed(0)} s so far)`);
  }

  const nq = Math.max(o.annQueries, o.exactQueries, o.recallQueries);
  const queries = new Float32Array(nq * d);
  mixture(rng, centres, clusters, d, queries);
  const q = (i: number) => queries.subarray(i * d, (i + 1) * d);
  const truth = exact.searchBatchSync(queries.subarray(0, o.recallQueries * d), 10);
  let found = 0;
  for (let i = 0; i < o.recallQueries; i++) {
    const want = new Set(truth[i].map((h) => h.id));
    found += (await ann.search(q(i), 10)).filter((h) => want.has(h.id)).length;
  }
  const recallAt10 = found / (10 * o.recallQueries);
  say(`search ${o.n}: recall@10 ${recallAt10.toFixed(4)}`);

  const time = async (fn: (i: number) => unknown, count: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await fn(i);
      out.push(performance.now() - t);
    }
    return out;
  };
  for (let i = 0; i < 3; i++) {
    exact.searchSync(q(i), 10);
    await ann.search(q(i), 10);
  }
  const r: Pick<SearchComparison, 'exactP50Ms' | 'exactP99Ms' | 'annP50Ms' | 'annP99Ms'> = { exactP50Ms: [], exactP99Ms: [], annP50Ms: [], annP99Ms: [] };
  for (let run = 0; run < o.runs; run++) {
    const e = await time((i) => exact.search(q(i), 10), o.exactQueries);
    const a = await time((i) => ann.search(q(i), 10), o.annQueries);
    r.exactP50Ms.push(percentile(e, 50));
    r.exactP99Ms.push(percentile(e, 99));
    r.annP50Ms.push(percentile(a, 50));
    r.annP99Ms.push(percentile(a, 99));
    say(`search ${o.n} run ${run + 1}/${o.runs}: exact p99 ${percentile(e, 99).toFixed(1)} ms, approximate p99 ${percentile(a, 99).toFixed(2)} ms`);
  }
  return {
    vectors: o.n,
    dimension: d,
    ...r,
    recallAt10,
    exactBuildSeconds: exactSeconds,
    annBuildSeconds: annSeconds,
    exactMemoryMB: exactMB,
    annMemoryMB: annMB,
    queries: { exact: o.exactQueries, ann: o.annQueries, recall: o.recallQueries },
    ann: SEARCH_BENCH_ANN,
  };
}

