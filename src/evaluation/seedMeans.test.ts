import { describe, expect, it } from 'vitest';
import { meanOverSeeds, parseSeeds } from './seedMeans.js';

describe('evaluation seeds', () => {
  it('averages every number of results of the same shape, key by key', () => {
    const runs = [
      { style: 0.5, ssim: NaN, byTarget: { a: 1, b: 0 }, confusion: { a: { a: 3 } }, name: 'x', list: [1] },
      { style: 0.7, ssim: 0.4, byTarget: { a: 0, b: 0.5 }, confusion: { a: { a: 1, b: 2 } }, name: 'y', list: [2] },
    ];
    expect(meanOverSeeds(runs)).toEqual({ style: 0.6, ssim: 0.4, byTarget: { a: 0.5, b: 0.25 }, confusion: { a: { a: 2, b: 2 } }, name: 'x', list: [1] });
    expect(meanOverSeeds([{ x: NaN }, { x: NaN }]).x).toBeNaN();
    expect(() => meanOverSeeds([])).toThrow(/no results/);
  });

  it('reads lists and ranges of seeds, and refuses anything else by name', () => {
    expect(parseSeeds('1-5')).toEqual([1, 2, 3, 4, 5]);
    expect(parseSeeds('1-3, 7')).toEqual([1, 2, 3, 7]);
    expect(parseSeeds('4')).toEqual([4]);
    expect(() => parseSeeds('1,x')).toThrow(/got "x"/);
    expect(() => parseSeeds('5-1')).toThrow(/must run upwards/);
    expect(() => parseSeeds('1,2,1')).toThrow(/distinct/);
    expect(() => parseSeeds('-1')).toThrow(/non-negative integers/);
  });
});
