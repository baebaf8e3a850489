import { describe, expect, it } from 'vitest';
import { RagarError } from '../util/errors.js';
import { averageRanks, kendallTau, ndcgAtK, recallAtK, spearman, topK } from './metrics.js';

describe('recallAtK', () => {
  it('counts hits in the top k over all relevant items', () => {
    // top-2 of [5, 2, 9] = {5, 2}; relevant {2, 7}: 1 hit / 2 relevant = 0.5
    expect(recallAtK([5, 2, 9], new Set([2, 7]), 2)).toBe(0.5);
    // k = 1: only 5, no hit
    expect(recallAtK([5, 2, 9], new Set([2, 7]), 1)).toBe(0);
    // k longer than the list: 1 hit / 2
    expect(recallAtK(Int32Array.from([5, 2, 9]), new Set([2, 7]), 50)).toBe(0.5);
    // three relevant, two found in the top 2: 2/3
    expect(recallAtK([1, 2, 4], new Set([1, 2, 3]), 2)).toBeCloseTo(2 / 3, 12);
  });

  it('is 0 for no relevant items and rejects a bad k', () => {
    expect(recallAtK([1, 2], new Set(), 2)).toBe(0);
    expect(() => recallAtK([1], new Set([1]), 0)).toThrow(RagarError);
  });
});

describe('ndcgAtK', () => {
  it('gives 1 for the relevant item at rank 1', () => {
    // DCG = 1/log2(2) = 1 = IDCG
    expect(ndcgAtK([7, 1, 2], new Set([7]), 10)).toBe(1);
  });

  it('discounts by log2(rank + 1)', () => {
    // rank 3: 1/log2(4) = 0.5; IDCG = 1
    expect(ndcgAtK([4, 8, 3], new Set([3]), 10)).toBeCloseTo(0.5, 12);
    // rank 2: 1/log2(3) = 0.6309297535714575
    expect(ndcgAtK([4, 3], new Set([3]), 10)).toBeCloseTo(0.6309297535714575, 12);
  });

  it('handles two relevant items', () => {
    // hits at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5
    // IDCG (2 items at the top) = 1 + 1/log2(3) = 1.6309297535714575
    // NDCG = 1.5 / 1.6309297535714575 = 0.9197207891481876
    expect(ndcgAtK([10, 11, 12, 13], new Set([10, 12]), 10)).toBeCloseTo(0.9197207891481876, 12);
  });

  it('cuts the list at k', () => {
    // relevant at rank 4: outside k = 3 -> 0; inside k = 4 -> 1/log2(5) = 0.43067655807339306
    expect(ndcgAtK([1, 2, 3, 4], new Set([4]), 3)).toBe(0);
    expect(ndcgAtK([1, 2, 3, 4], new Set([4]), 4)).toBeCloseTo(0.43067655807339306, 12);
  });

  it('takes the ideal DCG over min(|relevant|, k)', () => {
    // 3 relevant, k = 2, both top slots relevant: DCG = IDCG = 1 + 1/log2(3) -> 1
    expect(ndcgAtK([1, 2, 9], new Set([1, 2, 3]), 2)).toBeCloseTo(1, 12);
    // k = 3 and only 2 of 3 found at ranks 1, 2: (1 + 0.63093) / (1 + 0.63093 + 0.5) = 0.7653606369886217
    expect(ndcgAtK([1, 2, 9], new Set([1, 2, 3]), 3)).toBeCloseTo(1.6309297535714575 / 2.1309297535714575, 12);
  });

  it('is 0 for no relevant items', () => {
    expect(ndcgAtK([1, 2], new Set(), 5)).toBe(0);
  });
});

describe('topK', () => {
  const scores = Float32Array.from([0.5, 0.9, 0.5, 0.9, 0.1]);

  it('returns the best indices first, ties by lower index', () => {
    // 0.9 at 1 and 3 -> [1, 3]; then 0.5 at 0 and 2 -> 0
    expect([...topK(scores, 3)]).toEqual([1, 3, 0]);
    expect([...topK(scores, 5)]).toEqual([1, 3, 0, 2, 4]);
  });

  it('skips excluded items', () => {
    // without 3: 1 (0.9), 0 (0.5), 2 (0.5)
    expect([...topK(scores, 3, new Set([3]))]).toEqual([1, 0, 2]);
  });

  it('returns fewer when fewer are eligible', () => {
    expect([...topK(scores, 4, new Set([0, 1, 2]))]).toEqual([3, 4]);
    expect([...topK(new Float32Array(0), 3)]).toEqual([]);
  });

  it('ranks NaN below every number and handles all-equal scores', () => {
    expect([...topK(Float32Array.from([NaN, -5, NaN, 2]), 4)]).toEqual([3, 1, 0, 2]);
    expect([...topK(new Float32Array(6), 3)]).toEqual([0, 1, 2]);
  });

  it('agrees with a full sort on random scores', () => {
    const s = Float32Array.from({ length: 500 }, (_, i) => Math.round(Math.sin(i * 12.9898) * 20) / 4);
    const ex = new Set([3, 17, 99]);
    const full = [...s.keys()].filter((i) => !ex.has(i)).sort((a, b) => s[b] - s[a] || a - b);
    expect([...topK(s, 37, ex)]).toEqual(full.slice(0, 37));
  });
});

describe('rank correlations', () => {
  it('averages the ranks of ties', () => {
    expect(averageRanks([10, 20, 10])).toEqual([1.5, 3, 1.5]);
    expect(averageRanks([3, 3, 3, 1])).toEqual([3, 3, 3, 1]);
  });

  it('spearman', () => {
    // ranks [1,2,3] vs [1,3,2]: Σd² = 2, rho = 1 - 6·2 / (3·(9-1)) = 0.5
    expect(spearman([1, 2, 3], [10, 30, 20])).toBeCloseTo(0.5, 12);
    expect(spearman([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    // ties: ranks a = [1, 2.5, 2.5, 4], b = [1, 2, 3, 4]; deviations from 2.5:
    // a [-1.5, 0, 0, 1.5], b [-1.5, -0.5, 0.5, 1.5]; Sxy = 4.5, Sxx = 4.5, Syy = 5
    // rho = 4.5 / sqrt(4.5·5) = sqrt(0.9) = 0.9486832980505138
    expect(spearman([1, 2, 2, 3], [1, 2, 3, 4])).toBeCloseTo(Math.sqrt(0.9), 12);
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(spearman([1], [2])).toBeNaN();
    expect(() => spearman([1, 2], [1])).toThrow(RagarError);
  });

  it('kendallTau (tau-b)', () => {
    // pairs (1,2) concordant, (1,3) concordant, (2,3) discordant: (2 - 1) / 3
    expect(kendallTau([1, 2, 3], [1, 3, 2])).toBeCloseTo(1 / 3, 12);
    // a = [1,2,2,3], b = [1,2,3,4]: 6 pairs, 1 tied in a, the other 5 concordant
    // tau-b = 5 / sqrt((6 - 1)·(6 - 0)) = 5 / sqrt(30) = 0.9128709291752769
    expect(kendallTau([1, 2, 2, 3], [1, 2, 3, 4])).toBeCloseTo(5 / Math.sqrt(30), 12);
    expect(kendallTau([2, 2], [1, 2])).toBeNaN();
  });
});
