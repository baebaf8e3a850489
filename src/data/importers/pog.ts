/**
 * Importer for the Alibaba iFashion / POG dataset ("POG: Personalized Outfit Generation for
 * Fashion Recommendation at Alibaba iFashion", Chen et al., KDD 2019), as released by the authors
 * (https://github.com/wenyuer/POG, files on Google Drive).
 *
 * ## The real files
 *
 * Three plain-text files, one record per line, comma-separated, no header, no quoting
 * (format from the release README, github.com/wenyuer/POG `README.md`, and the loaders in
 * github.com/lzcn/outfit-datasets `ifashion/processing.py` and `ifashion/downloader.py`):
 *
 * | file | line |
 * |---|---|
 * | `item_data.txt` | `item_id,cate_id,pic_url,title` (the title may itself contain commas: everything after the third comma is the title) |
 * | `outfit_data.txt` | `outfit_id,item_id;item_id;...` |
 * | `user_data.txt` | `user_id,item_id;item_id;...,outfit_id`: a click history and the outfit the user created after it. **A user appears on many lines**, one per (history, outfit) pair. |
 *
 * Item images are not in the files, only `pic_url`; people download them into a folder of
 * `<item_id>.jpg|.jpeg|.png` files (lzcn's downloader names them `<item_id>.<url suffix>`).
 *
 * ## What the importer makes of them
 *
 * - **Items** (`item_data.txt`, in file order): `externalId` = item_id, `title` and `text` =
 *   title, `group` = cate_id, `tags` = `[cate_id]`, `attributes` = `{ cate_id, pic_url,
 *   outfits }` where `outfits` lists the outfit ids (from `outfit_data.txt`) that contain the
 *   item, in file order (omitted when none).
 * - **Images**: from the images folder (`options.images`, default `<dir>/images`), file
 *   `<item_id>` + `.jpg`, `.jpeg`, `.png` or `.webp` (first found in that order, extension
 *   case-insensitive), normalised to `imageSize`. When the default folder does not exist the
 *   import is **text-only**: items get no image and the summary carries a warning and
 *   `textOnlyItems`. A folder named explicitly in `options.images` must exist. Real folders have
 *   gaps (the downloaders log URLs that no longer answer): an item whose file is missing is kept
 *   **text-only**, counted in `textOnlyItems` and named in a warning; a file that exists but
 *   cannot be decoded is a **bad row** of `item_data.txt` (under `skipBad` the item is kept
 *   text-only, so nothing that uses it is lost).
 * - **Outfits** are not a table of their own: each item lists the outfits it belongs to, and
 *   each user lists the outfits they created (`attributes.outfits`, in file order).
 *   `outfit_data.txt` is optional: without it items carry no outfit lists, user outfit ids are
 *   not checked, and the summary carries a warning. `item_data.txt` and `user_data.txt` are
 *   required.
 * - **Users and interactions** (`user_data.txt`): a user's history is the concatenation of the
 *   click lists of all their lines, in file order; the interaction order is that order, with
 *   `ts` = the click's index in the user's history (0, 1, 2, ...). POG has no timestamps.
 *   Repeated clicks on one item are kept.
 * - **Splits**: users by {@link writeUserSplits} (seeded, by user id).
 *
 * ## Bad rows
 *
 * A line that repeats an earlier `item_data.txt` / `outfit_data.txt` line exactly (same id, same
 * fields) is dropped and counted (`duplicateLines`, a warning). A malformed line (wrong field
 * count, empty id, empty history), a duplicate item or outfit id with different fields (naming
 * both lines), an id that names no (surviving) item or outfit, or a corrupt image is a bad row:
 * an {@link InputError} naming the file and line, or a counted skip under `skipBad`. A skipped
 * item also makes every line that mentions it a bad row; a bad `user_data.txt` line is skipped
 * whole. Blank lines are ignored; a header line (first field literally `item_id`, `outfit_id` or
 * `user_id`) is tolerated. A malformed last line without a final newline means the file was cut
 * short: that is always an error ("looks truncated"), even under `skipBad`. Text is UTF-8 unless
 * `options.encoding` names another (e.g. `gbk`); bytes that are not UTF-8 are an error naming
 * `file:line`. No item or no user left (every row bad under `skipBad`) is an error, not an empty
 * dataset.
 *
 * The files are read as streams, line by line, so a large `user_data.txt` need not fit in one
 * string; the import still holds the parsed rows in memory and writes everything in one
 * transaction. The full release (3.5 M users, 620 M clicks) is far beyond that: import a subset.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Store } from '../../store/store.js';
import { BadRowPolicy, InputError } from '../../util/errors.js';
import { silentProgress, type Progress } from '../../util/progress.js';
import {
  IMPORT_DEFAULTS,
  ImportCounter,
  checkEncoding,
  forEachRow,
  importImage,
  requireRows,
  truncatedError,
  writeUserSplits,
  type ImportOptions,
  type ImportSummary,
} from './common.js';

/** Licence note stored with every POG dataset. */
export const POG_LICENSE =
  'Alibaba iFashion / POG data (Chen et al., KDD 2019), released by the authors for research use; ' +
  'the release carries no licence file, Alibaba/Tianchi data terms apply (non-commercial research only, ' +
  'no redistribution). Item images are Alibaba/Taobao product photos owned by their sellers.';

/** Where the data comes from. */
export const POG_SOURCE = 'https://github.com/wenyuer/POG';

/** Image file extensions looked for, in order of preference. */
export const POG_IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'] as const;

/** Options of {@link importPog}: the common import options plus the images folder. */
export interface PogImportOptions extends Omit<ImportOptions, 'name'> {
  /** Dataset name, default `pog`. */
  name?: string;
  /** Folder of `<item_id>.jpg|.jpeg|.png|.webp` files. Default `<dir>/images` (optional there). */
  images?: string;
}

/** What a POG import wrote: the common summary plus text-only and outfit counts. */
export interface PogImportSummary extends ImportSummary {
  /** Outfits read from `outfit_data.txt`. */
  outfits: number;
  /**
   * Items stored without an image: all of them when there is no images folder, else those whose
   * file is missing (or, under skip-bad, unreadable).
   */
  textOnlyItems: number;
  /** Identical duplicate lines of `item_data.txt` / `outfit_data.txt` that were dropped. */
  duplicateLines: number;
}

interface PogItem {
  id: string;
  cate: string;
  url: string;
  title: string;
  line: number;
  imageHash?: string;
}

interface PogUser {
  items: string[];
  outfits: string[];
}

const FILES = { items: 'item_data.txt', outfits: 'outfit_data.txt', users: 'user_data.txt' } as const;

/**
 * Import a POG / iFashion release folder (`item_data.txt`, `outfit_data.txt`, `user_data.txt`,
 * optional `images/`) into `store` as one dataset (default name and kind `pog`). Everything is
 * parsed, validated and written inside one {@link Store.writeDataset} transaction: on any error
 * the store is left as it was. See the module comment for the format and every decision.
 *
 * @example
 * const summary = await importPog(store, '/data/pog', { images: '/data/pog/images', skipBad: true });
 */
export async function importPog(store: Store, dir: string, options: PogImportOptions = {}): Promise<PogImportSummary> {
  const name = options.name ?? 'pog';
  const kind = 'pog';
  const progress = options.progress ?? silentProgress;
  const bad = new BadRowPolicy(options.skipBad ?? false);
  const counter = new ImportCounter();
  const common: ImportOptions = { ...options, name };
  const files = {
    items: path.join(dir, FILES.items),
    outfits: path.join(dir, FILES.outfits),
    users: path.join(dir, FILES.users),
  };
  const imagesDir = options.images ?? path.join(dir, 'images');
  if (options.encoding !== undefined) checkEncoding(options.encoding);
  const warnings = counter.warnings;
  const read = (file: string, label: string, onLine: (text: string, line: number, unterminated: boolean) => void) =>
    readRows(file, options.encoding, progress, label, onLine);
  let outfitCount = 0;
  let textOnlyItems = 0;
  let duplicateLines = 0;
  const duplicates: string[] = [];

  await store.writeDataset(
    {
      name,
      kind,
      license: POG_LICENSE,
      source: POG_SOURCE,
      params: {
        dir: path.resolve(dir),
        images: isDirectory(imagesDir) ? path.resolve(imagesDir) : null,
        imageSize: options.imageSize ?? IMPORT_DEFAULTS.imageSize,
        seed: options.seed ?? IMPORT_DEFAULTS.seed,
        validUsers: options.validUsers ?? IMPORT_DEFAULTS.validUsers,
        testUsers: options.testUsers ?? IMPORT_DEFAULTS.testUsers,
        skipBad: bad.skipBad,
        order: "file order; ts = index of the click in the user's concatenated history",
      },
    },
    async (w) => {
      // Images folder: absent default -> text-only; absent explicit folder -> error.
      const images = listImages(imagesDir, options.images !== undefined);

      // 1. Items, with their images (so that items skipped for a bad image are known below).
      const items = new Map<string, PogItem>();
      await read(files.items, 'pog: reading items', (text, line, unterminated) => {
        const fail = (reason: string) => reportRow(bad, files.items, line, reason, unterminated);
        const comma = nthIndexOf(text, ',', 3);
        if (comma < 0) {
          return fail(`expected 4 fields (item_id,cate_id,pic_url,title), found ${text.split(',').length}`);
        }
        const [id, cate, url] = text.slice(0, comma).split(',').map((s) => s.trim());
        const title = text.slice(comma + 1).trim();
        if (isHeader(id, 'item_id', line)) return;
        if (!id) return fail('empty item_id');
        if (!cate) return fail(`item ${JSON.stringify(id)}: empty cate_id`);
        const first = items.get(id);
        if (first) {
          if (first.cate === cate && first.url === url && first.title === title) {
            duplicateLines++;
            if (duplicates.length < 3) duplicates.push(`${FILES.items}:${line} repeats line ${first.line}`);
            return;
          }
          return fail(`duplicate item id ${JSON.stringify(id)} with different fields (first on line ${first.line})`);
        }
        items.set(id, { id, cate, url, title, line });
      });
      requireRows(items.size, files.items, 'items', bad);

      if (images) {
        // Real image folders have gaps (the downloaders log broken URLs): an item without a file
        // stays, text-only, and is counted; an unreadable file is a bad row (kept text-only
        // under skip-bad, so nothing cascades).
        progress.start('pog: item images', items.size);
        let done = 0;
        const missing: string[] = [];
        for (const item of items.values()) {
          const file = images.find(item.id);
          if (!file) {
            missing.push(item.id);
          } else {
            const hash = await importImage(w, file, { file: files.items, line: item.line }, common, bad);
            if (hash === undefined) textOnlyItems++;
            else item.imageHash = hash;
          }
          if (++done % 64 === 0) progress.update(done);
        }
        progress.update(done);
        progress.stop();
        if (missing.length) {
          textOnlyItems += missing.length;
          warnings.push(
            `${missing.length} of ${items.size} items have no image in ${imagesDir} (e.g. ${missing
              .slice(0, 3)
              .map((id) => JSON.stringify(id))
              .join(', ')}; looked for <item_id>${POG_IMAGE_EXTENSIONS.join('|')}): imported text-only`,
          );
        }
      } else {
        textOnlyItems = items.size;
        warnings.push(
          `no images folder at ${imagesDir}: imported ${items.size} items text-only ` +
            '(pass the folder of <item_id>.jpg files to import images)',
        );
      }

      // 2. Outfits (optional file): which outfits each item belongs to.
      const outfits = new Map<string, number>();
      const itemOutfits = new Map<string, string[]>();
      const haveOutfits = fs.existsSync(files.outfits);
      if (!haveOutfits) {
        warnings.push(`no ${FILES.outfits} in ${dir}: items carry no outfit lists and user outfit ids are not checked`);
      }
      const outfitText = new Map<string, string>();
      if (haveOutfits) await read(files.outfits, 'pog: reading outfits', (text, line, unterminated) => {
        const fail = (reason: string) => reportRow(bad, files.outfits, line, reason, unterminated);
        const fields = text.split(',');
        if (isHeader(fields[0].trim(), 'outfit_id', line)) return;
        if (fields.length !== 2) return fail(`expected 2 fields (outfit_id,item_id;item_id;...), found ${fields.length}`);
        const id = fields[0].trim();
        if (!id) return fail('empty outfit_id');
        const members = splitIds(fields[1]);
        if (members.length === 0) return fail(`outfit ${JSON.stringify(id)} has no items`);
        const first = outfits.get(id);
        if (first !== undefined) {
          if (outfitText.get(id) === members.join(';')) {
            duplicateLines++;
            if (duplicates.length < 3) duplicates.push(`${FILES.outfits}:${line} repeats line ${first}`);
            return;
          }
          return fail(`duplicate outfit id ${JSON.stringify(id)} with different items (first on line ${first})`);
        }
        const unknown = members.find((m) => !items.has(m));
        if (unknown !== undefined) return fail(`outfit ${JSON.stringify(id)}: unknown item id ${JSON.stringify(unknown)}`);
        outfits.set(id, line);
        outfitText.set(id, members.join(';'));
        for (const m of new Set(members)) {
          const list = itemOutfits.get(m);
          if (list) list.push(id);
          else itemOutfits.set(m, [id]);
        }
      });
      outfitCount = outfits.size;
      if (duplicateLines) {
        warnings.push(`dropped ${duplicateLines} identical duplicate line(s): ${duplicates.join(', ')}${duplicateLines > duplicates.length ? ', …' : ''}`);
      }

      // 3. Users: histories grouped per user, in file order.
      const users = new Map<string, PogUser>();
      await read(files.users, 'pog: reading users', (text, line, unterminated) => {
        const fail = (reason: string) => reportRow(bad, files.users, line, reason, unterminated);
        const fields = text.split(',');
        if (isHeader(fields[0].trim(), 'user_id', line)) return;
        if (fields.length !== 3) {
          return fail(`expected 3 fields (user_id,item_id;item_id;...,outfit_id), found ${fields.length}`);
        }
        const user = fields[0].trim();
        const outfit = fields[2].trim();
        if (!user) return fail('empty user_id');
        if (!outfit) return fail(`user ${JSON.stringify(user)}: empty outfit_id`);
        const history = splitIds(fields[1]);
        if (history.length === 0) return fail(`user ${JSON.stringify(user)}: empty item history`);
        const unknown = history.find((h) => !items.has(h));
        if (unknown !== undefined) return fail(`user ${JSON.stringify(user)}: unknown item id ${JSON.stringify(unknown)}`);
        if (haveOutfits && !outfits.has(outfit)) return fail(`user ${JSON.stringify(user)}: unknown outfit id ${JSON.stringify(outfit)}`);
        const entry = users.get(user);
        if (entry) {
          for (const h of history) entry.items.push(h);
          entry.outfits.push(outfit);
        } else {
          users.set(user, { items: history, outfits: [outfit] });
        }
      });

      // 4. Write items, users and interactions.
      progress.start('pog: writing items', items.size);
      let done = 0;
      for (const item of items.values()) {
        const attributes: Record<string, unknown> = { cate_id: item.cate, pic_url: item.url };
        const member = itemOutfits.get(item.id);
        if (member) attributes.outfits = member;
        w.addItem({
          externalId: item.id,
          title: item.title,
          text: item.title,
          tags: [item.cate],
          group: item.cate,
          attributes,
          imageHash: item.imageHash ?? null,
        });
        counter.items++;
        if (item.imageHash) counter.images++;
        if (++done % 1024 === 0) progress.update(done);
      }
      progress.update(done);
      progress.stop();

      progress.start('pog: writing interactions', users.size);
      done = 0;
      for (const [user, entry] of users) {
        w.addUser(user, { outfits: entry.outfits });
        counter.users.add(user);
        entry.items.forEach((item, k) => {
          w.addInteraction(user, item, k);
          counter.interactions++;
        });
        if (++done % 256 === 0) progress.update(done);
      }
      progress.update(done);
      progress.stop();

      requireRows(users.size, files.users, 'users', bad);
      writeUserSplits(w, users.keys(), common);
    },
    { replace: options.replace },
  );

  return { ...counter.summary(name, kind, bad), outfits: outfitCount, textOnlyItems, duplicateLines };
}

/** A bad row, or (when it is the unterminated last line) a truncated file: always an error. */
function reportRow(bad: BadRowPolicy, file: string, line: number, reason: string, unterminated: boolean): void {
  if (unterminated) throw truncatedError(file, line, `${reason}; the file ends here without a final newline`);
  bad.report(new InputError(file, line, reason));
}

function isHeader(first: string | undefined, name: string, line: number): boolean {
  return line === 1 && first === name;
}

function splitIds(field: string): string[] {
  return field
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function nthIndexOf(text: string, ch: string, n: number): number {
  let at = -1;
  for (let k = 0; k < n; k++) {
    at = text.indexOf(ch, at + 1);
    if (at < 0) return -1;
  }
  return at;
}

/** The image files of a folder, by item id; null when the (default) folder does not exist. */
function listImages(dir: string, required: boolean): { find(id: string): string | undefined } | null {
  let names: string[];
  try {
    if (!fs.statSync(dir).isDirectory()) throw new InputError(dir, undefined, 'images path is not a folder');
    names = fs.readdirSync(dir);
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return null;
    throw new InputError(dir, undefined, code === 'ENOENT' ? 'images folder not found' : `cannot read images folder (${code})`);
  }
  const byStem = new Map<string, Map<string, string>>();
  for (const n of names) {
    const ext = path.extname(n).toLowerCase();
    if (!(POG_IMAGE_EXTENSIONS as readonly string[]).includes(ext)) continue;
    const stem = n.slice(0, n.length - ext.length);
    let m = byStem.get(stem);
    if (!m) byStem.set(stem, (m = new Map()));
    if (!m.has(ext)) m.set(ext, n);
  }
  return {
    find(id: string) {
      const m = byStem.get(id);
      if (!m) return undefined;
      for (const ext of POG_IMAGE_EXTENSIONS) {
        const n = m.get(ext);
        if (n) return path.join(dir, n);
      }
      return undefined;
    },
  };
}

/**
 * Stream the non-blank lines of `file` (UTF-8 unless `encoding` is named; BOM and CR stripped),
 * calling `onLine` with the 1-based line number. `unterminated` is true only for a last line
 * that is not followed by a newline (a possibly truncated file). Progress is reported in bytes.
 */
async function readRows(
  file: string,
  encoding: string | undefined,
  progress: Progress,
  label: string,
  onLine: (text: string, line: number, unterminated: boolean) => void,
): Promise<void> {
  let size = 0;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new InputError(file, undefined, 'not a file');
    size = stat.size;
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(file, undefined, code === 'ENOENT' ? 'file not found' : `cannot read (${code})`);
  }
  progress.start(label, size);
  await forEachRow(
    file,
    { encoding },
    (text, line, last) => onLine(text, line, last.unterminated),
    (bytes) => progress.update(Math.min(bytes, size)),
  );
  progress.update(size);
  progress.stop();
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

