import type { DatasetView } from '../../data/access.js';
import { decodePixels64, PIXEL_SIZE } from '../../encoders/pixels.js';
import type { RankingContext } from '../../ranking/pipeline.js';
import type { ContentRanker } from '../../ranking/ranker.js';
import { RagarError } from '../../util/errors.js';
import { silentProgress, type Progress } from '../../util/progress.js';
import type { Rng } from '../../util/rng.js';

/** Pixels per channel plane. */
export const PLANE = PIXEL_SIZE * PIXEL_SIZE;

/**
 * Convert HWC pixels in [0, 1] to CHW in [−1, 1] (the generator's working space).
 *
 * @example
 * const chw = toModelSpace(await decodePixels64(png)); // Float32Array(3·64·64)
 */
export function toModelSpace(hwc: Float32Array, out = new Float32Array(3 * PLANE)): Float32Array {
  for (let p = 0; p < PLANE; p++) for (let c = 0; c < 3; c++) out[c * PLANE + p] = hwc[p * 3 + c] * 2 - 1;
  return out;
}

/** Inverse of {@link toModelSpace}, clamped to [0, 1]. */
export function toPixels(chw: Float32Array, out = new Float32Array(3 * PLANE)): Float32Array {
  for (let p = 0; p < PLANE; p++) for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.min(1, Math.max(0, (chw[c * PLANE + p] + 1) / 2));
  return out;
}

/** One item the generator can see. */
export interface GeneratorItem {
  index: number;
  concept: string;
  style: string;
  group: string;
  split: string;
}

/**
 * Everything the generator trains and evaluates on, for emoji-styles-like datasets (items that
 * are renditions of concepts in styles): pixels in model space, the ranker's standardised style
 * block, the ranker's projection g(x) of every item, and the concept/style/group structure.
 */
export interface GeneratorData {
  view: DatasetView;
  items: GeneratorItem[];
  styles: string[];
  /** Item index (ranking data order) → CHW pixels in [−1, 1]. */
  pixels: Map<number, Float32Array>;
  /** Item index → standardised style descriptor (the ranker's style block). */
  styleOf: (index: number) => Float32Array;
  styleDim: number;
  /** Item index → the ranker's g(x) (image and text parts). */
  gOf: (index: number) => Float32Array;
  /** The ranker's global content preference q. */
  q: Float32Array;
  /** concept → style → item index. */
  renditions: Map<string, Map<string, number>>;
  /** split → group → concepts. */
  conceptsByGroup: Map<string, Map<string, string[]>>;
}

/**
 * Load the generator's data from a ranking context and its trained ranker. Needs items with a
 * concept and a style (emoji-styles) and the ranker's style block (`ragar embed` computes it).
 */
export async function loadGeneratorData(ctx: RankingContext, ranker: ContentRanker, options: { progress?: Progress; splits?: readonly string[] } = {}): Promise<GeneratorData> {
  const { view, data, features } = ctx;
  const block = features.style;
  if (!block) throw new RagarError(`dataset ${view.dataset.name}: the generator needs style descriptors; run \`ragar embed --dataset ${view.dataset.name}\` and retrain the ranker`, 'BAD_INPUT');
  const conceptSplit = view.conceptSplits();
  const items: GeneratorItem[] = [];
  for (let i = 0; i < data.numItems; i++) {
    const it = view.item(data.itemIds[i]);
    if (!it.concept || !it.style || !it.imageHash || !features.hasImage[i]) continue;
    items.push({ index: i, concept: it.concept, style: it.style, group: it.group ?? '', split: conceptSplit.get(it.concept) ?? 'train' });
  }
  if (!items.length) throw new RagarError(`dataset ${view.dataset.name} has no items with a concept, a style and an image: the built-in generator trains on emoji-styles-like data`, 'BAD_INPUT');
  const wanted = options.splits ? new Set(options.splits) : null;
  const progress = options.progress ?? silentProgress;
  const pixels = new Map<number, Float32Array>();
  const toLoad = items.filter((it) => !wanted || wanted.has(it.split));
  progress.start('decoding images', toLoad.length);
  for (const [n, it] of toLoad.entries()) {
    const hash = view.item(data.itemIds[it.index]).imageHash!;
    pixels.set(it.index, toModelSpace(await decodePixels64(view.store.images.read(hash))));
    if (n % 250 === 0) progress.update(n + 1);
  }
  progress.update(toLoad.length);
  progress.stop();
  const renditions = new Map<string, Map<string, number>>();
  const conceptsByGroup = new Map<string, Map<string, string[]>>();
  for (const it of items) {
    let r = renditions.get(it.concept);
    if (!r) {
      renditions.set(it.concept, (r = new Map()));
      let bySplit = conceptsByGroup.get(it.split);
      if (!bySplit) conceptsByGroup.set(it.split, (bySplit = new Map()));
      const list = bySplit.get(it.group);
      if (list) list.push(it.concept);
      else bySplit.set(it.group, [it.concept]);
    }
    r.set(it.style, it.index);
  }
  const g = ranker.projectAll();
  const d = ranker.options.dimension;
  return {
    view,
    items,
    styles: [...new Set(items.map((it) => it.style))].sort(),
    pixels,
    styleOf: (i) => features.image.subarray(i * features.imageDim + block.offset, i * features.imageDim + block.offset + block.dim),
    styleDim: block.dim,
    gOf: (i) => g.subarray(i * d, (i + 1) * d),
    q: ranker.weights.q,
    renditions,
    conceptsByGroup,
  };
}

/** A synthetic training preference: the attended history of a user who wants `style` for a group. */
export interface SyntheticPreference {
  /** Mean standardised style descriptor of the attended history items. */
  styleVector: Float32Array;
  /** The ranker's user direction for this history: q + mean g(h). */
  v: Float32Array;
  history: number[];
}

/**
 * Draw the attended history of a simulated user for a training example: `k` renditions of other
 * train concepts of the same group, each in `style` with probability `purity` and in a random
 * style otherwise (retrieval is imperfect and users interact off-taste). Mirrors what retrieval
 * over a real history gives the generator at inference (weights over the top-k similar items).
 */
export function syntheticPreference(data: GeneratorData, concept: string, group: string, style: string, rng: Rng, k = 5, purity = 0.85): SyntheticPreference {
  const train = data.conceptsByGroup.get('train');
  const pool = train?.get(group)?.filter((c) => c !== concept) ?? [];
  // Fall back to every train concept only for a group too small to draw from (rare: not per sample).
  const source = pool.length >= 2 ? pool : [...(train?.values() ?? [])].flat().filter((c) => c !== concept);
  if (!source.length) throw new RagarError('no train concepts to draw a synthetic history from', 'BAD_INPUT');
  const history: number[] = [];
  for (let tries = 0; history.length < k && tries < k * 20; tries++) {
    const c = source[rng.int(source.length)];
    const s = rng.next() < purity ? style : data.styles[rng.int(data.styles.length)];
    const idx = data.renditions.get(c)?.get(s);
    if (idx !== undefined) history.push(idx);
  }
  if (!history.length) throw new RagarError(`no rendition in style ${style} among the train concepts`, 'BAD_INPUT');
  const styleVector = new Float32Array(data.styleDim);
  const v = Float32Array.from(data.q);
  for (const h of history) {
    const s = data.styleOf(h);
    const g = data.gOf(h);
    for (let j = 0; j < styleVector.length; j++) styleVector[j] += s[j] / history.length;
    for (let j = 0; j < v.length; j++) v[j] += g[j] / history.length;
  }
  return { styleVector, v, history };
}
