import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { datasetDigest } from '../digest.js';
import { datasetStats } from '../stats.js';
import { buildEmojiStyles, DEFAULT_EMOJI_BUILD, type EmojiBuildOptions } from './build.js';
import type { UserTaste } from './simulate.js';

const homes: string[] = [];
function tempStore(): Store {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-build-'));
  homes.push(home);
  return Store.open(home);
}
afterAll(() => homes.forEach((h) => fs.rmSync(h, { recursive: true, force: true })));

const small: EmojiBuildOptions = { ...DEFAULT_EMOJI_BUILD, users: 24, maxConcepts: 60, historyMin: 5, historyMax: 12, size: 32 };

describe('emoji-styles builder', () => {
  it('is deterministic: same options, same digest; another seed, another digest', async () => {
    const a = tempStore();
    const b = tempStore();
    const c = tempStore();
    await buildEmojiStyles(a, small);
    await buildEmojiStyles(b, small);
    await buildEmojiStyles(c, { ...small, seed: 2 });
    const da = datasetDigest(a, 'emoji-styles');
    expect(da).toMatch(/^[0-9a-f]{64}$/);
    expect(datasetDigest(b, 'emoji-styles')).toBe(da);
    expect(datasetDigest(c, 'emoji-styles')).not.toBe(da);
    [a, b, c].forEach((s) => s.close());
  });

  it('writes items in every style, interactions on train concepts only, and valid tasks', async () => {
    const store = tempStore();
    const summary = await buildEmojiStyles(store, small);
    expect(summary.items).toBe(summary.concepts * small.styles.length);
    const stats = datasetStats(store, 'emoji-styles');
    expect(stats.styles.sort()).toEqual([...small.styles].sort());
    expect(stats.users).toBe(24);
    expect(stats.itemsWithImages).toBe(stats.items);
    expect(stats.historyLength.min).toBeGreaterThanOrEqual(5);
    expect(stats.historyLength.max).toBeLessThanOrEqual(12);

    const db = store.db;
    const heldOutInteractions = db
      .prepare(
        `SELECT COUNT(*) FROM interactions x JOIN items i ON i.id = x.item_id
         JOIN splits s ON s.dataset_id = i.dataset_id AND s.entity = 'concept' AND s.key = i.concept
         WHERE s.split != 'train'`,
      )
      .pluck()
      .get();
    expect(heldOutInteractions).toBe(0);

    const tasks = db
      .prepare(
        `SELECT u.external_id AS user, u.attributes AS attrs, r.concept AS rc, r.style AS rs, r.grp AS grp,
                g.concept AS gc, g.style AS gs, t.split AS split, s.split AS userSplit, cs.split AS conceptSplit
         FROM tasks t JOIN users u ON u.id = t.user_id JOIN items r ON r.id = t.reference_item_id
         JOIN items g ON g.id = t.target_item_id
         JOIN splits s ON s.dataset_id = t.dataset_id AND s.entity = 'user' AND s.key = u.external_id
         JOIN splits cs ON cs.dataset_id = t.dataset_id AND cs.entity = 'concept' AND cs.key = r.concept`,
      )
      .all() as Record<string, string>[];
    expect(tasks.length).toBeGreaterThan(0);
    for (const t of tasks) {
      const taste = (JSON.parse(t.attrs) as { truth: UserTaste }).truth;
      expect(t.gc).toBe(t.rc);
      expect(t.gs).toBe(taste.styleByGroup[t.grp]);
      expect(t.rs).not.toBe(t.gs);
      expect(t.split).toBe(t.userSplit);
      expect(t.conceptSplit).toBe(t.userSplit);
      const seen = db
        .prepare(
          `SELECT COUNT(*) FROM interactions x JOIN users u ON u.id = x.user_id JOIN items i ON i.id = x.item_id
           WHERE u.external_id = ? AND i.concept = ?`,
        )
        .pluck()
        .get(t.user, t.rc);
      expect(seen).toBe(0);
    }
    store.close();
  });

  it('refuses to overwrite without replace, and replaces atomically with it', async () => {
    const store = tempStore();
    await buildEmojiStyles(store, { ...small, users: 4 });
    await expect(buildEmojiStyles(store, { ...small, users: 4 })).rejects.toThrow(/already exists/);
    await buildEmojiStyles(store, { ...small, users: 6, replace: true });
    expect(datasetStats(store, 'emoji-styles').users).toBe(6);
    store.close();
  });

  it('rejects bad options with a message naming them', async () => {
    const store = tempStore();
    await expect(buildEmojiStyles(store, { ...small, styles: ['openmoji', 'apple'] })).rejects.toThrow(/unknown styles apple/);
    await expect(buildEmojiStyles(store, { ...small, historyMin: 10, historyMax: 5 })).rejects.toThrow(/historyMax/);
    expect(store.listDatasets()).toEqual([]);
    store.close();
  });
});
