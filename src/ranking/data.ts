import type { DatasetView } from '../data/access.js';
import { RagarError } from '../util/errors.js';
import type { RankingData, RankingUser, TrainInteraction } from './types.js';

/** Options of {@link buildRankingData}. */
export interface RankingDataOptions {
  /** How many of the latest interactions of each valid/test user are held out (default 1). */
  holdout?: number;
  /** Splits whose users get held-out interactions (default `['valid', 'test']`). */
  holdoutSplits?: readonly string[];
}

/**
 * Index a dataset's interactions for the ranking stage under the leave-last-out protocol.
 *
 * Users of the hold-out splits (`valid`, `test`) keep their latest `holdout` interactions out as
 * `heldOut`; the earlier ones form their `history`. Train users, users of any other split and
 * users without a split keep everything as history. A user with fewer than `holdout + 1`
 * interactions keeps all of them as history (nothing is left to learn from otherwise).
 * `trainInteractions` holds every user's history, so valid/test users are still trained on
 * their earlier behaviour. Items are indexed by ascending store id and users are ordered by
 * store id, so the result is deterministic.
 *
 * @example
 * const data = buildRankingData(DatasetView.open(store, 'movielens'), { holdout: 1 });
 * data.users.filter((u) => u.split === 'test' && u.heldOut.length > 0).length;
 */
export function buildRankingData(view: DatasetView, options: RankingDataOptions = {}): RankingData {
  const holdout = options.holdout ?? 1;
  if (!Number.isInteger(holdout) || holdout < 0) {
    throw new RagarError(`holdout must be a non-negative integer, got ${holdout}`, 'BAD_INPUT');
  }
  const holdoutSplits = new Set(options.holdoutSplits ?? ['valid', 'test']);

  const itemIds = [...view.items().keys()].sort((a, b) => a - b);
  const itemIndex = new Map<number, number>();
  itemIds.forEach((id, index) => itemIndex.set(id, index));

  const users: RankingUser[] = [];
  const trainInteractions: TrainInteraction[] = [];
  const userRecords = [...view.users().values()].sort((a, b) => a.id - b.id);
  for (const record of userRecords) {
    const all = view.history(record.id).map((h) => {
      const index = itemIndex.get(h.itemId);
      if (index === undefined) throw new RagarError(`interaction of user ${record.externalId} names unknown item ${h.itemId}`, 'INTERNAL');
      return index;
    });
    const holds = record.split !== null && holdoutSplits.has(record.split) && holdout > 0 && all.length >= holdout + 1;
    const cut = holds ? all.length - holdout : all.length;
    const user: RankingUser = {
      userId: record.id,
      externalId: record.externalId,
      split: record.split,
      history: all.slice(0, cut),
      heldOut: all.slice(cut),
    };
    const userIdx = users.length;
    users.push(user);
    for (const item of user.history) trainInteractions.push({ user: userIdx, item });
  }
  return { itemIds, itemIndex, users, trainInteractions, numItems: itemIds.length };
}
