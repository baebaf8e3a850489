import { createHash } from 'node:crypto';
import type { Store } from '../store/store.js';

/**
 * SHA-256 over a canonical dump of a dataset: its parameters, items (with image hashes),
 * users, interactions, tasks and splits, ordered by external ids. Two builds with the same
 * options give the same digest; the creation time and row ids do not enter it.
 *
 * @example
 * datasetDigest(store, 'emoji-styles') // 'a3f1…'
 */
export function datasetDigest(store: Store, name: string): string {
  const ds = store.getDataset(name);
  const hash = createHash('sha256');
  const feed = (label: string, rows: unknown[]) => {
    hash.update(`${label}\n`);
    for (const row of rows) hash.update(`${JSON.stringify(row)}\n`);
  };
  feed('dataset', [{ name: ds.name, kind: ds.kind, params: ds.params, license: ds.license, source: ds.source }]);
  const db = store.db;
  feed(
    'items',
    db
      .prepare(
        `SELECT external_id, title, text, tags, grp, subgroup, concept, style, attributes, image_hash
         FROM items WHERE dataset_id = ? ORDER BY external_id`,
      )
      .raw()
      .all(ds.id),
  );
  feed('users', db.prepare('SELECT external_id, attributes FROM users WHERE dataset_id = ? ORDER BY external_id').raw().all(ds.id));
  feed(
    'interactions',
    db
      .prepare(
        `SELECT u.external_id, i.external_id, x.ts, x.rating, x.position FROM interactions x
         JOIN users u ON u.id = x.user_id JOIN items i ON i.id = x.item_id
         WHERE x.dataset_id = ? ORDER BY u.external_id, x.position`,
      )
      .raw()
      .all(ds.id),
  );
  feed(
    'tasks',
    db
      .prepare(
        `SELECT t.external_id, u.external_id, r.external_id, g.external_id, t.split, t.attributes FROM tasks t
         JOIN users u ON u.id = t.user_id JOIN items r ON r.id = t.reference_item_id
         LEFT JOIN items g ON g.id = t.target_item_id
         WHERE t.dataset_id = ? ORDER BY t.external_id`,
      )
      .raw()
      .all(ds.id),
  );
  feed('splits', db.prepare('SELECT entity, key, split FROM splits WHERE dataset_id = ? ORDER BY entity, key').raw().all(ds.id));
  return hash.digest('hex');
}
