/**
 * Retrieval benchmark (issue 3): embedding throughput, retrieval + preference latency for
 * histories of 50 and 500 items, and exact corpus search over 100,000 vectors.
 * Run: `npm run bench:retrieval [-- --quick] [-- --out FILE]`. Prints a table and writes JSON
 * with the machine's description. Not a test: timings vary with the machine's load.
 *
 * The measurements are also exported as functions ({@link retrievalPreferenceLatency},
 * {@link exactSearchLatency}) for `npm run bench` (`src/bench/all.ts`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadEmojiCatalog } from '../data/emoji/catalog.js';
import { mapConcurrent, rasterizeArtwork } from '../data/emoji/rasterize.js';
import { createMobileNetEncoder } from '../encoders/mobilenet.js';
import { createUseEncoder } from '../encoders/use.js';
import { l2normalize } from '../encoders/types.js';
import { inverseDocumentFrequency, keywordPreference } from '../preference/keywords.js';
import { visualPreference } from '../preference/visual.js';
import { ExactIndex } from '../retrieval/exactIndex.js';
import { retrievalWeights } from '../retrieval/weights.js';
import { Rng } from '../util/rng.js';
import { isMainModule, machineDescription, percentile, timeRuns } from './stats.js';

function randomUnit(rng: Rng, dim: number): Float32Array {
  return l2normalize(Float32Array.from({ length: dim }, () => rng.normal()));
}

/**
 * Per-query latency of RAGAR steps 1–2 for one reference against a synthetic history of
 * `historySize` items (1280-d image and 512-d text vectors, 6 keywords each from a 2,000-word
 * vocabulary): retrieval weights (α 0.5, k 10, τ 0.05), the visual preference and the keyword
 * preference. Returns the milliseconds of each of `queries` timed queries (after `warmup`).
 *
 * @example
 * const ms = await retrievalPreferenceLatency(50, { queries: 200, warmup: 10, rng: new Rng(1) });
 */
export async function retrievalPreferenceLatency(historySize: number, options: { queries: number; warmup: number; rng: Rng }): Promise<number[]> {
  const { rng } = options;
  const vocabulary = Array.from({ length: 2000 }, (_, i) => `kw${i}`);
  const history = Array.from({ length: historySize }, () => ({ image: randomUnit(rng, 1280), text: randomUnit(rng, 512) }));
  const keywords = Array.from({ length: historySize }, () => Array.from({ length: 6 }, () => rng.pick(vocabulary)));
  const idf = inverseDocumentFrequency(keywords);
  const ref = { image: randomUnit(rng, 1280), text: randomUnit(rng, 512) };
  return timeRuns(
    () => {
      const r = retrievalWeights(ref, history, { alpha: 0.5, k: 10, tau: 0.05 });
      visualPreference(
        history.map((h) => h.image),
        r.weights,
      );
      keywordPreference(keywords, r.weights, idf, 8);
    },
    options.queries,
    options.warmup,
  );
}

/**
 * Latency of an exact cosine top-10 search over `size` random vectors of dimension `dim`:
 * milliseconds of each of `queries` timed searches (after 3 warm-up searches).
 *
 * @example
 * const ms = await exactSearchLatency(100_000, 512, { queries: 30, rng: new Rng(1) });
 */
export async function exactSearchLatency(size: number, dim: number, options: { queries: number; rng: Rng }): Promise<number[]> {
  const { rng } = options;
  const index = new ExactIndex(dim, 'cosine', { initialCapacity: size });
  const block = 5000;
  for (let start = 0; start < size; start += block) {
    const n = Math.min(block, size - start);
    const ids: string[] = [];
    const vecs = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      ids.push(String(start + i));
      for (let d = 0; d < dim; d++) vecs[i * dim + d] = rng.normal();
    }
    index.addSync(ids, vecs);
  }
  return timeRuns(() => index.searchSync(randomUnit(rng, dim), 10), options.queries, 3);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const outIndex = args.indexOf('--out');
  const out = outIndex >= 0 ? args[outIndex + 1] : path.join('.ragar', 'bench', 'retrieval.json');
  const rng = new Rng(1);

  const results: Record<string, unknown> = { machine: machineDescription(), quick };
  const rows: [string, string][] = [];

  // 1. Embedding throughput on real 64 px emoji images and item texts.
  const concepts = loadEmojiCatalog(['openmoji', 'noto'])
    .filter((c) => c.files.openmoji && c.files.noto)
    .slice(0, quick ? 32 : 128);
  const images = await mapConcurrent(
    concepts.flatMap((c) => [c.files.openmoji, c.files.noto]),
    4,
    (f) => rasterizeArtwork(f, 64),
  );
  const texts = concepts.map((c) => `${c.name} (${c.subgroup.replace(/-/g, ' ')}): ${c.tags.join(', ')}`);
  for (const workers of [0, 2]) {
    const enc = await createMobileNetEncoder({ workers });
    await enc.encode(images.slice(0, 16));
    const t = Date.now();
    await enc.encode(images);
    const rate = images.length / ((Date.now() - t) / 1000);
    await enc.dispose();
    results[`mobilenetImagesPerSecond_workers${workers}`] = rate;
    rows.push([`MobileNetV2 images/s (${workers} worker threads)`, rate.toFixed(1)]);
  }
  {
    const enc = await createUseEncoder();
    await enc.encode(texts.slice(0, 16));
    const t = Date.now();
    await enc.encode(texts);
    const rate = texts.length / ((Date.now() - t) / 1000);
    await enc.dispose();
    results.useTextsPerSecond = rate;
    rows.push(['USE texts/s', rate.toFixed(1)]);
  }

  // 2. Retrieval + preference latency (step 1 + step 2) for one reference.
  for (const n of [50, 500]) {
    const ms = await retrievalPreferenceLatency(n, { queries: quick ? 50 : 200, warmup: 10, rng });
    results[`retrievalPreferenceMs_history${n}`] = { p50: percentile(ms, 50), p99: percentile(ms, 99), runs: ms.length };
    rows.push([`retrieval + preference, history ${n}: p50 / p99 ms`, `${percentile(ms, 50).toFixed(3)} / ${percentile(ms, 99).toFixed(3)}`]);
  }

  // 3. Exact corpus search over 100,000 vectors.
  for (const dim of [512, 1280]) {
    const size = quick ? 20_000 : 100_000;
    const ms = await exactSearchLatency(size, dim, { queries: quick ? 10 : 30, rng });
    results[`exactSearchMs_${size}x${dim}`] = { p50: percentile(ms, 50), p99: percentile(ms, 99), runs: ms.length };
    rows.push([`exact top-10 search, ${size.toLocaleString('en-US')} × ${dim}: p50 / p99 ms`, `${percentile(ms, 50).toFixed(1)} / ${percentile(ms, 99).toFixed(1)}`]);
  }

  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${out}`);
}

if (isMainModule(import.meta.url)) await main();
