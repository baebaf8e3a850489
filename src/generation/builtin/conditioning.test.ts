import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { conditionFromHistory, fitStyleConditioner, stylePosterior } from './conditioning.js';

/** Three styles, each a Gaussian blob around its own centre in 6-d. */
function styledRows(n: number, seed: number): { rows: Float32Array[]; labels: string[] } {
  const rng = new Rng(seed);
  const centres: Record<string, number[]> = { flat: [3, 0, 0, 0, 1, 0], outline: [0, 3, 0, 0, 0, 1], shaded: [0, 0, 3, 1, 0, 0] };
  const names = Object.keys(centres);
  const rows: Float32Array[] = [];
  const labels: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = names[i % names.length];
    rows.push(Float32Array.from(centres[s], (c) => c + 0.5 * rng.normal()));
    labels.push(s);
  }
  return { rows, labels };
}

describe('style-posterior conditioner', () => {
  it('recognises the style of unseen descriptors and sorts its classes', () => {
    const train = styledRows(300, 1);
    const cond = fitStyleConditioner(train.rows, train.labels);
    expect(cond.classes).toEqual(['flat', 'outline', 'shaded']);
    const test = styledRows(90, 2);
    let hits = 0;
    test.rows.forEach((r, i) => {
      const p = stylePosterior(cond, r);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      if (cond.classes[p.indexOf(Math.max(...p))] === test.labels[i]) hits++;
    });
    expect(hits / test.rows.length).toBeGreaterThan(0.95);
  });

  it('weights each history item\'s posterior, skipping zero weights', () => {
    const train = styledRows(300, 3);
    const cond = fitStyleConditioner(train.rows, train.labels);
    const flat = Float32Array.from([3, 0, 0, 0, 1, 0]);
    const shaded = Float32Array.from([0, 0, 3, 1, 0, 0]);
    const z = conditionFromHistory(cond, [
      { weight: 0.6, styleVector: flat },
      { weight: 0.2, styleVector: shaded },
      { weight: 0, styleVector: shaded },
    ]);
    expect(z[0]).toBeCloseTo(0.75, 1); // 0.6 / 0.8 of the mass is flat
    expect(z[2]).toBeCloseTo(0.25, 1);
    expect(z.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('rejects too few rows, wrong lengths, bad weights and an empty history', () => {
    const train = styledRows(30, 4);
    expect(() => fitStyleConditioner(train.rows.slice(0, 1), train.labels.slice(0, 1))).toThrow(/at least 2/);
    const cond = fitStyleConditioner(train.rows, train.labels);
    expect(() => stylePosterior(cond, Float32Array.from([1]))).toThrow(/1 values, the generator expects 6/);
    expect(() => conditionFromHistory(cond, [{ weight: -1, styleVector: train.rows[0] }])).toThrow(/weight/);
    expect(() => conditionFromHistory(cond, [{ weight: 0, styleVector: train.rows[0] }])).toThrow(/positive weight/);
  });
});
