/**
 * Loading a dataset's cached embeddings as item-id → vector maps (retrieval, ranking and the joint
 * space all start from these).
 */
import type { DatasetView } from '../data/access.js';
import { EmbeddingCache, type EmbeddingField } from '../store/embeddings.js';
import { RagarError } from '../util/errors.js';

/** Item vectors of one dataset by item id, with the model ids they came from. */
export interface DatasetVectors {
  image: Map<number, Float32Array>;
  text: Map<number, Float32Array>;
  imageModel: string | null;
  textModel: string | null;
}

/** Model-id prefixes of the encoders `--image-encoder` / `--text-encoder` name. */
export const MODEL_ID_PREFIX: Record<string, string[]> = { mobilenet: ['mobilenetv2'], 'mobilenet-tfjs': ['mobilenetv2'], use: ['use-'], clip: ['clip:', 'siglip:'], 'style-stats': ['style-stats'] };

/**
 * Find the cached model of `field` for a dataset whose id belongs to the named encoder
 * (`mobilenet`, `use`, `clip`) or equals it. Errors when there is none (run `ragar embed`) or
 * when several match (name the model id exactly).
 */
export function resolveCachedModel(view: DatasetView, field: EmbeddingField, encoder: string): string {
  const cache = new EmbeddingCache(view.store);
  const models = cache.models(view.dataset.id).filter((m) => m.field === field);
  const prefixes = MODEL_ID_PREFIX[encoder] ?? [];
  const matching = models.filter((m) => m.modelId === encoder || prefixes.some((p) => m.modelId.startsWith(p)));
  if (matching.length === 1) return matching[0].modelId;
  if (matching.length === 0) {
    throw new RagarError(
      `no ${field} embeddings of encoder ${encoder} for dataset ${view.dataset.name}` +
        (models.length ? ` (cached: ${models.map((m) => m.modelId).join(', ')})` : '') +
        `; run \`ragar embed --dataset ${view.dataset.name}\` first`,
      'NOT_FOUND',
    );
  }
  throw new RagarError(`several ${field} models match ${encoder}: ${matching.map((m) => m.modelId).join(', ')}; name one exactly`, 'BAD_INPUT');
}

/**
 * Load a dataset's cached vectors. `image`/`text` name the encoder (or exact model id); pass
 * `null` to skip a modality. A dataset without images (e.g. MovieLens without posters) gets an
 * empty image map when `optionalImage` is set.
 */
export function loadDatasetVectors(
  view: DatasetView,
  choice: { image: string | null; text: string | null; optionalImage?: boolean },
): DatasetVectors {
  const cache = new EmbeddingCache(view.store);
  const hasImages = view.hasImages();
  const load = (field: EmbeddingField, name: string | null): [Map<number, Float32Array>, string | null] => {
    if (name === null) return [new Map(), null];
    if (field === 'image' && !hasImages && choice.optionalImage) return [new Map(), null];
    const modelId = resolveCachedModel(view, field, name);
    const table = cache.load(view.dataset.id, field, modelId);
    return [new Map(table.itemIds.map((id, i) => [id, table.vectors[i]])), modelId];
  };
  const [image, imageModel] = load('image', choice.image);
  const [text, textModel] = load('text', choice.text);
  return { image, text, imageModel, textModel };
}

