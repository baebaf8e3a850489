import { describe, expect, it } from 'vitest';
import { l2normalize } from '../encoders/types.js';
import { parseK, parseTau, retrievalWeights, uniformWeights } from './weights.js';

const v = (...xs: number[]) => l2normalize(Float32Array.from(xs));

describe('retrievalWeights', () => {
  const ref = { image: v(1, 0), text: v(0, 1) };
  const history = [
    { image: v(1, 0), text: v(1, 0) }, // image 1, text 0
    { image: v(0, 1), text: v(0, 1) }, // image 0, text 1
    { image: v(1, 1), text: v(1, 1) }, // image .707, text .707
  ];

  it('mixes image and text cosine by alpha', () => {
    const r = retrievalWeights(ref, history, { alpha: 0.25, k: null, tau: 1 });
    expect(r.similarity[0]).toBeCloseTo(0.25, 6);
    expect(r.similarity[1]).toBeCloseTo(0.75, 6);
    expect(r.similarity[2]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(r.imageSimilarity[0]).toBeCloseTo(1, 6);
    expect(r.textSimilarity[1]).toBeCloseTo(1, 6);
  });

  it('is a softmax over the top-k at temperature tau, zero elsewhere', () => {
    const r = retrievalWeights(ref, history, { alpha: 0.25, k: 2, tau: 0.1 });
    expect(r.kept).toEqual([1, 2]);
    expect(r.weights[0]).toBe(0);
    const e1 = Math.exp(0.75 / 0.1);
    const e2 = Math.exp(Math.SQRT1_2 / 0.1);
    expect(r.weights[1]).toBeCloseTo(e1 / (e1 + e2), 6);
    expect(r.weights[1] + r.weights[2]).toBeCloseTo(1, 12);
  });

  it('gives uniform weights with k = all and tau = inf, and handles alpha = 0 and 1', () => {
    const r = retrievalWeights(ref, history, { alpha: 0.5, k: null, tau: Infinity });
    expect(r.weights).toEqual(uniformWeights(3));
    expect(retrievalWeights(ref, history, { alpha: 1, k: 1, tau: 1 }).kept).toEqual([0]);
    expect(retrievalWeights(ref, history, { alpha: 0, k: 1, tau: 1 }).kept).toEqual([1]);
  });

  it('falls back to the available modality and rejects bad input', () => {
    const r = retrievalWeights({ text: v(0, 1) }, history, { alpha: 0.9, k: null, tau: 1 });
    expect(r.similarity[1]).toBeCloseTo(1, 6);
    expect(r.imageSimilarity[1]).toBeNull();
    expect(() => retrievalWeights(ref, [], { alpha: 0.5, k: 3, tau: 1 })).toThrow(/history is empty/);
    expect(() => retrievalWeights(ref, history, { alpha: 2, k: 3, tau: 1 })).toThrow(/alpha/);
    expect(() => retrievalWeights(ref, history, { alpha: 0.5, k: 0, tau: 1 })).toThrow(/k must/);
    expect(() => retrievalWeights(ref, history, { alpha: 0.5, k: 3, tau: 0 })).toThrow(/tau/);
    expect(parseK('all')).toBeNull();
    expect(parseTau('inf')).toBe(Infinity);
    expect(() => parseK('x')).toThrow(/k must/);
  });
});
