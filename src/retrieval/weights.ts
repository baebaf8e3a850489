import { dot } from '../encoders/types.js';
import { RagarError } from '../util/errors.js';

/**
 * RAGAR step 1 (DESIGN §2): weight each history item by its similarity to the reference.
 * `s_j = α·cos(E_v(x_r), E_v(x_hj)) + (1-α)·cos(E_t(t_r), E_t(t_hj))`, keep the top-k by `s_j`,
 * `w_j = softmax(s_j / τ)` over the kept items and 0 for the rest. `k = n, τ = ∞` gives uniform
 * weights: the equal-pooling baseline of PMG and Pigeon.
 */
export interface RetrievalParams {
  /** Weight of image similarity against text similarity, in [0, 1]. */
  alpha: number;
  /** Items kept; `null` or ≥ n keeps all. */
  k: number | null;
  /** Softmax temperature, > 0; `Infinity` gives equal weights over the kept items. */
  tau: number;
}

/** Defaults before validation tuning (documented in the README). */
export const DEFAULT_RETRIEVAL: RetrievalParams = { alpha: 0.5, k: 10, tau: 0.05 };

/** The uniform (equal-pooling) setting. */
export const UNIFORM_RETRIEVAL: RetrievalParams = { alpha: 0.5, k: null, tau: Infinity };

/** Embeddings of one item; either may be missing (e.g. a movie without poster). */
export interface ItemVectors {
  image?: Float32Array | null;
  text?: Float32Array | null;
}

/** Weights and the similarities they came from, one entry per history item, in history order. */
export interface RetrievalResult {
  weights: number[];
  similarity: number[];
  imageSimilarity: (number | null)[];
  textSimilarity: (number | null)[];
  /** Indices of the kept items, best first. */
  kept: number[];
}

/** Check retrieval parameters; throws a RagarError naming the bad one. */
export function validateRetrievalParams(p: RetrievalParams): void {
  if (!(p.alpha >= 0 && p.alpha <= 1)) throw new RagarError(`alpha must be in [0, 1], got ${p.alpha}`, 'BAD_INPUT');
  if (p.k !== null && !(Number.isInteger(p.k) && p.k >= 1)) throw new RagarError(`k must be a positive integer or "all", got ${p.k}`, 'BAD_INPUT');
  if (!(p.tau > 0)) throw new RagarError(`tau must be > 0 (or Infinity for equal weights), got ${p.tau}`, 'BAD_INPUT');
}

/**
 * Compute retrieval weights for a history against a reference. Where an item lacks one
 * modality, its similarity uses the other alone (documented fallback); an item with neither
 * scores 0. Ties in the top-k cut keep the earlier (older) item.
 *
 * @example
 * const r = retrievalWeights(ref, history, { alpha: 0.3, k: 10, tau: 0.05 });
 * r.weights.reduce((a, b) => a + b); // 1
 */
export function retrievalWeights(reference: ItemVectors, history: readonly ItemVectors[], params: RetrievalParams): RetrievalResult {
  validateRetrievalParams(params);
  const n = history.length;
  if (n === 0) throw new RagarError('the history is empty: retrieval needs at least one history item', 'BAD_INPUT');
  const imageSimilarity: (number | null)[] = new Array(n);
  const textSimilarity: (number | null)[] = new Array(n);
  const similarity = new Array<number>(n);
  for (let j = 0; j < n; j++) {
    const h = history[j];
    const vi = reference.image && h.image ? dot(reference.image, h.image) : null;
    const vt = reference.text && h.text ? dot(reference.text, h.text) : null;
    imageSimilarity[j] = vi;
    textSimilarity[j] = vt;
    similarity[j] = mixSimilarity(vi, vt, params.alpha);
  }
  const { weights, kept } = weightsFromSimilarities(similarity, params);
  return { weights, similarity, imageSimilarity, textSimilarity, kept };
}

/** `α·image + (1−α)·text`; with one modality missing, the other alone; with neither, 0. */
export function mixSimilarity(image: number | null, text: number | null, alpha: number): number {
  return image !== null && text !== null ? alpha * image + (1 - alpha) * text : image ?? text ?? 0;
}

/**
 * Step 1's weighting on similarities already computed: keep the top-k (ties keep the earlier
 * item), `softmax(s/τ)` over them (equal weights for τ = ∞), 0 elsewhere. `kept` is best first.
 *
 * @example
 * weightsFromSimilarities([0.9, 0.1, 0.5], { alpha: 0, k: 2, tau: Infinity }) // weights [0.5, 0, 0.5]
 */
export function weightsFromSimilarities(similarity: readonly number[], params: RetrievalParams): { weights: number[]; kept: number[] } {
  const n = similarity.length;
  const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => similarity[b] - similarity[a] || a - b);
  const k = params.k === null ? n : Math.min(params.k, n);
  const kept = order.slice(0, k);
  const weights = new Array<number>(n).fill(0);
  if (!Number.isFinite(params.tau)) {
    for (const j of kept) weights[j] = 1 / k;
  } else {
    const max = similarity[kept[0]];
    let sum = 0;
    for (const j of kept) sum += weights[j] = Math.exp((similarity[j] - max) / params.tau);
    for (const j of kept) weights[j] /= sum;
  }
  return { weights, kept };
}

/** Equal weights over the whole history (the PMG/Pigeon baseline). */
export function uniformWeights(n: number): number[] {
  if (n === 0) throw new RagarError('the history is empty', 'BAD_INPUT');
  return new Array<number>(n).fill(1 / n);
}

/** Parse a CLI value of k: an integer or `all`. */
export function parseK(value: string): number | null {
  if (value === 'all') return null;
  const k = Number(value);
  if (!Number.isInteger(k) || k < 1) throw new RagarError(`k must be a positive integer or "all", got "${value}"`, 'BAD_INPUT');
  return k;
}

/** Parse a CLI value of τ: a positive number or `inf`. */
export function parseTau(value: string): number {
  if (value === 'inf' || value === 'Infinity') return Infinity;
  const t = Number(value);
  if (!(t > 0)) throw new RagarError(`tau must be a positive number or "inf", got "${value}"`, 'BAD_INPUT');
  return t;
}
