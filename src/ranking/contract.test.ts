import { l2normalize } from '../encoders/types.js';
import { Rng } from '../util/rng.js';
import { trainBprMf } from './bprmf.js';
import { contentFeatures } from './content.js';
import { runRankerContract } from './contract.testing.js';
import { PopularityRanker } from './popularity.js';
import { DEFAULT_RANKER, trainRanker } from './ranker.js';
import { contentRankerV1, idRankerV1 } from './spec.js';
import type { RankingData, RankingUser } from './types.js';

/** Random items with 10-d image and 6-d text features, 30 users with histories of 5. */
function tinyData(seed: number) {
  const rng = new Rng(seed);
  const n = 40;
  const itemIds = Array.from({ length: n }, (_, i) => i);
  const vec = (d: number) => l2normalize(Float32Array.from({ length: d }, () => rng.normal()));
  const image = new Map(itemIds.map((id) => [id, vec(10)]));
  const text = new Map(itemIds.map((id) => [id, vec(6)]));
  const users: RankingUser[] = Array.from({ length: 30 }, (_, u) => ({ userId: u, externalId: `u${u}`, split: 'train', history: rng.shuffle([...itemIds]).slice(0, 5), heldOut: [] }));
  const data: RankingData = { itemIds, itemIndex: new Map(itemIds.map((id, i) => [id, i])), users, trainInteractions: users.flatMap((u, ui) => u.history.map((item) => ({ user: ui, item }))), numItems: n };
  const cold = (s: number) => {
    const r = new Rng(1000 + s);
    return { image: l2normalize(Float32Array.from({ length: 10 }, () => r.normal())), text: l2normalize(Float32Array.from({ length: 6 }, () => r.normal())) };
  };
  return { data, features: contentFeatures(itemIds, image, text), cold };
}

runRankerContract('content ranker (ids + content)', {
  create: async () => {
    const { data, features, cold } = tinyData(1);
    const { ranker } = await trainRanker(data, features, { ...DEFAULT_RANKER, dimension: 4, epochs: 1 });
    return { ranker: contentRankerV1(ranker), data, cold };
  },
});

runRankerContract('content-only ranker', {
  create: async () => {
    const { data, features, cold } = tinyData(2);
    const { ranker } = await trainRanker(data, features, { ...DEFAULT_RANKER, dimension: 4, epochs: 1, useIds: false });
    return { ranker: contentRankerV1(ranker), data, cold };
  },
});

runRankerContract('BPR-MF (id-only)', {
  create: async () => {
    const { data } = tinyData(3);
    return { ranker: idRankerV1(trainBprMf(data, { dimension: 4, epochs: 2, seed: 1 }).ranker), data, cold: null };
  },
});

runRankerContract('popularity (id-only)', {
  create: async () => {
    const { data } = tinyData(4);
    return { ranker: idRankerV1(new PopularityRanker(data)), data, cold: null };
  },
});
