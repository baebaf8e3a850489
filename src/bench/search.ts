/**
 * Vector search at catalog scale: the exact index against the approximate one (usearch HNSW) on
 * the same `n × 512` vectors, per-query latency (p50, p99), recall@10 of the approximate index
 * against exact search, build time and memory.
 *
 * Data: seeded synthetic vectors shaped like embeddings rather than uniform noise: 1,024 cluster
 * centres with N(0, 1) coordinates and each vector a centre plus N(0, 1) noise (cosine about 0.5
 * within a cluster, about 0 across); queries are fresh draws from the same mixture, not stored
 * vectors. Both indexes get the same rows in the same order; the latencies of one run are taken
 * back to back (exact, then approximate at each candidate count of the sweep) so that load
 * changes hit all alike. usearch widens its search list to the candidates asked, so the sweep is the
 * latency/recall trade-off of one graph.
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
  /** The approximate index at each candidate count of the sweep (graph candidates per query). */
  sweep: { candidates: number; annP50Ms: number[]; annP99Ms: number[]; recallAt10: number }[];
  /** The setting reported: the smallest candidate count whose recall@10 is ≥ 0.95, else the best recall. */
  chosen: { candidates: number; annP50Ms: number[]; annP99Ms: number[]; recallAt10: number };
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
  /** Graph candidates per query to sweep (default 20, 100, 200, 400). */
  candidates?: number[];
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
  const time = async (fn: (i: number) => unknown, count: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await fn(i);
      out.push(performance.now() - t);
    }
    return out;
  };
  for (let i = 0; i < 3; i++) exact.searchSync(q(i), 10);
  const exactP50Ms: number[] = [];
  const exactP99Ms: number[] = [];
  const sweep: SearchComparison['sweep'] = [];
  for (const candidates of o.candidates ?? [20, 100, 200, 400]) {
    ann.candidates = candidates;
    let found = 0;
    for (let i = 0; i < o.recallQueries; i++) {
      const want = new Set(truth[i].map((h) => h.id));
      found += (await ann.search(q(i), 10)).filter((h) => want.has(h.id)).length;
    }
    sweep.push({ candidates, annP50Ms: [], annP99Ms: [], recallAt10: found / (10 * o.recallQueries) });
  }
  // runs side by side: exact, then every candidate count, on the same queries
  for (let run = 0; run < o.runs; run++) {
    const e = await time((i) => exact.search(q(i), 10), o.exactQueries);
    exactP50Ms.push(percentile(e, 50));
    exactP99Ms.push(percentile(e, 99));
    for (const s of sweep) {
      ann.candidates = s.candidates;
      const a = await time((i) => ann.search(q(i), 10), o.annQueries);
      s.annP50Ms.push(percentile(a, 50));
      s.annP99Ms.push(percentile(a, 99));
    }
    say(`search ${o.n} run ${run + 1}/${o.runs}: exact p99 ${percentile(exactP99Ms, 50).toFixed(1)} ms; approximate ${sweep.map((s) => `${s.candidates} candidates p99 ${s.annP99Ms[run].toFixed(2)} ms`).join(', ')}`);
  }
  say(`search ${o.n}: recall@10 ${sweep.map((s) => `${s.candidates} candidates ${s.recallAt10.toFixed(4)}`).join(', ')}`);
  const chosen = sweep.find((s) => s.recallAt10 >= 0.95) ?? sweep.reduce((b, s) => (s.recallAt10 > b.recallAt10 ? s : b));
  return {
    vectors: o.n,
    dimension: d,
    exactP50Ms,
    exactP99Ms,
    sweep,
    chosen,
    exactBuildSeconds: exactSeconds,
    annBuildSeconds: annSeconds,
    exactMemoryMB: exactMB,
    annMemoryMB: annMB,
    queries: { exact: o.exactQueries, ann: o.annQueries, recall: o.recallQueries },
    ann: SEARCH_BENCH_ANN,
  };
}

