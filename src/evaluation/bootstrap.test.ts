import { describe, expect, it } from 'vitest';
import { RagarError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { bootstrapMean, pairedBootstrap } from './bootstrap.js';

/** Paired synthetic scores: a shared per-task difficulty plus independent noise, `a` shifted by `shift`. */
function pairedScores(n: number, shift: number, noise: number, seed: number): { a: number[]; b: number[] } {
  const rng = new Rng(seed);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < n; i++) {
    const task = rng.normal();
    b.push(task + noise * rng.normal());
    a.push(task + shift + noise * rng.normal());
  }
  return { a, b };
}

describe('pairedBootstrap', () => {
  it('is deterministic for a seed and changes with the seed', () => {
    const { a, b } = pairedScores(40, 0.1, 0.5, 3);
    const r1 = pairedBootstrap(a, b, { seed: 7, resamples: 500 });
    const r2 = pairedBootstrap(a, b, { seed: 7, resamples: 500 });
    const r3 = pairedBootstrap(a, b, { seed: 8, resamples: 500 });
    expect(r2).toEqual(r1);
    expect(r3.lo).not.toBe(r1.lo);
    expect(r3.diff).toBe(r1.diff);
  });

  it('reports means, defaults and the diff', () => {
    const r = pairedBootstrap([1, 2, 3], [0, 0, 0]);
    expect(r.meanA).toBe(2);
    expect(r.meanB).toBe(0);
    expect(r.diff).toBe(2);
    expect(r).toMatchObject({ level: 0.95, n: 3, dropped: 0, resamples: 2000 });
    expect(r.lo).toBeGreaterThanOrEqual(1);
    expect(r.hi).toBeLessThanOrEqual(3);
  });

  it('covers the true mean difference in most synthetic replications', () => {
    // 40 independent data sets with true difference 0.3: a 90% interval should cover it in
    // roughly 36 of them; require at least 30 (binomial tail far below 1e-3).
    let covered = 0;
    for (let rep = 0; rep < 40; rep++) {
      const { a, b } = pairedScores(60, 0.3, 1, 100 + rep);
      const r = pairedBootstrap(a, b, { level: 0.9, resamples: 400, seed: rep });
      expect(r.lo).toBeLessThanOrEqual(r.diff);
      expect(r.hi).toBeGreaterThanOrEqual(r.diff);
      if (r.lo <= 0.3 && 0.3 <= r.hi) covered++;
    }
    expect(covered).toBeGreaterThanOrEqual(30);
  });

  it('excludes 0 with p < 0.01 for a large known difference', () => {
    const { a, b } = pairedScores(50, 1, 0.5, 11);
    const r = pairedBootstrap(a, b, { seed: 1 });
    expect(r.lo).toBeGreaterThan(0);
    expect(r.pValue).toBeLessThan(0.01);
    expect(r.pValue).toBeGreaterThan(0); // never exactly zero
    // symmetric: swapping the arguments flips the sign and keeps p
    const s = pairedBootstrap(b, a, { seed: 1 });
    expect(s.hi).toBeLessThan(0);
    expect(s.diff).toBeCloseTo(-r.diff, 12);
    expect(s.pValue).toBeCloseTo(r.pValue, 12);
  });

  it('gives a large p-value when there is no difference', () => {
    const { a, b } = pairedScores(50, 0, 1, 5);
    const r = pairedBootstrap(a, b, { seed: 2 });
    expect(r.lo).toBeLessThan(0);
    expect(r.hi).toBeGreaterThan(0);
    expect(r.pValue).toBeGreaterThan(0.05);
    expect(r.pValue).toBeLessThanOrEqual(1);
  });

  it('gives diff 0, a degenerate interval and p = 1 for identical inputs', () => {
    const x = [0.3, 0.7, 0.1, 0.9, 0.5];
    const r = pairedBootstrap(x, [...x]);
    expect(r.diff).toBe(0);
    expect(r.lo).toBe(0);
    expect(r.hi).toBe(0);
    expect(r.pValue).toBe(1);
  });

  it('uses a paired design: a shared task effect does not widen the interval', () => {
    const { a, b } = pairedScores(60, 0.2, 0.05, 9); // task spread 1, pair noise 0.05
    const r = pairedBootstrap(a, b, { seed: 3 });
    expect(r.hi - r.lo).toBeLessThan(0.1);
  });

  it('rejects bad input with RagarError', () => {
    const bad = (f: () => unknown, re: RegExp) => {
      expect(f).toThrow(RagarError);
      expect(f).toThrow(re);
    };
    bad(() => pairedBootstrap([1, 2], [1]), /same length.*2 and 1/);
    bad(() => pairedBootstrap([], []), /empty/);
    bad(() => pairedBootstrap([1], [1], { level: 1 }), /level/);
    bad(() => pairedBootstrap([1], [1], { level: 0 }), /level/);
    bad(() => pairedBootstrap([1], [1], { level: Number.NaN }), /level/);
    bad(() => pairedBootstrap([1], [1], { resamples: 99 }), /resamples/);
    bad(() => pairedBootstrap([1], [1], { resamples: 150.5 }), /resamples/);
    bad(() => pairedBootstrap([1, Number.NaN], [1, 2]), /a\[1\] is NaN/);
    bad(() => pairedBootstrap([1, 2], [1, Infinity], { skipNaN: true }), /b\[1\] is Infinity/);
    bad(() => pairedBootstrap([Number.NaN], [1], { skipNaN: true }), /every pair/);
    try {
      pairedBootstrap([], []);
    } catch (e) {
      expect((e as RagarError).code).toBe('BAD_INPUT');
    }
  });

  it('drops NaN pairs with skipNaN and reports n and dropped', () => {
    const r = pairedBootstrap([1, Number.NaN, 3, 5], [0, 1, Number.NaN, 1], { skipNaN: true });
    expect(r.n).toBe(2);
    expect(r.dropped).toBe(2);
    expect(r.meanA).toBe(3);
    expect(r.meanB).toBe(0.5);
  });
});

describe('bootstrapMean', () => {
  it('brackets the mean, is deterministic and narrows with n', () => {
    const rng = new Rng(4);
    const small = Array.from({ length: 20 }, () => 0.5 + 0.1 * rng.normal());
    const large = Array.from({ length: 500 }, () => 0.5 + 0.1 * rng.normal());
    const s = bootstrapMean(small, { seed: 1 });
    const l = bootstrapMean(large, { seed: 1 });
    expect(bootstrapMean(small, { seed: 1 })).toEqual(s);
    expect(s.lo).toBeLessThan(s.mean);
    expect(s.hi).toBeGreaterThan(s.mean);
    expect(l.lo).toBeLessThan(0.5);
    expect(l.hi).toBeGreaterThan(0.5);
    expect(l.hi - l.lo).toBeLessThan((s.hi - s.lo) / 2);
    expect(s).toMatchObject({ n: 20, level: 0.95, resamples: 2000, dropped: 0 });
  });

  it('gives a degenerate interval for constant input', () => {
    const r = bootstrapMean([2, 2, 2, 2], { resamples: 100 });
    expect(r).toMatchObject({ mean: 2, lo: 2, hi: 2, resamples: 100 });
  });

  it('rejects bad input and can skip NaN', () => {
    expect(() => bootstrapMean([])).toThrow(/empty/);
    expect(() => bootstrapMean([1, Number.NaN])).toThrow(/x\[1\] is NaN/);
    expect(() => bootstrapMean([1], { level: 1.5 })).toThrow(RagarError);
    expect(() => bootstrapMean([1], { resamples: 10 })).toThrow(RagarError);
    const r = bootstrapMean([1, Number.NaN, 3], { skipNaN: true, resamples: 200 });
    expect(r).toMatchObject({ mean: 2, n: 2, dropped: 1 });
  });
});
