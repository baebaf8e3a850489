import { describe, expect, it } from 'vitest';
import { RagarError } from '../../util/errors.js';
import { featureCosine, featureL2, perceptualDistance } from './perceptual.js';

describe('featureCosine', () => {
  it('computes cosines by hand', () => {
    // (1, 0)·(1, 1) / (1 · √2) = 1/√2
    expect(featureCosine([1, 0], [1, 1])).toBeCloseTo(Math.SQRT1_2, 15);
    expect(featureCosine([2, 0], [-3, 0])).toBe(-1);
    expect(featureCosine([0, 5], [7, 0])).toBe(0);
    // scale-invariant and symmetric
    const a = Float32Array.of(0.3, -1.2, 2.5);
    const b = Float32Array.of(1.1, 0.4, -0.7);
    expect(featureCosine(a, b)).toBeCloseTo(featureCosine(Float64Array.from(b, (v) => 10 * v), a), 12);
  });

  it('gives 0 for a zero vector and rejects bad input', () => {
    expect(featureCosine([0, 0], [1, 2])).toBe(0);
    expect(() => featureCosine([1, 2], [1])).toThrow(RagarError);
    expect(() => featureCosine([], [])).toThrow(RagarError);
    expect(() => featureCosine([1, NaN], [1, 2])).toThrow(RagarError);
  });
});

describe('featureL2', () => {
  it('is the Euclidean distance', () => {
    expect(featureL2([0, 3], [4, 0])).toBe(5);
    expect(featureL2([1, 1], [1, 1])).toBe(0);
  });
});

describe('perceptualDistance', () => {
  it('labels the distance with its extractor', () => {
    const d = perceptualDistance([1, 0], [0, 1], { extractor: 'mobilenet' });
    // 1 − cos = 1 − 0 = 1
    expect(d).toEqual({ value: 1, metric: 'cosine', extractor: 'mobilenet', label: 'perceptual-cosine[mobilenet]' });
    const l2 = perceptualDistance([1, 0], [0, 1], { extractor: 'mobilenet', metric: 'l2' });
    expect(l2.value).toBeCloseTo(Math.SQRT2, 15);
    expect(l2.label).toBe('perceptual-l2[mobilenet]');
  });

  it('relates cosine and L2 distances for unit vectors: ‖a − b‖² = 2(1 − cos)', () => {
    const a = [0.6, 0.8, 0];
    const b = [0, 0.6, 0.8];
    const cos = perceptualDistance(a, b, { extractor: 'x' }).value;
    const l2 = perceptualDistance(a, b, { extractor: 'x', metric: 'l2' }).value;
    expect(l2 * l2).toBeCloseTo(2 * cos, 14);
    expect(perceptualDistance(a, a, { extractor: 'x' }).value).toBeCloseTo(0, 15);
  });

  it('requires an extractor id', () => {
    expect(() => perceptualDistance([1], [1], { extractor: '' })).toThrow(/extractor/);
  });
});
