import { describe, expect, it } from 'vitest';
import { addEdgeKeepL1, addGradientL1, addSpeckleL1 } from './gradientLoss.js';

function random(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 30 - 1;
  });
}

/** A loss that adds `weight ×` its derivative, divided by `batch`, into `dY` at `offset` and returns its value. */
type AddLoss = (out: Float32Array, dY: Float32Array, offset: number, weight: number, batch: number) => number;

/** `add` must write weight / batch × its own loss's derivative at the offset only (central differences at the indices `at`). */
function expectDerivative(add: AddLoss, out: Float32Array, at: number[], h: number, digits: number): void {
  const n = out.length;
  const weight = 0.7;
  const batch = 2;
  const dY = new Float32Array(n + 5);
  add(out, dY, 5, weight, batch);
  expect(dY.slice(0, 5).every((v) => v === 0)).toBe(true);
  expect(dY.some((v) => v !== 0)).toBe(true);
  for (const i of at) {
    const up = Float32Array.from(out);
    const down = Float32Array.from(out);
    up[i] += h;
    down[i] -= h;
    const sink = new Float32Array(n);
    const numeric = ((add(up, sink, 0, 1, 1) - add(down, sink, 0, 1, 1)) / (2 * h)) * (weight / batch);
    expect(dY[5 + i]).toBeCloseTo(numeric, digits);
  }
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
    const target = random(2 * 4 * 4, 2);
    expectDerivative((out, dY, offset, weight, batch) => addGradientL1(out, target, 2, 4, dY, offset, weight, batch), random(2 * 4 * 4, 1), [0, 3, 7, 16, 21, 31], 1e-3, 5);
  });
});

describe('addEdgeKeepL1 (one-sided: keep the reference\'s strong luminance edges)', () => {
  const size = 6;
  const plane = size * size;
  /** A grey image with a bright square (rows and columns 2–3) of luminance `inside` on `outside`. */
  const square = (inside: number, outside: number, rgb: [number, number, number] = [1, 1, 1]): Float32Array => {
    const x = new Float32Array(3 * plane);
    for (let p = 0; p < plane; p++) {
      const on = [2, 3].includes(p % size) && [2, 3].includes(Math.floor(p / size));
      for (let c = 0; c < 3; c++) x[c * plane + p] = (on ? inside : outside) * rgb[c];
    }
    return x;
  };

  it('is zero when the output keeps the edges, even with their sign flipped, new edges added or colours changed', () => {
    const reference = square(0.8, -0.8);
    const sink = new Float32Array(3 * plane);
    expect(addEdgeKeepL1(reference, reference, size, sink, 0, 1, 1, 0.2)).toBe(0);
    expect(addEdgeKeepL1(square(-0.8, 0.8), reference, size, sink, 0, 1, 1, 0.2)).toBe(0);
    const outlined = square(0.8, -0.8);
    outlined[0] = outlined[plane] = outlined[2 * plane] = 1; // a new edge in a corner
    expect(addEdgeKeepL1(outlined, reference, size, sink, 0, 1, 1, 0.2)).toBe(0);
    // the same luminance step drawn in colour (green only, scaled to the same luma step)
    const green = square(0.8 / 0.587, -0.8 / 0.587, [0, 1, 0]);
    expect(addEdgeKeepL1(green, reference, size, sink, 0, 1, 1, 0.2)).toBeCloseTo(0, 5);
  });

  it('counts the lost part of each strong edge, over all neighbour pairs, and ignores weak reference edges', () => {
    const reference = square(0.8, -0.8); // luma step 1.6 across 8 pairs (4 per axis)
    const sink = new Float32Array(3 * plane);
    const pairs = 2 * size * (size - 1);
    expect(addEdgeKeepL1(new Float32Array(3 * plane), reference, size, sink, 0, 1, 1, 0.2)).toBeCloseTo((8 * 1.6) / pairs, 5);
    expect(addEdgeKeepL1(square(0.2, -0.2), reference, size, sink, 0, 1, 1, 0.2)).toBeCloseTo((8 * 1.2) / pairs, 5);
    expect(addEdgeKeepL1(new Float32Array(3 * plane), square(0.05, -0.05), size, sink, 0, 1, 1, 0.2)).toBe(0);
  });

  it('adds weight × its derivative at the offset (finite differences)', () => {
    const n = 3 * plane;
    const reference = random(n, 4).map((v) => v * 1.5);
    const out = random(n, 5).map((v) => v * 0.3);
    expectDerivative((o, dY, offset, weight, batch) => addEdgeKeepL1(o, reference, size, dY, offset, weight, batch, 0.2), out, [0, 7, 20, plane + 3, 2 * plane + 11, n - 1], 1e-4, 4);
  });
});

describe('addSpeckleL1 (forbid only the edges neither the reference nor the target has)', () => {
  const size = 6;
  const plane = size * size;
  /** A one-channel image: 1 in the columns named, 0 elsewhere. */
  const columns = (...on: number[]): Float32Array => Float32Array.from({ length: plane }, (_, p) => (on.includes(p % size) ? 1 : 0));

  it('is zero for edges the reference or the target has, and counts the others over all neighbour pairs', () => {
    const flat = new Float32Array(plane);
    const sink = new Float32Array(plane);
    const pairs = 2 * size * (size - 1);
    // an edge between columns 2 and 3 in every row: 6 horizontal pairs
    const edge = columns(3, 4, 5);
    expect(addSpeckleL1(edge, edge, flat, 1, size, sink, 0, 1, 1, 0.1)).toBe(0); // the reference's contour
    expect(addSpeckleL1(edge, flat, edge, 1, size, sink, 0, 1, 1, 0.1)).toBe(0); // the target's outline
    expect(addSpeckleL1(edge, flat, flat, 1, size, sink, 0, 1, 1, 0.1)).toBeCloseTo(6 / pairs, 6); // speckle
    // a stripe at column 0 (edge 0|1) in the output; the reference has its edge at 2|3 only: the stripe counts, nothing else
    expect(addSpeckleL1(columns(0), columns(3, 4, 5), flat, 1, size, sink, 0, 1, 1, 0.1)).toBeCloseTo(6 / pairs, 6);
    // weak edges of the reference do not excuse the output's
    expect(addSpeckleL1(edge, edge.map((v) => v * 0.05), flat, 1, size, sink, 0, 1, 1, 0.1)).toBeCloseTo(6 / pairs, 6);
  });

  it('needs every channel of both drawings flat: an edge in one channel frees the pair in all', () => {
    const three = (a: Float32Array, b: Float32Array, c: Float32Array) => {
      const x = new Float32Array(3 * plane);
      x.set(a, 0);
      x.set(b, plane);
      x.set(c, 2 * plane);
      return x;
    };
    const flat = new Float32Array(plane);
    const edge = columns(3, 4, 5);
    const out = three(edge, edge, edge);
    const sink = new Float32Array(3 * plane);
    expect(addSpeckleL1(out, three(flat, edge, flat), three(flat, flat, flat), 3, size, sink, 0, 1, 1, 0.1)).toBe(0);
    expect(addSpeckleL1(out, three(flat, flat, flat), three(flat, flat, flat), 3, size, sink, 0, 1, 1, 0.1)).toBeCloseTo((3 * 6) / (3 * 2 * size * (size - 1)), 6);
  });

  it('adds weight × its derivative at the offset (finite differences)', () => {
    const n = 3 * plane;
    // smooth drawings with a few edges, so that some pairs are flat in both and some are not
    const reference = Float32Array.from({ length: n }, (_, i) => (i % size > 3 ? 0.8 : 0));
    const target = Float32Array.from({ length: n }, (_, i) => (Math.floor((i % plane) / size) > 4 ? -0.6 : 0));
    const out = random(n, 6).map((v) => v * 0.3);
    expectDerivative((o, dY, offset, weight, batch) => addSpeckleL1(o, reference, target, 3, size, dY, offset, weight, batch, 0.1), out, [0, 7, 20, plane + 3, 2 * plane + 11, n - 1], 1e-4, 4);
  });
});
