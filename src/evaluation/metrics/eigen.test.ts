import { describe, expect, it } from 'vitest';
import { RagarError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import { symmetricEigen } from './eigen.js';

function randomSymmetric(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = rng.normal();
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  return a;
}

/** max |A·v_j − λ_j·v_j| and max |VᵀV − I|. */
function residuals(a: Float64Array, n: number, values: Float64Array, vectors: Float64Array): { eig: number; orth: number } {
  let eig = 0;
  let orth = 0;
  for (let j = 0; j < n; j++) {
    const v = vectors.subarray(j * n, j * n + n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k] * v[k];
      eig = Math.max(eig, Math.abs(s - values[j] * v[i]));
    }
    for (let l = 0; l < n; l++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += v[k] * vectors[l * n + k];
      orth = Math.max(orth, Math.abs(s - (l === j ? 1 : 0)));
    }
  }
  return { eig, orth };
}

describe('symmetricEigen', () => {
  it('solves a 2×2 case by hand', () => {
    // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, −1)/√2 and (1, 1)/√2
    const { values, vectors } = symmetricEigen([2, 1, 1, 2], 2, { vectors: true });
    expect(values[0]).toBeCloseTo(1, 14);
    expect(values[1]).toBeCloseTo(3, 14);
    expect(Math.abs(vectors![0])).toBeCloseTo(Math.SQRT1_2, 14);
    expect(vectors![0] * vectors![1]).toBeCloseTo(-0.5, 14);
    expect(vectors![2] * vectors![3]).toBeCloseTo(0.5, 14);
  });

  it('decomposes random symmetric matrices (A·V = V·Λ, VᵀV = I, ascending)', () => {
    for (const n of [1, 3, 17, 60]) {
      const a = randomSymmetric(n, n);
      const { values, vectors } = symmetricEigen(a, n, { vectors: true });
      const r = residuals(a, n, values, vectors!);
      expect(r.eig).toBeLessThan(1e-11 * n);
      expect(r.orth).toBeLessThan(1e-12 * n);
      for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
      // trace is preserved
      let tr = 0;
      for (let i = 0; i < n; i++) tr += a[i * n + i];
      expect(values.reduce((s, v) => s + v, 0)).toBeCloseTo(tr, 10);
    }
  });

  it('gives the same eigenvalues without vectors', () => {
    const n = 45;
    const a = randomSymmetric(n, 8);
    const withV = symmetricEigen(a, n, { vectors: true }).values;
    const only = symmetricEigen(a, n).values;
    for (let i = 0; i < n; i++) expect(only[i]).toBeCloseTo(withV[i], 11);
  });

  it('handles diagonal, repeated, zero and rank-one matrices', () => {
    const diag = Float64Array.from([3, 0, 0, 0, -1, 0, 0, 0, 2]);
    expect(Array.from(symmetricEigen(diag, 3).values)).toEqual([-1, 2, 3]);
    const eye = new Float64Array(16);
    for (let i = 0; i < 4; i++) eye[i * 5] = 1;
    const e = symmetricEigen(eye, 4, { vectors: true });
    expect(Array.from(e.values)).toEqual([1, 1, 1, 1]);
    expect(residuals(eye, 4, e.values, e.vectors!).orth).toBeLessThan(1e-15);
    expect(Array.from(symmetricEigen(new Float64Array(9), 3).values)).toEqual([0, 0, 0]);
    // u·uᵀ with u = (1, 2, 2): eigenvalues 0, 0, |u|² = 9
    const u = [1, 2, 2];
    const r1 = Float64Array.from({ length: 9 }, (_, i) => u[Math.floor(i / 3)] * u[i % 3]);
    const v = symmetricEigen(r1, 3).values;
    expect(v[0]).toBeCloseTo(0, 14);
    expect(v[1]).toBeCloseTo(0, 14);
    expect(v[2]).toBeCloseTo(9, 13);
    expect(symmetricEigen([], 0).values.length).toBe(0);
  });

  it('does not modify its input and rejects bad input', () => {
    const a = randomSymmetric(5, 1);
    const copy = Float64Array.from(a);
    symmetricEigen(a, 5, { vectors: true });
    expect(Array.from(a)).toEqual(Array.from(copy));
    expect(() => symmetricEigen([1, 2, 3], 2)).toThrow(RagarError);
    expect(() => symmetricEigen([1, NaN, NaN, 1], 2)).toThrow(RagarError);
  });
});
