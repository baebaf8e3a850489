import type { Ranker, RankingData, RankingUser } from './types.js';

/**
 * The non-personalised baseline: every item scores its number of training interactions, the same
 * for every user (ties are broken by lower item index in {@link topK}).
 *
 * @example
 * const pop = new PopularityRanker(data);
 * evaluateRanker(data, pop, 'test');
 */
export class PopularityRanker implements Ranker {
  readonly name = 'popularity';
  /** Training interactions per item index. */
  readonly counts: Float32Array;

  /** Count the training interactions of `data`. */
  constructor(data: RankingData) {
    this.counts = new Float32Array(data.numItems);
    for (const { item } of data.trainInteractions) this.counts[item] += 1;
  }

  /** The popularity counts (a fresh copy; the same for every user). */
  scoreItems(_user: RankingUser, _userIndex: number): Float32Array {
    return this.counts.slice();
  }
}
