import { dot, l2normalize, type ImageEncoder } from '../../encoders/types.js';
import { imageAndStyleFeatures, trainStyleClassifier, type StyleClassifier } from '../../models/styleClassifier.js';
import { RagarError } from '../../util/errors.js';

/**
 * A judge of finished outputs for the `critic` and `judge` finishing objectives
 * (`./finishingFit.ts`): the probability of each style for each image, in the order of `classes`,
 * and the image features the concept test compares.
 */
export interface FinishingCritic {
  /** The styles, in the order of each probability vector. */
  classes: readonly string[];
  /** Image features (unit length) and style probabilities (in the order of `classes`) of each PNG. */
  judge(pngs: readonly Buffer[], signal?: AbortSignal): Promise<{ images: Float32Array[]; probabilities: Float64Array[] }>;
  /** The real renditions' image features (unit length), by style and concept: the concept test's gallery. */
  gallery: ReadonlyMap<string, ReadonlyMap<string, Float32Array>>;
  /** What it is and what it was trained on, for the fit's record. */
  record: Record<string, unknown>;
}

/** One real rendition the critic is trained on: its image features, its style descriptor, its style and its concept. */
export interface CriticRow {
  image: ArrayLike<number>;
  style: ArrayLike<number>;
  label: string;
  concept: string;
}

/**
 * Whether an output is recognised as its concept: its image features lie nearer (by cosine; unit
 * vectors) the true concept's rendition than every distractor's, ties counting against it — the
 * evaluation's concept top-1 test (`evaluation/metrics/conceptRecognition.ts`).
 */
export function conceptRecognised(output: Float32Array, trueConcept: Float32Array, distractors: readonly Float32Array[]): boolean {
  const score = dot(output, trueConcept);
  return distractors.every((d) => dot(output, d) < score);
}

/**
 * Train a style critic: a softmax classifier over image features plus the style descriptor
 * (`models/styleClassifier.ts`, the same kind and features as the evaluation's style judge) on
 * real renditions — the caller passes the train concepts' only, so the concepts it is judged on
 * later are never seen — and judge PNGs by encoding them with the same two encoders.
 *
 * @example
 * const critic = trainFinishingCritic(trainRows, generator.config.conditioner.classes, { image: mobilenet, style: styleStats }, { dataset: 'emoji-styles', seed: 1 });
 * const [p] = await critic.probabilities([png]); // p[k]: probability of classes[k]
 */
export function trainFinishingCritic(
  rows: readonly CriticRow[],
  classes: readonly string[],
  encoders: { image: ImageEncoder; style: ImageEncoder },
  options: { dataset: string; seed: number },
): FinishingCritic {
  if (!rows.length) throw new RagarError('the style critic needs real renditions to train on', 'BAD_INPUT');
  const missing = classes.filter((c) => !rows.some((r) => r.label === c));
  if (missing.length) throw new RagarError(`the style critic has no training rendition of ${missing.map((c) => JSON.stringify(c)).join(', ')}`, 'BAD_INPUT');
  const featureModel = `${encoders.image.modelId}+${encoders.style.modelId}`;
  const model: StyleClassifier = trainStyleClassifier(
    rows.map((r) => imageAndStyleFeatures(r.image, r.style)),
    rows.map((r) => r.label),
    { dataset: options.dataset, featureModel, seed: options.seed },
  );
  // The classifier's classes are sorted; read its probabilities in the generator's order.
  const order = classes.map((c) => model.classes.indexOf(c));
  const gallery = new Map<string, Map<string, Float32Array>>();
  for (const r of rows) {
    let byConcept = gallery.get(r.label);
    if (!byConcept) gallery.set(r.label, (byConcept = new Map()));
    byConcept.set(r.concept, l2normalize(Float32Array.from(r.image)));
  }
  return {
    classes: [...classes],
    async judge(pngs, signal) {
      const [images, styles] = await Promise.all([encoders.image.encode(pngs, { signal }), encoders.style.encode(pngs, { signal })]);
      const probabilities = images.map((image, i) => {
        const p = model.predictProba(imageAndStyleFeatures(image, styles[i]));
        return Float64Array.from(order, (k) => p[k]);
      });
      return { images: images.map((v) => l2normalize(Float32Array.from(v))), probabilities };
    },
    gallery,
    record: { features: featureModel, trainItems: rows.length, trainAccuracy: model.meta.trainAccuracy, classifierClasses: [...model.classes], seed: options.seed },
  };
}
