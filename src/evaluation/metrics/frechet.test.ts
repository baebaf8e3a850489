import { describe, expect, it } from 'vitest';
import { RagarError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import { symmetricEigen } from './eigen.js';
import { featureStats, frechetDistance, frechetDistanceFromStats, frechetParts } from './frechet.js';

/** Deterministic rows shared with the high-precision reference (mpmath, 40 digits). */
function formulaRows(n: number, d: number, phase: number): Float64Array[] {
  return Array.from({ length: n }, (_, i) => Float64Array.from({ length: d }, (_, k) => Math.sin(i * 1.3 + k * 0.7 + phase) + 0.1 * k * Math.cos(i * i * 0.37 + phase)));
}

/** n samples of N(mean, diag(sd²)). */
function gaussianRows(n: number, mean: number[], sd: number[], rng: Rng): Float64Array[] {
  return Array.from({ length: n }, () => Float64Array.from(mean, (m, k) => m + sd[k] * rng.normal()));
}

function randomRows(n: number, d: number, rng: Rng): Float64Array[] {
  return Array.from({ length: n }, () => Float64Array.from({ length: d }, () => rng.normal()));
}

function diagonal(values: number[]): Float64Array {
  const d = values.length;
  const m = new Float64Array(d * d);
  values.forEach((v, i) => (m[i * d + i] = v));
  return m;
}

describe('frechetDistanceFromStats', () => {
  it('matches the 1-d closed form (μ1 − μ2)² + (σ1 − σ2)²', () => {
    // (0 − 3)² + (1 − 2)² = 10
    expect(frechetDistanceFromStats([0], [1], [3], [4])).toBeCloseTo(10, 12);
    // (1.5 − 1)² + (0.5 − 3)² = 0.25 + 6.25 = 6.5
    expect(frechetDistanceFromStats([1.5], [0.25], [1], [9])).toBeCloseTo(6.5, 12);
  });

  it('matches Σ(σ1i − σ2i)² + ‖Δμ‖² for diagonal covariances', () => {
    const s1 = [1, 2, 0.5, 3];
    const s2 = [2, 2, 1.5, 0.1];
    // ‖Δμ‖² = 1 + 0 + 4 + 0.25 = 5.25; Σ(σ1 − σ2)² = 1 + 0 + 1 + 8.41 = 10.41
    const fd = frechetDistanceFromStats([0, 1, 2, 3], diagonal(s1.map((s) => s * s)), [1, 1, 0, 3.5], diagonal(s2.map((s) => s * s)));
    expect(fd).toBeCloseTo(15.66, 10);
  });

  it('matches Σ(√a − √b)² for commuting covariances in a rotated basis', () => {
    // Σ1 = U·diag(a)·Uᵀ, Σ2 = U·diag(b)·Uᵀ with a random orthogonal U
    const d = 6;
    const rng = new Rng(2);
    const sym = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) sym[i * d + j] = sym[j * d + i] = rng.normal();
    const u = symmetricEigen(sym, d, { vectors: true }).vectors!;
    const a = [4, 1, 0.25, 9, 2, 0];
    const b = [1, 1, 1, 4, 0.5, 3];
    const build = (lam: number[]) => {
      const m = new Float64Array(d * d);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) m[i * d + j] += u[k * d + i] * lam[k] * u[k * d + j];
      for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) m[i * d + j] = m[j * d + i];
      return m;
    };
    let expected = 0;
    for (let k = 0; k < d; k++) expected += (Math.sqrt(a[k]) - Math.sqrt(b[k])) ** 2;
    const zero = new Float64Array(d);
    // a zero eigenvalue (a[5] = 0) costs ≈ √ε·λmax of absolute accuracy (module comment)
    expect(frechetDistanceFromStats(zero, build(a), zero, build(b))).toBeCloseTo(expected, 6);
  });

  it('rejects mismatched or non-symmetric statistics', () => {
    expect(() => frechetDistanceFromStats([0, 0], [1, 0, 0, 1], [0], [1])).toThrow(RagarError);
    expect(() => frechetDistanceFromStats([0, 0], [1, 0.5, 0, 1], [0, 0], [1, 0, 0, 1])).toThrow(/not symmetric/);
    expect(() => frechetDistanceFromStats([0], [1, 0], [0], [1])).toThrow(RagarError);
  });
});

describe('frechetDistance', () => {
  it('matches a 40-digit reference on fixed data (n ≤ d, n > d and mixed)', () => {
    // mpmath: FD = ‖Δμ‖² + ‖A‖² + ‖B‖² − 2·Σ sv(A·Bᵀ), A, B centred / √(n − 1)
    const cases: [number, number, number, number][] = [
      [9, 7, 6, 0.19492922835966749],
      [5, 8, 10, 1.5804448045527442],
      [12, 12, 3, 0.0051312431760549705],
    ];
    for (const [n1, n2, d, expected] of cases) {
      const got = frechetDistance(formulaRows(n1, d, 0), formulaRows(n2, d, 0.5));
      // the data are of low rank (zero singular values): accuracy ≈ √ε per zero direction
      expect(Math.abs(got - expected)).toBeLessThan(1e-7 * Math.max(1, expected));
    }
  });

  it('gives 1 for the doc example', () => {
    // means 1 and 2, both variances 2: (1 − 2)² + (√2 − √2)² = 1
    expect(frechetDistance([[0], [2]], [[1], [3]])).toBeCloseTo(1, 12);
  });

  it('agrees with the statistics route in both regimes', () => {
    const rng = new Rng(4);
    for (const [n1, n2, d] of [
      [12, 30, 20],
      [40, 25, 8],
      [6, 6, 50],
    ]) {
      const a = randomRows(n1, d, rng);
      const b = randomRows(n2, d, rng).map((r) => r.map((v, k) => v * (1 + k / d) + 0.3));
      const sa = featureStats(a);
      const sb = featureStats(b);
      const viaStats = frechetDistanceFromStats(sa.mean, sa.covariance, sb.mean, sb.covariance);
      const parts = frechetParts(a, b);
      expect(Math.abs(parts.distance - viaStats)).toBeLessThan(1e-7 * viaStats);
      expect(parts.distance).toBeCloseTo(parts.meanTerm + parts.covarianceTerm, 12);
      expect(parts.counts).toEqual([n1, n2]);
      expect(parts.dimension).toBe(d);
    }
  });

  it('is ~0 for identical sets and symmetric', () => {
    const rng = new Rng(5);
    for (const [n, d] of [
      [30, 64],
      [100, 10],
    ]) {
      const a = randomRows(n, d, rng);
      const parts = frechetParts(a, a);
      // relative to the scale of the terms (Tr Σ ≈ d)
      expect(parts.distance).toBeLessThan(1e-8 * d);
      expect(parts.meanTerm).toBe(0);
      const b = randomRows(n + 3, d, rng);
      expect(frechetDistance(a, b)).toBeCloseTo(frechetDistance(b, a), 10);
    }
  });

  it('is invariant to a common translation and rotation', () => {
    const rng = new Rng(6);
    const d = 5;
    const a = randomRows(20, d, rng);
    const b = randomRows(15, d, rng).map((r) => r.map((v) => 2 * v + 1));
    const sym = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) sym[i * d + j] = sym[j * d + i] = rng.normal();
    const u = symmetricEigen(sym, d, { vectors: true }).vectors!;
    const move = (r: Float64Array) => Float64Array.from({ length: d }, (_, i) => {
      let s = 100;
      for (let k = 0; k < d; k++) s += u[i * d + k] * r[k];
      return s;
    });
    expect(frechetDistance(a.map(move), b.map(move))).toBeCloseTo(frechetDistance(a, b), 8);
  });

  it('approaches the population value for samples of known Gaussians', () => {
    // N(0, I) vs N((1, 0, 0, 0), diag(2, 1, 0.5, 1)²): FD = 1 + (1 − 2)² + (1 − 0.5)² = 2.25
    const population = 2.25;
    const errors = [200, 20000].map((n) => {
      const rng = new Rng(n);
      const a = gaussianRows(n, [0, 0, 0, 0], [1, 1, 1, 1], rng);
      const b = gaussianRows(n, [1, 0, 0, 0], [2, 1, 0.5, 1], rng);
      return Math.abs(frechetDistance(a, b) - population);
    });
    expect(errors[0]).toBeLessThan(0.6);
    expect(errors[1]).toBeLessThan(0.06);
    expect(errors[1]).toBeLessThan(errors[0]);
  });

  it('rejects too few samples, ragged rows and non-finite values', () => {
    expect(() => frechetDistance([[1, 2]], [[1, 2], [3, 4]])).toThrow(/at least 2 samples/);
    expect(() => frechetDistance([[1, 2], [3, 4]], [[1, 2], [3]])).toThrow(RagarError);
    expect(() => frechetDistance([[1, 2], [3, 4]], [[1, 2, 3], [3, 4, 5]])).toThrow(/2-d feature vectors/);
    expect(() => frechetDistance([[1, NaN], [3, 4]], [[1, 2], [3, 4]])).toThrow(RagarError);
  });
});
