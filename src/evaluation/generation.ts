import type { ImageEncoder } from '../encoders/types.js';
import { conceptTop1Gallery, evaluateOutputs, type OutputMetrics } from './outputMetrics.js';
import { generationPreference, personalizeItem, type PersonalizationSetup } from '../pipeline/personalize.js';
import type { GeneratorEngine } from '../generation/types.js';
import { RagarError } from '../util/errors.js';
import { silentProgress, type Progress } from '../util/progress.js';

/** One evaluated configuration (the four runs, plus baselines). */
export interface RunSpec {
  name: string;
  engine: GeneratorEngine;
  weighting: 'retrieval' | 'uniform';
  /** Choose among candidates with the ranker (else by semantic score only). */
  rankerSelection: boolean;
  candidates: number;
  /** Engine options keyed by provider. */
  providerOptions?: Record<string, Record<string, unknown>>;
  /**
   * The oracle run: condition the built-in engine on each task's true target style instead of
   * the preference (what a perfect preference would give the same generator).
   */
  oracle?: boolean;
}

/** Options of {@link evaluateGeneration}. */
export interface GenerationEvalOptions {
  split: string;
  /** Most tasks (0 = all). */
  tasks: number;
  seed: number;
  progress?: Progress;
  /** Keep the chosen output PNG of every run and task (for reports). */
  keepImages?: boolean;
}

/** What {@link evaluateGeneration} returns. */
export interface GenerationEvaluation {
  dataset: string;
  split: string;
  tasks: number;
  runs: Record<string, OutputMetrics & { seconds: number }>;
  ceilings: { styleRealAccuracy: number; conceptTop1Target: number; conceptTop1Copy: number; copy: OutputMetrics };
  /** Per task: ids and, with keepImages, the chosen PNG of each run. */
  perTask: { task: string; user: string; reference: string; target: string; targetStyle: string; images?: Record<string, Buffer> }[];
  styleClassifier: { trainItems: number; trainAccuracy: number; features: string };
}

/**
 * Evaluate generator runs on the tasks of a split (emoji-styles: each task is a user, a
 * reference rendition of a held-out concept and the target rendition in the user's style).
 * For every run: build the preference (retrieval or uniform weights), generate candidates,
 * choose one (ranker + semantic, or semantic only), and score the chosen outputs: style
 * accuracy (a style classifier trained on real non-test renditions), concept top-1 among 10
 * concepts drawn in the target style, SSIM to the target, Fréchet distance of MobileNetV2
 * features to the real targets, and the full ranker's score for the true user. Copying the
 * reference is scored the same way (ceilings).
 */
export async function evaluateGeneration(
  setup: PersonalizationSetup,
  runs: readonly RunSpec[],
  encoders: { image: ImageEncoder; style: ImageEncoder },
  options: GenerationEvalOptions,
): Promise<GenerationEvaluation> {
  const { rc } = setup;
  const view = rc.view;
  const progress = options.progress ?? silentProgress;
  let tasks = view.tasks(options.split).filter((t) => t.targetItemId !== null);
  if (options.tasks > 0) tasks = tasks.slice(0, options.tasks);
  if (!tasks.length) throw new RagarError(`no ${options.split} tasks with a target in ${view.dataset.name}`, 'BAD_INPUT');
  const gallery = conceptTop1Gallery(setup, options.split, options.seed);
  const styleModel = rc.style?.model;
  if (!styleModel) throw new RagarError('generation evaluation needs the style descriptors (run `ragar embed`)', 'BAD_INPUT');

  const outputs = new Map<string, { png: Buffer; image: Float32Array; style: Float32Array | null; rankerScore: number }[]>();
  const perTask: GenerationEvaluation['perTask'] = [];
  const runSeconds = new Map<string, number>();
  progress.start('generating', tasks.length * runs.length);
  let done = 0;
  for (const [ti, task] of tasks.entries()) {
    const ref = view.item(task.referenceItemId);
    const target = view.item(task.targetItemId!);
    const entry: GenerationEvaluation['perTask'][number] = { task: task.externalId, user: task.userExternalId, reference: ref.externalId, target: target.externalId, targetStyle: target.style ?? '' };
    if (options.keepImages) entry.images = {};
    for (const run of runs) {
      const t0 = performance.now();
      const { result, selection: sel } = await personalizeItem(setup, run.engine, encoders, {
        user: task.userExternalId,
        reference: ref,
        weighting: run.weighting,
        rankerSelection: run.rankerSelection,
        candidates: run.candidates,
        seed: options.seed * 100_000 + ti * 100,
        providerOptions: run.oracle ? { ...run.providerOptions, [run.engine.provider]: { ...run.providerOptions?.[run.engine.provider], oracleStyle: target.style } } : run.providerOptions,
      });
      const chosen = result.candidates[sel.chosen];
      // The score for the true user is the ranker's, whether or not the run selected with it.
      const list = outputs.get(run.name) ?? [];
      list.push({ png: chosen.png, image: sel.embeddings[sel.chosen], style: sel.styles[sel.chosen], rankerScore: sel.scores[sel.chosen].rankerScore });
      outputs.set(run.name, list);
      runSeconds.set(run.name, (runSeconds.get(run.name) ?? 0) + (performance.now() - t0) / 1000);
      if (entry.images) entry.images[run.name] = chosen.png;
      progress.update(++done);
    }
    perTask.push(entry);
  }
  progress.stop();

  const runsOut: GenerationEvaluation['runs'] = {};
  for (const run of runs) {
    const outs = outputs.get(run.name)!;
    const m = await evaluateOutputs(setup, gallery, tasks, outs);
    runsOut[run.name] = { ...m, seconds: runSeconds.get(run.name)! };
  }
  // Copy of the reference: the same metrics on the reference images themselves.
  const copies = await Promise.all(
    tasks.map(async (t) => {
      const ref = view.item(t.referenceItemId);
      const { rankingUser } = generationPreference(setup, t.userExternalId, { kind: 'item', item: ref }, 'retrieval');
      const image = rc.vectors.image.get(ref.id)!;
      const style = rc.style!.vectors.get(ref.id) ?? null;
      const png = view.store.images.read(ref.imageHash!);
      // userIndex −1: content only, as for any cold candidate
      return { png, image, style, rankerScore: setup.ranker.scoreOne(rankingUser, -1, rc.data.itemIndex.get(ref.id)!) };
    }),
  );
  const copy = await evaluateOutputs(setup, gallery, tasks, copies);
  const targets = tasks.map((t) => {
    const it = view.item(t.targetItemId!);
    return { png: view.store.images.read(it.imageHash!), image: rc.vectors.image.get(it.id)!, style: rc.style!.vectors.get(it.id) ?? null, rankerScore: NaN };
  });
  const real = await evaluateOutputs(setup, gallery, tasks, targets);
  return {
    dataset: view.dataset.name,
    split: options.split,
    tasks: tasks.length,
    runs: runsOut,
    ceilings: { styleRealAccuracy: gallery.classifier.realAccuracy, conceptTop1Target: real.conceptTop1, conceptTop1Copy: copy.conceptTop1, copy },
    perTask,
    styleClassifier: { trainItems: gallery.classifier.trainItems, trainAccuracy: gallery.classifier.trainAccuracy, features: gallery.classifier.features },
  };
}
