/**
 * Importer for ragar's generic JSONL dataset format, plus small JSON/image helpers that the
 * PMG-Bench and MovieLens importers share.
 *
 * # The ragar JSONL format
 *
 * UTF-8 text (a leading BOM is ignored; another encoding only when named with `options.encoding`,
 * else bytes that are not UTF-8 are an error naming `file:line`), one JSON object per line. Blank lines and lines whose
 * first non-blank character is `#` are ignored. Every object has a `"type"`; unknown fields are
 * errors (so that a typo such as `"titel"` is not silently dropped). Ids are non-empty strings or
 * integers (integers are stored as their decimal string). Lines may come in any order: an
 * interaction or task may use an item defined further down (the file is read in two passes).
 *
 * ```jsonl
 * # items: id required, everything else optional
 * {"type": "item", "id": "apple-flat", "title": "Red apple", "text": "a red apple, flat style",
 *  "tags": ["fruit", "red"], "group": "food", "subgroup": "fruit", "concept": "apple", "style": "flat",
 *  "image": "images/apple-flat.png", "attributes": {"source": "openmoji"}}
 * # users: optional; declare attributes and/or a fixed split (train | valid | test)
 * {"type": "user", "id": "u1", "attributes": {"age": 31}, "split": "train"}
 * # interactions: user and item required; ts defaults to the line number; rating optional
 * {"type": "interaction", "user": "u1", "item": "apple-flat", "ts": 1700000000, "rating": 4.5}
 * # tasks: show `reference` to `user`; `target` is the ground truth where one exists
 * {"type": "task", "id": "t1", "user": "u1", "reference": "apple-flat", "target": "apple-3d", "split": "test"}
 * ```
 *
 * - **item** `{id, title?, text?, tags?, group?, subgroup?, concept?, style?, image?, attributes?}`.
 *   `text` (what a text encoder reads) defaults to `title`. `image` is a path relative to the JSONL
 *   file's folder (or absolute) of any image sharp reads (a path that does not exist is looked up
 *   by its tail in `options.images`, `--images DIR`); it is stored as a square PNG of
 *   `imageSize`. A duplicate id, or a missing or corrupt image, makes the line bad.
 * - **user** `{id, attributes?, split?}`. Users that only appear in interactions or tasks are created
 *   with no attributes. A second `user` line with the same id is bad.
 * - **interaction** `{user, item, ts?, rating?}`. `ts` is a number (any unit, e.g. Unix seconds),
 *   default the 1-based line number, so an undated file keeps its file order. Each user's history
 *   is stored sorted by `(ts, line)`. `rating` is a number or null.
 * - **task** `{id?, user, reference, target?, split?, attributes?}`. `id` defaults to
 *   `line-<line number>`; `target` may be null or absent; `split` defaults to the user's split.
 *
 * Every user gets a split: the one its `user` line gives, else the seeded hash split of
 * {@link writeUserSplits}. Bad lines fail the import with `file:line: reason`, or are skipped and
 * counted under `skipBad`; a line that uses a skipped item is then skipped too (and counted).
 * A file that defines no item (empty, or every item line bad under `skipBad`) is an error naming
 * it, not an empty dataset.
 */
import path from 'node:path';
import type { ItemInput, Store } from '../../store/store.js';
import { BadRowPolicy, InputError } from '../../util/errors.js';
import { silentProgress } from '../../util/progress.js';
import {
  IMPORT_DEFAULTS,
  ImagePathResolver,
  ImportCounter,
  checkEncoding,
  readTextFile,
  requireRows,
  userSplit,
  writeUserSplits,
  type ImagePathOptions,
  type ImportOptions,
  type ImportSummary,
} from './common.js';
import { importImagesInOrder, jsonId, parseJsonLines } from './json.js';

/**
 * A valid dataset name made from a file's basename: `data/My Set.jsonl` → `My-Set`.
 * Falls back to `jsonl`.
 */
export function defaultJsonlName(file: string): string {
  const base = path.basename(file).replace(/(\.(jsonl|ndjson|json|txt))+$/i, '');
  const name = base
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return name || 'jsonl';
}

// ---------------------------------------------------------------------------------------------
// The importer
// ---------------------------------------------------------------------------------------------

const SPLITS = new Set(['train', 'valid', 'test']);

const FIELDS: Record<string, readonly string[]> = {
  item: ['type', 'id', 'title', 'text', 'tags', 'group', 'subgroup', 'concept', 'style', 'image', 'attributes'],
  user: ['type', 'id', 'attributes', 'split'],
  interaction: ['type', 'user', 'item', 'ts', 'rating'],
  task: ['type', 'id', 'user', 'reference', 'target', 'split', 'attributes'],
};

interface ItemLine {
  line: number;
  item: ItemInput;
  image?: string;
}
interface UserLine {
  line: number;
  id: string;
  attributes: Record<string, unknown>;
  split?: string;
}
interface InteractionLine {
  line: number;
  user: string;
  item: string;
  ts: number;
  rating: number | null;
}
interface TaskLine {
  line: number;
  id: string;
  user: string;
  reference: string;
  target: string | null;
  split?: string;
  attributes: Record<string, unknown>;
}

/** Thrown inside line validation; turned into a bad-row report. */
class LineProblem extends Error {}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function needId(o: Record<string, unknown>, key: string): string {
  if (o[key] === undefined || o[key] === null) throw new LineProblem(`missing "${key}"`);
  const id = jsonId(o[key]);
  if (id === undefined) throw new LineProblem(`"${key}" must be a non-empty string or an integer, got ${JSON.stringify(o[key])}`);
  return id;
}

function optString(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new LineProblem(`"${key}" must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function optAttributes(o: Record<string, unknown>): Record<string, unknown> {
  const v = o.attributes;
  if (v === undefined || v === null) return {};
  if (!isPlainObject(v)) throw new LineProblem(`"attributes" must be an object`);
  return v;
}

function optSplit(o: Record<string, unknown>): string | undefined {
  const s = optString(o, 'split');
  if (s !== undefined && !SPLITS.has(s)) throw new LineProblem(`"split" must be train, valid or test, got ${JSON.stringify(s)}`);
  return s;
}

/** Options of {@link importJsonl}: the common ones plus `images` (`--images DIR`). */
export interface JsonlImportOptions extends ImportOptions, ImagePathOptions {}

/**
 * Import a ragar JSONL file (format in this module's header) as one dataset of kind `jsonl`,
 * named `options.name` or, when empty, {@link defaultJsonlName} of the file. Everything is
 * validated and written in one transaction: any error leaves the store as it was.
 *
 * @example
 * const summary = await importJsonl(store, 'my-data.jsonl', { name: '' , skipBad: true });
 */
export async function importJsonl(store: Store, file: string, options: JsonlImportOptions): Promise<ImportSummary> {
  const name = options.name || defaultJsonlName(file);
  const progress = options.progress ?? silentProgress;
  if (options.encoding !== undefined) checkEncoding(options.encoding);
  const bad = new BadRowPolicy(options.skipBad ?? false);
  const counter = new ImportCounter();
  const folder = path.dirname(path.resolve(file));
  const label = file;
  const resolver = new ImagePathResolver(folder, options.images);

  await store.writeDataset(
    {
      name,
      kind: 'jsonl',
      source: path.resolve(file),
      license: 'as given by the data owner (not recorded in the file)',
      params: {
        file: path.basename(file),
        images: options.images === undefined ? null : path.resolve(options.images),
        imageSize: options.imageSize ?? IMPORT_DEFAULTS.imageSize,
        seed: options.seed ?? IMPORT_DEFAULTS.seed,
        validUsers: options.validUsers ?? IMPORT_DEFAULTS.validUsers,
        testUsers: options.testUsers ?? IMPORT_DEFAULTS.testUsers,
      },
    },
    async (w) => {
      // Pass 1: parse and validate every line on its own.
      const lines = parseJsonLines(readTextFile(file, { encoding: options.encoding }), label, bad);
      const items: ItemLine[] = [];
      const itemLine = new Map<string, number>();
      const users = new Map<string, UserLine>();
      const interactions: InteractionLine[] = [];
      const tasks: TaskLine[] = [];
      const taskIds = new Map<string, number>();
      const badItems = new Map<string, number>();
      progress.start('reading lines', lines.length);
      for (let k = 0; k < lines.length; k++) {
        const { line, value } = lines[k];
        try {
          if (!isPlainObject(value)) throw new LineProblem('expected a JSON object');
          const type = value.type;
          if (type === undefined) throw new LineProblem('missing "type" (item, interaction, task or user)');
          if (typeof type !== 'string' || !(type in FIELDS)) {
            throw new LineProblem(`unknown type ${JSON.stringify(type)} (expected item, interaction, task or user)`);
          }
          const unknown = Object.keys(value).filter((key) => !FIELDS[type].includes(key));
          if (unknown.length) {
            throw new LineProblem(`unknown field(s) ${unknown.map((u) => JSON.stringify(u)).join(', ')} for type ${type} (expected ${FIELDS[type].join(', ')})`);
          }
          if (type === 'item') {
            const id = needId(value, 'id');
            const first = itemLine.get(id);
            if (first !== undefined) throw new LineProblem(`duplicate item id ${JSON.stringify(id)} (first defined at line ${first})`);
            const tags = value.tags ?? [];
            if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new LineProblem('"tags" must be an array of strings');
            const title = optString(value, 'title');
            const text = optString(value, 'text');
            const image = optString(value, 'image');
            if (image !== undefined && image.trim() === '') throw new LineProblem('"image" is empty');
            items.push({
              line,
              image,
              item: {
                externalId: id,
                title: title ?? '',
                text: text ?? title ?? '',
                tags: tags as string[],
                group: optString(value, 'group') ?? null,
                subgroup: optString(value, 'subgroup') ?? null,
                concept: optString(value, 'concept') ?? null,
                style: optString(value, 'style') ?? null,
                attributes: optAttributes(value),
              },
            });
            itemLine.set(id, line);
          } else if (type === 'user') {
            const id = needId(value, 'id');
            const first = users.get(id);
            if (first) throw new LineProblem(`duplicate user id ${JSON.stringify(id)} (first defined at line ${first.line})`);
            users.set(id, { line, id, attributes: optAttributes(value), split: optSplit(value) });
          } else if (type === 'interaction') {
            const user = needId(value, 'user');
            const item = needId(value, 'item');
            let ts = line;
            if (value.ts !== undefined && value.ts !== null) {
              if (typeof value.ts !== 'number' || !Number.isFinite(value.ts)) throw new LineProblem(`"ts" must be a number, got ${JSON.stringify(value.ts)}`);
              ts = value.ts;
            }
            let rating: number | null = null;
            if (value.rating !== undefined && value.rating !== null) {
              if (typeof value.rating !== 'number' || !Number.isFinite(value.rating)) {
                throw new LineProblem(`"rating" must be a number, got ${JSON.stringify(value.rating)}`);
              }
              rating = value.rating;
            }
            interactions.push({ line, user, item, ts, rating });
          } else {
            const id = value.id === undefined || value.id === null ? `line-${line}` : needId(value, 'id');
            const first = taskIds.get(id);
            if (first !== undefined) throw new LineProblem(`duplicate task id ${JSON.stringify(id)} (first defined at line ${first})`);
            const target = value.target === undefined || value.target === null ? null : needId(value, 'target');
            tasks.push({
              line,
              id,
              user: needId(value, 'user'),
              reference: needId(value, 'reference'),
              target,
              split: optSplit(value),
              attributes: optAttributes(value),
            });
            taskIds.set(id, line);
          }
        } catch (err) {
          if (!(err instanceof LineProblem)) throw err;
          bad.report(new InputError(label, line, err.message));
          // Remember a bad item's id so that lines using it say why it is missing.
          const id = isPlainObject(value) && value.type === 'item' ? jsonId(value.id) : undefined;
          if (id !== undefined && !itemLine.has(id) && !badItems.has(id)) badItems.set(id, line);
        }
        if (k % 1000 === 0) progress.update(k);
      }
      progress.stop();

      // Pass 2: images, then items.
      const withImage = items.filter((it) => it.image !== undefined);
      progress.start('importing images', withImage.length);
      const hashes = await importImagesInOrder(
        w,
        withImage.map((it) => {
          const r = resolver.resolve(it.image as string);
          return 'missing' in r
            ? { path: it.image as string, file: label, line: it.line, missing: r.missing }
            : { path: r.path, file: label, line: it.line };
        }),
        options,
        bad,
        (n) => progress.update(n),
      );
      progress.stop();
      const hashOf = new Map<ItemLine, string | undefined>();
      withImage.forEach((it, i) => hashOf.set(it, hashes[i]));
      const skippedItems = badItems;
      for (const it of items) {
        if (it.image !== undefined) {
          const hash = hashOf.get(it);
          if (hash === undefined) {
            skippedItems.set(it.item.externalId, it.line);
            continue;
          }
          it.item.imageHash = hash;
          counter.images++;
        }
        w.addItem(it.item);
        counter.items++;
      }
      requireRows(counter.items, label, 'items', bad);
      counter.warnings.push(...resolver.notes());
      const itemProblem = (id: string): string | undefined => {
        if (w.hasItem(id)) return undefined;
        const skipped = skippedItems.get(id);
        if (skipped !== undefined) return `item ${JSON.stringify(id)} was skipped (bad item at line ${skipped})`;
        return `unknown item ${JSON.stringify(id)} (no "item" line defines it)`;
      };

      // Users, in order of first appearance.
      const firstSeen = new Map<string, number>();
      const see = (u: string, line: number): void => {
        const f = firstSeen.get(u);
        if (f === undefined || line < f) firstSeen.set(u, line);
      };
      for (const u of users.values()) see(u.id, u.line);
      for (const x of interactions) see(x.user, x.line);
      for (const t of tasks) see(t.user, t.line);
      const userOrder = [...firstSeen.keys()].sort((a, b) => (firstSeen.get(a) as number) - (firstSeen.get(b) as number));

      // Interactions per user, sorted by (ts, line).
      const byUser = new Map<string, InteractionLine[]>();
      for (const x of interactions) {
        const list = byUser.get(x.user);
        if (list) list.push(x);
        else byUser.set(x.user, [x]);
      }
      progress.start('writing interactions', interactions.length);
      let written = 0;
      for (const u of userOrder) {
        w.addUser(u, users.get(u)?.attributes ?? {});
        counter.users.add(u);
        const list = (byUser.get(u) ?? []).sort((a, b) => a.ts - b.ts || a.line - b.line);
        for (const x of list) {
          const problem = itemProblem(x.item);
          if (problem) {
            bad.report(new InputError(label, x.line, problem));
            continue;
          }
          w.addInteraction(x.user, x.item, x.ts, x.rating);
          counter.interactions++;
          if (++written % 5000 === 0) progress.update(written);
        }
      }
      progress.stop();

      // Splits: hashed for every user, then the explicit ones.
      writeUserSplits(w, userOrder, options);
      const seed = options.seed ?? IMPORT_DEFAULTS.seed;
      const valid = options.validUsers ?? IMPORT_DEFAULTS.validUsers;
      const test = options.testUsers ?? IMPORT_DEFAULTS.testUsers;
      const splitOf = (u: string): string => users.get(u)?.split ?? userSplit(u, seed, valid, test);
      for (const u of users.values()) if (u.split) w.setSplit('user', u.id, u.split);

      // Tasks, in file order.
      for (const t of tasks) {
        const problem = itemProblem(t.reference) ?? (t.target === null ? undefined : itemProblem(t.target));
        if (problem) {
          bad.report(new InputError(label, t.line, `task ${JSON.stringify(t.id)}: ${problem}`));
          continue;
        }
        w.addTask({
          externalId: t.id,
          user: t.user,
          reference: t.reference,
          target: t.target,
          split: t.split ?? splitOf(t.user),
          attributes: t.attributes,
        });
        counter.tasks++;
      }
    },
    { replace: options.replace },
  );
  return counter.summary(name, 'jsonl', bad);
}
