import type { DatasetInfo, Store } from '../store/store.js';
import { NotFoundError } from '../util/errors.js';

/** One item as the later stages read it. */
export interface ItemRecord {
  id: number;
  externalId: string;
  title: string;
  text: string;
  tags: string[];
  group: string | null;
  subgroup: string | null;
  concept: string | null;
  style: string | null;
  imageHash: string | null;
}

/** One interaction in a user's time-ordered history. */
export interface HistoryEntry {
  itemId: number;
  ts: number;
  rating: number | null;
}

/** A task: show `referenceItemId` to `userId`; `targetItemId` is the ground truth where known. */
export interface TaskRecord {
  id: number;
  externalId: string;
  userId: number;
  userExternalId: string;
  referenceItemId: number;
  targetItemId: number | null;
  split: string | null;
  attributes: Record<string, unknown>;
}

/** A user with its split and attributes. */
export interface UserRecord {
  id: number;
  externalId: string;
  split: string | null;
  attributes: Record<string, unknown>;
}

interface ItemRow {
  id: number;
  external_id: string;
  title: string;
  text: string;
  tags: string;
  grp: string | null;
  subgroup: string | null;
  concept: string | null;
  style: string | null;
  image_hash: string | null;
}

function toItem(r: ItemRow): ItemRecord {
  return {
    id: r.id,
    externalId: r.external_id,
    title: r.title,
    text: r.text,
    tags: JSON.parse(r.tags) as string[],
    group: r.grp,
    subgroup: r.subgroup,
    concept: r.concept,
    style: r.style,
    imageHash: r.image_hash,
  };
}

/**
 * Read access to one dataset: items, users, histories and tasks, with clear errors for unknown
 * ids. Everything is loaded lazily and kept in memory (datasets here are up to ~10^5 items).
 *
 * @example
 * const data = DatasetView.open(store, 'emoji-styles');
 * const user = data.user('u042');
 * data.history(user.id); // time-ordered
 */
export class DatasetView {
  readonly store: Store;
  readonly dataset: DatasetInfo;
  private itemsById?: Map<number, ItemRecord>;
  private itemsByExternal?: Map<string, ItemRecord>;
  private usersById?: Map<number, UserRecord>;
  private usersByExternal?: Map<string, UserRecord>;
  private histories?: Map<number, HistoryEntry[]>;

  private constructor(store: Store, dataset: DatasetInfo) {
    this.store = store;
    this.dataset = dataset;
  }

  /** Open a dataset by name (NotFoundError lists the known ones). */
  static open(store: Store, name: string): DatasetView {
    return new DatasetView(store, store.getDataset(name));
  }

  /** All items, by row id. */
  items(): Map<number, ItemRecord> {
    if (!this.itemsById) {
      const rows = this.store.db
        .prepare('SELECT id, external_id, title, text, tags, grp, subgroup, concept, style, image_hash FROM items WHERE dataset_id = ? ORDER BY id')
        .all(this.dataset.id) as ItemRow[];
      this.itemsById = new Map(rows.map((r) => [r.id, toItem(r)]));
      this.itemsByExternal = new Map([...this.itemsById.values()].map((i) => [i.externalId, i]));
    }
    return this.itemsById;
  }

  /** One item by row id or external id; NotFoundError otherwise. */
  item(ref: number | string): ItemRecord {
    this.items();
    const found = typeof ref === 'number' ? this.itemsById!.get(ref) : this.itemsByExternal!.get(ref);
    if (!found) throw new NotFoundError(`no item ${JSON.stringify(ref)} in dataset ${this.dataset.name}`);
    return found;
  }

  /** All users, by row id. */
  users(): Map<number, UserRecord> {
    if (!this.usersById) {
      const rows = this.store.db
        .prepare(
          `SELECT u.id, u.external_id, u.attributes, s.split FROM users u
           LEFT JOIN splits s ON s.dataset_id = u.dataset_id AND s.entity = 'user' AND s.key = u.external_id
           WHERE u.dataset_id = ? ORDER BY u.id`,
        )
        .all(this.dataset.id) as { id: number; external_id: string; attributes: string; split: string | null }[];
      this.usersById = new Map(
        rows.map((r) => [r.id, { id: r.id, externalId: r.external_id, split: r.split, attributes: JSON.parse(r.attributes) as Record<string, unknown> }]),
      );
      this.usersByExternal = new Map([...this.usersById.values()].map((u) => [u.externalId, u]));
    }
    return this.usersById;
  }

  /** One user by row id or external id; NotFoundError otherwise. */
  user(ref: number | string): UserRecord {
    this.users();
    const found = typeof ref === 'number' ? this.usersById!.get(ref) : this.usersByExternal!.get(ref);
    if (!found) {
      const examples = [...this.usersByExternal!.keys()].slice(0, 3).join(', ');
      throw new NotFoundError(`no user ${JSON.stringify(ref)} in dataset ${this.dataset.name}${examples ? ` (e.g. ${examples})` : ''}`);
    }
    return found;
  }

  /** A user's time-ordered history (empty array when the user has none). */
  history(userId: number): HistoryEntry[] {
    if (!this.histories) {
      const rows = this.store.db
        .prepare('SELECT user_id, item_id, ts, rating FROM interactions WHERE dataset_id = ? ORDER BY user_id, ts, position')
        .raw()
        .all(this.dataset.id) as [number, number, number, number | null][];
      this.histories = new Map();
      for (const [u, i, ts, rating] of rows) {
        let h = this.histories.get(u);
        if (!h) this.histories.set(u, (h = []));
        h.push({ itemId: i, ts, rating });
      }
    }
    return this.histories.get(userId) ?? [];
  }

  /** Tasks, optionally of one split. */
  tasks(split?: string): TaskRecord[] {
    const rows = this.store.db
      .prepare(
        `SELECT t.id, t.external_id, t.user_id, u.external_id AS user_ext, t.reference_item_id, t.target_item_id, t.split, t.attributes
         FROM tasks t JOIN users u ON u.id = t.user_id WHERE t.dataset_id = ? ${split ? 'AND t.split = ?' : ''} ORDER BY t.id`,
      )
      .all(...(split ? [this.dataset.id, split] : [this.dataset.id])) as {
      id: number;
      external_id: string;
      user_id: number;
      user_ext: string;
      reference_item_id: number;
      target_item_id: number | null;
      split: string | null;
      attributes: string;
    }[];
    return rows.map((r) => ({
      id: r.id,
      externalId: r.external_id,
      userId: r.user_id,
      userExternalId: r.user_ext,
      referenceItemId: r.reference_item_id,
      targetItemId: r.target_item_id,
      split: r.split,
      attributes: JSON.parse(r.attributes) as Record<string, unknown>,
    }));
  }

  /** Split of every concept (emoji-styles), or an empty map. */
  conceptSplits(): Map<string, string> {
    const rows = this.store.db
      .prepare(`SELECT key, split FROM splits WHERE dataset_id = ? AND entity = 'concept'`)
      .raw()
      .all(this.dataset.id) as [string, string][];
    return new Map(rows);
  }

  /** Whether any item of the dataset has an image. */
  hasImages(): boolean {
    return (this.store.db.prepare('SELECT COUNT(*) FROM items WHERE dataset_id = ? AND image_hash IS NOT NULL').pluck().get(this.dataset.id) as number) > 0;
  }

  /** Whether any interaction of the dataset has a rating. */
  hasRatings(): boolean {
    return (this.store.db.prepare('SELECT COUNT(*) FROM interactions WHERE dataset_id = ? AND rating IS NOT NULL').pluck().get(this.dataset.id) as number) > 0;
  }
}
