import type { Store } from './store.js';
import { RagarError } from '../util/errors.js';

/** Which of an item's fields a vector encodes (an encoder's modality). */
export type EmbeddingField = 'image' | 'text';
type Modality = EmbeddingField;

/** Vectors of many items in one space, row-aligned with `itemIds`. */
export interface EmbeddingTable {
  modelId: string;
  dimension: number;
  itemIds: number[];
  vectors: Float32Array[];
}

function toBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function fromBlob(b: Buffer, dim: number, modelId: string): Float32Array {
  if (b.byteLength !== dim * 4) {
    throw new RagarError(`embedding cache is corrupt: a ${modelId} vector has ${b.byteLength / 4} values, expected ${dim}; run \`ragar embed --rebuild\``, 'CORRUPT');
  }
  const out = new Float32Array(dim);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/**
 * The embedding cache: one vector per (item, field, model) in the store. A model id is bound to
 * one dimension the first time it is used; an encoder that reports another dimension under the
 * same id is refused, so vectors of different spaces are never mixed.
 *
 * @example
 * const cache = new EmbeddingCache(store);
 * cache.register('use-energetic-ai-0.2.0', 'text', 512);
 * cache.put('text', 'use-energetic-ai-0.2.0', [[itemId, vector]]);
 */
export class EmbeddingCache {
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }

  /** Record (or check) the dimension of a model id. Throws on a mismatch. */
  register(modelId: string, modality: Modality, dimension: number): void {
    const row = this.store.db.prepare('SELECT modality, dim FROM embedding_models WHERE model_id = ?').get(modelId) as
      | { modality: string; dim: number }
      | undefined;
    if (!row) {
      this.store.db
        .prepare('INSERT INTO embedding_models (model_id, modality, dim, created_at) VALUES (?, ?, ?, ?)')
        .run(modelId, modality, dimension, new Date().toISOString());
      return;
    }
    if (row.dim !== dimension || row.modality !== modality) {
      throw new RagarError(
        `embeddings cached under ${modelId} are ${row.modality} vectors of dimension ${row.dim}, but the encoder gives ${modality} vectors of dimension ${dimension}; ` +
          'run `ragar embed --rebuild` to drop the old vectors',
        'CONFLICT',
      );
    }
  }

  /** Dimension of a registered model, or undefined. */
  dimensionOf(modelId: string): number | undefined {
    return (this.store.db.prepare('SELECT dim FROM embedding_models WHERE model_id = ?').pluck().get(modelId) as number | undefined) ?? undefined;
  }

  /** Store vectors (replacing existing ones) in one transaction. */
  put(field: EmbeddingField, modelId: string, rows: readonly (readonly [number, Float32Array])[]): void {
    const dim = this.dimensionOf(modelId);
    if (dim === undefined) throw new RagarError(`model ${modelId} is not registered in the embedding cache`, 'BAD_INPUT');
    const insert = this.store.db.prepare('INSERT OR REPLACE INTO embeddings (item_id, field, model_id, vector) VALUES (?, ?, ?, ?)');
    this.store.db.transaction(() => {
      for (const [itemId, v] of rows) {
        if (v.length !== dim) throw new RagarError(`vector for item ${itemId} has ${v.length} values, ${modelId} has ${dim}`, 'BAD_INPUT');
        insert.run(itemId, field, modelId, toBlob(v));
      }
    })();
  }

  /** Item ids of `datasetId` that have no cached `field` vector under `modelId` (and, for images, have an image). */
  missing(datasetId: number, field: EmbeddingField, modelId: string): number[] {
    const imageClause = field === 'image' ? 'AND i.image_hash IS NOT NULL' : '';
    return this.store.db
      .prepare(
        `SELECT i.id FROM items i WHERE i.dataset_id = ? ${imageClause}
         AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.item_id = i.id AND e.field = ? AND e.model_id = ?)
         ORDER BY i.id`,
      )
      .pluck()
      .all(datasetId, field, modelId) as number[];
  }

  /** Number of cached vectors of a dataset's items. */
  count(datasetId: number, field: EmbeddingField, modelId: string): number {
    return this.store.db
      .prepare('SELECT COUNT(*) FROM embeddings e JOIN items i ON i.id = e.item_id WHERE i.dataset_id = ? AND e.field = ? AND e.model_id = ?')
      .pluck()
      .get(datasetId, field, modelId) as number;
  }

  /** All cached vectors of a dataset's items, ordered by item id. */
  load(datasetId: number, field: EmbeddingField, modelId: string): EmbeddingTable {
    const dim = this.dimensionOf(modelId);
    if (dim === undefined) {
      throw new RagarError(`no ${field} embeddings cached under ${modelId}; run \`ragar embed\` first`, 'NOT_FOUND');
    }
    const rows = this.store.db
      .prepare(
        `SELECT e.item_id AS id, e.vector AS v FROM embeddings e JOIN items i ON i.id = e.item_id
         WHERE i.dataset_id = ? AND e.field = ? AND e.model_id = ? ORDER BY e.item_id`,
      )
      .all(datasetId, field, modelId) as { id: number; v: Buffer }[];
    return { modelId, dimension: dim, itemIds: rows.map((r) => r.id), vectors: rows.map((r) => fromBlob(r.v, dim, modelId)) };
  }

  /** Models with vectors for a dataset, with counts. */
  models(datasetId: number): { modelId: string; field: string; dimension: number; count: number }[] {
    return this.store.db
      .prepare(
        `SELECT e.model_id AS modelId, e.field AS field, m.dim AS dimension, COUNT(*) AS count
         FROM embeddings e JOIN items i ON i.id = e.item_id JOIN embedding_models m ON m.model_id = e.model_id
         WHERE i.dataset_id = ? GROUP BY e.model_id, e.field ORDER BY e.field, e.model_id`,
      )
      .all(datasetId) as { modelId: string; field: string; dimension: number; count: number }[];
  }

  /** Drop a dataset's vectors of one field and model (all models when `modelId` is omitted). */
  drop(datasetId: number, field: EmbeddingField, modelId?: string): number {
    const info = this.store.db
      .prepare(
        `DELETE FROM embeddings WHERE field = ? ${modelId ? 'AND model_id = ?' : ''}
         AND item_id IN (SELECT id FROM items WHERE dataset_id = ?)`,
      )
      .run(...(modelId ? [field, modelId, datasetId] : [field, datasetId]));
    return info.changes;
  }

  /** Forget a model id whose vectors are all gone (so it may be registered with another dimension). */
  unregisterIfUnused(modelId: string): void {
    this.store.db
      .prepare('DELETE FROM embedding_models WHERE model_id = ? AND NOT EXISTS (SELECT 1 FROM embeddings WHERE model_id = ?)')
      .run(modelId, modelId);
  }
}
