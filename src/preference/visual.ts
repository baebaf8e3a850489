import { l2normalize } from '../encoders/types.js';
import { RagarError } from '../util/errors.js';

/** The weighted visual preference of RAGAR step 2. */
export interface VisualPreference {
  /** `p_v = Σ_j w_j·E_v(x_hj)`, as computed (not normalised). */
  vector: Float32Array;
  /** `p_v` scaled to unit length (for cosine scoring). */
  unit: Float32Array;
  /** Weighted per-dimension variance `Σ_j w_j (E_v(x_hj) - p_v)^2`. */
  variance: Float32Array;
  /** Effective number of items, `1 / Σ w_j²` (1 = one item dominates, n = uniform). */
  effectiveCount: number;
}

/**
 * Weighted mean and variance of history feature vectors (items with weight 0 or no vector are
 * skipped; the remaining weights are renormalised).
 *
 * @example
 * visualPreference([v1, v2], [0.75, 0.25]).vector // 0.75·v1 + 0.25·v2
 */
export function visualPreference(vectors: readonly (Float32Array | null | undefined)[], weights: readonly number[]): VisualPreference {
  if (vectors.length !== weights.length) throw new RagarError(`${vectors.length} vectors but ${weights.length} weights`, 'BAD_INPUT');
  let total = 0;
  let dim = 0;
  for (let j = 0; j < vectors.length; j++) {
    const v = vectors[j];
    if (v && weights[j] > 0) {
      total += weights[j];
      dim = v.length;
    }
  }
  if (total <= 0) throw new RagarError('no weighted history item has a visual embedding', 'BAD_INPUT');
  const mean = new Float32Array(dim);
  let sumSq = 0;
  for (let j = 0; j < vectors.length; j++) {
    const v = vectors[j];
    const w = weights[j] / total;
    if (!v || w <= 0) continue;
    if (v.length !== dim) throw new RagarError(`history vectors have different dimensions (${v.length} vs ${dim})`, 'BAD_INPUT');
    sumSq += w * w;
    for (let d = 0; d < dim; d++) mean[d] += w * v[d];
  }
  const variance = new Float32Array(dim);
  for (let j = 0; j < vectors.length; j++) {
    const v = vectors[j];
    const w = weights[j] / total;
    if (!v || w <= 0) continue;
    for (let d = 0; d < dim; d++) {
      const diff = v[d] - mean[d];
      variance[d] += w * diff * diff;
    }
  }
  return { vector: mean, unit: l2normalize(Float32Array.from(mean)), variance, effectiveCount: 1 / sumSq };
}
