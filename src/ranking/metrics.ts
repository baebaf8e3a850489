import { RagarError } from '../util/errors.js';

/** A ranked list of item indices, best first. */
export type RankedList = readonly number[] | Int32Array;

function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new RagarError(`k must be a positive integer, got ${k}`, 'BAD_INPUT');
}

/**
 * Recall@K: the share of `relevant` items found among the first `k` of `ranked`
 * (`|top-k ∩ relevant| / |relevant|`). Returns 0 when `relevant` is empty.
 *
 * @example
 * recallAtK([5, 2, 9], new Set([2, 7]), 2); // 0.5
 */
export function recallAtK(ranked: RankedList, relevant: ReadonlySet<number>, k: number): number {
  checkK(k);
  if (relevant.size === 0) return 0;
  let hits = 0;
  const n = Math.min(k, ranked.length);
  for (let r = 0; r < n; r++) if (relevant.has(ranked[r])) hits++;
  return hits / relevant.size;
}

/**
 * NDCG@K with binary relevance: `DCG = Σ_{rank r ≤ k, item relevant} 1 / log2(r + 1)` (ranks from
 * 1), divided by the ideal DCG of `min(|relevant|, k)` relevant items at the top. Returns 0 when
 * `relevant` is empty.
 *
 * @example
 * ndcgAtK([4, 8, 3], new Set([3]), 10); // 1 / log2(4) = 0.5
 */
export function ndcgAtK(ranked: RankedList, relevant: ReadonlySet<number>, k: number): number {
  checkK(k);
  if (relevant.size === 0) return 0;
  let dcg = 0;
  const n = Math.min(k, ranked.length);
  for (let r = 0; r < n; r++) if (relevant.has(ranked[r])) dcg += 1 / Math.log2(r + 2);
  let ideal = 0;
  const m = Math.min(relevant.size, k);
  for (let r = 0; r < m; r++) ideal += 1 / Math.log2(r + 2);
  return dcg / ideal;
}

/**
 * Indices of the `k` highest `scores`, best first, skipping indices in `exclude`. Ties go to the
 * lower index; NaN scores rank below every number. Returns fewer than `k` indices when fewer are
 * eligible. Runs in O(n·log k)-ish time with a small sorted buffer (k is small in practice).
 *
 * @example
 * topK(Float32Array.from([0.1, 0.9, 0.5, 0.9]), 2, new Set([1])); // Int32Array [3, 2]
 */
export function topK(scores: Float32Array, k: number, exclude: ReadonlySet<number> = new Set()): Int32Array {
  checkK(k);
  const idx = new Int32Array(k);
  const val = new Float64Array(k);
  let count = 0;
  for (let i = 0; i < scores.length; i++) {
    let s = scores[i];
    if (s !== s) s = -Infinity; // NaN
    if (count === k && !(s > val[k - 1])) continue;
    if (exclude.size > 0 && exclude.has(i)) continue;
    // Insert after every entry with a score >= s (those have lower indices: ties keep order).
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (val[mid] >= s) lo = mid + 1;
      else hi = mid;
    }
    const end = count < k ? count : k - 1;
    for (let p = end; p > lo; p--) {
      idx[p] = idx[p - 1];
      val[p] = val[p - 1];
    }
    idx[lo] = i;
    val[lo] = s;
    if (count < k) count++;
  }
  return count === k ? idx : idx.slice(0, count);
}

/**
 * Ranks of `values` from 1 (smallest) to n, with tied values given the average of the ranks they
 * span (fractional ranking).
 *
 * @example
 * averageRanks([10, 20, 10]); // [1.5, 3, 1.5]
 */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b] || a - b);
  const ranks = new Array<number>(values.length);
  let start = 0;
  while (start < order.length) {
    let end = start + 1;
    while (end < order.length && values[order[end]] === values[order[start]]) end++;
    const rank = (start + 1 + end) / 2; // mean of ranks start+1 .. end
    for (let p = start; p < end; p++) ranks[order[p]] = rank;
    start = end;
  }
  return ranks;
}

function checkPair(a: readonly number[], b: readonly number[], what: string): void {
  if (a.length !== b.length) throw new RagarError(`${what} needs equal lengths, got ${a.length} and ${b.length}`, 'BAD_INPUT');
  for (const v of [...a, ...b]) if (!Number.isFinite(v)) throw new RagarError(`${what} needs finite values, got ${v}`, 'BAD_INPUT');
}

/** Pearson correlation of two equal-length series (NaN when either side is constant). */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/**
 * Spearman rank correlation: the Pearson correlation of the average ranks of `a` and `b`
 * (so ties are handled). NaN when fewer than two values or either side is constant.
 *
 * @example
 * spearman([1, 2, 3], [10, 30, 20]); // 0.5
 */
export function spearman(a: readonly number[], b: readonly number[]): number {
  checkPair(a, b, 'spearman');
  if (a.length < 2) return NaN;
  return pearson(averageRanks(a), averageRanks(b));
}

/**
 * Kendall's tau-b: `(C − D) / sqrt((n0 − n1)(n0 − n2))` over all pairs, where `n1`, `n2` count
 * pairs tied in `a` and in `b`. NaN when fewer than two values or either side is constant.
 * O(n²); meant for the small lists of an analysis, not for full item rankings.
 *
 * @example
 * kendallTau([1, 2, 3], [1, 3, 2]); // (2 - 1) / 3 = 1/3
 */
export function kendallTau(a: readonly number[], b: readonly number[]): number {
  checkPair(a, b, 'kendallTau');
  const n = a.length;
  if (n < 2) return NaN;
  let concordant = 0;
  let discordant = 0;
  let tiesA = 0;
  let tiesB = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const da = Math.sign(a[i] - a[j]);
      const db = Math.sign(b[i] - b[j]);
      if (da === 0) tiesA++;
      if (db === 0) tiesB++;
      if (da !== 0 && db !== 0) {
        if (da === db) concordant++;
        else discordant++;
      }
    }
  }
  const n0 = (n * (n - 1)) / 2;
  const denom = Math.sqrt((n0 - tiesA) * (n0 - tiesB));
  return denom === 0 ? NaN : (concordant - discordant) / denom;
}
