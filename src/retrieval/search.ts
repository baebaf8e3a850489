/**
 * RAGAR step 1 through a {@link VectorIndex}: the reference's similarity to each history item is
 * asked of the dataset's vector indexes (one per modality, ids = item ids), the way a vector
 * database would answer it, instead of being computed from in-memory vectors.
 * {@link retrievalWeightsFromIndex} gives the same result as {@link retrievalWeights} (tested).
 *
 * @module
 */
import { RagarError } from '../util/errors.js';
import { ExactIndex } from './exactIndex.js';
import { UsearchIndex } from './usearchIndex.js';
import type { VectorIndex, VectorMetric } from './vectorIndex.js';
import type { DatasetVectors } from './vectors.js';
import { mixSimilarity, validateRetrievalParams, weightsFromSimilarities, type ItemVectors, type RetrievalParams, type RetrievalResult } from './weights.js';

/** A dataset's vectors as indexes, one per modality; ids are item ids as strings. */
export interface DatasetIndexes {
  image: VectorIndex | null;
  text: VectorIndex | null;
  /** `'exact'` or `'ann'` (usearch), as chosen. */
  kind: 'exact' | 'ann';
}

/** Catalogs at least this large get the approximate index under `kind: 'auto'`. */
export const ANN_MIN_ITEMS = 50_000;

/**
 * Choose the index kind for a catalog of `items` vectors: `exact` below {@link ANN_MIN_ITEMS},
 * `ann` (usearch HNSW) from there on, unless `kind` names one.
 *
 * @example
 * chooseIndexKind(7679);          // 'exact'
 * chooseIndexKind(1_000_000);     // 'ann'
 * chooseIndexKind(10, 'ann');     // 'ann'
 */
export function chooseIndexKind(items: number, kind: 'auto' | 'exact' | 'ann' = 'auto'): 'exact' | 'ann' {
  if (kind !== 'auto' && kind !== 'exact' && kind !== 'ann') throw new RagarError(`index kind must be auto, exact or ann, got ${String(kind)}`, 'BAD_INPUT');
  return kind === 'auto' ? (items >= ANN_MIN_ITEMS ? 'ann' : 'exact') : kind;
}

/**
 * A fresh, empty index of the chosen kind.
 *
 * @example
 * const index = createVectorIndex('ann', 512, 'cosine');
 */
export function createVectorIndex(kind: 'exact' | 'ann', dimension: number, metric: VectorMetric): VectorIndex {
  return kind === 'ann' ? new UsearchIndex(dimension, metric) : new ExactIndex(dimension, metric);
}

async function indexOf(vectors: Map<number, Float32Array>, kind: 'exact' | 'ann'): Promise<VectorIndex | null> {
  const first = vectors.values().next().value as Float32Array | undefined;
  if (!first) return null;
  const index = createVectorIndex(kind, first.length, 'ip'); // cached vectors are unit length already; ip keeps their scores exact
  const ids = [...vectors.keys()];
  const d = first.length;
  const chunk = 4096;
  for (let s = 0; s < ids.length; s += chunk) {
    const part = ids.slice(s, s + chunk);
    const rows = new Float32Array(part.length * d);
    part.forEach((id, i) => rows.set(vectors.get(id)!, i * d));
    await index.add(part.map(String), rows);
  }
  return index;
}

/**
 * Put a dataset's cached image and text vectors into vector indexes (`kind` as
 * {@link chooseIndexKind}, by the larger modality's item count).
 *
 * @example
 * const indexes = await indexDatasetVectors(loadDatasetVectors(view, { image: 'mobilenet', text: 'use' }));
 */
export async function indexDatasetVectors(vectors: DatasetVectors, kind: 'auto' | 'exact' | 'ann' = 'auto'): Promise<DatasetIndexes> {
  const chosen = chooseIndexKind(Math.max(vectors.image.size, vectors.text.size), kind);
  return { image: await indexOf(vectors.image, chosen), text: await indexOf(vectors.text, chosen), kind: chosen };
}

/** Similarity of `query` to every one of `ids` that the index holds (one search filtered to them). */
async function similarities(index: VectorIndex | null, query: Float32Array | null | undefined, ids: readonly string[]): Promise<Map<string, number>> {
  if (!index || !query || ids.length === 0) return new Map();
  const wanted = new Set(ids);
  const hits = await index.search(query, wanted.size, { filter: (id) => wanted.has(id) });
  return new Map(hits.map((h) => [h.id, h.score]));
}

/**
 * {@link retrievalWeights} with the similarities asked of the indexes: `historyIds[j]` is the item
 * id (as stored in the indexes) of history item j; an item an index does not hold lacks that
 * modality (its similarity uses the other, as in {@link retrievalWeights}).
 *
 * @example
 * const r = await retrievalWeightsFromIndex(indexes, refVectors, history.map((h) => String(h.itemId)), params);
 */
export async function retrievalWeightsFromIndex(
  indexes: Pick<DatasetIndexes, 'image' | 'text'>,
  reference: ItemVectors,
  historyIds: readonly string[],
  params: RetrievalParams,
): Promise<RetrievalResult> {
  validateRetrievalParams(params);
  const n = historyIds.length;
  if (n === 0) throw new RagarError('the history is empty: retrieval needs at least one history item', 'BAD_INPUT');
  const [image, text] = await Promise.all([similarities(indexes.image, reference.image, historyIds), similarities(indexes.text, reference.text, historyIds)]);
  const imageSimilarity = historyIds.map((id) => image.get(id) ?? null);
  const textSimilarity = historyIds.map((id) => text.get(id) ?? null);
  const similarity = historyIds.map((_, j) => mixSimilarity(imageSimilarity[j], textSimilarity[j], params.alpha));
  const { weights, kept } = weightsFromSimilarities(similarity, params);
  return { weights, similarity, imageSimilarity, textSimilarity, kept };
}
