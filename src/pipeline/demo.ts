import fs from 'node:fs';
import path from 'node:path';
import { DatasetView } from '../data/access.js';
import { buildEmojiStyles, DEFAULT_EMOJI_BUILD } from '../data/emoji/build.js';
import { datasetStats } from '../data/stats.js';
import { embedDataset, type EmbedSummary } from '../encoders/embed.js';
import { loadDatasetVectors } from '../encoders/vectors.js';
import { evaluateEmojiRetrieval } from '../retrieval/evaluate.js';
import { saveTunedFromEvaluation } from '../retrieval/tuned.js';
import { createImageEncoder, createTextEncoder } from '../encoders/registry.js';
import type { ImageEncoder } from '../encoders/types.js';
import { prepareRanking, trainRankingModels } from '../ranking/pipeline.js';
import { DEFAULT_RANKER } from '../ranking/ranker.js';
import type { Store } from '../store/store.js';
import { silentProgress, type Progress } from '../util/progress.js';
import { renderDemoPage } from './demoPage.js';
import { generationSetupFrom, openBuiltinEngine } from './setup.js';
import type { DemoRow } from './demoPage.js';
import { personalizeItem, type PersonalizationSetup } from './personalize.js';
import type { GeneratorEngine } from '../generation/types.js';
import { writeFileAtomicSync } from '../util/persist.js';

/**
 * Run full RAGAR (retrieval weights, candidates chosen by ranker + semantic score) on the first
 * `count` tasks of a split and collect the rows of the demo page.
 *
 * @example
 * const rows = await demoRows(setup, engine, { image, style }, { split: 'test', count: 12, candidates: 4 });
 */
export async function demoRows(
  setup: PersonalizationSetup,
  engine: GeneratorEngine,
  encoders: { image: ImageEncoder; style: ImageEncoder },
  options: { split: string; count: number; candidates: number; seed?: number; historyShown?: number; onRow?: (done: number) => void },
): Promise<DemoRow[]> {
  const view = setup.rc.view;
  const tasks = view.tasks(options.split).filter((t) => t.targetItemId !== null);
  // one task per user, spread over the split
  const seen = new Set<number>();
  const chosen = tasks.filter((t) => (seen.has(t.userId) ? false : (seen.add(t.userId), true))).slice(0, options.count);
  const rows: DemoRow[] = [];
  for (const [i, task] of chosen.entries()) {
    const ref = view.item(task.referenceItemId);
    const { preference, referencePng: refPng, result, selection: sel } = await personalizeItem(setup, engine, encoders, {
      user: task.userExternalId,
      reference: ref,
      weighting: 'retrieval',
      rankerSelection: true,
      candidates: options.candidates,
      seed: (options.seed ?? 1) + 100 * i,
    });
    const target = view.item(task.targetItemId!);
    const history = preference.history
      .filter((h) => h.weight > 0)
      .sort((a, b) => b.weight - a.weight)
      .slice(0, options.historyShown ?? 5)
      .map((h) => {
        const it = view.item(h.item);
        return { title: h.title, style: h.style, weight: h.weight, png: it.imageHash ? view.store.images.read(it.imageHash) : null };
      });
    rows.push({
      task: task.externalId,
      user: task.userExternalId,
      reference: { title: ref.title, style: ref.style, png: refPng },
      history,
      output: { png: result.candidates[sel.chosen].png, rankerScore: sel.scores[sel.chosen].rankerScore, semanticScore: sel.scores[sel.chosen].semanticScore, candidates: result.candidates.length },
      target: target.imageHash ? { style: target.style, png: view.store.images.read(target.imageHash) } : null,
    });
    options.onRow?.(i + 1);
  }
  return rows;
}

/**
 * The generation half of the demo: train the ranker if there is none (or it is stale), load the
 * shipped generator, run full RAGAR on `tasks` test tasks and write the HTML page
 * (`<home>/demo/index.html` unless `out` is given).
 *
 * @example
 * const { page } = await demoGeneration(store, 'emoji-styles', { tasks: 12, candidates: 4 });
 */
export async function demoGeneration(
  store: Store,
  dataset: string,
  options: { tasks: number; candidates: number; out?: string; weightsRoot?: string; progress?: Progress; note?: (line: string) => void },
) {
  const progress = options.progress ?? silentProgress;
  const note = options.note ?? (() => {});
  const view = DatasetView.open(store, dataset);
  const rc = prepareRanking(view);
  let setup: ReturnType<typeof generationSetupFrom>;
  try {
    setup = generationSetupFrom(rc, store.home);
  } catch {
    // no ranker yet, or one trained on other data or features
    note('training the ranker (BPR-MF warm start, then the multimodal ranker; early stopping on valid) …');
    await trainRankingModels(rc, store.home, { models: ['bprmf', 'ranker'], ranker: DEFAULT_RANKER, bprmf: { epochs: 50, seed: 1, patience: DEFAULT_RANKER.patience }, progress, note });
    setup = generationSetupFrom(rc, store.home);
  }
  const { engine, dir } = await openBuiltinEngine(store.home, dataset, 'ragar', { weightsRoot: options.weightsRoot });
  const image = await createImageEncoder({ workers: 0 });
  const style = await createImageEncoder({ image: 'style-stats' });
  try {
    note(`generating ${options.tasks} test tasks with ${dir} …`);
    progress.start('demo tasks', options.tasks);
    const started = performance.now();
    const rows = await demoRows(setup, engine, { image, style }, { split: 'test', count: options.tasks, candidates: options.candidates, onRow: (n) => progress.update(n) });
    progress.stop();
    const msPerCandidate = (performance.now() - started) / Math.max(1, rows.length * options.candidates);
    const out = options.out ?? path.join(store.home, 'demo');
    fs.mkdirSync(out, { recursive: true });
    const page = path.join(out, 'index.html');
    writeFileAtomicSync(
      page,
      renderDemoPage(`RAGAR on ${dataset}: ${rows.length} test tasks`, rows, [
        'Each row: the reference (a concept never seen in training, drawn in a style the user does not prefer), the history items with the highest retrieval weights, ' +
          `the generated output (best of ${options.candidates} candidates by ranker + semantic score) and the ground-truth rendition in the user's style.`,
        `Generator: ${dir}.`,
      ]),
    );
    return { page, rows: rows.length, variant: 'ragar', generator: dir, msPerCandidate };
  } finally {
    await engine.dispose();
    await image.dispose();
    await style.dispose();
  }
}

/** What {@link runDemo} did: each stage's result (null for a stage skipped). */
export interface DemoResult {
  built: Awaited<ReturnType<typeof buildEmojiStyles>> | null;
  stats: ReturnType<typeof datasetStats>;
  embedded: EmbedSummary | null;
  retrieval: ReturnType<typeof evaluateEmojiRetrieval> | null;
  generation: Awaited<ReturnType<typeof demoGeneration>> | null;
  /** A task of the test split to try `ragar generate` on. */
  example: { user: string; reference: string } | null;
}

/**
 * The README's main job on the embedded defaults (`ragar demo`): build emoji-styles if absent,
 * embed its items (cached vectors reused), compare retrieval weighting with equal pooling on the
 * test split (saving the valid-tuned settings), then the generation page ({@link demoGeneration}).
 *
 * @example
 * const r = await runDemo(store, { tasks: 12, candidates: 4 });
 * r.retrieval?.retrieval.styleMatch;
 */
export async function runDemo(
  store: Store,
  options: { skipEmbed?: boolean; skipGenerate?: boolean; tasks: number; candidates: number; out?: string; workers?: number; weightsRoot?: string; progress?: Progress; note?: (line: string) => void },
): Promise<DemoResult> {
  const progress = options.progress ?? silentProgress;
  const note = options.note ?? (() => {});
  const name = DEFAULT_EMOJI_BUILD.name;
  let built = null;
  if (!store.findDataset(name)) {
    note(`building ${name} with default settings into ${store.home} …`);
    built = await buildEmojiStyles(store, DEFAULT_EMOJI_BUILD, progress);
    note(`built in ${built.seconds.toFixed(1)} s`);
  } else {
    note(`${name} already built in ${store.home}`);
  }
  const stats = datasetStats(store, name);
  if (options.skipEmbed) return { built, stats, embedded: null, retrieval: null, generation: null, example: null };
  note('embedding items (MobileNetV2 images, USE texts; cached vectors are reused) …');
  const text = await createTextEncoder();
  const image = await createImageEncoder({ workers: options.workers });
  const styleEncoder = await createImageEncoder({ image: 'style-stats' });
  let embedded: EmbedSummary;
  try {
    embedded = await embedDataset(store, name, { text, image, progress });
    embedded.style = (await embedDataset(store, name, { image: styleEncoder, progress })).image;
  } finally {
    await image.dispose();
    await text.dispose();
    await styleEncoder.dispose();
  }
  const view = DatasetView.open(store, name);
  const vectors = loadDatasetVectors(view, { image: 'mobilenet', text: 'use' });
  const retrieval = evaluateEmojiRetrieval(view, vectors, 'test');
  saveTunedFromEvaluation(store.home, name, retrieval.retrieval.params, 'styleMatch', retrieval.retrieval.validStyleMatch, vectors);
  const task = view.tasks('test')[0];
  const example = task ? { user: task.userExternalId, reference: view.item(task.referenceItemId).externalId } : null;
  const generation = options.skipGenerate ? null : await demoGeneration(store, name, { tasks: options.tasks, candidates: options.candidates, out: options.out, weightsRoot: options.weightsRoot, progress, note });
  return { built, stats, embedded, retrieval, generation, example };
}
