/**
 * The ranker specification, version 1: what the pipeline asks of a recommender `R(u, x)`. Every
 * ranker scores the dataset's items for a user; one that reads content (`scoresColdItems`) also
 * scores items outside the dataset, such as generated images, asynchronously (an implementation
 * may serve them from workers or a remote model). Implementations pass the contract suite in
 * `contract.testing.ts` (`runRankerContract`).
 */
import { RagarError } from '../util/errors.js';
import type { ColdItem, ContentRanker } from './ranker.js';
import type { Ranker, RankingUser } from './types.js';

/** A ranker, specification version 1. */
export interface RankerV1 extends Ranker {
  readonly specificationVersion: 'v1';
  /** Whether {@link RankerV1.scoreCold} works (false for id-only models such as BPR-MF). */
  readonly scoresColdItems: boolean;
  /**
   * Scores of candidates outside the dataset (content only), one per candidate, in order.
   * `userIndex` is the user's position in the ranking data (−1 for a user it was not trained on).
   *
   * @throws RagarError `UNSUPPORTED` when `scoresColdItems` is false, `BAD_INPUT` for features of
   * the wrong length, `ABORTED` when `signal` is aborted.
   */
  scoreCold(user: RankingUser, userIndex: number, items: readonly ColdItem[], signal?: AbortSignal): Promise<number[]>;
}

/**
 * The content ranker as a {@link RankerV1}: cold scores are `scoreOne(user, −1, item)`, with the
 * attention asked of a vector index of the user's history (`scoreColdFromIndex`).
 *
 * @example
 * const r = contentRankerV1(ranker);
 * const [score] = await r.scoreCold(user, -1, [{ image: imageRow(features, v, style), text }]);
 */
export function contentRankerV1(ranker: ContentRanker): RankerV1 {
  const { imageDim, textDim } = ranker.features;
  return {
    specificationVersion: 'v1',
    name: ranker.name,
    scoresColdItems: true,
    scoreItems: (user, userIndex) => ranker.scoreItems(user, userIndex),
    async scoreCold(user, _userIndex, items, signal) {
      if (signal?.aborted) throw new RagarError('ranking was aborted', 'ABORTED');
      for (const [i, item] of items.entries()) {
        if (item.image && item.image.length !== imageDim) throw new RagarError(`cold item ${i}: image features have ${item.image.length} values, the ranker reads ${imageDim}`, 'BAD_INPUT');
        if (item.text && item.text.length !== textDim) throw new RagarError(`cold item ${i}: text features have ${item.text.length} values, the ranker reads ${textDim}`, 'BAD_INPUT');
      }
      // Cold items are content only: no id embedding, whatever the user index. The attention asks
      // a vector index of the user's history (the same result as scoreOne, tested in ranker.test.ts).
      const indexes = await ranker.historyIndexes(ranker.historyOf(user));
      const out: number[] = [];
      for (const item of items) out.push(await ranker.scoreColdFromIndex(user, item, indexes));
      return out;
    },
  };
}

/**
 * An id-only ranker (popularity, BPR-MF) as a {@link RankerV1}: it scores dataset items and
 * refuses cold ones.
 *
 * @example
 * idRankerV1(new PopularityRanker(data)).scoresColdItems; // false
 */
export function idRankerV1(ranker: Ranker): RankerV1 {
  return {
    specificationVersion: 'v1',
    name: ranker.name,
    scoresColdItems: false,
    scoreItems: (user, userIndex) => ranker.scoreItems(user, userIndex),
    async scoreCold() {
      throw new RagarError(`the ${ranker.name} ranker scores dataset items only (no content model)`, 'UNSUPPORTED');
    },
  };
}
