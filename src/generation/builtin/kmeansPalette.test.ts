import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { kmeansQuantise } from './kmeansPalette.js';

const distinct = (rgb: Uint8Array) => {
  const seen = new Set<number>();
  for (let i = 0; i < rgb.length; i += 3) seen.add((rgb[i] << 16) | (rgb[i + 1] << 8) | rgb[i + 2]);
  return seen;
};

/** `n` pixels around the given colours (in turn), each channel jittered by up to ±`jitter`. */
function noisyGroups(colours: number[][], n: number, jitter: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) out[3 * p + c] = Math.max(0, Math.min(255, colours[p % colours.length][c] + rng.intBetween(-jitter, jitter)));
  return out;
}

describe('k-means palette', () => {
  it('gives at most k colours for every k from 2 to 16, deterministically', () => {
    const rgb = noisyGroups([[250, 40, 30], [20, 90, 240], [240, 240, 240], [30, 160, 60], [200, 200, 20]], 4096, 40, 1);
    expect(distinct(rgb).size).toBeGreaterThan(1000);
    for (let k = 2; k <= 16; k++) {
      const q = kmeansQuantise(rgb, k);
      expect(distinct(q).size).toBeLessThanOrEqual(k);
      expect(Buffer.compare(q, kmeansQuantise(rgb, k))).toBe(0);
    }
  });

  it('recovers well-separated colour groups as their means', () => {
    const groups = [[250, 40, 30], [20, 90, 240], [240, 240, 240]];
    const rgb = noisyGroups(groups, 3000, 6, 2);
    const q = kmeansQuantise(rgb, 3);
    for (let p = 0; p < 3000; p++) for (let c = 0; c < 3; c++) expect(Math.abs(q[3 * p + c] - groups[p % 3][c])).toBeLessThanOrEqual(2);
  });

  it('leaves an image with at most k colours as it is and refuses a bad k or ragged bytes', () => {
    const rgb = noisyGroups([[10, 20, 30], [200, 100, 0]], 64, 0, 3);
    expect(Buffer.compare(kmeansQuantise(rgb, 4), Buffer.from(rgb))).toBe(0);
    expect(() => kmeansQuantise(rgb, 0)).toThrow(/palette size must be an integer ≥ 1, got 0/);
    expect(() => kmeansQuantise(rgb, 2.5)).toThrow(/got 2.5/);
    expect(() => kmeansQuantise(rgb.subarray(0, 5), 2)).toThrow(/come in threes, got 5/);
  });
});
