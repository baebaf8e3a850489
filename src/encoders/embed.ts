import type { Store } from '../store/store.js';
import { RagarError } from '../util/errors.js';
import { silentProgress, type Progress } from '../util/progress.js';
import { DatasetView } from '../data/access.js';
import { EmbeddingCache, type EmbeddingField } from '../store/embeddings.js';
import type { Encoder, ImageEncoder, TextEncoder } from './types.js';

/** Options of {@link embedDataset}. */
export interface EmbedOptions {
  image?: ImageEncoder;
  text?: TextEncoder;
  /** Inputs per encoder call; each finished batch is committed, so an interrupted run resumes. */
  batchSize?: number;
  /** Drop this dataset's cached vectors of the given encoders first. */
  rebuild?: boolean;
  progress?: Progress;
  signal?: AbortSignal;
}

/** What one field's pass did. */
export interface EmbedFieldSummary {
  modelId: string;
  dimension: number;
  /** Items newly embedded. */
  computed: number;
  /** Distinct inputs actually encoded (items sharing an image or a text are encoded once). */
  encoded: number;
  /** Items already cached. */
  cached: number;
  seconds: number;
}

/** What {@link embedDataset} did. */
export interface EmbedSummary {
  dataset: string;
  image?: EmbedFieldSummary;
  text?: EmbedFieldSummary;
  /** The second image descriptor (`ragar embed --style-encoder`), when computed. */
  style?: EmbedFieldSummary;
}

/**
 * Compute and cache the embeddings of every item of a dataset: images (items that have one)
 * and texts. Only missing vectors are computed; items sharing the same image or text are
 * encoded once; each batch is committed, so the work resumes after an interruption and a
 * second run does nothing.
 *
 * @example
 * await embedDataset(store, 'emoji-styles', { image: await createMobileNetEncoder(), text: await createUseEncoder() });
 */
export async function embedDataset(store: Store, datasetName: string, options: EmbedOptions): Promise<EmbedSummary> {
  const ds = store.getDataset(datasetName);
  const cache = new EmbeddingCache(store);
  const progress = options.progress ?? silentProgress;
  const batchSize = options.batchSize ?? 32;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RagarError(`batch size must be a positive integer, got ${batchSize}`, 'BAD_INPUT');
  const summary: EmbedSummary = { dataset: ds.name };
  const items = new Map(
    [...DatasetView.open(store, datasetName).items().values()].map((r) => [r.id, { id: r.id, external_id: r.externalId, title: r.title, text: r.text, image_hash: r.imageHash }]),
  );
  const externalIds = new Map([...items.values()].map((r) => [r.id, r.external_id]));

  const run = async <I>(field: EmbeddingField, encoder: Encoder<I>, keyOf: (id: number) => string, inputOf: (key: string) => I) => {
    const started = Date.now();
    if (options.rebuild) {
      cache.drop(ds.id, field, encoder.modelId);
      cache.unregisterIfUnused(encoder.modelId);
    }
    cache.register(encoder.modelId, field, encoder.dimension);
    const missing = cache.missing(ds.id, field, encoder.modelId);
    const total = field === 'image' ? [...items.values()].filter((i) => i.image_hash).length : items.size;
    // Group items by input so that shared images/texts are encoded once.
    const groups = new Map<string, number[]>();
    for (const id of missing) {
      const key = keyOf(id);
      const g = groups.get(key);
      if (g) g.push(id);
      else groups.set(key, [id]);
    }
    const keys = [...groups.keys()];
    progress.start(`${field} embeddings (${encoder.modelId})`, keys.length);
    let done = 0;
    for (let start = 0; start < keys.length; start += batchSize) {
      if (options.signal?.aborted) throw new RagarError(`embedding aborted after ${done} of ${keys.length} inputs (finished batches are saved)`, 'ABORTED');
      const batch = keys.slice(start, start + batchSize);
      let vectors: Float32Array[];
      try {
        vectors = await encoder.encode(batch.map(inputOf), { signal: options.signal });
      } catch (err) {
        // a bad input (BAD_INPUT) is looked for below; any other RagarError (abort, disposed) is final
        if (options.signal?.aborted || (err instanceof RagarError && err.code !== 'BAD_INPUT')) throw err;
        // Find and name the input that fails, so a corrupt image file can be fixed or rebuilt.
        for (const key of batch) {
          try {
            await encoder.encode([inputOf(key)], { signal: options.signal });
          } catch (inner) {
            const names = groups.get(key)!.map((id) => externalIds.get(id)).join(', ');
            const where = field === 'image' ? ` (image file ${store.images.pathOf(key)})` : '';
            throw new RagarError(`cannot embed the ${field} of item ${names}${where}: ${(inner as Error).message}`, 'BAD_INPUT', { cause: inner });
          }
        }
        throw err;
      }
      if (vectors.length !== batch.length) throw new RagarError(`${encoder.modelId} returned ${vectors.length} vectors for ${batch.length} inputs`, 'INTERNAL');
      const rows: [number, Float32Array][] = [];
      batch.forEach((key, i) => {
        for (const id of groups.get(key)!) rows.push([id, vectors[i]]);
      });
      cache.put(field, encoder.modelId, rows);
      done += batch.length;
      progress.update(done);
    }
    progress.stop();
    return {
      modelId: encoder.modelId,
      dimension: encoder.dimension,
      computed: missing.length,
      encoded: keys.length,
      cached: total - missing.length,
      seconds: (Date.now() - started) / 1000,
    };
  };

  if (options.text) {
    summary.text = await run('text', options.text, (id) => {
      const it = items.get(id)!;
      return it.text || it.title;
    }, (key) => key);
  }
  if (options.image) {
    summary.image = await run('image', options.image, (id) => items.get(id)!.image_hash!, (hash) => store.images.read(hash));
  }
  return summary;
}
