/**
 * Ranking benchmark (issue 4): training seconds per epoch (ranker, content-only, BPR-MF) and
 * scoring throughput (cold images/s from content, full-ranking users/s) on a dataset that has
 * been built and embedded. Run: `npm run bench:ranking -- --home DIR --dataset NAME [--quick]`.
 * Prints a table and writes JSON with the machine's description. Not a test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DatasetView } from '../data/access.js';
import { trainBprMf } from '../ranking/bprmf.js';
import { prepareRanking } from '../ranking/pipeline.js';
import { DEFAULT_RANKER, trainRanker } from '../ranking/ranker.js';
import { Store } from '../store/store.js';
import { resolveHome } from '../util/home.js';
import { machineDescription, percentile } from './stats.js';

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
  const t = trainRanker(ctx.data, ctx.features, { ...DEFAULT_RANKER, useIds, epochs: quick ? 1 : 3, samplesPerEpoch: samples }, { siblings: ctx.siblings });
  const msPerSample = (percentile(t.secondsPerEpoch, 50) * 1000) / samples;
  const perFullEpoch = (msPerSample * ctx.data.trainInteractions.length) / 1000;
  const name = useIds ? 'ranker' : 'content';
  results[`${name}MsPerTrainingSample`] = msPerSample;
  results[`${name}SecondsPerFullEpoch`] = perFullEpoch;
  rows.push([`${name}: ms per training triple / s per full epoch (${ctx.data.trainInteractions.length} interactions)`, `${msPerSample.toFixed(2)} / ${perFullEpoch.toFixed(1)}`]);
  if (useIds) {
    const r = t.ranker;
    const users = ctx.data.users.filter((u) => u.history.length > 0).slice(0, quick ? 3 : 10);
    const fd = ctx.features;
    const coldItems = Array.from({ length: quick ? 200 : 1000 }, (_, k) => {
      const i = k % ctx.data.numItems;
      return { image: fd.hasImage[i] ? fd.image.subarray(i * fd.imageDim, (i + 1) * fd.imageDim) : null, text: fd.hasText[i] ? fd.text.subarray(i * fd.textDim, (i + 1) * fd.textDim) : null };
    });
    let start = Date.now();
    for (const item of coldItems) r.scoreOne(users[0], -1, item);
    const coldPerSecond = coldItems.length / ((Date.now() - start) / 1000);
    start = Date.now();
    users.forEach((u) => r.scoreItems(u, ctx.data.users.indexOf(u)));
    const usersPerSecond = users.length / ((Date.now() - start) / 1000);
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
