import { describe, expect, it } from 'vitest';
import { inverseDocumentFrequency, itemKeywords, keywordPreference } from './keywords.js';
import { visualPreference } from './visual.js';

describe('visualPreference', () => {
  it('is the weighted mean with weighted variance and effective count', () => {
    const p = visualPreference([Float32Array.from([1, 0]), Float32Array.from([0, 1]), null], [0.75, 0.25, 0.5]);
    expect([...p.vector]).toEqual([0.75, 0.25]);
    expect(p.variance[0]).toBeCloseTo(0.75 * 0.25 ** 2 + 0.25 * 0.75 ** 2, 6);
    expect(p.effectiveCount).toBeCloseTo(1 / (0.75 ** 2 + 0.25 ** 2), 6);
    expect(Math.hypot(...p.unit)).toBeCloseTo(1, 6);
    expect(() => visualPreference([null], [1])).toThrow(/no weighted history item/);
  });
});

describe('keyword preference', () => {
  it('takes tags, else title words without stop words', () => {
    expect(itemKeywords({ title: 'Toy Story (1995)', tags: ['Animation', 'Comedy'] })).toEqual(['animation', 'comedy']);
    expect(itemKeywords({ title: 'The Lord of the Rings (2001)', tags: [] })).toEqual(['lord', 'rings']);
  });

  it('scores Σ w·[κ∈kw]·idf and keeps the top m', () => {
    const items = [['cat', 'cute'], ['cat', 'animal'], ['car']];
    const idf = inverseDocumentFrequency(items);
    expect(idf.get('cat')).toBeCloseTo(Math.log(4 / 3) + 1, 10);
    expect(idf.get('car')).toBeCloseTo(Math.log(4 / 2) + 1, 10);
    const top = keywordPreference(items, [0.5, 0.5, 0], idf, 2);
    expect(top.map((k) => k.keyword)).toEqual(['cat', 'animal']);
    expect(top[0].score).toBeCloseTo(idf.get('cat')!, 10);
    expect(top[1].score).toBeCloseTo(0.5 * idf.get('animal')!, 10);
    expect(() => keywordPreference(items, [1], idf, 2)).toThrow(/3 items but 1 weights/);
  });
});
