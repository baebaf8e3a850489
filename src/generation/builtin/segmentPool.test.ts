import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { DEFAULT_SEGMENT_OPTIONS, flatSegments, segmentPoolBackward, segmentPoolForward } from './segmentPool.js';

const SIZE = 8;
const P = SIZE * SIZE;

/** An 8×8 image: a flat red left half, a flat blue top-right quarter, a ramp bottom-right quarter. */
function blocks(): Float32Array {
  const img = new Float32Array(3 * P);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const i = y * SIZE + x;
      const rgb = x < 4 ? [0.8, -0.6, -0.6] : y < 4 ? [-0.6, -0.6, 0.8] : [0.03 * (x - 4) + 0.03 * (y - 4), 0, 0]; // ramp: steps of 0.03, spread 0.18
      for (let c = 0; c < 3; c++) img[c * P + i] = rgb[c];
    }
  }
  return img;
}

describe('flatSegments', () => {
  it('keeps the flat fields and drops a ramp chained by small steps and segments below the minimum size', () => {
    const seg = flatSegments(blocks(), SIZE, DEFAULT_SEGMENT_OPTIONS);
    expect([...seg.sizes].sort((a, b) => a - b)).toEqual([16, 32]);
    expect(seg.label[0]).toBe(seg.label[3]); // both in the red half
    expect(seg.label[0]).not.toBe(seg.label[4]); // red vs blue
    expect(seg.label[7 * SIZE + 7]).toBe(-1); // the ramp (16 pixels chained by steps of 0.03) spans 0.18 > range
    const loose = flatSegments(blocks(), SIZE, { ...DEFAULT_SEGMENT_OPTIONS, range: 0.2 });
    expect([...loose.sizes].sort((a, b) => a - b)).toEqual([16, 16, 32]);
    const strict = flatSegments(blocks(), SIZE, { ...DEFAULT_SEGMENT_OPTIONS, minSize: 17 });
    expect([...strict.sizes]).toEqual([32]);
  });

  it('refuses an image of the wrong size', () => {
    expect(() => flatSegments(new Float32Array(10), SIZE)).toThrow(/3×8×8/);
  });
});

describe('segment pooling', () => {
  it('returns its input with a closed gate and each segment mean with an open one; pixels outside segments pass through', () => {
    const rng = new Rng(4);
    const seg = flatSegments(blocks(), SIZE);
    const s = Float32Array.from({ length: 3 * P }, () => rng.normal());
    const closed = segmentPoolForward(s, new Float32Array(P).fill(-50), seg);
    for (let i = 0; i < s.length; i++) expect(closed[i]).toBeCloseTo(s[i], 6);
    const open = segmentPoolForward(s, new Float32Array(P).fill(50), seg);
    let mean = 0;
    for (let x = 0; x < 4; x++) for (let y = 0; y < SIZE; y++) mean += s[y * SIZE + x] / 32; // red channel over the left half
    for (let y = 0; y < SIZE; y++) for (let x = 0; x < 4; x++) expect(open[y * SIZE + x]).toBeCloseTo(mean, 5);
    expect(open[7 * SIZE + 7]).toBe(s[7 * SIZE + 7]);
  });

  it('has the gradients of central finite differences, for the image and the gate', () => {
    const rng = new Rng(9);
    const seg = flatSegments(blocks(), SIZE);
    const s = Float32Array.from({ length: 3 * P }, () => rng.normal());
    const gate = Float32Array.from({ length: P }, () => rng.normal());
    const w = Float32Array.from({ length: 3 * P }, () => rng.normal());
    const loss = () => segmentPoolForward(s, gate, seg).reduce((acc, v, i) => acc + v * w[i], 0);
    const { dS, dGate } = segmentPoolBackward(w, s, gate, seg);
    const h = 1e-2;
    const numeric = (arr: Float32Array, i: number) => {
      const old = arr[i];
      arr[i] = old + h;
      const up = loss();
      arr[i] = old - h;
      const down = loss();
      arr[i] = old;
      return (up - down) / (2 * h);
    };
    for (const i of [0, 5, 4 * SIZE + 6, P + 3, 2 * P + 60, 3 * P - 1]) expect(dS[i]).toBeCloseTo(numeric(s, i), 3);
    for (const i of [0, 9, 6, 63]) expect(dGate[i]).toBeCloseTo(numeric(gate, i), 3);
    expect(dGate[63]).toBe(0); // the ramp pixel is in no segment
  });
});
