import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { conditionVector, fitStyleConditioner } from './conditioning.js';

describe('style conditioner', () => {
  it('projects on the principal axes with unit variance per component', () => {
    const rng = new Rng(4);
    // variance 9 along (1,1,0)/√2, 1 along (1,−1,0)/√2, ~0 along z
    const rows = Array.from({ length: 4000 }, () => {
      const a = 3 * rng.normal();
      const b = rng.normal();
      return Float32Array.from([(a + b) / Math.SQRT2 + 5, (a - b) / Math.SQRT2 - 2, 1e-3 * rng.normal()]);
    });
    const cond = fitStyleConditioner(rows, 2);
    const z = rows.map((r) => conditionVector(cond, r));
    for (const c of [0, 1]) {
      const mean = z.reduce((s, v) => s + v[c], 0) / z.length;
      const variance = z.reduce((s, v) => s + (v[c] - mean) ** 2, 0) / (z.length - 1);
      expect(Math.abs(mean)).toBeLessThan(1e-3);
      expect(variance).toBeCloseTo(1, 2);
    }
    // the first component follows the high-variance axis (up to sign)
    const first = conditionVector(cond, Float32Array.from([5 + 3 / Math.SQRT2, -2 + 3 / Math.SQRT2, 0]));
    expect(Math.abs(first[0])).toBeCloseTo(1, 1);
    expect(Math.abs(first[1])).toBeLessThan(0.1);
  });

  it('rejects too few rows, a bad component count and a vector of the wrong length', () => {
    const rows = [Float32Array.from([1, 2]), Float32Array.from([2, 1])];
    expect(() => fitStyleConditioner(rows.slice(0, 1), 1)).toThrow(/at least 2/);
    expect(() => fitStyleConditioner(rows, 3)).toThrow(/components must be 1..2/);
    expect(() => conditionVector(fitStyleConditioner(rows, 1), Float32Array.from([1]))).toThrow(/1 values, the generator expects 2/);
  });
});
