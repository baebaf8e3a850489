import { describe, expect, it } from 'vitest';
import { DiscriminatorHeads } from './discriminatorHeads.js';

function randomMaps(n: number, seed: number): Float32Array {
  let x = seed;
  return Float32Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  });
}

/** Central finite difference of `f` at every element of `raw` (step 1e-2). */
function finiteDifferences(raw: Float32Array, f: (x: Float32Array) => number): number[] {
  const h = 1e-2;
  return Array.from(raw, (_, i) => {
    const plus = raw.slice();
    plus[i] += h;
    const minus = raw.slice();
    minus[i] -= h;
    return (f(plus) - f(minus)) / (2 * h);
  });
}

describe('DiscriminatorHeads', () => {
  const K = 3;
  const patches = 4;
  const samples = 2;
  const heads = new DiscriminatorHeads(true, K, true);
  const cv = new Float32Array([0.2, 0.7, 0.1, 1]);

  it('counts one unconditional, K projection and K classifier maps', () => {
    expect(heads.outputs).toBe(1 + 2 * K);
    expect(new DiscriminatorHeads(false, K, false).outputs).toBe(1);
    expect(() => new DiscriminatorHeads(false, K, true)).toThrow(/projection/);
  });

  it('mixes the per-style logits by the condition, and its gradient matches finite differences', () => {
    const raw = randomMaps(samples * heads.outputs * patches, 7);
    const q = 2;
    const s = 1;
    const base = s * heads.outputs * patches + q;
    let expected = raw[base];
    for (let k = 0; k < K; k++) expected += cv[k] * raw[base + (1 + k) * patches];
    expect(heads.patchLogit(raw, s, q, patches, cv)).toBeCloseTo(expected, 6);
    const d = new Float32Array(raw.length);
    heads.spreadPatchGrad(d, s, q, patches, cv, 1);
    finiteDifferences(raw, (x) => heads.patchLogit(x, s, q, patches, cv)).forEach((fd, i) => expect(d[i]).toBeCloseTo(fd, 3));
  });

  it('the style cross-entropy falls when the true style map rises, and its gradient matches finite differences', () => {
    const raw = randomMaps(samples * heads.outputs * patches, 11);
    const d = new Float32Array(raw.length);
    const ce = heads.styleCrossEntropy(raw, 0, patches, 1, d, 1);
    expect(ce).toBeGreaterThan(0);
    const scratch = new Float32Array(raw.length);
    finiteDifferences(raw, (x) => heads.styleCrossEntropy(x, 0, patches, 1, scratch, 1)).forEach((fd, i) => expect(d[i]).toBeCloseTo(fd, 3));
    const up = raw.slice();
    // sample 0's classifier map of style 1 starts after the unconditional and the K projection maps
    for (let q = 0; q < patches; q++) up[(1 + K + 1) * patches + q] += 2;
    expect(heads.styleCrossEntropy(up, 0, patches, 1, new Float32Array(raw.length), 1)).toBeLessThan(ce);
  });

  it('with a fake class: one more classifier map, "generated" is class K, and its cross-entropy gradient matches finite differences', () => {
    const withFake = new DiscriminatorHeads(true, K, true, true);
    expect(withFake.outputs).toBe(2 + 2 * K);
    expect(withFake.fakeIndex).toBe(K);
    expect(() => new DiscriminatorHeads(true, K, false, true)).toThrow(/fake class/);
    const raw = randomMaps(samples * withFake.outputs * patches, 13);
    for (const y of [1, withFake.fakeIndex]) {
      const d = new Float32Array(raw.length);
      const ce = withFake.styleCrossEntropy(raw, 1, patches, y, d, 0.5);
      const scratch = new Float32Array(raw.length);
      finiteDifferences(raw, (x) => withFake.styleCrossEntropy(x, 1, patches, y, scratch, 0.5)).forEach((fd, i) => expect(d[i]).toBeCloseTo(0.5 * fd, 3));
      expect(ce).toBeGreaterThan(0);
    }
    // raising the fake map of sample 1 makes "generated" likelier and every style less likely
    const up = raw.slice();
    for (let q = 0; q < patches; q++) up[(withFake.outputs + 1 + K + K) * patches + q] += 2;
    const scratch = new Float32Array(raw.length);
    expect(withFake.styleCrossEntropy(up, 1, patches, K, scratch, 1)).toBeLessThan(withFake.styleCrossEntropy(raw, 1, patches, K, scratch, 1));
    expect(withFake.styleCrossEntropy(up, 1, patches, 0, scratch, 1)).toBeGreaterThan(withFake.styleCrossEntropy(raw, 1, patches, 0, scratch, 1));
    expect(() => heads.styleCrossEntropy(raw, 0, patches, K, scratch, 1)).toThrow(/outside/);
  });
});
