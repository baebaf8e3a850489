/**
 * Content features of items for the ranker: the image embedding (optionally followed by a
 * standardised style descriptor) and the text embedding of every item, row-aligned with the
 * ranking data's item indices. Missing modalities are zero rows (flagged in `hasImage` / `hasText`).
 */
import { RagarError } from '../util/errors.js';
export interface ContentFeatures {
  /** Length of an image row: the image embedding's dimension plus the style block's. */
  imageDim: number;
  textDim: number;
  /** numItems × imageDim, row-major (zero rows where an item has no image). */
  image: Float32Array;
  /** numItems × textDim, row-major. */
  text: Float32Array;
  hasImage: Uint8Array;
  hasText: Uint8Array;
  /** The style block at the end of each image row, when a style descriptor was given. */
  style?: StyleBlock;
}

/**
 * How style descriptors enter the image row: `(s − mean) / std / √dim`, per dimension, with
 * the mean and standard deviation taken over the dataset's items (so the block has about unit
 * norm, like the L2-normalised embedding before it). Constant dimensions get std 1.
 */
export interface StyleBlock {
  /** Offset of the block in the image row (= the image embedding's dimension). */
  offset: number;
  dim: number;
  mean: Float32Array;
  std: Float32Array;
}

/** Fit the standardisation of a style block on every available descriptor. */
function fitStyleBlock(offset: number, vectors: Iterable<Float32Array>): StyleBlock | undefined {
  let dim = 0;
  let n = 0;
  let sum: Float64Array | undefined;
  let sq: Float64Array | undefined;
  for (const v of vectors) {
    if (!sum || !sq) {
      dim = v.length;
      sum = new Float64Array(dim);
      sq = new Float64Array(dim);
    }
    for (let k = 0; k < dim; k++) {
      sum[k] += v[k];
      sq[k] += v[k] * v[k];
    }
    n++;
  }
  if (!sum || !sq || n === 0) return undefined;
  const mean = new Float32Array(dim);
  const std = new Float32Array(dim);
  for (let k = 0; k < dim; k++) {
    mean[k] = sum[k] / n;
    const s = Math.sqrt(Math.max(0, sq[k] / n - mean[k] * mean[k]));
    std[k] = s > 1e-6 ? s : 1;
  }
  return { offset, dim, mean, std };
}

/**
 * Write the image row of one item or cold image: the embedding, then the standardised style
 * descriptor (zeros = the dataset's mean style when `style` is missing).
 *
 * @example
 * const row = imageRow(features, mobilenetVector, styleStatsVector); // Float32Array(features.imageDim)
 */
export function imageRow(features: Pick<ContentFeatures, 'imageDim' | 'style'>, image: Float32Array, style: Float32Array | null, out: Float32Array = new Float32Array(features.imageDim)): Float32Array {
  const block = features.style;
  const base = block ? block.offset : features.imageDim;
  if (image.length !== base) throw new RagarError(`image embedding has ${image.length} values, the ranker reads ${base}`, 'BAD_INPUT');
  out.set(image, 0);
  if (block) {
    if (style && style.length !== block.dim) throw new RagarError(`style descriptor has ${style.length} values, the ranker reads ${block.dim}`, 'BAD_INPUT');
    const scale = 1 / Math.sqrt(block.dim);
    for (let k = 0; k < block.dim; k++) out[base + k] = style ? ((style[k] - block.mean[k]) / block.std[k]) * scale : 0;
  }
  return out;
}

/**
 * Assemble content features for `itemIds` from per-item vectors (missing → zero). With `style`
 * (e.g. style-statistics vectors), each image row is followed by the standardised descriptor.
 */
export function contentFeatures(
  itemIds: readonly number[],
  image: ReadonlyMap<number, Float32Array>,
  text: ReadonlyMap<number, Float32Array>,
  style?: ReadonlyMap<number, Float32Array>,
): ContentFeatures {
  const first = <T extends Float32Array>(m: ReadonlyMap<number, T>) => m.values().next().value as T | undefined;
  const baseDim = first(image)?.length ?? 0;
  const textDim = first(text)?.length ?? 0;
  const block = baseDim && style && style.size ? fitStyleBlock(baseDim, itemIds.map((id) => style.get(id)).filter((v): v is Float32Array => v !== undefined)) : undefined;
  const imageDim = baseDim + (block?.dim ?? 0);
  const n = itemIds.length;
  const f: ContentFeatures = {
    imageDim,
    textDim,
    image: new Float32Array(n * imageDim),
    text: new Float32Array(n * textDim),
    hasImage: new Uint8Array(n),
    hasText: new Uint8Array(n),
    ...(block ? { style: block } : {}),
  };
  itemIds.forEach((id, i) => {
    const vi = image.get(id);
    if (vi && baseDim) {
      imageRow(f, vi, style?.get(id) ?? null, f.image.subarray(i * imageDim, (i + 1) * imageDim));
      f.hasImage[i] = 1;
    }
    const vt = text.get(id);
    if (vt && textDim) {
      f.text.set(vt, i * textDim);
      f.hasText[i] = 1;
    }
  });
  return f;
}
