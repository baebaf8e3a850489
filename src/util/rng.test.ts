import { describe, expect, it } from 'vitest';
import { hashString32, Rng } from './rng.js';

describe('Rng', () => {
  it('repeats its sequence for a seed and differs across seeds', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const c = new Rng(8);
    const sa = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(sa);
  });

  it('draws uniform floats, Dirichlet vectors that sum to 1, and categorical indices by weight', () => {
    const r = new Rng(1);
    const xs = Array.from({ length: 20000 }, () => r.next());
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.49);
    expect(mean).toBeLessThan(0.51);
    const d = r.dirichlet(6, 0.3);
    expect(d.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 10);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) counts[r.categorical([1, 2, 7])]++;
    expect(counts[2] / 30000).toBeGreaterThan(0.68);
    expect(counts[2] / 30000).toBeLessThan(0.72);
  });

  it('spreads hashes of similar short strings evenly', () => {
    const buckets = [0, 0, 0, 0, 0];
    for (let u = 1; u <= 5000; u++) buckets[Math.floor((hashString32(`1:user:${u}`) / 2 ** 32) * 5)]++;
    for (const b of buckets) {
      expect(b).toBeGreaterThan(880);
      expect(b).toBeLessThan(1120);
    }
  });
});
