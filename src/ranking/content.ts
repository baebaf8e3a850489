/**
 * Content features of items for the ranker: the image embedding and the text embedding of
 * every item, row-aligned with the ranking data's item indices. Missing modalities are zero
 * rows (flagged in `hasImage` / `hasText`).
 */
export interface ContentFeatures {
  imageDim: number;
  textDim: number;
  /** numItems × imageDim, row-major (zero rows where an item has no image). */
  image: Float32Array;
  /** numItems × textDim, row-major. */
  text: Float32Array;
  hasImage: Uint8Array;
  hasText: Uint8Array;
}

/** Assemble content features for `itemIds` from per-item vectors (missing → zero). */
export function contentFeatures(
  itemIds: readonly number[],
  image: ReadonlyMap<number, Float32Array>,
  text: ReadonlyMap<number, Float32Array>,
): ContentFeatures {
  const first = <T extends Float32Array>(m: ReadonlyMap<number, T>) => m.values().next().value as T | undefined;
  const imageDim = first(image)?.length ?? 0;
  const textDim = first(text)?.length ?? 0;
  const n = itemIds.length;
  const f: ContentFeatures = {
    imageDim,
    textDim,
    image: new Float32Array(n * imageDim),
    text: new Float32Array(n * textDim),
    hasImage: new Uint8Array(n),
    hasText: new Uint8Array(n),
  };
  itemIds.forEach((id, i) => {
    const vi = image.get(id);
    if (vi && imageDim) {
      f.image.set(vi, i * imageDim);
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
