import { describe, expect, it } from 'vitest';
import { addGradientL1 } from './gradientLoss.js';

function random(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 30 - 1;
  });
}

describe('addGradientL1', () => {
  it('is zero for an output that differs from its target by a constant (same edges), and positive otherwise', () => {
    const target = random(2 * 5 * 5, 3);
    const shifted = target.map((v) => v + 0.3);
    const dY = new Float32Array(target.length);
    expect(addGradientL1(shifted, target, 2, 5, dY, 0, 1, 1)).toBeCloseTo(0, 6);
    expect(addGradientL1(random(target.length, 9), target, 2, 5, dY, 0, 1, 1)).toBeGreaterThan(0.1);
  });

  it('penalises texture on a flat target: the mean absolute neighbour difference', () => {
    const size = 4;
    const flat = new Float32Array(size * size);
    const stripes = Float32Array.from({ length: size * size }, (_, i) => (i % 2 ? 1 : 0)); // columns alternate
    // horizontal differences all 1 (12 of them), vertical all 0 (12): mean 0.5
    expect(addGradientL1(stripes, flat, 1, size, new Float32Array(size * size), 0, 1, 1)).toBeCloseTo(0.5, 6);
  });

  it('adds weight × its derivative at the offset (finite differences)', () => {
    const channels = 2;
    const size = 4;
    const n = channels * size * size;
    const out = random(n, 1);
    const target = random(n, 2);
    const weight = 0.7;
    const batch = 2;
    const dY = new Float32Array(n + 5);
    addGradientL1(out, target, channels, size, dY, 5, weight, batch);
    expect(dY.slice(0, 5).every((v) => v === 0)).toBe(true);
    const h = 1e-3;
    for (const i of [0, 3, 7, 16, 21, n - 1]) {
      const up = Float32Array.from(out);
      const down = Float32Array.from(out);
      up[i] += h;
      down[i] -= h;
      const sink = new Float32Array(n);
      const numeric = ((addGradientL1(up, target, channels, size, sink, 0, 1, 1) - addGradientL1(down, target, channels, size, sink, 0, 1, 1)) / (2 * h)) * (weight / batch);
      expect(dY[5 + i]).toBeCloseTo(numeric, 5);
    }
  });
});
