import { RagarError } from '../util/errors.js';

/** A scored keyword of the preference. */
export interface ScoredKeyword {
  keyword: string;
  score: number;
}

/** Words that carry no preference. */
const STOPWORDS = new Set(
  'a an and are as at be but by for from has have in is it its of on or that the this to was were with without'.split(' '),
);

/**
 * Keywords of one item: its tags when it has any (lower-cased), else the words of its title
 * (lower-cased, stop words and 1-letter words dropped). Each keyword counts once per item.
 *
 * @example
 * itemKeywords({ title: 'Toy Story (1995)', tags: ['Animation', 'Comedy'] }) // ['animation', 'comedy']
 */
export function itemKeywords(item: { title: string; tags: readonly string[] }): string[] {
  const source = item.tags.length ? item.tags.map((t) => t.toLowerCase().trim()) : tokenize(item.title);
  return [...new Set(source.filter((k) => k.length > 1 && !STOPWORDS.has(k)))];
}

function tokenize(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/\(\d{4}\)/g, ' ')
    .split(/[^\p{L}\p{N}'-]+/u)
    .filter(Boolean);
}

/**
 * Inverse document frequencies over a corpus of items' keyword sets:
 * `idf(κ) = ln((1 + N) / (1 + df(κ))) + 1` (smoothed, always > 0).
 */
export function inverseDocumentFrequency(keywordSets: Iterable<readonly string[]>): Map<string, number> {
  const df = new Map<string, number>();
  let n = 0;
  for (const set of keywordSets) {
    n++;
    for (const k of new Set(set)) df.set(k, (df.get(k) ?? 0) + 1);
  }
  const idf = new Map<string, number>();
  for (const [k, d] of df) idf.set(k, Math.log((1 + n) / (1 + d)) + 1);
  return idf;
}

/**
 * The keyword preference of RAGAR step 2: each keyword κ of the history scores
 * `Σ_j w_j·[κ ∈ kw(h_j)]·idf(κ)`; the top `m` (ties broken alphabetically) are returned.
 * Keywords unknown to `idf` get the largest idf seen (they are rare by definition).
 *
 * @example
 * keywordPreference([['cat', 'cute'], ['dog']], [0.9, 0.1], idf, 5)
 */
export function keywordPreference(
  keywordsPerItem: readonly (readonly string[])[],
  weights: readonly number[],
  idf: ReadonlyMap<string, number>,
  m: number,
): ScoredKeyword[] {
  if (keywordsPerItem.length !== weights.length) throw new RagarError(`${keywordsPerItem.length} items but ${weights.length} weights`, 'BAD_INPUT');
  if (!(Number.isInteger(m) && m >= 1)) throw new RagarError(`m must be a positive integer, got ${m}`, 'BAD_INPUT');
  let maxIdf = 1;
  for (const v of idf.values()) maxIdf = Math.max(maxIdf, v);
  const scores = new Map<string, number>();
  keywordsPerItem.forEach((kws, j) => {
    const w = weights[j];
    if (!(w > 0)) return;
    for (const k of new Set(kws)) scores.set(k, (scores.get(k) ?? 0) + w * (idf.get(k) ?? maxIdf));
  });
  return [...scores]
    .map(([keyword, score]) => ({ keyword, score }))
    .sort((a, b) => b.score - a.score || (a.keyword < b.keyword ? -1 : 1))
    .slice(0, m);
}
