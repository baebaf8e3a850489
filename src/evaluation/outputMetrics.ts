import type { ItemRecord, TaskRecord } from '../data/access.js';
import { decodePixels64 } from '../encoders/pixels.js';
import { drawDistractors, recognizeConcept } from './metrics/conceptRecognition.js';
import { frechetDistance } from './metrics/frechet.js';
import { ssim } from './metrics/ssim.js';
import { imageAndStyleFeatures, trainStyleClassifier, type StyleClassifier } from '../models/styleClassifier.js';
import { RagarError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { PersonalizationSetup } from '../pipeline/personalize.js';

/** Scores of a set of outputs (one per task). */
export interface OutputMetrics {
  /** Share of outputs the style classifier assigns the user's true (target) style. */
  styleAccuracy: number;
  /** The same per target style (style → accuracy over the tasks whose target is in that style). */
  styleAccuracyByTarget: Record<string, number>;
  /** Share of outputs whose nearest of 10 concepts drawn in the target style is the true one (MobileNetV2 cosine). */
  /** target style → style the classifier named → outputs (where the misses go). */
  styleConfusion: Record<string, Record<string, number>>;
  conceptTop1: number;
  /** Mean SSIM (luminance, 11×11 Gaussian window) to the ground-truth target. */
  ssim: number;
  /** Fréchet distance between the outputs' and the real targets' MobileNetV2 features. */
  frechet: number;
  /** Mean full-ranker score R(u, x) of the output for its own user. */
  userRankerScore: number;
  n: number;
}

/** The fixed instruments of an evaluation: style classifier and concept galleries. */
export interface EvaluationInstruments {
  classifier: { model: StyleClassifier; realAccuracy: number; trainItems: number; trainAccuracy: number; features: string };
  /** style → concept → MobileNetV2 vector of that concept's rendition in that style (concepts of the split). */
  galleryByStyle: Map<string, Map<string, Float32Array>>;
  seed: number;
  /** Decoded pixels of the targets, filled on first use and shared by every scored run. */
  targetPixels: Map<number, Float32Array>;
}

/** Classifier features of an image: MobileNetV2 embedding followed by the style statistics. */
export function classifierFeatures(image: Float32Array, style: Float32Array | null): Float32Array {
  if (!style) throw new RagarError('style classifier features need the style descriptor of the image', 'BAD_INPUT');
  return imageAndStyleFeatures(image, style);
}

/**
 * Train the style classifier on the real renditions of concepts outside `split` and measure
 * its accuracy on the renditions of `split`'s concepts (the ceiling a generator is held to), and
 * collect the concept galleries of `split`.
 */
export function conceptTop1Gallery(setup: PersonalizationSetup, split: string, seed: number): EvaluationInstruments {
  const { rc } = setup;
  const view = rc.view;
  const conceptSplit = view.conceptSplits();
  const style = rc.style;
  if (!style) throw new RagarError('the evaluation needs style descriptors (run `ragar embed`)', 'BAD_INPUT');
  const train: { x: Float32Array; y: string }[] = [];
  const held: { x: Float32Array; y: string }[] = [];
  const galleryByStyle = new Map<string, Map<string, Float32Array>>();
  for (const it of view.items().values()) {
    if (!it.concept || !it.style) continue;
    const image = rc.vectors.image.get(it.id);
    const s = style.vectors.get(it.id);
    if (!image || !s) continue;
    const row = { x: classifierFeatures(image, s), y: it.style };
    if (conceptSplit.get(it.concept) === split) {
      held.push(row);
      let g = galleryByStyle.get(it.style);
      if (!g) galleryByStyle.set(it.style, (g = new Map()));
      g.set(it.concept, image);
    } else train.push(row);
  }
  if (!train.length || !held.length) throw new RagarError(`cannot split renditions into non-${split} training and ${split} held-out sets`, 'BAD_INPUT');
  const model = trainStyleClassifier(
    train.map((r) => r.x),
    train.map((r) => r.y),
    { dataset: view.dataset.name, featureModel: `${rc.vectors.imageModel}+${style.model}`, seed },
  );
  return {
    classifier: {
      model,
      realAccuracy: model.accuracy(
        held.map((r) => r.x),
        held.map((r) => r.y),
      ),
      trainItems: train.length,
      trainAccuracy: model.meta.trainAccuracy,
      features: `${rc.vectors.imageModel} + ${style.model}`,
    },
    galleryByStyle,
    seed,
    targetPixels: new Map(),
  };
}

/** The style the style classifier names for an output (from its MobileNetV2 vector and style descriptor). */
export function predictedStyle(instruments: EvaluationInstruments, image: Float32Array, style: Float32Array | null): string {
  return instruments.classifier.model.predict(classifierFeatures(image, style));
}

/** Whether the style classifier assigns `targetStyle` to an output (its MobileNetV2 vector and style descriptor). */
export function styleHit(instruments: EvaluationInstruments, image: Float32Array, style: Float32Array | null, targetStyle: string | null): boolean {
  return predictedStyle(instruments, image, style) === targetStyle;
}

/**
 * Whether an output's concept is recognised: its MobileNetV2 vector is nearer the target
 * concept's rendition in the target style than 9 distractor concepts in that style (drawn with a
 * seed fixed per task, so every method of a task faces the same distractors).
 */
export function conceptHit(instruments: EvaluationInstruments, taskExternalId: string, target: ItemRecord, image: Float32Array): boolean {
  const gallery = instruments.galleryByStyle.get(target.style!);
  if (!gallery || !gallery.has(target.concept!)) throw new RagarError(`no gallery rendition of ${target.concept} in ${target.style}`, 'BAD_INPUT');
  const rng = new Rng(instruments.seed).fork(`concept:${taskExternalId}`);
  const distractors = drawDistractors([...gallery.keys()], target.concept!, rng);
  return recognizeConcept(image, gallery.get(target.concept!)!, distractors.map((c) => gallery.get(c)!)).hit;
}

/** Score one output per task (same order as `tasks`). */
export async function evaluateOutputs(
  setup: PersonalizationSetup,
  instruments: EvaluationInstruments,
  tasks: readonly TaskRecord[],
  outputs: readonly { png: Buffer; image: Float32Array; style: Float32Array | null; rankerScore: number }[],
): Promise<OutputMetrics> {
  if (outputs.length !== tasks.length) throw new RagarError(`got ${outputs.length} outputs for ${tasks.length} tasks`, 'BAD_INPUT');
  const view = setup.rc.view;
  // target style → style the classifier named → outputs; the style accuracies are read from it
  const confusion = new Map<string, Map<string, number>>();
  let conceptHits = 0;
  let ssimSum = 0;
  let rankerSum = 0;
  let rankerN = 0;
  const realFeatures: Float32Array[] = [];
  for (const [i, task] of tasks.entries()) {
    const target = view.item(task.targetItemId!);
    const out = outputs[i];
    const named = predictedStyle(instruments, out.image, out.style);
    const targetStyle = target.style ?? '';
    const row = confusion.get(targetStyle) ?? new Map<string, number>();
    row.set(named, (row.get(named) ?? 0) + 1);
    confusion.set(targetStyle, row);
    if (conceptHit(instruments, task.externalId, target, out.image)) conceptHits++;
    let b = instruments.targetPixels.get(target.id);
    if (!b) instruments.targetPixels.set(target.id, (b = await decodePixels64(view.store.images.read(target.imageHash!))));
    ssimSum += ssim(await decodePixels64(out.png), b);
    if (Number.isFinite(out.rankerScore)) {
      rankerSum += out.rankerScore;
      rankerN++;
    }
    realFeatures.push(setup.rc.vectors.image.get(target.id)!);
  }
  const n = tasks.length;
  const byName = <V>(m: Map<string, V>) => [...m].sort(([a], [b]) => a.localeCompare(b));
  const rows = byName(confusion);
  const total = (row: Map<string, number>) => [...row.values()].reduce((a, c) => a + c, 0);
  return {
    styleAccuracy: rows.reduce((a, [t, row]) => a + (row.get(t) ?? 0), 0) / n,
    styleAccuracyByTarget: Object.fromEntries(rows.map(([t, row]) => [t, (row.get(t) ?? 0) / total(row)])),
    styleConfusion: Object.fromEntries(rows.map(([t, row]) => [t, Object.fromEntries(byName(row))])),
    conceptTop1: conceptHits / n,
    ssim: ssimSum / n,
    frechet: n >= 2 ? frechetDistance(outputs.map((o) => o.image), realFeatures) : NaN,
    userRankerScore: rankerN ? rankerSum / rankerN : NaN,
    n,
  };
}
