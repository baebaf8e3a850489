import type { DatasetVectors } from '../encoders/vectors.js';
import type { ItemVectors } from './weights.js';

export { loadDatasetVectors, MODEL_ID_PREFIX, resolveCachedModel, type DatasetVectors } from '../encoders/vectors.js';

/** The vectors of one item (missing modalities are null). */
export function itemVectors(vectors: DatasetVectors, itemId: number): ItemVectors {
  return { image: vectors.image.get(itemId) ?? null, text: vectors.text.get(itemId) ?? null };
}
