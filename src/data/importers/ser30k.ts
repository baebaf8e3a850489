/**
 * Importer for SER30K ("SER30K: A Large-Scale Dataset for Sticker Emotion Recognition",
 * Liu, Zhang and Yang, ACM MM 2022; https://github.com/nku-shengzheliu/SER30K). The data is given
 * on application to the authors; 1,887 sticker themes ("topics"), 30,739 images, 7 emotions.
 *
 * ## The real layout
 *
 * Sources: the SER30K repository's `README.md` (folder tree) and `dataset.py` (classes `SER`,
 * `SER_Full`), the README shipped inside the data archive, and preprocessing scripts of later
 * work that read it (INTREBID/PMG `data/preprocess_ser.py`):
 *
 * ```
 * SER_Dataset/
 *   Images/<topic>/<file_name>          e.g. Images/01-panda-bear/sticker_1.jpg
 *   Annotations/all_annos.json          every annotation
 *   Annotations/image-level/train.json  the official split of all_annos.json
 *   Annotations/image-level/val.json
 *   Annotations/image-level/test.json
 * ```
 *
 * (The repository README draws the split files directly under `Annotations/`; the code reads
 * `Annotations/image-level/`. Both places are accepted.) Each JSON file is an object
 * `{ "annotations": [ ... ], ... }` (all_annos.json also has a `categories` member); each
 * annotation is
 * `{ "topic": "<folder>", "file_name": "<image file>", "text": "<text in the image or ''>",
 *    "anno1": n, "anno2": n, "anno3": n, "anno": n }`
 * with `anno` the emotion label for learning, an integer 1..7 (the code trains on `anno - 1`),
 * and `anno1..3` the three annotators' labels.
 *
 * **Emotion names.** No public source we could read gives the mapping from `anno` 1..7 to
 * emotion names, so the importer does not guess it: names come from `options.emotionNames`
 * (seven names, for labels 1..7), else from the annotation file's `categories` member when it
 * has a recognisable shape (a list of seven names; a list of `{id, name}` with ids 1..7; an
 * object `{ "1": name, ... }` or `{ name: 1, ... }`), else they are stored as `emotion-1` ..
 * `emotion-7` with a warning in the summary.
 *
 * ## What the importer makes of it
 *
 * - **Items** = annotated stickers, in annotation-file order: `externalId` = `<topic>/<file_name>`,
 *   `group` = topic, `title` = the topic's words (`01-panda-bear` -> `panda bear`), `text` = the
 *   sticker's own text (`text`, usually empty), `tags` = `[emotion name]`, `attributes` =
 *   `{ topic, file_name, anno, emotion, anno1, anno2, anno3 }` (annotator labels when present).
 *   Image files that no annotation names are ignored.
 * - **Annotation files**: `all_annos.json` when present (then the split files, if present, only
 *   assign splits); otherwise the union of `train.json`, `val.json`, `test.json`.
 * - **Item splits**: the official image-level split, as `setSplit('item', id, 'train' | 'valid' |
 *   'test')`, when split files exist.
 * - **Users** (`options.users`, default `topics`): SER30K has no users. Following PMG and Pigeon,
 *   each sticker theme is taken as a *proxy user* whose history is the theme's stickers: user id
 *   = topic, attributes `{ proxy: true, stickers }`, one interaction per sticker in natural order
 *   of file name (`sticker_2` before `sticker_10`), `ts` = that index. This is a stand-in, not
 *   real behaviour: a "user" likes exactly one sticker set. `users: 'none'` imports items only.
 *   Proxy users get the seeded user split of {@link writeUserSplits}.
 *
 * ## Bad rows
 *
 * An annotation that is not an object, lacks `topic` / `file_name`, names a path outside its
 * topic folder, has an `anno` outside 1..7, repeats an id, or whose image is missing or corrupt,
 * and a split-file entry naming no (surviving) item, is a bad row: an {@link InputError} naming
 * the annotation file and the line where the entry starts (with its index in the array), or a
 * counted skip under `skipBad`. A file that is not JSON, or is cut short, is always an error; so
 * is text that is not UTF-8 (naming `file:line`) unless `options.encoding` names the encoding, and
 * an import with no sticker left (every annotation bad under `skipBad`).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Store } from '../../store/store.js';
import { BadRowPolicy, InputError, RagarError } from '../../util/errors.js';
import { silentProgress } from '../../util/progress.js';
import {
  IMPORT_DEFAULTS,
  ImportCounter,
  checkEncoding,
  importImage,
  readTextFile,
  requireRows,
  writeUserSplits,
  type ImportOptions,
  type ImportSummary,
} from './common.js';

/** Licence note stored with every SER30K dataset. */
export const SER30K_LICENSE =
  'SER30K (Liu et al., ACM MM 2022): data given by the authors on application, for academic research ' +
  'only; no redistribution. The Apache-2.0 licence of the SER30K repository covers its code, not the ' +
  'data; sticker images remain their creators\' copyright.';

/** Where the data comes from. */
export const SER30K_SOURCE = 'https://github.com/nku-shengzheliu/SER30K';

/** Number of emotion classes (`anno` is 1..7). */
export const SER30K_EMOTION_COUNT = 7;

/** Options of {@link importSer30k}. */
export interface Ser30kImportOptions extends Omit<ImportOptions, 'name'> {
  /** Dataset name, default `ser30k`. */
  name?: string;
  /** `topics` (default): each sticker theme is a proxy user; `none`: items only. */
  users?: 'topics' | 'none';
  /** Names of emotion labels 1..7, in order (overrides the file's `categories`). */
  emotionNames?: string[];
}

/** What a SER30K import wrote. */
export interface Ser30kImportSummary extends ImportSummary {
  /** Sticker themes (topics) with at least one imported sticker. */
  topics: number;
  /** Emotion names used for labels 1..7. */
  emotionNames: string[];
  /** Where the names came from. */
  emotionNamesFrom: 'option' | 'file' | 'default';
}

interface AnnotationFile {
  file: string;
  split: 'train' | 'valid' | 'test' | null;
  entries: unknown[];
  lines: (number | undefined)[];
  categories: unknown;
}

interface Sticker {
  id: string;
  index: number;
  topic: string;
  fileName: string;
  anno: number;
  text: string;
  annotators: Record<string, unknown>;
  ref: { file: string; line?: number };
  imageHash?: string;
}

const SPLIT_FILES = [
  ['train.json', 'train'],
  ['val.json', 'valid'],
  ['test.json', 'test'],
] as const;

/**
 * Import a SER30K folder (`Images/<topic>/<file>`, `Annotations/*.json`) into `store` as one
 * dataset (default name and kind `ser30k`). Everything is parsed, validated and written inside
 * one {@link Store.writeDataset} transaction: on any error the store is left as it was. See the
 * module comment for the format, the emotion names and the proxy users.
 *
 * @example
 * const summary = await importSer30k(store, '/data/SER_Dataset', {
 *   emotionNames: ['...', '...', '...', '...', '...', '...', '...'],
 * });
 */
export async function importSer30k(
  store: Store,
  dir: string,
  options: Ser30kImportOptions = {},
): Promise<Ser30kImportSummary> {
  const name = options.name ?? 'ser30k';
  const kind = 'ser30k';
  const usersMode = options.users ?? 'topics';
  if (usersMode !== 'topics' && usersMode !== 'none') {
    throw new RagarError(`users must be 'topics' or 'none', got ${JSON.stringify(usersMode)}`, 'BAD_INPUT');
  }
  if (options.emotionNames !== undefined) checkEmotionNames(options.emotionNames);
  const progress = options.progress ?? silentProgress;
  const bad = new BadRowPolicy(options.skipBad ?? false);
  const counter = new ImportCounter();
  const common: ImportOptions = { ...options, name };
  const imagesDir = path.join(dir, 'Images');
  if (options.encoding !== undefined) checkEncoding(options.encoding);
  const warnings = counter.warnings;
  let emotionNames: string[] = [];
  let emotionNamesFrom: Ser30kImportSummary['emotionNamesFrom'] = 'default';
  let topicCount = 0;

  await store.writeDataset(
    {
      name,
      kind,
      license: SER30K_LICENSE,
      source: SER30K_SOURCE,
      params: {
        dir: path.resolve(dir),
        users: usersMode,
        imageSize: options.imageSize ?? IMPORT_DEFAULTS.imageSize,
        seed: options.seed ?? IMPORT_DEFAULTS.seed,
        validUsers: options.validUsers ?? IMPORT_DEFAULTS.validUsers,
        testUsers: options.testUsers ?? IMPORT_DEFAULTS.testUsers,
        skipBad: bad.skipBad,
        userProxy: usersMode === 'topics' ? 'each sticker theme is a proxy user (not real behaviour)' : null,
      },
    },
    async (w) => {
      if (!isDirectory(imagesDir)) {
        throw new InputError(imagesDir, undefined, 'images folder not found (expected Images/<topic>/<file_name>)');
      }
      const { source, splits } = findAnnotationFiles(dir, options.encoding);

      // Emotion names: option, else the first `categories` we can read, else neutral labels.
      if (options.emotionNames) {
        emotionNames = [...options.emotionNames];
        emotionNamesFrom = 'option';
      } else {
        for (const f of [...source, ...splits]) {
          if (f.categories === undefined) continue;
          const names = namesFromCategories(f.categories);
          if (names) {
            emotionNames = names;
            emotionNamesFrom = 'file';
          } else {
            warnings.push(`${f.file}: "categories" has a shape this importer does not know; emotion names not read from it`);
          }
          break;
        }
        if (emotionNamesFrom === 'default') {
          emotionNames = Array.from({ length: SER30K_EMOTION_COUNT }, (_, i) => `emotion-${i + 1}`);
          warnings.push('no emotion names given or found: labels stored as emotion-1 .. emotion-7 (pass emotionNames)');
        }
      }

      // 1. Parse and validate the stickers.
      const stickers = new Map<string, Sticker>();
      const itemSplit = new Map<string, string>();
      for (const f of source) {
        f.entries.forEach((entry, i) => {
          const ref = { file: f.file, line: f.lines[i] };
          const fail = (reason: string) => bad.report(new InputError(f.file, ref.line, `annotations[${i}]: ${reason}`));
          const key = entryKey(entry);
          if (typeof key === 'string') return fail(key);
          const { topic, fileName } = key;
          const id = `${topic}/${fileName}`;
          const e = entry as Record<string, unknown>;
          const anno = typeof e.anno === 'string' && e.anno.trim() !== '' ? Number(e.anno) : e.anno;
          if (typeof anno !== 'number' || !Number.isInteger(anno) || anno < 1 || anno > SER30K_EMOTION_COUNT) {
            return fail(`${id}: emotion label "anno" ${JSON.stringify(e.anno ?? null)} is not an integer in 1..${SER30K_EMOTION_COUNT}`);
          }
          if (e.text !== undefined && e.text !== null && typeof e.text !== 'string') {
            return fail(`${id}: "text" must be a string`);
          }
          const first = stickers.get(id);
          if (first) {
            return fail(`duplicate sticker ${JSON.stringify(id)} (first in ${first.ref.file}${first.ref.line ? `:${first.ref.line}` : ''})`);
          }
          const annotators: Record<string, unknown> = {};
          for (const k of ['anno1', 'anno2', 'anno3']) if (e[k] !== undefined) annotators[k] = e[k];
          stickers.set(id, {
            id,
            index: i,
            topic,
            fileName,
            anno,
            text: typeof e.text === 'string' ? e.text.trim() : '',
            annotators,
            ref,
          });
          if (f.split) itemSplit.set(id, f.split);
        });
      }
      requireRows(stickers.size, source.map((f) => f.file).join(', '), 'annotations', bad);

      // 2. Images: Images/<topic>/<file_name>; a missing or corrupt one drops the sticker.
      progress.start('ser30k: sticker images', stickers.size);
      let done = 0;
      for (const s of [...stickers.values()]) {
        const hash = await importImage(
          w,
          path.join(imagesDir, s.topic, s.fileName),
          s.ref,
          common,
          new PrefixedPolicy(bad, `annotations[${s.index}]: `),
        );
        if (hash === undefined) stickers.delete(s.id);
        else s.imageHash = hash;
        if (++done % 64 === 0) progress.update(done);
      }
      progress.update(done);
      progress.stop();

      // 3. Official split from the split files when all_annos.json is the source.
      for (const f of splits) {
        f.entries.forEach((entry, i) => {
          const fail = (reason: string) => bad.report(new InputError(f.file, f.lines[i], `annotations[${i}]: ${reason}`));
          const key = entryKey(entry);
          if (typeof key === 'string') return fail(key);
          const id = `${key.topic}/${key.fileName}`;
          if (!stickers.has(id)) return fail(`unknown sticker ${JSON.stringify(id)} (not in ${source[0].file} or skipped)`);
          const already = itemSplit.get(id);
          if (already) return fail(`sticker ${JSON.stringify(id)} is already in split ${already}`);
          itemSplit.set(id, f.split ?? 'train');
        });
      }

      // 4. Write items.
      const byTopic = new Map<string, Sticker[]>();
      for (const s of stickers.values()) {
        const emotion = emotionNames[s.anno - 1];
        w.addItem({
          externalId: s.id,
          title: topicTitle(s.topic),
          text: s.text,
          tags: [emotion],
          group: s.topic,
          attributes: { topic: s.topic, file_name: s.fileName, anno: s.anno, emotion, ...s.annotators },
          imageHash: s.imageHash ?? null,
        });
        counter.items++;
        counter.images++;
        const split = itemSplit.get(s.id);
        if (split) w.setSplit('item', s.id, split);
        const list = byTopic.get(s.topic);
        if (list) list.push(s);
        else byTopic.set(s.topic, [s]);
      }
      topicCount = byTopic.size;
      requireRows(counter.items, source.map((f) => f.file).join(', '), 'stickers with an image', bad);

      // 5. Proxy users: one per topic, history = its stickers in natural file-name order.
      if (usersMode === 'topics') {
        for (const [topic, list] of byTopic) {
          list.sort((a, b) => naturalCompare(a.fileName, b.fileName));
          w.addUser(topic, { proxy: true, stickers: list.length });
          counter.users.add(topic);
          list.forEach((s, k) => {
            w.addInteraction(topic, s.id, k);
            counter.interactions++;
          });
        }
        writeUserSplits(w, byTopic.keys(), common);
      }
    },
    { replace: options.replace },
  );

  return {
    ...counter.summary(name, kind, bad),
    topics: topicCount,
    emotionNames,
    emotionNamesFrom,
  };
}

/** Reports to `outer` with `prefix` added to each reason (names the annotation entry). */
class PrefixedPolicy extends BadRowPolicy {
  constructor(
    private readonly outer: BadRowPolicy,
    private readonly prefix: string,
  ) {
    super(outer.skipBad);
  }
  override report(error: InputError): void {
    this.outer.report(new InputError(error.file, error.line, this.prefix + error.reason));
  }
}

function checkEmotionNames(names: unknown): void {
  if (
    !Array.isArray(names) ||
    names.length !== SER30K_EMOTION_COUNT ||
    names.some((n) => typeof n !== 'string' || n.trim() === '')
  ) {
    throw new RagarError(`emotionNames must be ${SER30K_EMOTION_COUNT} non-empty names, for labels 1..7 in order`, 'BAD_INPUT');
  }
}

/** Topic and file name of an annotation entry, or the reason it has none. */
function entryKey(entry: unknown): { topic: string; fileName: string } | string {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'entry is not an object';
  const e = entry as Record<string, unknown>;
  if (typeof e.topic !== 'string' || e.topic.trim() === '') return 'missing "topic"';
  if (typeof e.file_name !== 'string' || e.file_name.trim() === '') return `${e.topic}: missing "file_name"`;
  const topic = e.topic.trim();
  const fileName = e.file_name.trim();
  for (const part of [topic, fileName]) {
    if (part === '.' || part === '..' || /[\\/]/.test(part) || part.includes('\0')) {
      return `${topic}/${fileName}: "topic" and "file_name" must be plain names inside Images/`;
    }
  }
  return { topic, fileName };
}

/** Which annotation files exist: the item source and the split files that only assign splits. */
function findAnnotationFiles(dir: string, encoding: string | undefined): { source: AnnotationFile[]; splits: AnnotationFile[] } {
  const annDir = path.join(dir, 'Annotations');
  const all = path.join(annDir, 'all_annos.json');
  let splitFiles: { file: string; split: 'train' | 'valid' | 'test' }[] = [];
  for (const d of [path.join(annDir, 'image-level'), annDir]) {
    const found = SPLIT_FILES.map(([f, split]) => ({ file: path.join(d, f), split })).filter((x) => isFile(x.file));
    if (found.length) {
      splitFiles = found;
      break;
    }
  }
  if (isFile(all)) {
    return {
      source: [{ ...readAnnotationFile(all, encoding), split: null }],
      splits: splitFiles.map((s) => ({ ...readAnnotationFile(s.file, encoding), split: s.split })),
    };
  }
  if (splitFiles.length === 0) {
    throw new InputError(
      annDir,
      undefined,
      'no SER30K annotation files (expected all_annos.json, or image-level/train.json, val.json, test.json)',
    );
  }
  return { source: splitFiles.map((s) => ({ ...readAnnotationFile(s.file, encoding), split: s.split })), splits: [] };
}

/** Parse one annotation JSON file; errors name the file and line. */
function readAnnotationFile(file: string, encoding: string | undefined): Omit<AnnotationFile, 'split'> {
  const text = readTextFile(file, { encoding }).replace(/^\uFEFF/, '');
  if (text.trim() === '') throw new InputError(file, undefined, 'empty file');
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    throw jsonError(file, text, (err as Error).message);
  }
  if (typeof root !== 'object' || root === null || !Array.isArray((root as { annotations?: unknown }).annotations)) {
    throw new InputError(file, 1, 'expected an object with an "annotations" array (SER30K annotation format)');
  }
  const entries = (root as { annotations: unknown[] }).annotations;
  let lines: (number | undefined)[] = annotationLines(text);
  if (lines.length !== entries.length) lines = entries.map(() => undefined);
  return { file, entries, lines, categories: (root as { categories?: unknown }).categories };
}

function jsonError(file: string, text: string, message: string): InputError {
  const m = /position (\d+)/.exec(message);
  const end = text.trimEnd().length;
  const pos = m ? Number(m[1]) : end;
  const line = lineAt(text, Math.min(pos, text.length));
  if (!m || /end of (JSON|data)|Unterminated/i.test(message) || pos >= end) {
    return new InputError(file, line, `JSON ends early: the file looks truncated (${message})`);
  }
  return new InputError(file, line, `not valid JSON (${message})`);
}

function lineAt(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * The 1-based line on which each element of the root object's `annotations` array starts, found
 * by scanning the (already validated) JSON text.
 */
function annotationLines(text: string): number[] {
  const out: number[] = [];
  let line = 1;
  let depth = 0;
  let lastKey: string | null = null;
  let target = -1; // depth of the elements of the annotations array while inside it
  let expect = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text[i];
    if (c === '\n') {
      line++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') continue;
    if (target >= 0 && depth === target && expect && c !== ']' && c !== ',') {
      out.push(line);
      expect = false;
    }
    if (c === '"') {
      let j = i + 1;
      let s = '';
      while (j < n && text[j] !== '"') {
        if (text[j] === '\\') j++;
        s += text[j];
        j++;
      }
      i = j;
      if (depth === 1) {
        let k = j + 1;
        while (k < n && /\s/.test(text[k])) k++;
        if (text[k] === ':') lastKey = s;
      }
    } else if (c === '{' || c === '[') {
      if (c === '[' && depth === 1 && lastKey === 'annotations' && target < 0 && out.length === 0) {
        target = depth + 1;
        expect = true;
      }
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (target >= 0 && depth < target) {
        target = -2; // done: never re-enter
        expect = false;
      }
    } else if (c === ',') {
      if (target >= 0 && depth === target) expect = true;
    }
  }
  return out;
}

/** Emotion names for labels 1..7 from a `categories` member, or null when its shape is unknown. */
function namesFromCategories(categories: unknown): string[] | null {
  const ok = (names: (string | undefined)[]): string[] | null =>
    names.length === SER30K_EMOTION_COUNT && names.every((x) => typeof x === 'string' && x.trim() !== '')
      ? names.map((x) => (x as string).trim())
      : null;
  if (Array.isArray(categories)) {
    if (categories.every((c) => typeof c === 'string')) return ok(categories as string[]);
    const names: (string | undefined)[] = new Array(SER30K_EMOTION_COUNT).fill(undefined);
    for (const c of categories) {
      const id = (c as { id?: unknown })?.id;
      const nm = (c as { name?: unknown })?.name;
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > SER30K_EMOTION_COUNT || typeof nm !== 'string') {
        return null;
      }
      names[id - 1] = nm;
    }
    return categories.length === SER30K_EMOTION_COUNT ? ok(names) : null;
  }
  if (typeof categories === 'object' && categories !== null) {
    const entries = Object.entries(categories as Record<string, unknown>);
    if (entries.length !== SER30K_EMOTION_COUNT) return null;
    const names: (string | undefined)[] = new Array(SER30K_EMOTION_COUNT).fill(undefined);
    for (const [k, v] of entries) {
      if (/^\d+$/.test(k) && typeof v === 'string') {
        const id = Number(k);
        if (id < 1 || id > SER30K_EMOTION_COUNT) return null;
        names[id - 1] = v;
      } else if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= SER30K_EMOTION_COUNT) {
        names[v - 1] = k;
      } else {
        return null;
      }
    }
    return ok(names);
  }
  return null;
}

/** `01-panda-bear` -> `panda bear`: the topic's words without bare numbers. */
function topicTitle(topic: string): string {
  const words = topic.split(/[-_\s]+/).filter((w) => w !== '' && !/^\d+$/.test(w));
  return words.length ? words.join(' ') : topic;
}

/** Compare with digit runs as numbers (`sticker_2` < `sticker_10`); locale-independent. */
export function naturalCompare(a: string, b: string): number {
  const re = /(\d+)|(\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const nx = x.replace(/^0+(?=\d)/, '');
      const ny = y.replace(/^0+(?=\d)/, '');
      if (nx.length !== ny.length) return nx.length - ny.length;
      if (nx !== ny) return nx < ny ? -1 : 1;
      if (x.length !== y.length) return x.length - y.length;
      continue;
    }
    return x < y ? -1 : 1;
  }
  if (pa.length !== pb.length) return pa.length - pb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
