import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RagarError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { BprMfRanker, loadBprMf, saveBprMf, trainBprMf } from './bprmf.js';
import { evaluateRanker, makeValidator } from './evaluate.js';
import { PopularityRanker } from './popularity.js';
import type { RankingData, RankingUser } from './types.js';

/**
 * Planted structure: community A (120 users) interacts only with items 0..29, community B
 * (80 users) only with items 30..59, each user with 12 items drawn Zipf-like within its block.
 * A is larger, so popularity ranks A's items first for everyone and fails B users, while a
 * personalised model can learn which block each user belongs to.
 */
function planted(seed = 11): RankingData {
  const rng = new Rng(seed);
  const block = 30;
  const weights = Array.from({ length: block }, (_, r) => 1 / (r + 1) ** 0.7);
  const users: RankingUser[] = [];
  const trainInteractions: { user: number; item: number }[] = [];
  for (let u = 0; u < 200; u++) {
    const offset = u < 120 ? 0 : block;
    const items: number[] = [];
    while (items.length < 12) {
      const item = offset + rng.categorical(weights);
      if (!items.includes(item)) items.push(item);
    }
    const split = ['train', 'train', 'train', 'valid', 'test'][u % 5];
    const cut = split === 'train' ? 12 : 11;
    users.push({ userId: 1000 + u, externalId: `u${u}`, split, history: items.slice(0, cut), heldOut: items.slice(cut) });
    for (const item of items.slice(0, cut)) trainInteractions.push({ user: u, item });
  }
  const itemIds = Array.from({ length: 2 * block }, (_, i) => 500 + i);
  return { itemIds, itemIndex: new Map(itemIds.map((id, i) => [id, i])), users, trainInteractions, numItems: itemIds.length };
}

describe('trainBprMf', () => {
  const data = planted();

  it('beats popularity on held-out items when the data has communities', () => {
    const result = trainBprMf(data, { dimension: 8, epochs: 40, learningRate: 0.1, seed: 5, validate: makeValidator(data), patience: 5 });
    const bpr = evaluateRanker(data, result.ranker, 'test');
    const pop = evaluateRanker(data, new PopularityRanker(data), 'test');
    expect(bpr.users).toBe(40);
    expect(bpr['ndcg@10']).toBeGreaterThan(pop['ndcg@10'] + 0.1);
    expect(bpr['recall@20']).toBeGreaterThan(pop['recall@20']);
    // the loss goes down
    expect(result.history.at(-1)!.loss).toBeLessThan(result.history[0].loss);
    // the kept model is the best validated one
    const valid = result.history.filter((h) => h.valid !== null).map((h) => h.valid!);
    expect(result.bestScore).toBe(Math.max(...valid));
    expect(result.history[result.bestEpoch - 1].valid).toBe(result.bestScore);
    expect(makeValidator(data)(result.ranker)).toBe(result.bestScore);
    // B users are ranked their own block first
    const bUser = data.users.findIndex((u, k) => k >= 120 && u.split === 'test');
    const scores = result.ranker.scoreItems(data.users[bUser], bUser);
    const top = [...scores.keys()].filter((i) => !data.users[bUser].history.includes(i)).sort((a, b) => scores[b] - scores[a]).slice(0, 5);
    expect(top.every((i) => i >= 30)).toBe(true);
  });

  it('stops early and restores the weights of the best epoch', () => {
    const script = [0.1, 0.5, 0.3, 0.2, 0.1, 0.9, 0.9];
    const seen: Float32Array[] = [];
    const result = trainBprMf(data, {
      dimension: 4,
      epochs: 7,
      seed: 1,
      patience: 3,
      validate: (ranker) => {
        seen.push(ranker.scoreItems(data.users[0], 0));
        return script[seen.length - 1];
      },
    });
    // best at epoch 2; epochs 3, 4, 5 do not improve -> stop after epoch 5
    expect(result.epochsRun).toBe(5);
    expect(result.bestEpoch).toBe(2);
    expect(result.bestScore).toBe(0.5);
    expect(result.history.map((h) => h.valid)).toEqual([0.1, 0.5, 0.3, 0.2, 0.1]);
    expect([...result.ranker.scoreItems(data.users[0], 0)]).toEqual([...seen[1]]);
    expect([...seen[4]]).not.toEqual([...seen[1]]);
    expect(result.secondsPerEpoch).toBeGreaterThan(0);
  });

  it('validates every evalEvery epochs and always after the last', () => {
    const calls: number[] = [];
    const result = trainBprMf(data, { dimension: 4, epochs: 5, evalEvery: 2, validate: () => (calls.push(calls.length), calls.length) });
    expect(result.history.map((h) => h.valid)).toEqual([null, 1, null, 2, 3]);
    expect(result.bestEpoch).toBe(5);
    // without validate: all epochs, last weights
    const plain = trainBprMf(data, { dimension: 4, epochs: 3 });
    expect(plain).toMatchObject({ epochsRun: 3, bestEpoch: 3, bestScore: null });
  });

  it('is deterministic for a seed', () => {
    const a = trainBprMf(data, { dimension: 4, epochs: 2, seed: 9 }).ranker;
    const b = trainBprMf(data, { dimension: 4, epochs: 2, seed: 9 }).ranker;
    const c = trainBprMf(data, { dimension: 4, epochs: 2, seed: 10 }).ranker;
    expect(a.itemFactors).toEqual(b.itemFactors);
    expect(a.userFactors).toEqual(b.userFactors);
    expect(a.itemBias).toEqual(b.itemBias);
    expect(a.itemFactors).not.toEqual(c.itemFactors);
  });

  it('rejects bad options and empty data', () => {
    expect(() => trainBprMf(data, { dimension: 0 })).toThrow(RagarError);
    expect(() => trainBprMf(data, { learningRate: -1 })).toThrow(RagarError);
    expect(() => trainBprMf(data, { epochs: 2.5 })).toThrow(RagarError);
    expect(() => trainBprMf({ ...data, trainInteractions: [] })).toThrow(/at least one training interaction/);
    expect(() => trainBprMf(data, { epochs: 1, validate: () => NaN })).toThrow(RagarError);
  });

  it('skips users who have seen every item and samples negatives outside the history', () => {
    const tiny: RankingData = {
      itemIds: [1, 2, 3],
      itemIndex: new Map([[1, 0], [2, 1], [3, 2]]),
      users: [
        { userId: 1, externalId: 'all', split: 'train', history: [0, 1, 2], heldOut: [] },
        { userId: 2, externalId: 'one', split: 'train', history: [0], heldOut: [] },
      ],
      trainInteractions: [{ user: 0, item: 0 }, { user: 0, item: 1 }, { user: 0, item: 2 }, { user: 1, item: 0 }],
      numItems: 3,
    };
    const r = trainBprMf(tiny, { dimension: 2, epochs: 200, learningRate: 0.1, regularization: 0 });
    expect(Number.isFinite(r.history[0].loss)).toBe(true);
    // user 'one' liked item 0 and got pushed away from items 1 and 2
    const s = r.ranker.scoreItems(tiny.users[1], 1);
    expect(s[0]).toBeGreaterThan(s[1]);
    expect(s[0]).toBeGreaterThan(s[2]);
  });
});

describe('BprMfRanker', () => {
  const ranker = new BprMfRanker(2, Float32Array.from([1, 0, 0, 2]), Float32Array.from([1, 1, 2, -1, 0, 3]), Float32Array.from([0.5, 0, -1]));
  const user = (history: number[]): RankingUser => ({ userId: 9, externalId: 'x', split: null, history, heldOut: [] });

  it('scores p_u · q_i + b_i', () => {
    // user 0 = (1, 0): items (1,1)+0.5 = 1.5, (2,-1)+0 = 2, (0,3)-1 = -1
    expect([...ranker.scoreItems(user([]), 0)]).toEqual([1.5, 2, -1]);
    // user 1 = (0, 2): 2 + 0.5 = 2.5, -2, 6 - 1 = 5
    expect([...ranker.scoreItems(user([]), 1)]).toEqual([2.5, -2, 5]);
  });

  it('folds in an unknown user as the mean of their history items', () => {
    // history [0, 1]: p = ((1,1) + (2,-1)) / 2 = (1.5, 0): 1.5+0.5 = 2, 3, 0-1 = -1
    expect([...ranker.scoreItems(user([0, 1]), -1)]).toEqual([2, 3, -1]);
    expect([...ranker.scoreItems(user([]), 7)]).toEqual([0.5, 0, -1]);
  });

  it('saves and loads', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-bpr-'));
    try {
      const data = planted();
      const trained = trainBprMf(data, { dimension: 3, epochs: 1 }).ranker;
      const file = path.join(dir, 'm', 'bpr.bin');
      saveBprMf(file, trained, data);
      const back = loadBprMf(file, data);
      expect(back.itemFactors).toEqual(trained.itemFactors);
      expect(back.userFactors).toEqual(trained.userFactors);
      expect(back.itemBias).toEqual(trained.itemBias);
      expect(() => loadBprMf(file, { ...data, itemIds: data.itemIds.map((i) => i + 1) })).toThrow(/other users or items/);
      fs.writeFileSync(path.join(dir, 'junk'), 'hello');
      expect(() => loadBprMf(path.join(dir, 'junk'))).toThrow(RagarError);
      expect(() => loadBprMf(path.join(dir, 'missing'))).toThrow(RagarError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
