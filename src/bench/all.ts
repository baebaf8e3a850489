/**
 * `npm run bench`: one command for the project's speed numbers on a data home prepared by
 * `npx ragar demo` —
 *
 * - encode: images/s of MobileNetV2 on onnxruntime and on tfjs-wasm side by side (their ratio per
 *   run), of the style statistics, texts/s of USE, over the first `--items` items of the dataset
 *   (model load reported separately);
 * - training: the generator's U-Net training step, ONNX engine vs PyTorch (`training.ts`);
 * - search: exact vs usearch HNSW over 100k and 1M × 512 vectors (`search.ts`);
 * - retrieval: per-query latency of retrieval weights + preference building (histories of 50, 500
 *   and 5,000; the measurement of `npm run bench:retrieval`);
 * - ranking: ranker training ms per triple and scoring throughput (`npm run bench:ranking`'s);
 * - generation: latency of one candidate with the built-in engine (`ragar`), median of
 *   `--generations`, model load excluded and reported separately;
 * - eval: wall time of `evaluateGeneration` with the four runs of `ragar generate evaluate`
 *   on `--tasks` test tasks, as seconds per task.
 *
 * Every measurement is repeated `--runs` times (default 3) and its median reported; the load
 * average is recorded before and after every section, since the machine may be shared. A section
 * that fails (e.g. generator weights that cannot be loaded) is recorded as `{ error }` and the
 * others still run. Prints a table (or the JSON with `--json`) and writes the JSON report with
 * the machine's description atomically to `--out` (default `<home>/bench/bench-all.json`). The
 * report's top-level `encode`, `training`, `search` and `load` (1/5/15-min load averages at the
 * start) summarise the side-by-side comparisons.
 * `npm run bench -- --help` lists the options. Not a test: timings vary with the machine's load.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatasetView } from '../data/access.js';
import { createImageEncoder, createTextEncoder } from '../encoders/registry.js';
import type { Encoder, ImageEncoder } from '../encoders/types.js';
import { createBuiltinEngine } from '../generation/builtin/engine.js';
import { BuiltinGenerator } from '../generation/builtin/model.js';
import { evaluateGeneration, type RunSpec } from '../evaluation/generation.js';
import { generateFor, generationPreference, type PersonalizationSetup } from '../pipeline/personalize.js';
import { generationSetupFrom, resolveGeneratorDir, type GeneratorVariant } from '../pipeline/setup.js';
import type { GeneratorEngine } from '../generation/types.js';
import { prepareRanking, type RankingContext } from '../ranking/pipeline.js';
import { ContentRanker } from '../ranking/ranker.js';
import { resolveCachedModel } from '../retrieval/vectors.js';
import { Store } from '../store/store.js';
import { RagarError } from '../util/errors.js';
import { resolveHome } from '../util/home.js';
import { Rng } from '../util/rng.js';
import { rankerScoringSpeed, rankerTrainingSpeed } from './ranking.js';
import {
  BENCH_SECTIONS,
  BENCH_USAGE,
  formatBenchTable,
  isSectionError,
  metric,
  parseBenchArgs,
  writeJsonAtomic,
  type BenchMetric,
  type BenchOptions,
  type BenchReport,
  type BenchSection,
  type BenchSectionResult,
  sizeKey,
} from './report.js';
import { retrievalPreferenceLatency } from './retrieval.js';
import { searchComparison } from './search.js';
import { TRAINING_BENCH_CONFIG, trainingStepComparison } from './training.js';
import { isMainModule, machineDescription, median, percentile } from './stats.js';

/** What a section's body returns. */
interface SectionOutput {
  metrics: Record<string, BenchMetric>;
  details: Record<string, unknown>;
}

/** Print a progress line on stderr. */
function note(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

const loadNow = (): number[] => os.loadavg().map((x) => Math.round(x * 100) / 100);

/** The data home, opened once and shared by the sections that need it. */
class BenchData {
  readonly store: Store;
  readonly view: DatasetView;
  private rc?: RankingContext;
  private setup?: PersonalizationSetup;

  constructor(store: Store, view: DatasetView) {
    this.store = store;
    this.view = view;
  }

  /** The ranking context (embeddings, features), prepared on first use. */
  rankingContext(): RankingContext {
    this.rc ??= prepareRanking(this.view);
    return this.rc;
  }

  /** What generation needs (the trained ranker and retrieval defaults), loaded on first use. */
  generationSetup(): PersonalizationSetup {
    this.setup ??= generationSetupFrom(this.rankingContext(), this.store.home);
    return this.setup;
  }
}

/**
 * Open the data home and the dataset, with errors that name the command to run when the home,
 * the dataset or (for the sections that read them) the embeddings are missing.
 */
function openData(home: string, dataset: string, sections: readonly BenchSection[]): BenchData {
  const prepare = `npx ragar demo --home ${home}`;
  if (!fs.existsSync(path.join(home, 'ragar.sqlite'))) {
    throw new RagarError(`no ragar data home at ${home} (ragar.sqlite is missing); prepare one with \`${prepare}\`, or pass --home DIR`, 'NOT_FOUND');
  }
  const store = Store.open(home);
  try {
    if (!store.findDataset(dataset)) {
      const known = store.listDatasets().map((d) => d.name);
      const how = dataset === 'emoji-styles' ? `\`${prepare}\`` : `\`npx ragar dataset build\` or \`npx ragar dataset import\` (--home ${home})`;
      throw new RagarError(`dataset ${dataset} is missing in ${home}${known.length ? ` (known: ${known.join(', ')})` : ''}; build it with ${how}`, 'NOT_FOUND');
    }
    const view = DatasetView.open(store, dataset);
    if (sections.some((s) => s === 'ranking' || s === 'generation' || s === 'eval')) {
      for (const [field, encoder] of [
        ['image', 'mobilenet'],
        ['text', 'use'],
      ] as const) {
        try {
          resolveCachedModel(view, field, encoder);
        } catch (err) {
          if (err instanceof RagarError && err.code === 'NOT_FOUND') {
            throw new RagarError(`dataset ${dataset} in ${home} has no ${field} embeddings (${encoder}); compute them with \`${prepare}\` (or \`npx ragar embed --home ${home} --dataset ${dataset}\`)`, 'NOT_FOUND');
          }
          throw err;
        }
      }
    }
    return new BenchData(store, view);
  } catch (err) {
    store.close();
    throw err;
  }
}

/** encode: images/s (MobileNetV2, style statistics) and texts/s (USE) over dataset items. */
async function benchEncode(data: BenchData, o: BenchOptions): Promise<SectionOutput> {
  const all = [...data.view.items().values()];
  const withImages = all.filter((i) => i.imageHash).slice(0, o.items);
  const texts = all
    .filter((i) => i.text.trim())
    .slice(0, o.items)
    .map((i) => i.text);
  if (!withImages.length && !texts.length) throw new RagarError(`dataset ${data.view.dataset.name} has no items with images or texts to encode; build it with \`npx ragar demo --home ${data.store.home}\``, 'NOT_FOUND');
  const images = withImages.map((i) => data.store.images.read(i.imageHash!));
  const metrics: Record<string, BenchMetric> = {};
  const details: Record<string, unknown> = { images: images.length, texts: texts.length, mobilenetWorkers: o.workers };
  const measure = async <I>(key: string, label: string, unit: string, create: () => Promise<Encoder<I>>, inputs: I[]) => {
    if (!inputs.length) {
      details[key] = `no inputs: the dataset has no ${unit.split('/')[0]}`;
      return;
    }
    const t0 = performance.now();
    const enc = await create();
    details[`${key}LoadMs`] = performance.now() - t0;
    try {
      await enc.encode(inputs.slice(0, Math.min(8, inputs.length))); // warm-up
      const rates: number[] = [];
      for (let r = 0; r < o.runs; r++) {
        const t = performance.now();
        await enc.encode(inputs);
        rates.push(inputs.length / ((performance.now() - t) / 1000));
      }
      metrics[key] = metric(`${label}, ${inputs.length} items`, unit, rates);
      note(`encode: ${label} ${median(rates).toFixed(1)} ${unit}`);
    } finally {
      await enc.dispose();
    }
  };
  if (images.length) {
    // MobileNetV2 on onnxruntime (the default) and on tfjs-wasm, side by side: each run times one
    // pass of each over the same images, and the ratio of that run is kept
    const t0 = performance.now();
    const onnx = await createImageEncoder({ image: 'mobilenet', workers: o.workers });
    details.onnxLoadMs = performance.now() - t0;
    const t1 = performance.now();
    const tfjs = await createImageEncoder({ image: 'mobilenet-tfjs', workers: o.workers });
    details.tfjsLoadMs = performance.now() - t1;
    try {
      const warm = images.slice(0, Math.min(8, images.length));
      await onnx.encode(warm);
      await tfjs.encode(warm);
      const rate = async (enc: ImageEncoder) => {
        const t = performance.now();
        await enc.encode(images);
        return images.length / ((performance.now() - t) / 1000);
      };
      const onnxRates: number[] = [];
      const tfjsRates: number[] = [];
      for (let r = 0; r < o.runs; r++) {
        onnxRates.push(await rate(onnx));
        tfjsRates.push(await rate(tfjs));
        note(`encode run ${r + 1}/${o.runs}: onnxruntime ${onnxRates[r].toFixed(1)} images/s, tfjs-wasm ${tfjsRates[r].toFixed(1)} images/s`);
      }
      metrics.onnxImagesPerSecond = metric(`MobileNetV2 on onnxruntime (${o.workers || 2} threads), ${images.length} items`, 'images/s', onnxRates);
      metrics.tfjsImagesPerSecond = metric(`MobileNetV2 on tfjs-wasm (${o.workers} worker${o.workers === 1 ? '' : 's'}), ${images.length} items`, 'images/s', tfjsRates);
      metrics.onnxOverTfjs = metric('  onnxruntime / tfjs-wasm, per run', '×', onnxRates.map((x, i) => x / tfjsRates[i]));
    } finally {
      await onnx.dispose();
      await tfjs.dispose();
    }
  }
  await measure('styleStatsImagesPerSecond', 'style statistics', 'images/s', () => createImageEncoder({ image: 'style-stats' }), images);
  await measure('useTextsPerSecond', 'USE text encoder', 'texts/s', () => createTextEncoder(), texts);
  return { metrics, details };
}

/** training: the generator's training step, ONNX engine vs PyTorch (when installed), side by side. */
async function benchTraining(o: BenchOptions): Promise<SectionOutput> {
  const r = await trainingStepComparison({ batch: o.trainBatch, steps: o.trainSteps, runs: o.runs, onProgress: note });
  const metrics: Record<string, BenchMetric> = {
    onnxMsPerSample: metric(`U-Net training step on the ONNX engine (batch ${r.batch}, ${r.threads} threads)`, 'ms/sample', r.onnxMsPerSample),
  };
  if (r.torchMsPerSample && r.ratios) {
    metrics.torchMsPerSample = metric(`the same step on PyTorch ${r.torch?.version ?? ''} (${r.threads} threads)`, 'ms/sample', r.torchMsPerSample);
    metrics.onnxOverTorch = metric('  ONNX engine / PyTorch, per run', '×', r.ratios);
  }
  const { onnxMsPerSample: _a, torchMsPerSample: _b, ratios: _c, ...details } = r;
  return { metrics, details: { ...details, network: TRAINING_BENCH_CONFIG, steps: o.trainSteps } };
}

/** search: exact vs approximate (usearch) top-10 search over 512-d catalogs of each `--search-sizes`. */
async function benchSearch(o: BenchOptions): Promise<SectionOutput> {
  const metrics: Record<string, BenchMetric> = {};
  const details: Record<string, unknown> = {};
  for (const n of o.searchSizes) {
    const key = sizeKey(n);
    const big = n >= 500_000;
    const r = await searchComparison({ n, runs: o.runs, annQueries: 200, exactQueries: big ? 20 : 50, recallQueries: big ? 100 : 200, onProgress: note });
    metrics[`${key}ExactP50Ms`] = metric(`${key} × 512, exact top-10: p50 per query`, 'ms', r.exactP50Ms);
    metrics[`${key}ExactP99Ms`] = metric(`${key} × 512, exact top-10: p99 per query`, 'ms', r.exactP99Ms);
    for (const s of r.sweep) {
      const tag = s === r.chosen ? '' : `C${s.candidates}`;
      metrics[`${key}AnnP50Ms${tag}`] = metric(`${key} × 512, usearch top-10, ${s.candidates} candidates: p50 per query`, 'ms', s.annP50Ms);
      metrics[`${key}AnnP99Ms${tag}`] = metric(`${key} × 512, usearch top-10, ${s.candidates} candidates: p99 per query`, 'ms', s.annP99Ms);
      metrics[`${key}RecallAt10${tag}`] = metric(`${key} × 512, usearch recall@10 vs exact, ${s.candidates} candidates`, '', [s.recallAt10]);
    }
    const { exactP50Ms: _a, exactP99Ms: _b, ...rest } = r;
    details[key] = { ...rest, chosenCandidates: r.chosen.candidates };
  }
  return { metrics, details };
}

/** retrieval: per-query latency of retrieval weights + preference (bench:retrieval's measurement). */
async function benchRetrieval(o: BenchOptions): Promise<SectionOutput> {
  const metrics: Record<string, BenchMetric> = {};
  for (const n of [50, 500, 5000]) {
    const p50: number[] = [];
    const p99: number[] = [];
    for (let r = 0; r < o.runs; r++) {
      const ms = await retrievalPreferenceLatency(n, { queries: o.queries, warmup: 10, rng: new Rng(1 + r) });
      p50.push(percentile(ms, 50));
      p99.push(percentile(ms, 99));
    }
    metrics[`history${n}P50Ms`] = metric(`retrieval + preference, history ${n}: p50 per query`, 'ms', p50);
    metrics[`history${n}P99Ms`] = metric(`retrieval + preference, history ${n}: p99 per query`, 'ms', p99);
  }
  return { metrics, details: { queriesPerRun: o.queries, history: 'synthetic (1280-d image, 512-d text, 6 keywords per item)', params: { alpha: 0.5, k: 10, tau: 0.05 } } };
}

/** ranking: ranker training ms per triple (one value per epoch after a warm-up epoch) and scoring. */
async function benchRanking(data: BenchData, o: BenchOptions): Promise<SectionOutput> {
  const rc = data.rankingContext();
  const coldItems = o.quick ? 200 : 1000;
  const users = o.quick ? 3 : 10;
  const trained = await rankerTrainingSpeed(rc, { useIds: true, samples: o.samples, epochs: o.runs + 1 });
  const perTriple = trained.msPerSample.slice(1); // the first epoch warms up
  rankerScoringSpeed(rc, trained.ranker, { coldItems: Math.min(coldItems, 100), users: 1 }); // warm-up
  const cold: number[] = [];
  const full: number[] = [];
  for (let r = 0; r < o.runs; r++) {
    // a fresh ranker per run (same weights and projections): the attention it keeps per user
    // would otherwise make runs after the first rank the same users from cache
    const t = trained.ranker;
    const fresh = new ContentRanker(t.features, t.numUsers, t.options, t.weights, t.name);
    fresh.setProjections(t.projectAll());
    const s = rankerScoringSpeed(rc, fresh, { coldItems, users });
    cold.push(s.coldPerSecond);
    full.push(s.usersPerSecond);
  }
  const metrics = {
    trainingMsPerTriple: metric(`ranker training, ${o.samples} triples per epoch`, 'ms/triple', perTriple),
    coldItemsPerSecond: metric(`ranker scoring of cold items from embeddings (${coldItems} per run)`, 'items/s', cold),
    fullRankingsPerSecond: metric(`ranker full rankings of ${rc.data.numItems} items (${users} users per run)`, 'users/s', full),
  };
  return {
    metrics,
    details: {
      interactions: rc.data.trainInteractions.length,
      items: rc.data.numItems,
      warmupEpochMsPerTriple: trained.msPerSample[0],
      secondsPerFullEpoch: (metrics.trainingMsPerTriple.median * rc.data.trainInteractions.length) / 1000,
    },
  };
}

/** Load a generator variant's built-in engine; milliseconds of the load. */
async function loadEngine(data: BenchData, variant: GeneratorVariant): Promise<{ engine: GeneratorEngine; dir: string; loadMs: number; format: unknown }> {
  const t0 = performance.now();
  const dir = resolveGeneratorDir(data.store.home, data.view.dataset.name, variant);
  const { generator, meta } = await BuiltinGenerator.load(dir);
  return { engine: createBuiltinEngine({ generator, tower: null, modelId: variant }), dir, loadMs: performance.now() - t0, format: meta.format };
}

function targetTasks(data: BenchData, split: string) {
  const tasks = data.view.tasks(split).filter((t) => t.targetItemId !== null);
  if (!tasks.length) throw new RagarError(`no ${split} tasks with a target in ${data.view.dataset.name}`, 'BAD_INPUT');
  return tasks;
}

/** generation: one candidate of the `ragar` built-in engine on test tasks, median of `--generations`. */
async function benchGeneration(data: BenchData, o: BenchOptions): Promise<SectionOutput> {
  const setup = data.generationSetup();
  const tasks = targetTasks(data, 'test');
  const { engine, dir, loadMs, format } = await loadEngine(data, 'ragar');
  try {
    const one = async (i: number) => {
      const t = tasks[i % tasks.length];
      const ref = data.view.item(t.referenceItemId);
      const png = data.store.images.read(ref.imageHash!);
      const t0 = performance.now();
      const prepared = generationPreference(setup, t.userExternalId, { kind: 'item', item: ref }, 'retrieval');
      const t1 = performance.now();
      await generateFor(engine, prepared, { image: png, text: ref.text }, { user: t.userExternalId, candidates: 1, seed: i });
      return { preferenceMs: t1 - t0, generateMs: performance.now() - t1 };
    };
    await one(0); // warm-up
    const gen: number[] = [];
    const pref: number[] = [];
    for (let i = 0; i < o.generations; i++) {
      const r = await one(i + 1);
      gen.push(r.generateMs);
      pref.push(r.preferenceMs);
    }
    return {
      metrics: {
        candidateMs: metric('built-in engine (ragar), one candidate', 'ms', gen),
        preferenceMs: metric('generation preference (retrieval weights, style, ranker direction)', 'ms', pref),
        modelLoadMs: metric('model load (not in the above)', 'ms', [loadMs]),
      },
      details: { variant: 'ragar', dir, format, generations: o.generations, split: 'test' },
    };
  } finally {
    await engine.dispose();
  }
}

/** eval: wall time of `evaluateGeneration` with the CLI's four runs on `--tasks` test tasks. */
async function benchEval(data: BenchData, o: BenchOptions): Promise<SectionOutput> {
  const setup = data.generationSetup();
  targetTasks(data, 'test');
  const engines: GeneratorEngine[] = [];
  const encoders: ImageEncoder[] = [];
  try {
    const ragar = await loadEngine(data, 'ragar');
    engines.push(ragar.engine);
    const norank = await loadEngine(data, 'ragar-norank');
    engines.push(norank.engine);
    const t0 = performance.now();
    const image = await createImageEncoder({ workers: o.workers });
    encoders.push(image);
    const style = await createImageEncoder({ image: 'style-stats' });
    encoders.push(style);
    const encoderLoadMs = performance.now() - t0;
    const providerOptions = { builtin: {} };
    const runs: RunSpec[] = [
      { name: 'retrieval+rank', engine: ragar.engine, weighting: 'retrieval', rankerSelection: true, candidates: o.candidates, providerOptions },
      { name: 'retrieval', engine: norank.engine, weighting: 'retrieval', rankerSelection: false, candidates: 1, providerOptions },
      { name: 'uniform+rank', engine: ragar.engine, weighting: 'uniform', rankerSelection: true, candidates: o.candidates, providerOptions },
      { name: 'uniform', engine: norank.engine, weighting: 'uniform', rankerSelection: false, candidates: 1, providerOptions },
    ];
    const perTask: number[] = [];
    const wall: number[] = [];
    const overhead: number[] = [];
    const perRun: Record<string, number[]> = Object.fromEntries(runs.map((r) => [r.name, []]));
    let tasks = 0;
    for (let r = 0; r < o.runs; r++) {
      const t = performance.now();
      const result = await evaluateGeneration(setup, runs, { image, style }, { split: 'test', tasks: o.tasks, seed: 1 });
      const seconds = (performance.now() - t) / 1000;
      tasks = result.tasks;
      wall.push(seconds);
      perTask.push(seconds / result.tasks);
      let inRuns = 0;
      for (const spec of runs) {
        const runSeconds = result.runs[spec.name]?.seconds ?? NaN;
        inRuns += runSeconds;
        perRun[spec.name].push(runSeconds / result.tasks);
      }
      overhead.push(seconds - inRuns);
      note(`eval: run ${r + 1}/${o.runs}: ${seconds.toFixed(1)} s for ${result.tasks} tasks`);
    }
    const metrics: Record<string, BenchMetric> = {
      secondsPerTask: metric(`evaluateGeneration, four runs, ${tasks} test task${tasks === 1 ? '' : 's'}`, 's/task', perTask),
      wallSeconds: metric('evaluateGeneration wall time', 's', wall),
    };
    for (const spec of runs) metrics[`run_${spec.name}`] = metric(`  of which run ${spec.name} (${spec.candidates} candidate${spec.candidates === 1 ? '' : 's'})`, 's/task', perRun[spec.name]);
    metrics.overheadSeconds = metric('  of which setup and metrics outside the runs', 's', overhead);
    return {
      metrics,
      details: { tasks, split: 'test', candidates: o.candidates, engineLoadMs: { ragar: ragar.loadMs, 'ragar-norank': norank.loadMs }, encoderLoadMs, generators: { ragar: ragar.dir, 'ragar-norank': norank.dir } },
    };
  } finally {
    for (const e of engines) await e.dispose();
    for (const e of encoders) await e.dispose();
  }
}

/** Run one section: time it, record the load before and after, and turn a failure into `{ error }`. */
async function runSection(name: BenchSection, index: number, total: number, body: () => Promise<SectionOutput>): Promise<BenchSectionResult> {
  const before = loadNow();
  note(`${name} (${index + 1}/${total}): start; load average ${before.join(' ')}`);
  const t0 = performance.now();
  try {
    const out = await body();
    const seconds = (performance.now() - t0) / 1000;
    const after = loadNow();
    note(`${name}: done in ${seconds.toFixed(1)} s; load average ${after.join(' ')}`);
    return { seconds, load: { before, after }, ...out };
  } catch (err) {
    const seconds = (performance.now() - t0) / 1000;
    const message = err instanceof Error ? err.message : String(err);
    note(`${name}: FAILED after ${seconds.toFixed(1)} s: ${message}`);
    return { error: message, seconds, load: { before, after: loadNow() } };
  }
}

/** The issue-16 summary keys (`encode`, `training`, `search`) from the sections that ran. */
function summary(sections: BenchReport['sections'], o: BenchOptions): Pick<BenchReport, 'encode' | 'training' | 'search'> {
  const ok = (name: BenchSection) => {
    const r = sections[name];
    return r && !isSectionError(r) ? r : undefined;
  };
  const out: Pick<BenchReport, 'encode' | 'training' | 'search'> = {};
  const enc = ok('encode')?.metrics;
  if (enc?.onnxImagesPerSecond && enc.tfjsImagesPerSecond && enc.onnxOverTfjs) {
    out.encode = { onnxImagesPerSecond: enc.onnxImagesPerSecond.median, tfjsImagesPerSecond: enc.tfjsImagesPerSecond.median, ratio: enc.onnxOverTfjs.median };
  }
  const tr = ok('training')?.metrics;
  if (tr?.onnxMsPerSample) {
    out.training = { onnxMsPerSample: tr.onnxMsPerSample.median, torchMsPerSample: tr.torchMsPerSample?.median ?? null, ratio: tr.onnxOverTorch?.median ?? null };
  }
  const se = ok('search')?.metrics;
  if (se) {
    out.search = {};
    for (const n of o.searchSizes) {
      const k = sizeKey(n);
      if (se[`${k}ExactP99Ms`]) out.search[k] = { exactP99Ms: se[`${k}ExactP99Ms`].median, annP99Ms: se[`${k}AnnP99Ms`].median, recallAt10: se[`${k}RecallAt10`].median };
      const chosen = (ok('search')?.details[k] as { chosenCandidates?: number } | undefined)?.chosenCandidates;
      if (out.search[k] && chosen !== undefined) out.search[k].annCandidates = chosen;
    }
  }
  return out;
}

/**
 * Run the benchmark for parsed options: open the data home (when a section needs it), run the
 * selected sections, and return the report (not yet printed or written).
 */
export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const home = resolveHome(o.home);
  const started = performance.now();
  const loadBefore = loadNow();
  const needsData = o.sections.some((s) => s !== 'retrieval' && s !== 'training' && s !== 'search');
  const data = needsData ? openData(home, o.dataset, o.sections) : null;
  if (o.runs < 3) note(`--runs ${o.runs}: fewer than 3 runs, the medians are not robust on a shared machine`);
  const sections: BenchReport['sections'] = {};
  const body: Record<BenchSection, () => Promise<SectionOutput>> = {
    encode: () => benchEncode(data!, o),
    training: () => benchTraining(o),
    search: () => benchSearch(o),
    retrieval: () => benchRetrieval(o),
    ranking: () => benchRanking(data!, o),
    generation: () => benchGeneration(data!, o),
    eval: () => benchEval(data!, o),
  };
  try {
    for (const [i, name] of o.sections.entries()) sections[name] = await runSection(name, i, o.sections.length, body[name]);
  } finally {
    data?.store.close();
  }
  const { home: _h, dataset: _d, out: _o, json: _j, help: _x, sections: _s, ...settings } = o;
  return {
    machine: machineDescription(),
    home,
    dataset: o.dataset,
    settings,
    load: loadBefore,
    loadAfter: loadNow(),
    seconds: (performance.now() - started) / 1000,
    sections,
    skipped: BENCH_SECTIONS.filter((s) => !o.sections.includes(s)),
    ...summary(sections, o),
  };
}

async function main(): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`ragar bench: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return;
  }
  let report: BenchReport;
  try {
    report = await runBench(options);
  } catch (err) {
    if (!(err instanceof RagarError)) throw err;
    process.stderr.write(`ragar bench: ${err.message}\n`);
    process.exitCode = 1;
    return;
  }
  const out = options.out ?? path.join(report.home, 'bench', 'bench-all.json');
  writeJsonAtomic(out, report);
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${formatBenchTable(report)}\n`);
  note(`wrote ${out}`);
}

if (isMainModule(import.meta.url)) await main();
