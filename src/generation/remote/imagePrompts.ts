import { RagarError } from '../../util/errors.js';

/** A weighted history item as the image-prompt engines take it. */
export interface WeightedHistoryImage {
  /** External id of the item. */
  item: string;
  /** Its retrieval weight (any non-negative number; the weights of a preference sum to 1). */
  weight: number;
  /** Reads the item's image bytes (PNG/JPEG/WebP); null when the item has no image. */
  image: (() => Buffer | Uint8Array | Promise<Buffer | Uint8Array>) | null;
}

/** One image prompt as it is sent: the item, its retrieval weight and the weight the server gets. */
export interface ImagePromptPlan {
  item: string;
  /** The retrieval weight the preference gave the item. */
  retrievalWeight: number;
  /**
   * The item's share of the image prompt (kept items' shares sum to 1): its retrieval weight
   * plus its part of the folded items' weight. The server receives `share × imagePromptScale`
   * (A1111 unit weight) or `share` (ComfyUI encoder weight, with the scale on the apply node).
   */
  share: number;
}

/** How the history became image prompts. */
export interface ImagePromptSelection {
  prompts: ImagePromptPlan[];
  /**
   * Weighted items beyond the limit: their weight was folded into the kept prompts in
   * proportion to the kept prompts' weights (so the shares still sum to 1).
   */
  folded: { item: string; retrievalWeight: number }[];
  /** Items with a weight but no image (left out, their weight folded likewise). */
  withoutImage: string[];
}

/**
 * Turn retrieval weights into per-image image-prompt weights: the `limit` heaviest history items
 * with an image (ties: history order) become the image prompts; the weight of the rest is folded
 * into them in proportion to their own weights, so the shares sum to 1 and their ratios are the
 * retrieval weights' ratios. Uniform weights give equal shares: equal pooling, the same call.
 * An empty or all-zero history gives no image prompts (the non-personalised request).
 *
 * @example
 * selectImagePrompts([{ item: 'a', weight: 0.6, image }, { item: 'b', weight: 0.3, image }, { item: 'c', weight: 0.1, image }], 2);
 * // prompts: a 0.6667, b 0.3333; folded: c
 */
export function selectImagePrompts(history: readonly WeightedHistoryImage[], limit: number): ImagePromptSelection {
  if (!Number.isInteger(limit) || limit < 1) throw new RagarError(`image prompt limit must be an integer ≥ 1, got ${limit}`, 'BAD_INPUT');
  for (const h of history) {
    if (!Number.isFinite(h.weight) || h.weight < 0) throw new RagarError(`history item ${h.item}: weight ${h.weight} is not a finite non-negative number`, 'BAD_INPUT');
  }
  const weighted = history.map((h, order) => ({ h, order })).filter(({ h }) => h.weight > 0);
  const withoutImage = weighted.filter(({ h }) => h.image === null).map(({ h }) => h.item);
  const candidates = weighted.filter(({ h }) => h.image !== null).sort((a, b) => b.h.weight - a.h.weight || a.order - b.order);
  const kept = candidates.slice(0, limit);
  const folded = candidates.slice(limit).map(({ h }) => ({ item: h.item, retrievalWeight: h.weight }));
  const keptTotal = kept.reduce((s, { h }) => s + h.weight, 0);
  const prompts = kept
    .sort((a, b) => a.order - b.order)
    .map(({ h }) => ({ item: h.item, retrievalWeight: h.weight, share: h.weight / keptTotal }));
  return { prompts, folded, withoutImage };
}

/**
 * The text prompt of an image-prompt engine: the reference's text, then the keyword preference
 * (most important first), comma-separated, without repeating a keyword the text already has.
 *
 * @example
 * buildPrompt('grinning face', ['face', 'flat', 'pastel']); // 'grinning face, flat, pastel'
 */
export function buildPrompt(referenceText: string, keywords: readonly string[]): string {
  const text = referenceText.trim();
  const words = new Set(text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean));
  const extra = keywords.map((k) => k.trim()).filter((k) => k && !words.has(k.toLowerCase()));
  return [text, ...extra].filter(Boolean).join(', ');
}
