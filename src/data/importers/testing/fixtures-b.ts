/**
 * Test helpers for the POG and SER30K importer tests: temp folders, tiny images, and snapshots
 * of a store (row counts of every table and the files under its images folder) to check that a
 * failed import changed nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { Store } from '../../../store/store.js';
import { itemOf, listFiles, tempDir } from './fixtures-a.js';

export { itemOf as itemRow, listFiles, tempDir };


/** An 8x8 solid-colour image as PNG, JPEG or WebP. */
export async function tinyImage(colour: string, format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<Buffer> {
  const img = sharp({ create: { width: 8, height: 8, channels: 3, background: colour } });
  if (format === 'jpeg') return img.jpeg().toBuffer();
  if (format === 'webp') return img.webp().toBuffer();
  return img.png().toBuffer();
}

/** Write `content` to `file`, creating folders. */
export function writeFile(file: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

/** Every table's row count. */
export function tableCounts(store: Store): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ['datasets', 'images', 'items', 'users', 'interactions', 'tasks', 'splits']) {
    out[t] = (store.db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
  }
  return out;
}


/** Row counts plus image files: compare before and after a failed import. */
export function snapshot(store: Store): { counts: Record<string, number>; files: string[] } {
  return { counts: tableCounts(store), files: listFiles(store.images.root) };
}

/** A user's item external ids in history order (ts, position). */
export function history(store: Store, dataset: string, user: string): { item: string; ts: number; position: number }[] {
  return store.db
    .prepare(
      `SELECT i.external_id AS item, x.ts AS ts, x.position AS position
         FROM interactions x
         JOIN users u ON u.id = x.user_id
         JOIN items i ON i.id = x.item_id
         JOIN datasets d ON d.id = x.dataset_id
        WHERE d.name = ? AND u.external_id = ?
        ORDER BY x.ts, x.position`,
    )
    .all(dataset, user) as { item: string; ts: number; position: number }[];
}


/** Split rows of a dataset for one entity kind, as a map key -> split. */
export function splits(store: Store, dataset: string, entity: 'user' | 'item' | 'concept'): Map<string, string> {
  const rows = store.db
    .prepare(
      `SELECT s.key, s.split FROM splits s JOIN datasets d ON d.id = s.dataset_id WHERE d.name = ? AND s.entity = ?`,
    )
    .all(dataset, entity) as { key: string; split: string }[];
  return new Map(rows.map((r) => [r.key, r.split]));
}
