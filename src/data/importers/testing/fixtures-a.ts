/**
 * Test helpers shared by the MovieLens, PMG-Bench and JSONL importer tests: temp folders,
 * small real images, and a snapshot of a store (row counts of every table plus the image files)
 * to prove that a failed import leaves the store exactly as it was.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { Store } from '../../../store/store.js';

/** A fresh temp folder `ragar-XXXXXX`. */
export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-'));
}

/** An 8×8 PNG filled with `color`. */
export async function pngBytes(color = '#f00'): Promise<Buffer> {
  return sharp({ create: { width: 8, height: 8, channels: 3, background: color } }).png().toBuffer();
}

/** An 8×8 JPEG filled with `color`. */
export async function jpegBytes(color = '#00f'): Promise<Buffer> {
  return sharp({ create: { width: 8, height: 8, channels: 3, background: color } }).jpeg().toBuffer();
}

/** Bytes that are not an image (a deterministic pseudo-random blob). */
export function garbageBytes(n = 256): Buffer {
  const b = Buffer.alloc(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Write `content` to `dir/name`, creating folders; returns the path. */
export function writeFile(dir: string, name: string, content: string | Buffer): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

/** All files under `dir`, relative and sorted. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** Row counts of every table and the image files: equal snapshots mean an untouched store. */
export function snapshot(store: Store): { tables: Record<string, number>; files: string[]; datasets: string[] } {
  const names = (
    store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as {
      name: string;
    }[]
  ).map((r) => r.name);
  const tables: Record<string, number> = {};
  for (const n of names) tables[n] = (store.db.prepare(`SELECT COUNT(*) AS c FROM "${n}"`).get() as { c: number }).c;
  const datasets = store.listDatasets().map((d) => `${d.name}:${d.kind}:${d.createdAt}`);
  return { tables, files: listFiles(store.images.root), datasets };
}

/** Interactions of `user` in dataset `name`, in position order. */
export function historyOf(
  store: Store,
  dataset: string,
  user: string,
): { item: string; ts: number; rating: number | null; position: number }[] {
  return store.db
    .prepare(
      `SELECT i.external_id AS item, x.ts AS ts, x.rating AS rating, x.position AS position
       FROM interactions x JOIN users u ON u.id = x.user_id JOIN items i ON i.id = x.item_id
       JOIN datasets d ON d.id = x.dataset_id
       WHERE d.name = ? AND u.external_id = ? ORDER BY x.position`,
    )
    .all(dataset, user) as { item: string; ts: number; rating: number | null; position: number }[];
}

/** One item row of dataset `name` (tags and attributes parsed). */
export function itemOf(
  store: Store,
  dataset: string,
  externalId: string,
): { title: string; text: string; tags: string[]; grp: string | null; attributes: Record<string, unknown>; image_hash: string | null } | undefined {
  const row = store.db
    .prepare(
      `SELECT i.title, i.text, i.tags, i.grp, i.attributes, i.image_hash FROM items i JOIN datasets d ON d.id = i.dataset_id
       WHERE d.name = ? AND i.external_id = ?`,
    )
    .get(dataset, externalId) as
    | { title: string; text: string; tags: string; grp: string | null; attributes: string; image_hash: string | null }
    | undefined;
  if (!row) return undefined;
  return { ...row, tags: JSON.parse(row.tags) as string[], attributes: JSON.parse(row.attributes) as Record<string, unknown> };
}

/** Count rows of `table` belonging to dataset `name`. */
export function countOf(store: Store, dataset: string, table: 'items' | 'users' | 'interactions' | 'tasks' | 'splits'): number {
  return (
    store.db
      .prepare(`SELECT COUNT(*) AS c FROM ${table} t JOIN datasets d ON d.id = t.dataset_id WHERE d.name = ?`)
      .get(dataset) as { c: number }
  ).c;
}
