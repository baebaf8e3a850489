import { describe, expect, it } from 'vitest';
import { RagarError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import { drawDistractors, recognizeConcept, summarizeRecognition } from './conceptRecognition.js';

describe('recognizeConcept', () => {
  const target = [1, 0, 0];
  const distractors = [
    [0, 1, 0],
    [0.5, 0.5, 0],
    [0, 0, 1],
  ];

  it('is a hit when the output is nearest the true concept', () => {
    // cos(out, target) = 0.9/|out|, beats (0.5·0.9 + 0.5·0.1)/(|out|·0.707) = 0.707/|out|
    const r = recognizeConcept([0.9, 0.1, 0], target, distractors);
    expect(r.hit).toBe(true);
    expect(r.rank).toBe(1);
    expect(r.candidates).toBe(4);
    expect(r.distractorScores.length).toBe(3);
  });

  it('ranks the true concept below every closer distractor', () => {
    // output (0.1, 0.9, 0.2): cos with target ≈ 0.108, with (0, 1, 0) ≈ 0.973,
    // with (0.5, 0.5, 0) ≈ 0.765, with (0, 0, 1) ≈ 0.216 → the target is 4th
    const r = recognizeConcept([0.1, 0.9, 0.2], target, distractors);
    expect(r.hit).toBe(false);
    expect(r.rank).toBe(4);
    expect(r.trueScore).toBeCloseTo(0.1 / Math.sqrt(0.86), 12);
  });

  it('counts ties against the true concept (a zero output is a miss)', () => {
    const r = recognizeConcept([0, 0, 0], target, distractors);
    expect(r.hit).toBe(false);
    expect(r.rank).toBe(4);
    const tie = recognizeConcept([1, 1, 0], [1, 0, 0], [[0, 1, 0]]);
    expect(tie.rank).toBe(2);
  });

  it('rejects mismatched vectors and no distractors', () => {
    expect(() => recognizeConcept([1, 0], target, distractors)).toThrow(RagarError);
    expect(() => recognizeConcept(target, target, [])).toThrow(RagarError);
  });
});

describe('drawDistractors', () => {
  const pool = Array.from({ length: 30 }, (_, i) => `c${i}`);

  it('draws distinct concepts, never the true one, reproducibly', () => {
    const a = drawDistractors(pool, 'c3', new Rng(1));
    const b = drawDistractors(pool, 'c3', new Rng(1));
    expect(a).toEqual(b);
    expect(a.length).toBe(9);
    expect(new Set(a).size).toBe(9);
    expect(a).not.toContain('c3');
    for (const c of a) expect(pool).toContain(c);
    expect(drawDistractors(pool, 'c3', new Rng(2))).not.toEqual(a);
  });

  it('covers the pool roughly uniformly', () => {
    const rng = new Rng(5);
    const counts = new Map<string, number>();
    for (let t = 0; t < 2000; t++) for (const c of drawDistractors(pool, 'c0', rng, 3)) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.has('c0')).toBe(false);
    // 6000 draws over 29 concepts: 206.9 each on average
    for (const c of pool.slice(1)) {
      expect(counts.get(c)).toBeGreaterThan(140);
      expect(counts.get(c)).toBeLessThan(280);
    }
  });

  it('ignores duplicates and rejects a pool that is too small', () => {
    const d = drawDistractors(['a', 'b', 'b', 'c', 'x'], 'x', new Rng(1), 3);
    expect([...d].sort()).toEqual(['a', 'b', 'c']);
    expect(() => drawDistractors(['a', 'b', 'b', 'x'], 'x', new Rng(1), 3)).toThrow(/only 2/);
    expect(() => drawDistractors(pool, 'c0', new Rng(1), 0)).toThrow(RagarError);
  });
});

describe('summarizeRecognition', () => {
  it('aggregates accuracy, mean rank, MRR and chance', () => {
    const mk = (rank: number) => ({ hit: rank === 1, rank, candidates: 10, trueScore: 0, distractorScores: [] });
    // ranks 1, 2, 4: accuracy 1/3, mean rank 7/3, MRR (1 + 0.5 + 0.25) / 3 = 0.5833
    const s = summarizeRecognition([mk(1), mk(2), mk(4)]);
    expect(s.count).toBe(3);
    expect(s.accuracy).toBeCloseTo(1 / 3, 12);
    expect(s.meanRank).toBeCloseTo(7 / 3, 12);
    expect(s.mrr).toBeCloseTo(1.75 / 3, 12);
    expect(s.chance).toBeCloseTo(0.1, 12);
    expect(() => summarizeRecognition([])).toThrow(RagarError);
  });
});
