import { describe, expect, it } from 'vitest';
import { l2normalize } from '../encoders/types.js';
import { Rng } from '../util/rng.js';
import { chooseIndexKind, indexDatasetVectors, retrievalWeightsFromIndex } from './search.js';
import type { DatasetVectors } from './vectors.js';
import { retrievalWeights, UNIFORM_RETRIEVAL } from './weights.js';

function unit(rng: Rng, d: number): Float32Array {
  return l2normalize(Float32Array.from({ length: d }, () => rng.normal()));
}

/** A catalog of `n` items, some without an image or a text vector. */
function catalog(n: number, seed: number): DatasetVectors {
  const rng = new Rng(seed);
  const image = new Map<number, Float32Array>();
  const text = new Map<number, Float32Array>();
  for (let id = 1; id <= n; id++) {
    if (id % 7 !== 0) image.set(id, unit(rng, 24));
    if (id % 5 !== 0) text.set(id, unit(rng, 16));
  }
  return { image, text, imageModel: 'img', textModel: 'txt' };
}

describe('retrieval weights through a VectorIndex', () => {
  for (const kind of ['exact', 'ann'] as const) {
    it(`equals the in-memory retrievalWeights (${kind} index)`, async () => {
      const vectors = catalog(3000, 1);
      const indexes = await indexDatasetVectors(vectors, kind);
      expect(indexes.kind).toBe(kind);
      const rng = new Rng(2);
      for (let trial = 0; trial < 20; trial++) {
        const history = Array.from({ length: 5 + rng.int(60) }, () => 1 + rng.int(3000));
        const refId = 1 + rng.int(3000);
        const ref = { image: vectors.image.get(refId) ?? null, text: vectors.text.get(refId) ?? null };
        const hist = history.map((id) => ({ image: vectors.image.get(id) ?? null, text: vectors.text.get(id) ?? null }));
        for (const params of [{ alpha: 0.3, k: 5, tau: 0.05 }, UNIFORM_RETRIEVAL, { alpha: 1, k: 10, tau: Infinity }]) {
          const want = retrievalWeights(ref, hist, params);
          const got = await retrievalWeightsFromIndex(indexes, ref, history.map(String), params);
          expect(got.kept).toEqual(want.kept);
          expect(got.imageSimilarity.map((x) => x === null)).toEqual(want.imageSimilarity.map((x) => x === null));
          for (let j = 0; j < history.length; j++) {
            expect(got.similarity[j]).toBeCloseTo(want.similarity[j], 12);
            expect(got.weights[j]).toBeCloseTo(want.weights[j], 10);
          }
        }
      }
    });
  }

  it('chooses the approximate index for large catalogs only', () => {
    expect(chooseIndexKind(7679)).toBe('exact');
    expect(chooseIndexKind(50_000)).toBe('ann');
    expect(chooseIndexKind(10, 'ann')).toBe('ann');
    expect(() => chooseIndexKind(10, 'hnsw' as 'ann')).toThrow(/index kind/);
  });

  it('rejects an empty history', async () => {
    const indexes = await indexDatasetVectors(catalog(10, 3), 'exact');
    await expect(retrievalWeightsFromIndex(indexes, { image: null, text: null }, [], UNIFORM_RETRIEVAL)).rejects.toThrow(/empty/);
  });
});
