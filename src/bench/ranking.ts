/**
 * Ranking benchmark (issue 4): training seconds per epoch (ranker, content-only, BPR-MF) and
 * scoring throughput (cold images/s from content, full-ranking users/s) on a dataset that has
 * been built and embedded. Run: `npm run bench:ranking -- --home DIR --dataset NAME [--quick]`.
 * Prints a table and writes JSON with the machine's description. Not a test.
 *
 * The measurements are also exported as functions ({@link rankerTrainingSpeed},
 * {@link rankerScoringSpeed}) for `npm run bench` (`src/bench/all.ts`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { DatasetView } from '../data/access.js';
import { trainBprMf } from '../ranking/bprmf.js';
import { prepareRanking, type RankingContext } from '../ranking/pipeline.js';
import { DEFAULT_RANKER, trainRanker, type ContentRanker } from '../ranking/ranker.js';
import { Store } from '../store/store.js';
import { resolveHome } from '../util/home.js';
import { isMainModule, machineDescription, percentile } from './stats.js';

/** What {@link rankerTrainingSpeed} measures. */
export interface RankerTrainingSpeed {
  /** Milliseconds per training triple, one value per epoch. */
  msPerSample: number[];
  /** The trained ranker (for {@link rankerScoringSpeed}). */
  ranker: ContentRanker;
}

/**
 * Train the ranker (`useIds`) or its content-only variant for `epochs` epochs of `samples`
 * triples each, without validation, and report the milliseconds per training triple of every
 * epoch.
 *
 * @example
 * const { msPerSample } = await rankerTrainingSpeed(ctx, { useIds: true, samples: 3000, epochs: 3 });
 */
export async function rankerTrainingSpeed(ctx: RankingContext, options: { useIds: boolean; samples: number; epochs: number }): Promise<RankerTrainingSpeed> {
  const t = await trainRanker(ctx.data, ctx.features, { ...DEFAULT_RANKER, useIds: options.useIds, epochs: options.epochs, samplesPerEpoch: options.samples }, { siblings: ctx.siblings });
  return { msPerSample: t.secondsPerEpoch.map((s) => (s * 1000) / options.samples), ranker: t.ranker };
}

/**
 * Scoring throughput of a trained ranker: cold items scored per second from their content
 * embeddings (`coldItems` scorings for the first user with a history), and full rankings of
 * every dataset item per second (for the first `users` users with a history).
 *
 * @example
 * const { coldPerSecond, usersPerSecond } = rankerScoringSpeed(ctx, ranker, { coldItems: 1000, users: 10 });
 */
export function rankerScoringSpeed(ctx: RankingContext, ranker: ContentRanker, options: { coldItems: number; users: number }): { coldPerSecond: number; usersPerSecond: number } {
  const users = ctx.data.users.filter((u) => u.history.length > 0).slice(0, options.users);
  const fd = ctx.features;
  const coldItems = Array.from({ length: options.coldItems }, (_, k) => {
    const i = k % ctx.data.numItems;
    return { image: fd.hasImage[i] ? fd.image.subarray(i * fd.imageDim, (i + 1) * fd.imageDim) : null, text: fd.hasText[i] ? fd.text.subarray(i * fd.textDim, (i + 1) * fd.textDim) : null };
  });
  let start = performance.now();
  for (const item of coldItems) ranker.scoreOne(users[0], -1, item);
  const coldPerSecond = coldItems.length / ((performance.now() - start) / 1000);
  start = performance.now();
  users.forEach((u) => ranker.scoreItems(u, ctx.data.users.indexOf(u)));
  const usersPerSecond = users.length / ((performance.now() - start) / 1000);
  return { coldPerSecond, usersPerSecond };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, fallback?: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const quick = args.includes('--quick');
  const home = resolveHome(arg('--home'));
  const dataset = arg('--dataset', 'emoji-styles')!;
  const store = Store.open(home);
  const view = DatasetView.open(store, dataset);
  const ctx = prepareRanking(view);
  const results: Record<string, unknown> = { machine: machineDescription(), dataset, interactions: ctx.data.trainInteractions.length, items: ctx.data.numItems };
  const rows: [string, string][] = [];
  const samples = quick ? 500 : 3000;

  for (const useIds of [true, false]) {
    const t = await rankerTrainingSpeed(ctx, { useIds, samples, epochs: quick ? 1 : 3 });
    const msPerSample = percentile(t.msPerSample, 50);
    const perFullEpoch = (msPerSample * ctx.data.trainInteractions.length) / 1000;
    const name = useIds ? 'ranker' : 'content';
    results[`${name}MsPerTrainingSample`] = msPerSample;
    results[`${name}SecondsPerFullEpoch`] = perFullEpoch;
    rows.push([`${name}: ms per training triple / s per full epoch (${ctx.data.trainInteractions.length} interactions)`, `${msPerSample.toFixed(2)} / ${perFullEpoch.toFixed(1)}`]);
    if (useIds) {
      const { coldPerSecond, usersPerSecond } = rankerScoringSpeed(ctx, t.ranker, { coldItems: quick ? 200 : 1000, users: quick ? 3 : 10 });
      results.coldImagesScoredPerSecond = coldPerSecond;
      results.fullRankingUsersPerSecond = usersPerSecond;
      rows.push(['ranker: cold items scored per second (from embeddings)', coldPerSecond.toFixed(0)]);
      rows.push([`ranker: full rankings per second (${ctx.data.numItems} items)`, usersPerSecond.toFixed(2)]);
    }
  }
  const bpr = trainBprMf(ctx.data, { epochs: quick ? 2 : 5 });
  results.bprmfSecondsPerEpoch = bpr.secondsPerEpoch;
  rows.push(['bpr-mf: s per epoch', bpr.secondsPerEpoch.toFixed(3)]);

  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  const out = arg('--out', path.join(home, 'bench', `ranking-${dataset}.json`))!;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${out}`);
  store.close();
}

if (isMainModule(import.meta.url)) void main();
