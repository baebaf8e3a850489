import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { guidedFilter, isGuidedFilterSettings } from './guidedFilter.js';

const W = 32;
const H = 24;

/** Packed RGB of a W×H image from a per-pixel colour function. */
function image(colour: (x: number, y: number) => [number, number, number]): Buffer {
  const out = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out.set(colour(x, y), 3 * (y * W + x));
  return out;
}

const clamp = (v: number) => Math.min(255, Math.max(0, Math.round(v)));

/** Pixel-wise absolute difference, largest over the image. */
function maxDiff(a: Uint8Array, b: Uint8Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Standard deviation of one channel over the pixels where `mask` holds. */
function spread(rgb: Uint8Array, channel: number, mask: (x: number, y: number) => boolean): number {
  const v: number[] = [];
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (mask(x, y)) v.push(rgb[3 * (y * W + x) + channel]);
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  return Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
}

// A guide with a vertical edge at x = 16 (white | dark blue) and a horizontal one at y = 12 on the right.
const guide = image((x, y) => (x < 16 ? [250, 250, 250] : y < 12 ? [20, 30, 120] : [200, 40, 40]));

describe('guidedFilter', () => {
  it('returns the guide itself (to a few levels) when the guide is filtered by itself with a small ε', () => {
    const out = guidedFilter(guide, guide, W, H, { radius: 2, epsilon: 1e-4 });
    expect(maxDiff(out, guide)).toBeLessThanOrEqual(3);
  });

  it('removes speckle inside the flat regions of the guide and keeps its edges', () => {
    const rng = new Rng(7);
    // The "output": the guide's regions recoloured (green | yellow | purple) plus strong speckle.
    const clean = image((x, y) => (x < 16 ? [40, 160, 60] : y < 12 ? [230, 200, 20] : [120, 40, 160]));
    const speckled = Buffer.from(clean.map((v) => clamp(v + 60 * rng.normal())));
    const out = guidedFilter(speckled, guide, W, H, { radius: 3, epsilon: 1e-3 });
    const inLeft = (x: number, y: number) => x < 16 && y >= 0;
    // Speckle: the spread inside a flat region falls by far.
    for (let c = 0; c < 3; c++) expect(spread(out, c, inLeft)).toBeLessThan(0.3 * spread(speckled, c, inLeft));
    // Edges: the pixels right beside the vertical edge keep their own region's colour (a blur would mix them).
    const at = (x: number, y: number, c: number) => out[3 * (y * W + x) + c];
    for (const y of [3, 8, 18]) {
      expect(Math.abs(at(15, y, 1) - 160)).toBeLessThan(25);
      expect(Math.abs(at(16, y, 1) - (y < 12 ? 200 : 40))).toBeLessThan(25);
    }
    // And overall it lands far nearer the clean image than the speckled input was.
    let before = 0;
    let after = 0;
    for (let i = 0; i < clean.length; i++) {
      before += Math.abs(speckled[i] - clean[i]);
      after += Math.abs(out[i] - clean[i]);
    }
    expect(after).toBeLessThan(0.35 * before);
  });

  it('cannot draw an edge the guide does not have: a flat guide gives a smooth output', () => {
    const flat = image(() => [128, 128, 128]);
    const split = image((x) => (x < 16 ? [0, 0, 0] : [255, 255, 255]));
    const out = guidedFilter(split, flat, W, H, { radius: 2, epsilon: 1e-3 });
    // The step of 255 becomes a ramp: no two neighbours differ by more than a fraction of it.
    let largest = 0;
    for (let y = 0; y < H; y++) for (let x = 1; x < W; x++) largest = Math.max(largest, Math.abs(out[3 * (y * W + x)] - out[3 * (y * W + x - 1)]));
    expect(largest).toBeLessThan(70);
  });

  it('is deterministic', () => {
    const rng = new Rng(3);
    const input = Buffer.from(Array.from({ length: W * H * 3 }, () => rng.int(256)));
    expect(guidedFilter(input, guide, W, H, { radius: 2, epsilon: 1e-2 }).equals(guidedFilter(input, guide, W, H, { radius: 2, epsilon: 1e-2 }))).toBe(true);
  });

  it('names what is wrong with its arguments', () => {
    expect(() => guidedFilter(guide, guide, W, H, { radius: 0, epsilon: 1e-3 })).toThrow(/integer radius from 1 to 16/);
    expect(() => guidedFilter(guide, guide, W, H, { radius: 2, epsilon: 0 })).toThrow(/epsilon in \(0, 1\]/);
    expect(() => guidedFilter(guide.subarray(3), guide, W, H, { radius: 2, epsilon: 1e-3 })).toThrow(/input has 2301 bytes/);
    expect(() => guidedFilter(guide, guide.subarray(3), W, H, { radius: 2, epsilon: 1e-3 })).toThrow(/guide has 2301 bytes/);
    expect(isGuidedFilterSettings({ radius: 2.5, epsilon: 1e-3 })).toBe(false);
    expect(isGuidedFilterSettings({ radius: 4, epsilon: 1e-2 })).toBe(true);
  });
});
