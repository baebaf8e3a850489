import { describe, expect, it } from 'vitest';
import { RagarError } from '../util/errors.js';
import { evaluateRanker, makeValidator } from './evaluate.js';
import { PopularityRanker } from './popularity.js';
import type { Ranker, RankingData, RankingUser } from './types.js';

/**
 * Five items (0..4), users:
 * - t0 (train): history [0, 1], nothing held out -> not evaluated
 * - v1 (valid): history [0], held out [3]
 * - v2 (valid): history [1, 2], held out [4, 0]
 * - v3 (valid): history [0], held out [0] (seen again) -> nothing rankable, skipped
 * - s4 (test): history [4], held out [2]
 */
function toy(): RankingData {
  const users: RankingUser[] = [
    { userId: 10, externalId: 't0', split: 'train', history: [0, 1], heldOut: [] },
    { userId: 11, externalId: 'v1', split: 'valid', history: [0], heldOut: [3] },
    { userId: 12, externalId: 'v2', split: 'valid', history: [1, 2], heldOut: [4, 0] },
    { userId: 13, externalId: 'v3', split: 'valid', history: [0], heldOut: [0] },
    { userId: 14, externalId: 's4', split: 'test', history: [4], heldOut: [2] },
  ];
  const itemIds = [100, 101, 102, 103, 104];
  return {
    itemIds,
    itemIndex: new Map(itemIds.map((id, i) => [id, i])),
    users,
    trainInteractions: users.flatMap((u, k) => u.history.map((item) => ({ user: k, item }))),
    numItems: 5,
  };
}

/** Scores items 5, 4, 3, 2, 1 (item 0 best) for everyone; checks that userIndex matches the user. */
class FixedRanker implements Ranker {
  readonly name = 'fixed';
  calls: string[] = [];
  constructor(private readonly data: RankingData) {}
  scoreItems(user: RankingUser, userIndex: number): Float32Array {
    expect(this.data.users[userIndex]).toBe(user);
    this.calls.push(user.externalId);
    return Float32Array.from([5, 4, 3, 2, 1]);
  }
}

describe('evaluateRanker', () => {
  it('matches hand-computed metrics', () => {
    const data = toy();
    const ranker = new FixedRanker(data);
    const m = evaluateRanker(data, ranker, 'valid', [1, 3]);
    // v1: ranking without history {0}: [1, 2, 3, 4]; relevant {3} at rank 3
    //   recall@1 = 0, ndcg@1 = 0; recall@3 = 1, ndcg@3 = 1/log2(4) = 0.5
    // v2: ranking without {1, 2}: [0, 3, 4]; relevant {4, 0} at ranks 1 and 3
    //   recall@1 = 1/2, ndcg@1 = 1/1 = 1 (ideal over min(2, 1) = 1 item)
    //   recall@3 = 1, ndcg@3 = (1 + 1/log2(4)) / (1 + 1/log2(3)) = 1.5 / 1.6309297535714575 = 0.9197207891481876
    // v3 is skipped (its only held-out item is in its history)
    expect(m.users).toBe(2);
    expect(Object.keys(m)).toEqual(['users', 'recall@1', 'ndcg@1', 'recall@3', 'ndcg@3']);
    expect(m['recall@1']).toBeCloseTo((0 + 0.5) / 2, 12);
    expect(m['ndcg@1']).toBeCloseTo((0 + 1) / 2, 12);
    expect(m['recall@3']).toBeCloseTo(1, 12);
    expect(m['ndcg@3']).toBeCloseTo((0.5 + 0.9197207891481876) / 2, 12);
    expect(ranker.calls).toEqual(['v1', 'v2']);
  });

  it('uses K = 10 and 20 by default', () => {
    const data = toy();
    // s4: ranking without {4}: [0, 1, 2, 3]; relevant {2} at rank 3 -> ndcg 0.5, recall 1
    expect(evaluateRanker(data, new FixedRanker(data), 'test')).toEqual({
      users: 1,
      'recall@10': 1,
      'ndcg@10': 0.5,
      'recall@20': 1,
      'ndcg@20': 0.5,
    });
  });

  it('fails clearly on an unknown split, bad K or a wrong-sized ranker', () => {
    const data = toy();
    expect(() => evaluateRanker(data, new FixedRanker(data), 'tset')).toThrow(/split "tset".*valid, test/);
    expect(() => evaluateRanker(data, new FixedRanker(data), 'valid', [0])).toThrow(RagarError);
    const short: Ranker = { name: 'short', scoreItems: () => new Float32Array(3) };
    expect(() => evaluateRanker(data, short, 'valid')).toThrow(/returned 3 scores for 5 items/);
  });
});

describe('makeValidator', () => {
  it('returns the mean NDCG@10 on the valid split', () => {
    const data = toy();
    // same as ndcg@3 above: nothing relevant lies beyond rank 3
    expect(makeValidator(data)(new FixedRanker(data))).toBeCloseTo((0.5 + 0.9197207891481876) / 2, 12);
    // on test: 0.5; with k = 2, the hit at rank 3 is cut off
    expect(makeValidator(data, 'test')(new FixedRanker(data))).toBeCloseTo(0.5, 12);
    expect(makeValidator(data, 'test', 2)(new FixedRanker(data))).toBe(0);
    expect(() => makeValidator(data, 'nope')).toThrow(RagarError);
  });
});

describe('PopularityRanker', () => {
  it('scores training counts, the same for every user', () => {
    const data = toy();
    const pop = new PopularityRanker(data);
    // histories: [0,1], [0], [1,2], [0], [4] -> counts 0:3, 1:2, 2:1, 3:0, 4:1
    expect([...pop.scoreItems(data.users[1], 1)]).toEqual([3, 2, 1, 0, 1]);
    expect(pop.name).toBe('popularity');
    // v1 ranking without {0}: 1 (2), 2 (1), 4 (1, tie -> lower index 2 first), 3 (0): relevant 3 at rank 4
    // v2 ranking without {1, 2}: 0 (3), 4 (1), 3 (0): relevant {4, 0} at ranks 1, 2 -> ndcg 1
    // mean ndcg@10 = (1/log2(5) + 1) / 2 = (0.43067655807339306 + 1) / 2
    expect(makeValidator(data)(pop)).toBeCloseTo((0.43067655807339306 + 1) / 2, 12);
  });
});
