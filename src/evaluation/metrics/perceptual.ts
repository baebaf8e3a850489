/**
 * Feature-space similarity and a perceptual distance between images, from embeddings of one
 * feature extractor (MobileNet here; CLIP where a local CLIP is configured). Every perceptual
 * number carries the extractor in its label (DESIGN §4: the reference papers use VGG-LPIPS,
 * which is not available offline, so the distance here is a stand-in and must say so).
 */
import { RagarError } from '../../util/errors.js';

function checkPair(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new RagarError(`${what} needs two vectors of the same length, got ${a.length} and ${b.length}`, 'BAD_INPUT');
  if (a.length === 0) throw new RagarError(`${what} needs non-empty vectors`, 'BAD_INPUT');
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) throw new RagarError(`${what} needs finite values (index ${i})`, 'BAD_INPUT');
  }
}

/**
 * Cosine similarity of two feature vectors, in [−1, 1], computed in Float64 (the vectors need not
 * be normalised). A zero vector has cosine 0 with everything. The papers' CIS / CS scores are
 * `100 × featureCosine`.
 *
 * @example
 * featureCosine([1, 0], [1, 1]); // 0.7071…
 */
export function featureCosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b, 'featureCosine');
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  if (aa === 0 || bb === 0) return 0;
  return Math.max(-1, Math.min(1, ab / Math.sqrt(aa * bb)));
}

/**
 * Euclidean distance between two feature vectors.
 *
 * @example
 * featureL2([0, 3], [4, 0]); // 5
 */
export function featureL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b, 'featureL2');
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

/** A perceptual distance with the extractor it was measured with. */
export interface PerceptualDistance {
  /** The distance: 1 − cosine (in [0, 2]) or the L2 distance. */
  value: number;
  metric: 'cosine' | 'l2';
  /** Id of the feature extractor, e.g. an encoder's `modelId`. */
  extractor: string;
  /** Label for tables, e.g. `perceptual-cosine[mobilenetv2-nsfwjs-4.3.0/flatten_1]`. */
  label: string;
}

/**
 * Perceptual distance between two images' embeddings from the extractor `extractor`: cosine
 * distance 1 − cos (default; for L2-normalised embeddings ‖a − b‖² = 2·(1 − cos)) or L2.
 *
 * @example
 * const [a, b] = await mobilenet.encode([pngA, pngB]);
 * perceptualDistance(a, b, { extractor: mobilenet.modelId }).value; // 0 for identical images
 */
export function perceptualDistance(a: ArrayLike<number>, b: ArrayLike<number>, options: { extractor: string; metric?: 'cosine' | 'l2' }): PerceptualDistance {
  if (!options.extractor) throw new RagarError('a perceptual distance needs the id of its feature extractor', 'BAD_INPUT');
  const metric = options.metric ?? 'cosine';
  const value = metric === 'cosine' ? 1 - featureCosine(a, b) : featureL2(a, b);
  return { value, metric, extractor: options.extractor, label: `perceptual-${metric}[${options.extractor}]` };
}
