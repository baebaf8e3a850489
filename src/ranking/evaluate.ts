import { RagarError } from '../util/errors.js';
import { ndcgAtK, recallAtK, topK } from './metrics.js';
import type { Ranker, RankingData, RankingUser } from './types.js';

/** Averaged ranking metrics: `users` evaluated, then `recall@K` and `ndcg@K` for each K. */
export type RankingMetrics = { users: number } & Record<string, number>;

interface EvalCase {
  user: RankingUser;
  index: number;
  exclude: Set<number>;
  relevant: Set<number>;
}

/**
 * The users of `split` that can be evaluated: a non-empty held-out set with at least one item
 * not already in their history (a seen item is excluded from the ranking, so it cannot be hit).
 */
function evalCases(data: RankingData, split: string): EvalCase[] {
  const cases: EvalCase[] = [];
  data.users.forEach((user, index) => {
    if (user.split !== split || user.heldOut.length === 0) return;
    const exclude = new Set(user.history);
    const relevant = new Set(user.heldOut.filter((i) => !exclude.has(i)));
    if (relevant.size > 0) cases.push({ user, index, exclude, relevant });
  });
  if (cases.length === 0) {
    const splits = [...new Set(data.users.filter((u) => u.heldOut.length > 0).map((u) => u.split))];
    throw new RagarError(
      `no users of split ${JSON.stringify(split)} have held-out interactions to evaluate` +
        (splits.length ? ` (splits with held-out users: ${splits.join(', ')})` : ' (no user has held-out interactions)'),
      'BAD_INPUT',
    );
  }
  return cases;
}

function checkKs(ks: readonly number[]): void {
  if (ks.length === 0) throw new RagarError('need at least one cutoff K', 'BAD_INPUT');
  for (const k of ks) if (!Number.isInteger(k) || k < 1) throw new RagarError(`cutoff K must be a positive integer, got ${k}`, 'BAD_INPUT');
}

function score(data: RankingData, ranker: Ranker, c: EvalCase): Float32Array {
  const scores = ranker.scoreItems(c.user, c.index);
  if (scores.length !== data.numItems) {
    throw new RagarError(`ranker ${ranker.name} returned ${scores.length} scores for ${data.numItems} items`, 'INTERNAL');
  }
  return scores;
}

/**
 * Recall@K and NDCG@K of `ranker` on the held-out items of the users of `split`, averaged over
 * users. Each user's ranking covers all items except those in the user's history (held-out items
 * stay rankable). Users without held-out items, or whose held-out items all appear in their
 * history, are skipped; `users` counts those evaluated. Throws {@link RagarError} when none is left.
 *
 * @example
 * evaluateRanker(data, new PopularityRanker(data), 'test');
 * // { users: 134, 'recall@10': 0.04, 'ndcg@10': 0.02, 'recall@20': 0.07, 'ndcg@20': 0.03 }
 */
export function evaluateRanker(data: RankingData, ranker: Ranker, split: string, ks: readonly number[] = [10, 20]): RankingMetrics {
  checkKs(ks);
  const cases = evalCases(data, split);
  const maxK = Math.max(...ks);
  const sums = new Map<string, number>();
  for (const k of ks) {
    sums.set(`recall@${k}`, 0);
    sums.set(`ndcg@${k}`, 0);
  }
  for (const c of cases) {
    const ranked = topK(score(data, ranker, c), maxK, c.exclude);
    for (const k of ks) {
      sums.set(`recall@${k}`, sums.get(`recall@${k}`)! + recallAtK(ranked, c.relevant, k));
      sums.set(`ndcg@${k}`, sums.get(`ndcg@${k}`)! + ndcgAtK(ranked, c.relevant, k));
    }
  }
  const result: RankingMetrics = { users: cases.length };
  for (const [key, sum] of sums) result[key] = sum / cases.length;
  return result;
}

/**
 * A validation function for early stopping: the mean NDCG@`k` (default 10) of a ranker on the
 * users of `split` (default `valid`), computed as {@link evaluateRanker} does. The eligible users
 * are found once, here, so a split without held-out users fails immediately.
 *
 * @example
 * trainBprMf(data, { validate: makeValidator(data) });
 */
export function makeValidator(data: RankingData, split = 'valid', k = 10): (ranker: Ranker) => number {
  checkKs([k]);
  const cases = evalCases(data, split);
  return (ranker) => {
    let sum = 0;
    for (const c of cases) sum += ndcgAtK(topK(score(data, ranker, c), k, c.exclude), c.relevant, k);
    return sum / cases.length;
  };
}
