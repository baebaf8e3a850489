import { describe, expect, it } from 'vitest';
import { contentFeatures, imageRow } from './content.js';

const v = (...xs: number[]) => Float32Array.from(xs);

describe('content features', () => {
  it('aligns rows with item ids and flags missing modalities', () => {
    const f = contentFeatures([10, 11, 12], new Map([[10, v(1, 0)], [12, v(0, 1)]]), new Map([[11, v(0.6, 0.8, 0)]]));
    expect(f.imageDim).toBe(2);
    expect(f.textDim).toBe(3);
    expect([...f.hasImage]).toEqual([1, 0, 1]);
    expect([...f.hasText]).toEqual([0, 1, 0]);
    expect([...f.image]).toEqual([1, 0, 0, 0, 0, 1]);
    expect(f.style).toBeUndefined();
  });

  it('appends the style block standardised per dimension over the items, scaled by 1/sqrt(dim)', () => {
    const style = new Map([
      [1, v(1, 5)],
      [2, v(3, 5)],
    ]);
    const f = contentFeatures([1, 2, 3], new Map([[1, v(1, 0)], [2, v(0, 1)], [3, v(1, 0)]]), new Map(), style);
    expect(f.imageDim).toBe(4);
    expect(f.style).toMatchObject({ offset: 2, dim: 2 });
    expect([...f.style!.mean]).toEqual([2, 5]);
    expect([...f.style!.std]).toEqual([1, 1]); // the constant dimension gets std 1, not a division by 0
    const s = 1 / Math.sqrt(2);
    expect([...f.image.subarray(0, 4)].map((x) => +x.toFixed(6))).toEqual([1, 0, +(-s).toFixed(6), 0]);
    expect([...f.image.subarray(4, 8)].map((x) => +x.toFixed(6))).toEqual([0, 1, +s.toFixed(6), 0]);
    // item 3 has no style descriptor: the block is the dataset mean (zeros)
    expect([...f.image.subarray(8, 12)]).toEqual([1, 0, 0, 0]);
    // a cold image is composed the same way
    expect([...imageRow(f, v(0, 1), v(3, 5))].map((x) => +x.toFixed(6))).toEqual([0, 1, +s.toFixed(6), 0]);
  });

  it('rejects a cold image of the wrong shape', () => {
    const f = contentFeatures([1], new Map([[1, v(1, 0)]]), new Map(), new Map([[1, v(1, 2, 3)]]));
    expect(() => imageRow(f, v(1, 0, 0), null)).toThrow(/3 values, the ranker reads 2/);
    expect(() => imageRow(f, v(1, 0), v(1))).toThrow(/style descriptor has 1 values/);
  });
});
