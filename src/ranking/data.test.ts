import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DatasetView } from '../data/access.js';
import { Store } from '../store/store.js';
import { RagarError } from '../util/errors.js';
import { buildRankingData } from './data.js';

let homes: string[] = [];
afterEach(() => {
  homes.forEach((h) => fs.rmSync(h, { recursive: true, force: true }));
  homes = [];
});

/**
 * Items a..f; users:
 * - t1 (train): a@10 b@20 c@30 d@40
 * - v1 (valid): written out of time order: c@300 a@100 e@500 b@200 -> time order a b c e
 * - s1 (test): only one interaction (f@5)
 * - s2 (test): d@1 e@2 f@2 (e and f tie on time: insertion order)
 * - n1 (no split): a@1 b@2
 */
async function fixture(): Promise<{ store: Store; view: DatasetView }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-ranking-'));
  homes.push(home);
  const store = Store.open(home);
  await store.writeDataset({ name: 'toy', kind: 'jsonl' }, (w) => {
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) w.addItem({ externalId: id, title: id });
    for (const [item, ts] of [['a', 10], ['b', 20], ['c', 30], ['d', 40]] as const) w.addInteraction('t1', item, ts);
    for (const [item, ts] of [['c', 300], ['a', 100], ['e', 500], ['b', 200]] as const) w.addInteraction('v1', item, ts);
    w.addInteraction('s1', 'f', 5);
    for (const [item, ts] of [['d', 1], ['e', 2], ['f', 2]] as const) w.addInteraction('s2', item, ts);
    w.addInteraction('n1', 'a', 1);
    w.addInteraction('n1', 'b', 2);
    w.setSplit('user', 't1', 'train');
    w.setSplit('user', 'v1', 'valid');
    w.setSplit('user', 's1', 'test');
    w.setSplit('user', 's2', 'test');
  });
  return { store, view: DatasetView.open(store, 'toy') };
}

describe('buildRankingData', () => {
  it('holds out the latest interaction of valid and test users', async () => {
    const { store, view } = await fixture();
    const data = buildRankingData(view);
    const idx = (ext: string) => data.itemIndex.get(view.item(ext).id)!;
    expect(data.numItems).toBe(6);
    expect(data.itemIds.map((id) => view.item(id).externalId)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(data.itemIds.every((id, k) => data.itemIndex.get(id) === k)).toBe(true);

    const byExt = new Map(data.users.map((u) => [u.externalId, u]));
    expect(data.users.map((u) => u.externalId)).toEqual(['t1', 'v1', 's1', 's2', 'n1']);
    expect(byExt.get('t1')).toMatchObject({ split: 'train', history: ['a', 'b', 'c', 'd'].map(idx), heldOut: [] });
    // time order a b c e: the latest (e@500) is held out although it was not written last
    expect(byExt.get('v1')).toMatchObject({ split: 'valid', history: ['a', 'b', 'c'].map(idx), heldOut: [idx('e')] });
    // a single interaction stays history
    expect(byExt.get('s1')).toMatchObject({ split: 'test', history: [idx('f')], heldOut: [] });
    // e and f share ts 2: f was written later, so it is the latest
    expect(byExt.get('s2')).toMatchObject({ history: ['d', 'e'].map(idx), heldOut: [idx('f')] });
    expect(byExt.get('n1')).toMatchObject({ split: null, history: ['a', 'b'].map(idx), heldOut: [] });
    expect(byExt.get('v1')!.userId).toBe(view.user('v1').id);

    // train interactions: every user's history, grouped by user, in time order
    const expected = data.users.flatMap((u, k) => u.history.map((item) => ({ user: k, item })));
    expect(data.trainInteractions).toEqual(expected);
    expect(data.trainInteractions).toHaveLength(4 + 3 + 1 + 2 + 2);
    store.close();
  });

  it('supports a longer holdout and is deterministic', async () => {
    const { store, view } = await fixture();
    const data = buildRankingData(view, { holdout: 2 });
    const idx = (ext: string) => data.itemIndex.get(view.item(ext).id)!;
    const byExt = new Map(data.users.map((u) => [u.externalId, u]));
    expect(byExt.get('v1')).toMatchObject({ history: ['a', 'b'].map(idx), heldOut: ['c', 'e'].map(idx) });
    expect(byExt.get('s2')).toMatchObject({ history: [idx('d')], heldOut: ['e', 'f'].map(idx) });
    expect(byExt.get('s1')!.heldOut).toEqual([]);
    expect(JSON.stringify(buildRankingData(DatasetView.open(store, 'toy'), { holdout: 2 }), (_k, v) => (v instanceof Map ? [...v] : v))).toBe(
      JSON.stringify(data, (_k, v) => (v instanceof Map ? [...v] : v)),
    );
    // holdout 0: everything is history
    expect(buildRankingData(view, { holdout: 0 }).users.every((u) => u.heldOut.length === 0)).toBe(true);
    expect(() => buildRankingData(view, { holdout: -1 })).toThrow(RagarError);
    expect(() => buildRankingData(view, { holdout: 1.5 })).toThrow(RagarError);
    store.close();
  });
});
