import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { NotFoundError, RagarError } from '../util/errors.js';
import { describePng, ImageStore, normalizeImage, type ImageNormalization } from './images.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';

/** A dataset's row. */
export interface DatasetInfo {
  id: number;
  name: string;
  kind: string;
  createdAt: string;
  params: Record<string, unknown>;
  license: string | null;
  source: string | null;
}

/** What a new dataset is. */
export interface DatasetMeta {
  name: string;
  /** `emoji-styles`, `movielens`, `pog`, `ser30k`, `pmg-bench`, `jsonl`. */
  kind: string;
  params?: Record<string, unknown>;
  license?: string;
  source?: string;
}

/** One item to write. Omitted text fields are stored empty. */
export interface ItemInput {
  externalId: string;
  title?: string;
  text?: string;
  tags?: string[];
  group?: string | null;
  subgroup?: string | null;
  concept?: string | null;
  style?: string | null;
  attributes?: Record<string, unknown>;
  /** Hash returned by {@link DatasetWriter.putImage}/{@link DatasetWriter.putPng}. */
  imageHash?: string | null;
}

/** One task: show `reference` to `user`; `target` is the ground truth where known. */
export interface TaskInput {
  externalId: string;
  user: string;
  reference: string;
  target?: string | null;
  split?: string | null;
  attributes?: Record<string, unknown>;
}

/** Split entities: users, concepts (emoji-styles) or items. */
export type SplitEntity = 'user' | 'concept' | 'item';

/**
 * Writes one dataset inside an open transaction. Obtained from {@link Store.writeDataset}.
 * Ids are the dataset's own (external) ids; unknown ids are reported as errors.
 */
export class DatasetWriter {
  readonly datasetId: number;
  private readonly store: Store;
  private readonly itemIds = new Map<string, number>();
  private readonly userIds = new Map<string, number>();
  private readonly positions = new Map<number, number>();
  /** Hashes stored through this writer (candidates for orphan removal at commit). */
  readonly imageHashes = new Set<string>();
  private readonly statements;

  /** @internal */
  constructor(store: Store, datasetId: number) {
    this.store = store;
    this.datasetId = datasetId;
    const db = store.db;
    this.statements = {
      item: db.prepare(
        `INSERT INTO items (dataset_id, external_id, title, text, tags, grp, subgroup, concept, style, attributes, image_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      user: db.prepare('INSERT INTO users (dataset_id, external_id, attributes) VALUES (?, ?, ?)'),
      interaction: db.prepare(
        'INSERT INTO interactions (dataset_id, user_id, item_id, ts, rating, position) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      task: db.prepare(
        `INSERT INTO tasks (dataset_id, external_id, user_id, reference_item_id, target_item_id, split, attributes)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      split: db.prepare('INSERT OR REPLACE INTO splits (dataset_id, entity, key, split) VALUES (?, ?, ?, ?)'),
      image: db.prepare(
        'INSERT OR IGNORE INTO images (hash, width, height, channels, format, bytes) VALUES (?, ?, ?, ?, ?, ?)',
      ),
    };
  }

  /** Decode, normalise and store an image; returns its hash. Throws naming `label` if corrupt. */
  async putImage(data: Buffer | Uint8Array, norm: ImageNormalization, label: string): Promise<string> {
    return this.putPng(await normalizeImage(data, norm, label));
  }

  /** Store PNG bytes already produced by `normalizeImage`; returns the hash. */
  async putPng(png: Buffer): Promise<string> {
    const hash = this.store.images.putPng(png);
    const d = await describePng(png);
    this.statements.image.run(hash, d.width, d.height, d.channels, d.format, d.bytes);
    this.imageHashes.add(hash);
    return hash;
  }

  /** Add an item; returns its row id. Duplicate external ids are an error. */
  addItem(item: ItemInput): number {
    if (this.itemIds.has(item.externalId)) {
      throw new RagarError(`duplicate item id ${JSON.stringify(item.externalId)}`, 'BAD_INPUT');
    }
    const info = this.statements.item.run(
      this.datasetId,
      item.externalId,
      item.title ?? '',
      item.text ?? '',
      JSON.stringify(item.tags ?? []),
      item.group ?? null,
      item.subgroup ?? null,
      item.concept ?? null,
      item.style ?? null,
      JSON.stringify(item.attributes ?? {}),
      item.imageHash ?? null,
    );
    const id = Number(info.lastInsertRowid);
    this.itemIds.set(item.externalId, id);
    return id;
  }

  /** True when an item with this external id was added. */
  hasItem(externalId: string): boolean {
    return this.itemIds.has(externalId);
  }

  /** Add a user (or return the existing one's row id). */
  addUser(externalId: string, attributes: Record<string, unknown> = {}): number {
    const existing = this.userIds.get(externalId);
    if (existing !== undefined) return existing;
    const info = this.statements.user.run(this.datasetId, externalId, JSON.stringify(attributes));
    const id = Number(info.lastInsertRowid);
    this.userIds.set(externalId, id);
    return id;
  }

  /** True when a user with this external id was added. */
  hasUser(externalId: string): boolean {
    return this.userIds.has(externalId);
  }

  /**
   * Add an interaction. Users are created on first sight; the item must exist.
   * `position` orders interactions with equal timestamps (insertion order per user).
   */
  addInteraction(user: string, item: string, ts: number, rating: number | null = null): void {
    const userId = this.addUser(user);
    const itemId = this.requireItem(item);
    if (!Number.isFinite(ts)) throw new RagarError(`timestamp ${ts} is not a number`, 'BAD_INPUT');
    const position = this.positions.get(userId) ?? 0;
    this.positions.set(userId, position + 1);
    this.statements.interaction.run(this.datasetId, userId, itemId, Math.round(ts), rating, position);
  }

  /** Add a task; the user and items must exist. */
  addTask(task: TaskInput): void {
    const userId = this.userIds.get(task.user);
    if (userId === undefined) throw new RagarError(`task ${task.externalId}: unknown user ${JSON.stringify(task.user)}`, 'BAD_INPUT');
    this.statements.task.run(
      this.datasetId,
      task.externalId,
      userId,
      this.requireItem(task.reference),
      task.target == null ? null : this.requireItem(task.target),
      task.split ?? null,
      JSON.stringify(task.attributes ?? {}),
    );
  }

  /** Assign `key` (a user, concept or item external id) to a split such as `train`. */
  setSplit(entity: SplitEntity, key: string, split: string): void {
    this.statements.split.run(this.datasetId, entity, key, split);
  }

  private requireItem(externalId: string): number {
    const id = this.itemIds.get(externalId);
    if (id === undefined) throw new RagarError(`unknown item id ${JSON.stringify(externalId)}`, 'BAD_INPUT');
    return id;
  }
}

/**
 * The project's store: one SQLite database plus content-addressed images, in a data home folder.
 *
 * @example
 * const store = Store.open(resolveHome(undefined, process.env));
 * await store.writeDataset({ name: 'demo', kind: 'jsonl' }, async (w) => { w.addItem({ externalId: 'a' }); });
 * store.close();
 */
export class Store {
  readonly home: string;
  readonly db: Database.Database;
  readonly images: ImageStore;
  private inTransaction = false;

  private constructor(home: string, db: Database.Database) {
    this.home = home;
    this.db = db;
    this.images = new ImageStore(path.join(home, 'images'));
  }

  /** Open (creating if needed) the store in `home`, applying pending migrations. */
  static open(home: string): Store {
    fs.mkdirSync(home, { recursive: true });
    const db = new Database(path.join(home, 'ragar.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const store = new Store(home, db);
    store.migrate();
    return store;
  }

  /** Current schema version of the open database. */
  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(): void {
    const current = this.schemaVersion;
    if (current > SCHEMA_VERSION) {
      throw new RagarError(
        `store at ${this.home} has schema version ${current}, newer than this ragar (${SCHEMA_VERSION}); upgrade ragar`,
        'VERSION',
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.pragma(`user_version = ${m.version}`);
      })();
    }
  }

  /** Close the database. */
  close(): void {
    this.db.close();
  }

  /** All datasets, by name. */
  listDatasets(): DatasetInfo[] {
    return (this.db.prepare('SELECT * FROM datasets ORDER BY name').all() as DatasetRow[]).map(toInfo);
  }

  /** The dataset called `name`, or undefined. */
  findDataset(name: string): DatasetInfo | undefined {
    const row = this.db.prepare('SELECT * FROM datasets WHERE name = ?').get(name) as DatasetRow | undefined;
    return row ? toInfo(row) : undefined;
  }

  /** The dataset called `name`; throws {@link NotFoundError} listing the known ones. */
  getDataset(name: string): DatasetInfo {
    const found = this.findDataset(name);
    if (found) return found;
    const known = this.listDatasets().map((d) => d.name);
    throw new NotFoundError(
      `no dataset named ${JSON.stringify(name)} in ${this.home}` +
        (known.length ? ` (known: ${known.join(', ')})` : ' (the store is empty; build or import one first)'),
    );
  }

  /**
   * Create dataset `meta.name` and fill it with `fill`, all in one transaction: if `fill`
   * throws, the database and the image folder are left exactly as they were. An existing
   * dataset of that name is an error unless `replace` is set, in which case it is replaced
   * atomically.
   */
  async writeDataset<T>(
    meta: DatasetMeta,
    fill: (writer: DatasetWriter) => Promise<T> | T,
    options: { replace?: boolean } = {},
  ): Promise<T> {
    if (this.inTransaction) throw new RagarError('nested dataset writes are not supported', 'CONFLICT');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(meta.name)) {
      throw new RagarError(
        `dataset name ${JSON.stringify(meta.name)} must be 1-64 letters, digits, '.', '_' or '-'`,
        'BAD_INPUT',
      );
    }
    this.inTransaction = true;
    this.images.beginTracking();
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const existing = this.findDataset(meta.name);
      const candidates = new Set<string>();
      if (existing) {
        if (!options.replace) {
          throw new RagarError(
            `dataset ${JSON.stringify(meta.name)} already exists; pass --force to replace it`,
            'CONFLICT',
          );
        }
        for (const h of this.imageHashesOf(existing.id)) candidates.add(h);
        this.db.prepare('DELETE FROM datasets WHERE id = ?').run(existing.id);
      }
      const info = this.db
        .prepare('INSERT INTO datasets (name, kind, created_at, params, license, source) VALUES (?, ?, ?, ?, ?, ?)')
        .run(
          meta.name,
          meta.kind,
          new Date().toISOString(),
          JSON.stringify(meta.params ?? {}),
          meta.license ?? null,
          meta.source ?? null,
        );
      const writer = new DatasetWriter(this, Number(info.lastInsertRowid));
      const result = await fill(writer);
      // Images of the replaced dataset, or stored by this import, that no item uses any more.
      for (const h of writer.imageHashes) candidates.add(h);
      const orphans = this.dropOrphanImageRows(candidates);
      this.db.exec('COMMIT');
      this.images.commitTracked();
      this.removeOrphanFiles(orphans);
      return result;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.images.rollbackTracked();
      throw err;
    } finally {
      this.inTransaction = false;
    }
  }

  /**
   * Delete a dataset and everything in it. Its images that no other dataset's item uses are
   * removed too, from the `images` table and from disk; images shared with other datasets stay.
   * Returns how many images were removed.
   */
  deleteDataset(name: string): { images: number } {
    if (this.inTransaction) throw new RagarError('cannot delete a dataset during a dataset write', 'CONFLICT');
    let orphans: string[] = [];
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const ds = this.getDataset(name);
      const candidates = new Set(this.imageHashesOf(ds.id));
      this.db.prepare('DELETE FROM datasets WHERE id = ?').run(ds.id);
      orphans = this.dropOrphanImageRows(candidates);
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
    this.removeOrphanFiles(orphans);
    return { images: orphans.length };
  }

  /** Distinct image hashes of a dataset's items. */
  private imageHashesOf(datasetId: number): string[] {
    return this.db
      .prepare('SELECT DISTINCT image_hash FROM items WHERE dataset_id = ? AND image_hash IS NOT NULL')
      .pluck()
      .all(datasetId) as string[];
  }

  /**
   * Inside an open transaction: delete the `images` rows of those `candidates` that no item
   * references any more; returns their hashes (their files go after the commit).
   */
  private dropOrphanImageRows(candidates: Set<string>): string[] {
    if (candidates.size === 0) return [];
    // One pass over the items (items.image_hash has no index), then a delete per orphan.
    const used = new Set(
      this.db.prepare('SELECT DISTINCT image_hash FROM items WHERE image_hash IS NOT NULL').pluck().all() as string[],
    );
    const del = this.db.prepare('DELETE FROM images WHERE hash = ?');
    const orphans: string[] = [];
    for (const h of candidates) {
      if (used.has(h)) continue;
      del.run(h);
      orphans.push(h);
    }
    return orphans;
  }

  /**
   * Remove the files of orphaned images, holding the write lock so that no concurrent import can
   * re-add one of them in between; a hash that has a row again keeps its file. If another
   * process holds the lock past the busy timeout the files stay (harmless, unreferenced).
   */
  private removeOrphanFiles(hashes: string[]): void {
    if (hashes.length === 0) return;
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch {
      return;
    }
    try {
      const exists = this.db.prepare('SELECT 1 FROM images WHERE hash = ?').pluck();
      for (const h of hashes) if (!exists.get(h)) fs.rmSync(this.images.pathOf(h), { force: true });
    } finally {
      this.db.exec('COMMIT');
    }
  }
}

interface DatasetRow {
  id: number;
  name: string;
  kind: string;
  created_at: string;
  params: string;
  license: string | null;
  source: string | null;
}

function toInfo(row: DatasetRow): DatasetInfo {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    createdAt: row.created_at,
    params: JSON.parse(row.params) as Record<string, unknown>,
    license: row.license,
    source: row.source,
  };
}
