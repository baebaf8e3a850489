/**
 * Fréchet distance between two feature sets (the FID formula, with any feature extractor):
 *
 *   FD = ‖μ1 − μ2‖² + Tr(Σ1) + Tr(Σ2) − 2·Tr((Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2})
 *
 * with μ the sample mean and Σ the unbiased sample covariance (denominator n − 1, as `np.cov` in
 * the reference FID code). Everything is computed in Float64.
 *
 * The trace of the matrix square root equals Σ_k √λ_k over the eigenvalues of Σ1·Σ2, which are
 * those of the symmetric PSD matrix F1·Σ2·F1ᵀ for any factor Σ1 = F1ᵀF1, and of G = M·Mᵀ with
 * M = F1·F2ᵀ when Σ2 = F2ᵀF2 too (so √λ(G) are the singular values of M). For a set of n samples
 * with n − 1 ≤ d the centred data, rotated onto n − 1 Helmert contrasts and scaled by 1/√(n − 1),
 * is such a factor (n − 1 rows), so with a few hundred 1280-d samples the work is an n1×n2 cross
 * product and an eigendecomposition of order min(n1, n2), never a d×d one: the result is exact,
 * not an approximation, and no PCA projection is needed. A set with more than d + 1 samples is
 * factored through the eigendecomposition of its d×d covariance instead.
 *
 * Accuracy: tiny negative eigenvalues (rounding) are clipped to 0, and so is a tiny negative
 * total. Taking √ of eigenvalues near 0 costs about √ε·λmax (≈ 1.5e-8 relative) per zero or
 * near-zero direction, so a result is good to about 1e-7 relative, or to ~1e-8·Tr Σ for identical
 * sets; that is finer than the reference FID code (`scipy.linalg.sqrtm`) and far below the
 * sampling noise of the metric.
 */
import { RagarError } from '../../util/errors.js';
import { symmetricEigen } from './eigen.js';

/** A feature set: one row (feature vector) per sample, all of the same length. */
export type FeatureRows = readonly ArrayLike<number>[];

/** The terms of a Fréchet distance. */
export interface FrechetParts {
  /** The Fréchet distance (≥ 0). */
  distance: number;
  /** ‖μ1 − μ2‖². */
  meanTerm: number;
  /** Tr(Σ1) + Tr(Σ2) − 2·Tr((Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}) (clipped at 0 with the total). */
  covarianceTerm: number;
  /** Tr((Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}). */
  traceSqrt: number;
  /** Feature dimension. */
  dimension: number;
  /** Samples in each set (absent when computed from statistics). */
  counts?: [number, number];
}

/** Mean and covariance of a feature set. */
export interface FeatureStats {
  /** Sample mean (length d). */
  mean: Float64Array;
  /** Unbiased sample covariance, row-major d×d. */
  covariance: Float64Array;
  /** Feature dimension d. */
  dimension: number;
  /** Number of samples. */
  count: number;
}

function checkRows(rows: FeatureRows, name: string, dim?: number): number {
  if (rows.length < 2) throw new RagarError(`Fréchet distance needs at least 2 samples per set, ${name} has ${rows.length}`, 'BAD_INPUT');
  const d = dim ?? rows[0].length;
  if (d < 1) throw new RagarError(`Fréchet distance needs non-empty feature vectors, ${name} has ${d}-d rows`, 'BAD_INPUT');
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r.length !== d) throw new RagarError(`Fréchet distance needs ${d}-d feature vectors, ${name} row ${i} has ${r.length}`, 'BAD_INPUT');
    for (let k = 0; k < d; k++) if (!Number.isFinite(r[k])) throw new RagarError(`${name} row ${i} has a non-finite value ${r[k]} at ${k}`, 'BAD_INPUT');
  }
  return d;
}

function meanOf(rows: FeatureRows, d: number): Float64Array {
  const mu = new Float64Array(d);
  for (const r of rows) for (let k = 0; k < d; k++) mu[k] += r[k];
  for (let k = 0; k < d; k++) mu[k] /= rows.length;
  return mu;
}

/**
 * A factor F with FᵀF = Σ and n − 1 rows: the centred data rotated by the Helmert contrasts
 * (row k = (x_0 + … + x_{k−1} − k·x_k) / √(k(k+1)), orthonormal and orthogonal to the all-ones
 * vector) and scaled by 1/√(n − 1). Dropping the structural zero direction of the centred data
 * keeps an exact zero out of the small eigenproblem, where its square root would amplify rounding.
 */
function helmertFactor(rows: FeatureRows, mu: Float64Array): Float64Array[] {
  const d = mu.length;
  const s = 1 / Math.sqrt(rows.length - 1);
  const sum = new Float64Array(d);
  const out: Float64Array[] = [];
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    if (k > 0) {
      const c = new Float64Array(d);
      const scale = s / Math.sqrt(k * (k + 1));
      for (let j = 0; j < d; j++) c[j] = (sum[j] - k * (r[j] - mu[j])) * scale;
      out.push(c);
    }
    for (let j = 0; j < d; j++) sum[j] += r[j] - mu[j];
  }
  return out;
}

function dotRows(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < n; k += 4) {
    s0 += a[k] * b[k];
    s1 += a[k + 1] * b[k + 1];
    s2 += a[k + 2] * b[k + 2];
    s3 += a[k + 3] * b[k + 3];
  }
  for (; k < n; k++) s0 += a[k] * b[k];
  return s0 + s1 + s2 + s3;
}

/** Σ = FᵀF from factor rows (d×d, row-major). */
function gramOfColumns(f: Float64Array[], d: number): Float64Array {
  const cov = new Float64Array(d * d);
  for (const r of f) {
    for (let i = 0; i < d; i++) {
      const ri = r[i];
      if (ri === 0) continue;
      const row = i * d;
      for (let j = 0; j <= i; j++) cov[row + j] += ri * r[j];
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[j * d + i] = cov[i * d + j];
  return cov;
}

/** Factor rows √λ_j·v_jᵀ of a PSD matrix from its eigendecomposition (λ ≤ 0 dropped). */
function eigenFactor(cov: Float64Array, d: number): Float64Array[] {
  const { values, vectors } = symmetricEigen(cov, d, { vectors: true });
  const out: Float64Array[] = [];
  for (let j = 0; j < d; j++) {
    if (!(values[j] > 0)) continue;
    const s = Math.sqrt(values[j]);
    const v = vectors!.subarray(j * d, j * d + d);
    out.push(v.map((x) => x * s));
  }
  return out;
}

/** Σ_k √max(0, λ_k) over the eigenvalues of the symmetric matrix `g` (order m). */
function sumSqrtEigen(g: Float64Array, m: number): number {
  if (m === 0) return 0;
  const { values } = symmetricEigen(g, m);
  let s = 0;
  for (const v of values) if (v > 0) s += Math.sqrt(v);
  return s;
}

/** Tr((Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}) from factors F1, F2 (Σi = FiᵀFi): nuclear norm of F1·F2ᵀ. */
function traceSqrtFromFactors(f1: Float64Array[], f2: Float64Array[]): number {
  // make f1 the thinner factor so that G = M·Mᵀ has the smaller order
  if (f1.length > f2.length) [f1, f2] = [f2, f1];
  const r1 = f1.length;
  const r2 = f2.length;
  const m: Float64Array[] = f1.map((a) => {
    const row = new Float64Array(r2);
    for (let j = 0; j < r2; j++) row[j] = dotRows(a, f2[j]);
    return row;
  });
  const g = new Float64Array(r1 * r1);
  for (let i = 0; i < r1; i++) {
    for (let j = 0; j <= i; j++) {
      const v = dotRows(m[i], m[j]);
      g[i * r1 + j] = v;
      g[j * r1 + i] = v;
    }
  }
  return sumSqrtEigen(g, r1);
}

/**
 * A factor of a set's covariance and the covariance's trace: the Helmert factor when n − 1 ≤ d,
 * else one from the d×d eigendecomposition (d rows).
 */
function factorOf(rows: FeatureRows, mu: Float64Array): { factor: Float64Array[]; trace: number } {
  const helmert = helmertFactor(rows, mu);
  let trace = 0;
  for (const r of helmert) trace += dotRows(r, r);
  const factor = helmert.length <= mu.length ? helmert : eigenFactor(gramOfColumns(helmert, mu.length), mu.length);
  return { factor, trace };
}

function assemble(meanTerm: number, tr1: number, tr2: number, traceSqrt: number, d: number, counts?: [number, number]): FrechetParts {
  const covarianceTerm = Math.max(0, tr1 + tr2 - 2 * traceSqrt);
  const parts: FrechetParts = { distance: meanTerm + covarianceTerm, meanTerm, covarianceTerm, traceSqrt, dimension: d };
  if (counts) parts.counts = counts;
  return parts;
}

/**
 * The Fréchet distance between two feature sets with all its terms. Rows are samples; the sets
 * may differ in size but not in dimension (each needs ≥ 2 rows). Exact at any dimension; the cost
 * is O(n1·n2·d + min(n1, n2)³) when both sets have at most d + 1 samples (plus O(n·d² + d³)
 * for a set with more).
 *
 * @example
 * const parts = frechetParts(realFeatures, generatedFeatures);
 * parts.distance; // = parts.meanTerm + parts.covarianceTerm
 */
export function frechetParts(a: FeatureRows, b: FeatureRows): FrechetParts {
  const d = checkRows(a, 'the first set');
  checkRows(b, 'the second set', d);
  const mu1 = meanOf(a, d);
  const mu2 = meanOf(b, d);
  let meanTerm = 0;
  for (let k = 0; k < d; k++) meanTerm += (mu1[k] - mu2[k]) ** 2;
  const f1 = factorOf(a, mu1);
  const f2 = factorOf(b, mu2);
  return assemble(meanTerm, f1.trace, f2.trace, traceSqrtFromFactors(f1.factor, f2.factor), d, [a.length, b.length]);
}

/**
 * Fréchet distance between two feature sets (rows = samples): FID's formula with whatever
 * extractor produced the rows; name the extractor in the metric's label (e.g. `FD[mobilenet]`).
 *
 * @example
 * frechetDistance([[0], [2]], [[1], [3]]); // means 1 and 2, equal variances: (1 − 2)² = 1
 */
export function frechetDistance(a: FeatureRows, b: FeatureRows): number {
  return frechetParts(a, b).distance;
}

/**
 * Mean and unbiased covariance of a feature set (rows = samples, at least 2).
 *
 * @example
 * featureStats([[0, 0], [2, 2]]); // mean [1, 1], covariance [2, 2, 2, 2]
 */
export function featureStats(rows: FeatureRows): FeatureStats {
  const d = checkRows(rows, 'the set');
  const mean = meanOf(rows, d);
  return { mean, covariance: gramOfColumns(helmertFactor(rows, mean), d), dimension: d, count: rows.length };
}

/**
 * Fréchet distance between two Gaussians given by mean and covariance (row-major d×d, symmetric
 * PSD), e.g. reference statistics saved once. Costs two d×d eigendecompositions and two d³
 * products (seconds at d = 1280); prefer {@link frechetDistance} when the samples are at hand.
 *
 * @example
 * // 1-d: (μ1 − μ2)² + (σ1 − σ2)² = (0 − 3)² + (1 − 2)² = 10
 * frechetDistanceFromStats([0], [1], [3], [4]); // 10
 */
export function frechetDistanceFromStats(mean1: ArrayLike<number>, cov1: ArrayLike<number>, mean2: ArrayLike<number>, cov2: ArrayLike<number>): number {
  return frechetPartsFromStats(mean1, cov1, mean2, cov2).distance;
}

/** {@link frechetDistanceFromStats} with all the terms. */
export function frechetPartsFromStats(mean1: ArrayLike<number>, cov1: ArrayLike<number>, mean2: ArrayLike<number>, cov2: ArrayLike<number>): FrechetParts {
  const d = mean1.length;
  if (d < 1 || mean2.length !== d) throw new RagarError(`Fréchet distance needs two means of the same non-zero length, got ${mean1.length} and ${mean2.length}`, 'BAD_INPUT');
  for (const [name, c] of [['first', cov1], ['second', cov2]] as const) {
    if (c.length !== d * d) throw new RagarError(`the ${name} covariance must be ${d}×${d} (${d * d} values), got ${c.length}`, 'BAD_INPUT');
    let scale = 0;
    for (let i = 0; i < c.length; i++) {
      if (!Number.isFinite(c[i])) throw new RagarError(`the ${name} covariance has a non-finite value ${c[i]}`, 'BAD_INPUT');
      scale = Math.max(scale, Math.abs(c[i]));
    }
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < i; j++) {
        if (Math.abs(c[i * d + j] - c[j * d + i]) > 1e-9 * scale) throw new RagarError(`the ${name} covariance is not symmetric at (${i}, ${j})`, 'BAD_INPUT');
      }
    }
  }
  for (let k = 0; k < d; k++) {
    if (!Number.isFinite(mean1[k]) || !Number.isFinite(mean2[k])) throw new RagarError(`Fréchet distance needs finite means (index ${k})`, 'BAD_INPUT');
  }
  let meanTerm = 0;
  let tr1 = 0;
  let tr2 = 0;
  for (let k = 0; k < d; k++) {
    meanTerm += (mean1[k] - mean2[k]) ** 2;
    tr1 += cov1[k * d + k];
    tr2 += cov2[k * d + k];
  }
  // F1 = Λ^{1/2}Vᵀ (rows), then Tr sqrt = Σ √λ(F1·Σ2·F1ᵀ)
  const f1 = eigenFactor(Float64Array.from(cov1), d);
  const s2 = Float64Array.from(cov2);
  const r = f1.length;
  const t = f1.map((row) => {
    // (F1·Σ2) row = row·Σ2 (Σ2 symmetric, so row-major rows are its columns too)
    const out = new Float64Array(d);
    for (let k = 0; k < d; k++) {
      const x = row[k];
      if (x === 0) continue;
      const base = k * d;
      for (let j = 0; j < d; j++) out[j] += x * s2[base + j];
    }
    return out;
  });
  const g = new Float64Array(r * r);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j <= i; j++) {
      const v = dotRows(t[i], f1[j]);
      g[i * r + j] = v;
      g[j * r + i] = v;
    }
  }
  return assemble(meanTerm, tr1, tr2, sumSqrtEigen(g, r), d);
}
