import type { DatasetView, ItemRecord } from '../data/access.js';
import { itemVectors, type DatasetVectors } from '../retrieval/vectors.js';
import { retrievalWeightsFromIndex, type DatasetIndexes } from '../retrieval/search.js';
import { retrievalWeights, uniformWeights, type ItemVectors, type RetrievalParams, type RetrievalResult } from '../retrieval/weights.js';
import { RagarError } from '../util/errors.js';
import { inverseDocumentFrequency, itemKeywords, keywordPreference, type ScoredKeyword } from './keywords.js';
import { visualPreference, type VisualPreference } from './visual.js';

/** One history item with its similarity and weight: part of every result (explainability). */
export interface WeightedHistoryItem {
  item: string;
  title: string;
  style: string | null;
  group: string | null;
  ts: number;
  rating: number | null;
  similarity: number;
  imageSimilarity: number | null;
  textSimilarity: number | null;
  weight: number;
}

/** RAGAR steps 1–2 for one (user, reference). */
export interface UserPreference {
  user: string;
  reference: { item: string; title: string; style: string | null; group: string | null };
  weighting: 'retrieval' | 'uniform';
  params: RetrievalParams;
  history: WeightedHistoryItem[];
  visual: VisualPreference | null;
  keywords: ScoredKeyword[];
  /** Keyword preference as text (the top keywords joined), PMG-style. */
  keywordText: string;
}

const idfCache = new WeakMap<DatasetView, Map<string, number>>();

/** idf over all items of the dataset (cached per view). */
export function datasetIdf(view: DatasetView): Map<string, number> {
  let idf = idfCache.get(view);
  if (!idf) {
    idf = inverseDocumentFrequency([...view.items().values()].map(itemKeywords));
    idfCache.set(view, idf);
  }
  return idf;
}

/**
 * Weight a user's history against a reference item (retrieval or uniform) and build the
 * preference: weighted visual vector and statistics, and the keyword preference.
 *
 * @example
 * const pref = buildPreference(view, vectors, 'u042', '1F98A/noto', { alpha: 0.25, k: 10, tau: 0.05 });
 * pref.history.filter((h) => h.weight > 0);
 */
export function buildPreference(
  view: DatasetView,
  vectors: DatasetVectors,
  userRef: string | number,
  reference: string | number | ItemRecord,
  params: RetrievalParams,
  options: { weighting?: 'retrieval' | 'uniform'; keywords?: number; referenceVectors?: ItemVectors } = {},
): UserPreference {
  const input = preferenceInput(view, vectors, userRef, reference, options.referenceVectors);
  return assemblePreference(view, input, retrievalWeights(input.refVectors, input.histVectors, params), params, options);
}

/**
 * {@link buildPreference} with step 1's similarities asked of the dataset's vector indexes
 * (`indexDatasetVectors`), as a vector database would serve them; the same result.
 *
 * @example
 * const indexes = await indexDatasetVectors(vectors);
 * const pref = await buildPreferenceFromIndex(view, vectors, indexes, 'u042', '1F98A/noto', params);
 */
export async function buildPreferenceFromIndex(
  view: DatasetView,
  vectors: DatasetVectors,
  indexes: Pick<DatasetIndexes, 'image' | 'text'>,
  userRef: string | number,
  reference: string | number | ItemRecord,
  params: RetrievalParams,
  options: { weighting?: 'retrieval' | 'uniform'; keywords?: number; referenceVectors?: ItemVectors } = {},
): Promise<UserPreference> {
  const input = preferenceInput(view, vectors, userRef, reference, options.referenceVectors);
  const r = await retrievalWeightsFromIndex(indexes, input.refVectors, input.history.map((h) => String(h.itemId)), params);
  return assemblePreference(view, input, r, params, options);
}

type PreferenceInput = ReturnType<typeof preferenceInput>;

function preferenceInput(view: DatasetView, vectors: DatasetVectors, userRef: string | number, reference: string | number | ItemRecord, referenceVectors?: ItemVectors) {
  const user = view.user(userRef);
  const ref = typeof reference === 'object' ? reference : view.item(reference);
  const history = view.history(user.id);
  if (history.length === 0) throw new RagarError(`user ${user.externalId} has an empty history: there is nothing to personalise from`, 'BAD_INPUT');
  const histVectors = history.map((h) => itemVectors(vectors, h.itemId));
  const refVectors = referenceVectors ?? itemVectors(vectors, ref.id);
  if (!refVectors.image && !refVectors.text) {
    throw new RagarError(`reference ${ref.externalId} has no cached embedding; run \`ragar embed --dataset ${view.dataset.name}\``, 'NOT_FOUND');
  }
  return { user, ref, history, histVectors, refVectors };
}

function assemblePreference(
  view: DatasetView,
  { user, ref, history, histVectors }: PreferenceInput,
  r: RetrievalResult,
  params: RetrievalParams,
  options: { weighting?: 'retrieval' | 'uniform'; keywords?: number },
): UserPreference {
  const weighting = options.weighting ?? 'retrieval';
  const weights = weighting === 'uniform' ? uniformWeights(history.length) : r.weights;
  const items = history.map((h) => view.item(h.itemId));
  const visual = histVectors.some((v) => v.image) ? visualPreference(histVectors.map((v) => v.image), weights) : null;
  const keywords = keywordPreference(items.map(itemKeywords), weights, datasetIdf(view), options.keywords ?? 8);
  return {
    user: user.externalId,
    reference: { item: ref.externalId, title: ref.title, style: ref.style, group: ref.group },
    weighting,
    params: weighting === 'uniform' ? { alpha: params.alpha, k: null, tau: Infinity } : params,
    history: history.map((h, j) => ({
      item: items[j].externalId,
      title: items[j].title,
      style: items[j].style,
      group: items[j].group,
      ts: h.ts,
      rating: h.rating,
      similarity: r.similarity[j],
      imageSimilarity: r.imageSimilarity[j],
      textSimilarity: r.textSimilarity[j],
      weight: weights[j],
    })),
    visual,
    keywords,
    keywordText: keywords.map((k) => k.keyword).join(', '),
  };
}
