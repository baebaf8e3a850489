/**
 * Real-image experiment for the image tower (not a test): rasterise emoji of the installed style
 * packages, make teacher targets `t(x) = Wᵀ·E_v(x)` from real MobileNetV2 features and a random
 * 1280×d projection W, distil towers of a few architectures, and print held-out agreement and
 * timings.
 *
 * Split by concept (all styles of a concept fall on one side): 80% of the concepts train (of
 * those, one eighth is the early-stopping split), 20% are the untouched test set. The concept
 * order is one seeded shuffle of the whole catalogue, so `--concepts 1540 --test-concepts 16`
 * keeps the same 16 test concepts as the default run and trains on far more items.
 *
 * Run: `npx tsx src/ranking/tower.experiment.ts [--concepts 80] [--dim 16] [--seed 1]
 *       [--test-concepts 16] [--epochs 60] [--cache scratch/tower-features.json] [--save DIR]
 *       [--projection random|style] [--configs mlp16,conv32,gap32]`
 */
import fs from 'node:fs';
import { loadEmojiCatalog } from '../data/emoji/catalog.js';
import { mapConcurrent, rasterizeArtwork } from '../data/emoji/rasterize.js';
import { createMobileNetEncoder } from '../encoders/mobilenet.js';
import { Rng } from '../util/rng.js';
import { spearman } from './metrics.js';
import { agreement, decodePixels64, ImageTower, trainImageTower, type TowerExample, type TowerTrainOptions } from './tower.js';
import { RagarError } from '../util/errors.js';

const STYLES = ['openmoji', 'noto', 'twemoji', 'fluent-flat', 'fluent-3d'];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const CONFIGS: Record<string, Partial<TowerTrainOptions>> = {
  // Plain MLP on 16×16 average-pooled colours.
  mlp16: { poolTo: 16, convChannels: [], head: 'flatten', hidden: 64 },
  // Three 3×3 stride-2 convs on 32×32, flattened.
  conv32: { poolTo: 32, convChannels: [16, 32, 32], head: 'flatten', hidden: 64 },
  // The same with flip/shift augmentation.
  'conv32-aug': { poolTo: 32, convChannels: [16, 32, 32], head: 'flatten', hidden: 64, augment: true },
  // Full resolution, four convs.
  conv64: { poolTo: 64, convChannels: [8, 16, 32, 32], head: 'flatten', hidden: 64 },
  // Global-average-pooled multi-scale conv features (MobileNet-like pooling), 32×32 input: the
  // default of trainImageTower.
  gap32: { poolTo: 32, convChannels: [16, 32, 64], head: 'gap', hidden: 64 },
  'gap32-aug': { poolTo: 32, convChannels: [16, 32, 64], head: 'gap', hidden: 64, augment: true },
  // gap32 with 10× the weight decay.
  'gap32-wd': { poolTo: 32, convChannels: [16, 32, 64], head: 'gap', hidden: 64, weightDecay: 1e-3 },
  // Narrower hidden layer.
  'gap32-h32': { poolTo: 32, convChannels: [16, 32, 64], head: 'gap', hidden: 32 },
  // The same at full resolution with one more conv.
  gap64: { poolTo: 64, convChannels: [8, 16, 32, 64], head: 'gap', hidden: 64 },
  // conv32 with an added centred-cosine loss term.
  'conv32-cos': { poolTo: 32, convChannels: [16, 32, 32], head: 'flatten', hidden: 64, cosineWeight: 0.5 },
};

interface Item {
  concept: string;
  style: string;
  png: Buffer;
  pixels: Float32Array;
}

function mean(xs: number[]): number {
  const ok = xs.filter((x) => Number.isFinite(x));
  return ok.reduce((a, b) => a + b, 0) / ok.length;
}
function sd(xs: number[]): number {
  const ok = xs.filter((x) => Number.isFinite(x));
  const m = mean(ok);
  return Math.sqrt(ok.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, ok.length - 1));
}

async function main(): Promise<void> {
  const nConcepts = Number(arg('concepts', '80'));
  const nTestConcepts = Number(arg('test-concepts', String(Math.round(nConcepts * 0.2))));
  const dim = Number(arg('dim', '16'));
  const seed = Number(arg('seed', '1'));
  const cachePath = arg('cache', '');
  const saveDir = arg('save', '');
  const epochs = Number(arg('epochs', '60'));
  const configNames = arg('configs', 'mlp16,conv32,gap32').split(',').filter((c) => c && c !== 'none');
  const rng = new Rng(seed);

  // 1. Items: concepts drawn by all five styles, a seeded sample.
  let t0 = performance.now();
  const catalog = loadEmojiCatalog(STYLES).filter((c) => STYLES.every((s) => c.files[s]));
  const concepts = rng.fork('concepts').shuffle([...catalog]).slice(0, nConcepts);
  const jobs = concepts.flatMap((c) => STYLES.map((style) => ({ concept: c.key, style, file: c.files[style] })));
  const items: Item[] = await mapConcurrent(jobs, 6, async (job) => {
    const png = await rasterizeArtwork(job.file, 64);
    return { concept: job.concept, style: job.style, png, pixels: await decodePixels64(png) };
  });
  console.log(`items: ${items.length} (${concepts.length} concepts × ${STYLES.length} styles of ${catalog.length} drawn by all) rasterised in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // 2. Teacher features: MobileNetV2 (1280-d) on the same 64-px PNGs, cached by item key.
  const key = (it: Item): string => `${it.concept}/${it.style}`;
  let cache: Record<string, number[]> = {};
  if (cachePath && fs.existsSync(cachePath)) cache = JSON.parse(fs.readFileSync(cachePath, 'utf8')) as Record<string, number[]>;
  const missing = items.filter((it) => !cache[key(it)]);
  if (missing.length > 0) {
    t0 = performance.now();
    const enc = await createMobileNetEncoder({ workers: 2 });
    const loadS = (performance.now() - t0) / 1000;
    t0 = performance.now();
    const vecs = await enc.encode(missing.map((it) => it.png));
    const encMs = (performance.now() - t0) / missing.length;
    await enc.dispose();
    missing.forEach((it, i) => (cache[key(it)] = Array.from(vecs[i])));
    console.log(`MobileNetV2: loaded in ${loadS.toFixed(1)} s, ${encMs.toFixed(1)} ms per image (2 workers, forward only, no gradient)`);
    if (cachePath) fs.writeFileSync(cachePath, JSON.stringify(cache));
  } else {
    console.log(`MobileNetV2 features read from ${cachePath}`);
  }

  // 3. Targets: a random 1280×d projection (entries N(0, 1/1280)); or, with `--projection style`,
  // a projection onto the style subspace (the 5 style centroids' deviations from the mean,
  // computed on non-test concepts, each mapped to a random direction of R^d): a stand-in for a
  // ranker whose W_img learned style, which is what simulated users' tastes are about.
  const projection = arg('projection', 'random');
  const prng = rng.fork('projection');
  let W: Float32Array;
  if (projection === 'style') {
    const testKeys = new Set(concepts.slice(0, nTestConcepts).map((c) => c.key));
    const fit = items.filter((it) => !testKeys.has(it.concept));
    const all = new Float64Array(1280);
    const cent = new Map(STYLES.map((st) => [st, new Float64Array(1280)]));
    for (const it of fit) {
      const f = cache[key(it)];
      const c = cent.get(it.style)!;
      for (let j = 0; j < 1280; j++) {
        c[j] += f[j];
        all[j] += f[j];
      }
    }
    W = new Float32Array(1280 * dim);
    for (const st of STYLES) {
      const c = cent.get(st)!;
      const n = fit.filter((it) => it.style === st).length;
      let norm = 0;
      for (let j = 0; j < 1280; j++) {
        c[j] = c[j] / n - all[j] / fit.length;
        norm += c[j] ** 2;
      }
      const r = Array.from({ length: dim }, () => prng.normal());
      for (let j = 0; j < 1280; j++) for (let k = 0; k < dim; k++) W[j * dim + k] += (c[j] / Math.sqrt(norm)) * r[k];
    }
  } else if (projection === 'random') {
    W = Float32Array.from({ length: 1280 * dim }, () => prng.normal() / Math.sqrt(1280));
  } else {
    throw new RagarError(`--projection must be random or style, got ${projection}`, 'USAGE');
  }
  const examples: (TowerExample & { concept: string; style: string })[] = items.map((it) => {
    const f = cache[key(it)];
    const target = new Float32Array(dim);
    for (let j = 0; j < 1280; j++) {
      const fj = f[j];
      if (fj === 0) continue;
      for (let k = 0; k < dim; k++) target[k] += W[j * dim + k] * fj;
    }
    return { pixels: it.pixels, target, concept: it.concept, style: it.style };
  });

  // 4. Split by concept: the first `--test-concepts` of the seeded order (default 20%) are the
  // test set; of the rest, one eighth is the early-stopping split and the remainder trains.
  const order = concepts.map((c) => c.key);
  const nTest = nTestConcepts;
  const nStop = Math.round((order.length - nTest) / 8);
  const testC = new Set(order.slice(0, nTest));
  const stopC = new Set(order.slice(nTest, nTest + nStop));
  const test = examples.filter((e) => testC.has(e.concept));
  const stop = examples.filter((e) => stopC.has(e.concept));
  const train = examples.filter((e) => !testC.has(e.concept) && !stopC.has(e.concept));
  console.log(`split by concept: train ${train.length}, early-stopping ${stop.length}, test ${test.length} items; d = ${dim}; ${projection} projection`);

  const urng = rng.fork('users');
  const users = Array.from({ length: 50 }, () => Float32Array.from({ length: dim }, () => urng.normal()));

  // Within-concept agreement: for a concept and a user, Spearman over its 5 renditions.
  const byConcept = new Map<string, number[]>();
  test.forEach((e, i) => byConcept.set(e.concept, [...(byConcept.get(e.concept) ?? []), i]));
  const withinConcept = (s: Float32Array[]): number => {
    const vals: number[] = [];
    for (const idx of byConcept.values()) {
      for (const v of users) {
        const tv = idx.map((i) => test[i].target.reduce((a, x, k) => a + x * v[k], 0));
        const sv = idx.map((i) => s[i].reduce((a, x, k) => a + x * v[k], 0));
        vals.push(spearman(tv, sv));
      }
    }
    return mean(vals);
  };
  // Teacher's own ranking of styles vs a constant guess: the share of (concept, user) pairs where
  // the tower's best-scored rendition is the teacher's best.
  const top1 = (s: Float32Array[]): number => {
    let hit = 0;
    let n = 0;
    for (const idx of byConcept.values()) {
      for (const v of users) {
        const arg = (score: (i: number) => number): number => idx.reduce((b, i) => (score(i) > score(b) ? i : b), idx[0]);
        const bt = arg((i) => test[i].target.reduce((a, x, k) => a + x * v[k], 0));
        const bs = arg((i) => s[i].reduce((a, x, k) => a + x * v[k], 0));
        hit += bt === bs ? 1 : 0;
        n++;
      }
    }
    return hit / n;
  };

  const rows: string[] = [];
  let best: { name: string; tower: ImageTower; rho: number } | null = null;
  for (const name of configNames) {
    const cfg = CONFIGS[name];
    if (!cfg) throw new RagarError(`unknown config ${name} (known: ${Object.keys(CONFIGS).join(', ')})`, 'USAGE');
    const opts: TowerTrainOptions = { hidden: 64, epochs, batchSize: 16, learningRate: 2e-3, seed, poolTo: 32, patience: 10, ...cfg };
    const r = trainImageTower(train, stop, opts);
    const a = agreement(r.tower, test, users);
    const s = test.map((e) => r.tower.embed(e.pixels));
    const wc = withinConcept(s);
    const t1 = top1(s);
    // Timings on Float32 pixels, as a generator would call it.
    const reps = 200;
    let t = performance.now();
    for (let i = 0; i < reps; i++) r.tower.embed(test[i % test.length].pixels);
    const embedMs = (performance.now() - t) / reps;
    t = performance.now();
    for (let i = 0; i < reps; i++) r.tower.scoreAndGrad(test[i % test.length].pixels, users[i % users.length]);
    const gradMs = (performance.now() - t) / reps;
    const line =
      `${name.padEnd(11)} params ${String(r.tower.parameterCount).padStart(6)}  test Spearman ${a.spearman.toFixed(3)} ± ${sd(a.perUser).toFixed(3)} (50 users)` +
      `  within-concept ${wc.toFixed(3)}  top-1 style ${(100 * t1).toFixed(0)}%` +
      `  Pearson raw ${a.pearson.toFixed(3)} centred ${a.pearsonCentered.toFixed(3)}` +
      `  epochs ${r.curve.length} (best ${r.bestEpoch})  train ${r.msPerSample.toFixed(2)} ms/sample, ${r.secondsPerEpoch.toFixed(2)} s/epoch` +
      `  embed ${embedMs.toFixed(2)} ms, score+grad ${gradMs.toFixed(2)} ms per image` +
      `  train MSE ${r.curve[r.bestEpoch - 1].trainMse.toExponential(2)} stop MSE ${r.curve[r.bestEpoch - 1].validMse.toExponential(2)}`;
    console.log(line);
    rows.push(line);
    if (!best || a.spearman > best.rho) best = { name, tower: r.tower, rho: a.spearman };
  }
  // Chance level of the within-concept top-1 with 5 renditions is 20%.
  console.log('within-concept: Spearman over the 5 renditions of each test concept, per user; top-1 chance = 20%');
  if (saveDir && best) {
    await best.tower.save(saveDir);
    console.log(`saved ${best.name} to ${saveDir}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
