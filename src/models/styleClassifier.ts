/**
 * Style classifier for the "style accuracy" metric (DESIGN §4): multinomial logistic regression
 * (softmax) over feature vectors, e.g. a 1280-d MobileNet embedding concatenated with the 48-d
 * style-statistics descriptor. Inputs are standardised with the training mean and standard
 * deviation; the weights are L2-regularised and fitted by mini-batch Adam from zero, with a
 * seeded shuffle, so the same data, options and seed give the same weights bit for bit.
 *
 * Saved as one tensor bundle (`util/tensorBundle.ts`, kind `ragar-style-classifier-v1`): the
 * metadata (classes, dataset and feature-model ids, options, training curve) and the tensors w
 * [classes × dimension] row-major, b [classes], mean [dimension], std [dimension].
 */
import fs from 'node:fs';
import path from 'node:path';
import { RagarError } from '../util/errors.js';
import { readTensorBundle, writeTensorBundle } from '../util/tensorBundle.js';
import { Rng } from '../util/rng.js';

/** Model kind written to and required in the saved bundle. */
export const STYLE_CLASSIFIER_FORMAT = 'ragar-style-classifier-v1';
/** The file a saved classifier lives in, inside its folder. */
export const STYLE_CLASSIFIER_FILE = 'style-classifier.bundle';

/** Training options of {@link trainStyleClassifier}. */
export interface StyleClassifierOptions {
  /** Id of the dataset the training items come from (recorded, and checked on load if asked). */
  dataset: string;
  /** Id of the feature extractor(s) that produced the vectors, e.g. `mobilenet+style-stats`. */
  featureModel: string;
  /** L2 penalty λ on the weights (objective: mean cross-entropy + λ/2·‖W‖²; default 1e-3). */
  l2?: number;
  /** Passes over the training set (default 60). */
  epochs?: number;
  /** Mini-batch size (default 64). */
  batchSize?: number;
  /** Adam step size (default 0.01). */
  learningRate?: number;
  /** Seed of the mini-batch shuffle (default 0). */
  seed?: number;
}

/** The numeric options as stored. */
export type StyleClassifierHyper = Required<Omit<StyleClassifierOptions, 'dataset' | 'featureModel'>>;

/** The metadata saved with the weights. */
export interface StyleClassifierMeta {
  format: typeof STYLE_CLASSIFIER_FORMAT;
  dataset: string;
  featureModel: string;
  /** Class labels; index = output unit. Sorted. */
  classes: string[];
  dimension: number;
  options: StyleClassifierHyper;
  trainCount: number;
  /** Accuracy on the training set after the last epoch. */
  trainAccuracy: number;
  /** Mean training objective of each epoch (cross-entropy + L2 term). */
  lossCurve: number[];
  trainSeconds: number;
  createdAt: string;
}

const DEFAULTS: StyleClassifierHyper = { l2: 1e-3, epochs: 60, batchSize: 64, learningRate: 0.01, seed: 0 };

function checkVector(x: ArrayLike<number>, dimension: number, what: string): void {
  if (x.length !== dimension) {
    throw new RagarError(`${what} has ${x.length} features, the style classifier expects ${dimension} (same feature models, same order?)`, 'BAD_INPUT');
  }
  for (let k = 0; k < dimension; k++) {
    if (!Number.isFinite(x[k])) throw new RagarError(`${what} has a non-finite value ${x[k]} at index ${k}`, 'BAD_INPUT');
  }
}

/**
 * A trained softmax style classifier. Create one with {@link trainStyleClassifier} or
 * {@link StyleClassifier.load}.
 */
export class StyleClassifier {
  /** Class labels, index = output unit. */
  readonly classes: readonly string[];
  /** Input dimension. */
  readonly dimension: number;
  /** Provenance and training record. */
  readonly meta: StyleClassifierMeta;
  private readonly w: Float32Array;
  private readonly b: Float32Array;
  private readonly mean: Float32Array;
  private readonly std: Float32Array;

  constructor(meta: StyleClassifierMeta, w: Float32Array, b: Float32Array, mean: Float32Array, std: Float32Array) {
    const k = meta.classes.length;
    const d = meta.dimension;
    if (w.length !== k * d || b.length !== k || mean.length !== d || std.length !== d) {
      throw new RagarError(`style classifier parameters do not match ${k} classes × ${d} features`, 'BAD_INPUT');
    }
    this.meta = meta;
    this.classes = meta.classes;
    this.dimension = d;
    this.w = w;
    this.b = b;
    this.mean = mean;
    this.std = std;
  }

  /** Copies of the parameters: weights (classes × dimension, row-major), bias, standardisation mean and std. */
  parameters(): { w: Float32Array; b: Float32Array; mean: Float32Array; std: Float32Array } {
    return { w: this.w.slice(), b: this.b.slice(), mean: this.mean.slice(), std: this.std.slice() };
  }

  /**
   * Class probabilities of one feature vector, in the order of {@link classes}. A vector of the
   * wrong length or with non-finite values throws a {@link RagarError} (`BAD_INPUT`).
   *
   * @example
   * const p = clf.predictProba(features); // Float64Array, sums to 1
   */
  predictProba(x: ArrayLike<number>): Float64Array {
    checkVector(x, this.dimension, 'the feature vector');
    const d = this.dimension;
    const z = new Float64Array(d);
    for (let j = 0; j < d; j++) z[j] = (x[j] - this.mean[j]) / this.std[j];
    return softmaxLogits(this.w, this.b, z, this.classes.length);
  }

  /**
   * The most probable class of one feature vector (ties go to the first class in sorted order).
   *
   * @example
   * clf.predict(features); // e.g. 'openmoji'
   */
  predict(x: ArrayLike<number>): string {
    const p = this.predictProba(x);
    let best = 0;
    for (let c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
    return this.classes[best];
  }

  /**
   * Share of `features` whose predicted class equals the label at the same index. A label the
   * classifier was not trained on throws (`BAD_INPUT`) rather than silently counting as a miss.
   *
   * @example
   * clf.accuracy(testFeatures, testStyles); // e.g. 0.93
   */
  accuracy(features: readonly ArrayLike<number>[], labels: readonly string[]): number {
    if (features.length !== labels.length) throw new RagarError(`accuracy needs one label per feature vector, got ${features.length} vectors and ${labels.length} labels`, 'BAD_INPUT');
    if (features.length === 0) throw new RagarError('accuracy needs at least one feature vector', 'BAD_INPUT');
    const known = new Set(this.classes);
    for (const l of labels) {
      if (!known.has(l)) throw new RagarError(`label "${l}" is not a class of this style classifier (${this.classes.join(', ')})`, 'BAD_INPUT');
    }
    let hits = 0;
    for (let i = 0; i < features.length; i++) if (this.predict(features[i]) === labels[i]) hits++;
    return hits / features.length;
  }

  /**
   * Save as one tensor bundle, `<dir>/style-classifier.bundle` (metadata, weights, bias, mean and
   * std), written atomically.
   *
   * @example
   * clf.save(path.join(home, 'models', dataset, 'style-classifier'));
   */
  save(dir: string): void {
    const k = this.classes.length;
    const d = this.dimension;
    writeTensorBundle(path.join(dir, STYLE_CLASSIFIER_FILE), STYLE_CLASSIFIER_FORMAT, this.meta, {
      w: { data: this.w, shape: [k, d] },
      b: this.b,
      mean: this.mean,
      std: this.std,
    });
  }

  /**
   * Load a classifier saved by {@link save}. With `expect`, refuse one trained on another dataset
   * or feature model (`BAD_INPUT`). A missing file → `NOT_FOUND`; another format → `VERSION`;
   * damaged weights → `CORRUPT`.
   *
   * @example
   * const clf = StyleClassifier.load(dir, { featureModel: 'mobilenet+style-stats' });
   */
  static load(dir: string, expect: { dataset?: string; featureModel?: string } = {}): StyleClassifier {
    const file = path.join(dir, STYLE_CLASSIFIER_FILE);
    if (!fs.existsSync(file)) throw new RagarError(`no style classifier at ${dir} (${STYLE_CLASSIFIER_FILE} missing)`, 'NOT_FOUND');
    const { meta, tensors } = readTensorBundle<StyleClassifierMeta>(file, STYLE_CLASSIFIER_FORMAT);
    if (expect.dataset !== undefined && meta.dataset !== expect.dataset) {
      throw new RagarError(`${dir} holds a style classifier trained on dataset ${meta.dataset}, not ${expect.dataset}`, 'BAD_INPUT');
    }
    if (expect.featureModel !== undefined && meta.featureModel !== expect.featureModel) {
      throw new RagarError(`${dir} holds a style classifier over ${meta.featureModel} features, not ${expect.featureModel}`, 'BAD_INPUT');
    }
    const k = meta.classes?.length ?? 0;
    const d = meta.dimension;
    if (!(k >= 2) || !Number.isInteger(d) || d < 1) throw new RagarError(`${file}: bad classes or dimension`, 'CORRUPT');
    const sizes = { w: k * d, b: k, mean: d, std: d };
    for (const [name, n] of Object.entries(sizes)) {
      if (tensors[name]?.length !== n) throw new RagarError(`${file}: tensor ${name} has ${tensors[name]?.length ?? 0} values, expected ${n} for ${k} classes × ${d} features`, 'CORRUPT');
    }
    return new StyleClassifier(meta, tensors.w, tensors.b, tensors.mean, tensors.std);
  }
}

/** Softmax of W·z + b (W row-major k×d) with the max subtracted. */
function softmaxLogits(w: ArrayLike<number>, b: ArrayLike<number>, z: Float64Array, k: number): Float64Array {
  const d = z.length;
  const p = new Float64Array(k);
  let max = -Infinity;
  for (let c = 0; c < k; c++) {
    let s = b[c];
    const row = c * d;
    for (let j = 0; j < d; j++) s += w[row + j] * z[j];
    p[c] = s;
    if (s > max) max = s;
  }
  let sum = 0;
  for (let c = 0; c < k; c++) {
    p[c] = Math.exp(p[c] - max);
    sum += p[c];
  }
  for (let c = 0; c < k; c++) p[c] /= sum;
  return p;
}

/**
 * The style judge's input for one image: its image features followed by its style descriptor
 * (the evaluation's judge and the finishing fit's critic read images this way).
 *
 * @example
 * clf.predict(imageAndStyleFeatures(mobilenetVector, styleStatistics));
 */
export function imageAndStyleFeatures(image: ArrayLike<number>, style: ArrayLike<number>): Float32Array {
  const out = new Float32Array(image.length + style.length);
  out.set(image, 0);
  out.set(style, image.length);
  return out;
}

/**
 * Train a softmax style classifier on `features` (one vector per item) and their `labels`
 * (style names). Needs at least two distinct labels; every vector must have the same length and
 * finite values (else `BAD_INPUT`).
 *
 * @example
 * const clf = trainStyleClassifier(trainVectors, trainStyles, {
 *   dataset: 'emoji-v1', featureModel: 'mobilenet+style-stats', seed: 1,
 * });
 * clf.accuracy(testVectors, testStyles);
 */
export function trainStyleClassifier(features: readonly ArrayLike<number>[], labels: readonly string[], options: StyleClassifierOptions): StyleClassifier {
  const started = performance.now();
  const opt: StyleClassifierHyper = {
    l2: options.l2 ?? DEFAULTS.l2,
    epochs: options.epochs ?? DEFAULTS.epochs,
    batchSize: options.batchSize ?? DEFAULTS.batchSize,
    learningRate: options.learningRate ?? DEFAULTS.learningRate,
    seed: options.seed ?? DEFAULTS.seed,
  };
  if (!(opt.l2 >= 0)) throw new RagarError(`l2 must be ≥ 0, got ${opt.l2}`, 'BAD_INPUT');
  if (!Number.isInteger(opt.epochs) || opt.epochs < 1) throw new RagarError(`epochs must be a positive integer, got ${opt.epochs}`, 'BAD_INPUT');
  if (!Number.isInteger(opt.batchSize) || opt.batchSize < 1) throw new RagarError(`batchSize must be a positive integer, got ${opt.batchSize}`, 'BAD_INPUT');
  if (!(opt.learningRate > 0)) throw new RagarError(`learningRate must be positive, got ${opt.learningRate}`, 'BAD_INPUT');
  if (!options.dataset || !options.featureModel) throw new RagarError('a style classifier needs the dataset and featureModel ids it is trained on', 'BAD_INPUT');
  if (features.length !== labels.length) throw new RagarError(`one label per feature vector needed, got ${features.length} vectors and ${labels.length} labels`, 'BAD_INPUT');
  if (features.length === 0) throw new RagarError('no training items', 'BAD_INPUT');
  const d = features[0].length;
  if (d < 1) throw new RagarError('feature vectors are empty', 'BAD_INPUT');
  features.forEach((x, i) => checkVector(x, d, `training vector ${i}`));
  const classes = [...new Set(labels)].sort();
  if (classes.length < 2) throw new RagarError(`a style classifier needs at least 2 classes, got ${classes.length} (${classes.join(', ')})`, 'BAD_INPUT');
  const k = classes.length;
  const classOf = new Map(classes.map((c, i) => [c, i]));
  const y = Int32Array.from(labels, (l) => classOf.get(l)!);
  const n = features.length;

  // standardisation (population std; a constant feature keeps std 1 and becomes 0)
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (const x of features) for (let j = 0; j < d; j++) mean[j] += x[j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  for (const x of features) for (let j = 0; j < d; j++) std[j] += (x[j] - mean[j]) ** 2;
  for (let j = 0; j < d; j++) {
    const s = Math.sqrt(std[j] / n);
    std[j] = s > 1e-12 * Math.max(1, Math.abs(mean[j])) ? s : 1;
  }
  // store the standardisation in float32 and standardise with those values, so that the saved
  // classifier sees exactly what training saw
  const mean32 = Float32Array.from(mean);
  const std32 = Float32Array.from(std);
  const z = features.map((x) => {
    const r = new Float64Array(d);
    for (let j = 0; j < d; j++) r[j] = (x[j] - mean32[j]) / std32[j];
    return r;
  });

  const w = new Float64Array(k * d);
  const b = new Float64Array(k);
  const mw = new Float64Array(k * d);
  const vw = new Float64Array(k * d);
  const mb = new Float64Array(k);
  const vb = new Float64Array(k);
  const gw = new Float64Array(k * d);
  const gb = new Float64Array(k);
  const beta1 = 0.9;
  const beta2 = 0.999;
  const epsAdam = 1e-8;
  let step = 0;
  const rng = new Rng(opt.seed).fork('style-classifier');
  const order = Array.from({ length: n }, (_, i) => i);
  const lossCurve: number[] = [];
  for (let epoch = 0; epoch < opt.epochs; epoch++) {
    rng.shuffle(order);
    let lossSum = 0;
    for (let start = 0; start < n; start += opt.batchSize) {
      const end = Math.min(n, start + opt.batchSize);
      const m = end - start;
      gw.fill(0);
      gb.fill(0);
      for (let t = start; t < end; t++) {
        const i = order[t];
        const zi = z[i];
        const p = softmaxLogits(w, b, zi, k);
        lossSum -= Math.log(Math.max(p[y[i]], 1e-300));
        p[y[i]] -= 1;
        for (let c = 0; c < k; c++) {
          const g = p[c] / m;
          gb[c] += g;
          const row = c * d;
          for (let j = 0; j < d; j++) gw[row + j] += g * zi[j];
        }
      }
      step++;
      const lr = (opt.learningRate * Math.sqrt(1 - beta2 ** step)) / (1 - beta1 ** step);
      for (let q = 0; q < w.length; q++) {
        const g = gw[q] + opt.l2 * w[q];
        mw[q] = beta1 * mw[q] + (1 - beta1) * g;
        vw[q] = beta2 * vw[q] + (1 - beta2) * g * g;
        w[q] -= (lr * mw[q]) / (Math.sqrt(vw[q]) + epsAdam);
      }
      for (let c = 0; c < k; c++) {
        const g = gb[c];
        mb[c] = beta1 * mb[c] + (1 - beta1) * g;
        vb[c] = beta2 * vb[c] + (1 - beta2) * g * g;
        b[c] -= (lr * mb[c]) / (Math.sqrt(vb[c]) + epsAdam);
      }
    }
    let w2 = 0;
    for (let q = 0; q < w.length; q++) w2 += w[q] * w[q];
    // the mean loss of the batches seen during the epoch, plus the penalty at its end
    lossCurve.push(lossSum / n + (opt.l2 / 2) * w2);
  }
  const meta: StyleClassifierMeta = {
    format: STYLE_CLASSIFIER_FORMAT,
    dataset: options.dataset,
    featureModel: options.featureModel,
    classes,
    dimension: d,
    options: opt,
    trainCount: n,
    trainAccuracy: 0,
    lossCurve,
    trainSeconds: 0,
    createdAt: new Date().toISOString(),
  };
  const clf = new StyleClassifier(meta, Float32Array.from(w), Float32Array.from(b), mean32, std32);
  meta.trainAccuracy = clf.accuracy(features, labels);
  meta.trainSeconds = (performance.now() - started) / 1000;
  return clf;
}
