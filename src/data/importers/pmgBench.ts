/**
 * Importer for the PMG-Bench sample format (the unified JSON of PMG, "Personalized Multimodal
 * Generation with Large Language Models", WWW 2024, and its benchmark release covering MovieLens
 * posters, POG fashion and SER30K stickers).
 *
 * # Input
 *
 * A JSON array of samples (PMG's `train.json` / `val.json` / `test.json`), or JSONL with one sample
 * per line; the first non-blank character decides (`[` → array). One sample:
 *
 * ```json
 * {
 *   "user_id": "u1",
 *   "history_item_ids": ["i1", "i2"],
 *   "history_items_info": [
 *     {"item_id": "i1", "caption": "A red dress ...", "image_path": "images/i1.jpg"},
 *     {"item_id": "i2", "caption": "A denim jacket ...", "image_path": "images/i2.jpg"}
 *   ],
 *   "target_item_id": "i3",
 *   "target_item_info": {"item_id": "i3", "caption": "A blue skirt ...", "image_path": "images/i3.jpg"},
 *   "user_style": "elegant, vibrant, classic"
 * }
 * ```
 *
 * PMG's FLICKR-AES variant names the user `worker_id` and the style `worker_style`; both are
 * accepted as aliases. PMG-Bench's `method/data_process/prepare_ser_dataset.py` writes another
 * layout, also accepted: the user is `history_topic` (a sticker topic, stored as a proxy user),
 * each history item carries its SER30K `annotation` object, and the target is spread over
 * `target_item_id`, `target_caption`, `target_image_path` and `target_annotation`.
 *
 * `image_path` is relative to the file's folder (absolute paths are used as they are); a path
 * that does not exist is looked up by its tail in `options.images` (`--images DIR`), for files
 * written on another machine (PMG-Bench's scripts write absolute paths). `caption` may be
 * missing or empty (PMG's own code tolerates that). `item_id` is required and `image_path` must
 * be present, but may be null (`prepare_pog_dataset_split.py` writes null for items whose image
 * was not downloaded): the item is stored text-only and counted. `target_item_info` may be null
 * (a one-item history): the sample's history is kept but it makes no task; counted. A target
 * without an image makes no task either (counted): the reference must be an image.
 * `history_item_ids`, where present, must list the same ids in the same order as
 * `history_items_info`, and `target_item_id` must equal `target_item_info.item_id`.
 *
 * # What is stored (decisions)
 *
 * - **Items** are de-duplicated by `item_id` across samples: the first occurrence wins (a later
 *   different caption or path is ignored and not counted), except that an item first seen with a
 *   null `image_path` takes the first path a later sample gives. Item text = caption; attributes
 *   `{caption, image_path}` plus the item's other scalar fields (e.g. FLICKR's `aesthetic_score`).
 * - **Interactions.** A history is in time order, so its timestamps are the indices 0..n-1. PMG
 *   cuts each user's sequence into sliding windows, so the same user appears in many samples with
 *   overlapping histories; storing them all would duplicate interactions. We keep, per user, the
 *   sample with the longest history (the first one on ties) as that user's interactions. The target
 *   item is never added as an interaction (it is what the task asks about). A history item's
 *   numeric `score` (FLICKR-AES) becomes the interaction's rating.
 * - **Tasks.** Every sample becomes one task `sample-<index>` (0-based index in the file, PMG's
 *   `sample_idx`): user = the sample's user, reference = the target item. The target (ground truth)
 *   is **null**: PMG scores LPIPS/SSIM "to target" against the target item's own image, and here that
 *   image is the reference image the generator is given, so it is not a held-out ground truth;
 *   ragar's semantic metrics to the reference reproduce PMG's target metrics. The sample's own
 *   history ids (which may be shorter than the stored one) and its other scalar fields
 *   (`window_position`, ...) go into the task's attributes, so PMG's exact protocol can be rebuilt.
 *   Task split: `train` / `valid` / `test` when the file is named like PMG's `train.json`,
 *   `val.json`/`valid.json`, `test.json`; otherwise the user's split.
 * - **Users** get attributes `{user_style}` (the first non-empty style seen) and a seeded user split.
 *
 * # Errors
 *
 * A sample is the unit of a bad row: a malformed or incomplete sample, or one whose item image is
 * missing or corrupt, fails the import (`file:line: reason` for JSONL or a pretty-printed array,
 * with `sample N` in the reason for arrays), or is skipped and counted under `skipBad`. A bad image
 * is reported once, at the first sample that uses it; every other sample that uses that item is
 * skipped and counted too. Text is UTF-8 unless `options.encoding` names another; bytes that are
 * not UTF-8 are an error naming `file:line`. A file with no sample left (`[]`, or every sample bad
 * under `skipBad`) is an error naming it, not an empty dataset.
 */
import path from 'node:path';
import type { Store } from '../../store/store.js';
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
import { describeJsonError, importImagesInOrder, jsonId, parseJsonLines, type ImageJob } from './json.js';

/** Licence note stored with PMG-Bench datasets. */
export const PMG_BENCH_LICENSE =
  'PMG-Bench samples: the licences of the source datasets apply (MovieLens, POG, SER30K, FLICKR-AES: research use); never commit';

/** Options of {@link importPmgBench}: the common ones plus `images` (`--images DIR`). */
export interface PmgBenchImportOptions extends ImportOptions, ImagePathOptions {}

/** What a PMG-Bench import wrote, with its gaps counted. */
export interface PmgBenchImportSummary extends ImportSummary {
  /** Samples read (before skipping bad ones). */
  samples: number;
  /** Items stored without an image (`image_path` null or empty in every sample naming them). */
  textOnlyItems: number;
  /** Samples with a null `target_item_info` / `target_item_id`: history kept, no task. */
  samplesWithoutTarget: number;
  /** Samples whose target has no image: the target item is stored text-only, no task. */
  targetsWithoutImage: number;
  /** Which layout the samples have: PMG's `user_id` samples or PMG-Bench's SER `history_topic` ones. */
  layout: 'user' | 'ser-topic';
}

/** One sample's item (a history entry or the target). */
interface PmgItem {
  id: string;
  caption: string;
  /** The path as written, or null when the sample gives none (text-only item). */
  imagePath: string | null;
  extra: Record<string, unknown>;
  score: number | null;
}

/** A structurally valid sample. */
interface PmgSample {
  index: number;
  line?: number;
  user: string;
  style?: string;
  history: PmgItem[];
  /** Null for a sample without target (PMG-Bench's POG script writes `target_item_info: null`). */
  target: PmgItem | null;
  extra: Record<string, unknown>;
  /** The user is a sticker topic (PMG-Bench SER layout). */
  topic: boolean;
}

/** A raw sample with its location. */
interface RawSample {
  index: number;
  line?: number;
  value: unknown;
}

class SampleProblem extends Error {}

const SAMPLE_KEYS = new Set([
  'user_id',
  'worker_id',
  'history_item_ids',
  'history_items_info',
  'target_item_id',
  'target_item_info',
  'user_style',
  'worker_style',
  'history_topic',
  'target_annotation',
  'target_caption',
  'target_image_path',
]);
const ITEM_KEYS = new Set(['item_id', 'caption', 'image_path', 'score', 'annotation']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function scalarExtras(o: Record<string, unknown>, known: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (known.has(k)) continue;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}

/** Lines where each top-level element of a (valid) JSON array starts; undefined when not distinct. */
function arrayElementLines(text: string): number[] | undefined {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let expect = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) line++;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 92) escaped = true;
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    if (depth === 1 && expect && c !== 93) {
      lines.push(line);
      expect = false;
    }
    if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      depth++;
      if (depth === 1) expect = true;
    } else if (c === 93 || c === 125) depth--;
    else if (c === 44 && depth === 1) expect = true;
  }
  for (let i = 1; i < lines.length; i++) if (lines[i] <= lines[i - 1]) return undefined;
  return lines;
}

/** Read the samples of a JSON array or JSONL file. */
function readSamples(file: string, bad: BadRowPolicy, encoding: string | undefined): { samples: RawSample[]; isArray: boolean } {
  const text = readTextFile(file, { encoding }).replace(/^\uFEFF/, '');
  const first = text.trimStart()[0];
  if (first === undefined) {
    throw new InputError(file, undefined, 'empty file: expected a JSON array of PMG samples or one sample per line (JSONL)');
  }
  if (first === '[') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      const d = describeJsonError(err, text);
      throw new InputError(file, d.line, `malformed JSON (${d.message})`);
    }
    const arr = data as unknown[];
    const lines = arrayElementLines(text);
    return { samples: arr.map((value, index) => ({ index, line: lines?.[index], value })), isArray: true };
  }
  if (first !== '{') {
    throw new InputError(file, 1, `expected a JSON array of PMG samples or one JSON object per line, found ${JSON.stringify(first)}`);
  }
  // JSONL, or a single pretty-printed sample object.
  const firstLine = text.split('\n').find((l) => l.trim() !== '') ?? '';
  try {
    JSON.parse(firstLine);
  } catch {
    try {
      const one = JSON.parse(text) as unknown;
      return { samples: [{ index: 0, line: 1, value: one }], isArray: false };
    } catch {
      // Not one object either: fall through to JSONL so that the first bad line is reported.
    }
  }
  // A sample's index counts every non-blank, non-comment line, so a skipped bad line keeps its number.
  const ordinal = new Map<number, number>();
  text.split('\n').forEach((l, i) => {
    const t = l.trim();
    if (t !== '' && !t.startsWith('#')) ordinal.set(i + 1, ordinal.size);
  });
  const parsed = parseJsonLines(text, file, bad);
  return { samples: parsed.map((p) => ({ index: ordinal.get(p.line) ?? 0, line: p.line, value: p.value })), isArray: false };
}

function parseItem(v: unknown, where: string): PmgItem {
  if (!isObject(v)) throw new SampleProblem(`${where} must be an object`);
  if (v.item_id === undefined || v.item_id === null) throw new SampleProblem(`${where}: missing item_id`);
  const id = jsonId(v.item_id);
  if (id === undefined) throw new SampleProblem(`${where}: item_id must be a non-empty string or an integer, got ${JSON.stringify(v.item_id)}`);
  const caption = v.caption ?? '';
  if (typeof caption !== 'string') throw new SampleProblem(`${where}: caption must be a string`);
  if (v.image_path === undefined) throw new SampleProblem(`${where}: missing image_path for item ${JSON.stringify(id)} (null is allowed: a text-only item)`);
  if (v.image_path !== null && typeof v.image_path !== 'string') throw new SampleProblem(`${where}: image_path must be a string or null`);
  let score: number | null = null;
  if (v.score !== undefined && v.score !== null) {
    if (typeof v.score !== 'number' || !Number.isFinite(v.score)) throw new SampleProblem(`${where}: score must be a number`);
    score = v.score;
  }
  const extra: Record<string, unknown> = { image_path: v.image_path, ...scalarExtras(v, ITEM_KEYS) };
  // PMG-Bench's SER script copies each sticker's SER30K annotation ({} when it has none).
  if (v.annotation !== undefined && v.annotation !== null) {
    if (!isObject(v.annotation)) throw new SampleProblem(`${where}: annotation must be an object`);
    if (Object.keys(v.annotation).length) extra.annotation = v.annotation;
  }
  const imagePath = typeof v.image_path === 'string' && v.image_path.trim() !== '' ? v.image_path : null;
  return { id, caption, imagePath, extra, score };
}

function parseSample(raw: RawSample): PmgSample {
  const v = raw.value;
  if (!isObject(v)) throw new SampleProblem('expected a JSON object');
  // PMG-Bench's prepare_ser_dataset.py: the sticker topic is the (proxy) user, the target is
  // spread over target_item_id / target_caption / target_image_path / target_annotation.
  const topic = v.user_id === undefined && v.worker_id === undefined && v.history_topic !== undefined;
  const userRaw = topic ? v.history_topic : (v.user_id ?? v.worker_id);
  if (userRaw === undefined || userRaw === null) throw new SampleProblem('missing user_id (or worker_id, or history_topic)');
  const user = jsonId(userRaw);
  if (user === undefined) throw new SampleProblem(`${topic ? 'history_topic' : 'user_id'} must be a non-empty string or an integer, got ${JSON.stringify(userRaw)}`);
  const styleRaw = v.user_style ?? v.worker_style;
  if (styleRaw !== undefined && styleRaw !== null && typeof styleRaw !== 'string') throw new SampleProblem('user_style must be a string');
  if (v.history_items_info === undefined || v.history_items_info === null) throw new SampleProblem('missing history_items_info');
  if (!Array.isArray(v.history_items_info)) throw new SampleProblem('history_items_info must be an array');
  const history = v.history_items_info.map((h, i) => parseItem(h, `history_items_info[${i}]`));
  if (v.history_item_ids !== undefined && v.history_item_ids !== null) {
    if (!Array.isArray(v.history_item_ids)) throw new SampleProblem('history_item_ids must be an array');
    const ids = v.history_item_ids.map((x) => jsonId(x));
    if (ids.length !== history.length) {
      throw new SampleProblem(`history_item_ids has ${ids.length} ids but history_items_info has ${history.length} entries`);
    }
    ids.forEach((id, i) => {
      if (id !== history[i].id) {
        throw new SampleProblem(
          `history_item_ids[${i}] is ${JSON.stringify(v.history_item_ids && (v.history_item_ids as unknown[])[i])} but history_items_info[${i}].item_id is ${JSON.stringify(history[i].id)}`,
        );
      }
    });
  }
  let target: PmgItem | null;
  if (topic && v.target_item_info === undefined) {
    target =
      v.target_item_id === undefined || v.target_item_id === null
        ? null
        : parseItem(
            {
              item_id: v.target_item_id,
              caption: v.target_caption ?? '',
              image_path: v.target_image_path ?? null,
              annotation: v.target_annotation,
            },
            'target',
          );
  } else if (v.target_item_info === undefined) {
    throw new SampleProblem('missing target_item_info (null is allowed: a sample without target)');
  } else if (v.target_item_info === null) {
    if (v.target_item_id !== undefined && v.target_item_id !== null) {
      throw new SampleProblem(`target_item_id is ${JSON.stringify(v.target_item_id)} but target_item_info is null`);
    }
    target = null;
  } else {
    target = parseItem(v.target_item_info, 'target_item_info');
    if (v.target_item_id !== undefined && v.target_item_id !== null && jsonId(v.target_item_id) !== target.id) {
      throw new SampleProblem(`target_item_id ${JSON.stringify(v.target_item_id)} differs from target_item_info.item_id ${JSON.stringify(target.id)}`);
    }
  }
  return {
    index: raw.index,
    line: raw.line,
    user,
    style: typeof styleRaw === 'string' && styleRaw.trim() !== '' ? styleRaw : undefined,
    history,
    target,
    extra: scalarExtras(v, SAMPLE_KEYS),
    topic,
  };
}

/** The task split a PMG file name implies (`train.json` → train, `val.json` → valid, ...). */
function splitFromFileName(file: string): 'train' | 'valid' | 'test' | undefined {
  const base = path.basename(file).toLowerCase().replace(/\.(jsonl|json|ndjson)$/, '');
  if (/^train$/.test(base)) return 'train';
  if (/^(val|valid|validation|dev)$/.test(base)) return 'valid';
  if (/^test$/.test(base)) return 'test';
  return undefined;
}

/**
 * Import a PMG-Bench sample file (JSON array or JSONL; format and storage decisions in this
 * module's header) as one dataset of kind `pmg-bench`, named `options.name` (default `pmg-bench`).
 * Everything is written in one transaction; an error leaves the store unchanged.
 *
 * @example
 * const summary = await importPmgBench(store, 'PMG/datasets/POG/processed_dataset/test.json', { name: 'pog-test', images: '/data/POG/images' });
 */
export async function importPmgBench(store: Store, file: string, options: PmgBenchImportOptions): Promise<PmgBenchImportSummary> {
  const name = options.name || 'pmg-bench';
  const progress = options.progress ?? silentProgress;
  if (options.encoding !== undefined) checkEncoding(options.encoding);
  const bad = new BadRowPolicy(options.skipBad ?? false);
  const counter = new ImportCounter();
  const folder = path.dirname(path.resolve(file));
  const label = file;
  const fileSplit = splitFromFileName(file);
  const resolver = new ImagePathResolver(folder, options.images);
  const extra = { samples: 0, textOnlyItems: 0, samplesWithoutTarget: 0, targetsWithoutImage: 0, layout: 'user' as PmgBenchImportSummary['layout'] };

  await store.writeDataset(
    {
      name,
      kind: 'pmg-bench',
      source: path.resolve(file),
      license: PMG_BENCH_LICENSE,
      params: {
        file: path.basename(file),
        taskSplit: fileSplit ?? 'user',
        images: options.images === undefined ? null : path.resolve(options.images),
        imageSize: options.imageSize ?? IMPORT_DEFAULTS.imageSize,
        seed: options.seed ?? IMPORT_DEFAULTS.seed,
        validUsers: options.validUsers ?? IMPORT_DEFAULTS.validUsers,
        testUsers: options.testUsers ?? IMPORT_DEFAULTS.testUsers,
      },
    },
    async (w) => {
      const { samples: raw, isArray } = readSamples(file, bad, options.encoding);
      extra.samples = raw.length;
      const at = (s: { index: number; line?: number }) => ({
        line: s.line,
        prefix: isArray ? `sample ${s.index}: ` : '',
      });
      const report = (s: { index: number; line?: number }, reason: string): void => {
        const loc = at(s);
        bad.report(new InputError(label, loc.line, loc.prefix + reason));
      };

      // 1. Validate every sample's structure.
      const samples: PmgSample[] = [];
      progress.start('reading samples', raw.length);
      for (const r of raw) {
        try {
          samples.push(parseSample(r));
        } catch (err) {
          if (!(err instanceof SampleProblem)) throw err;
          report(r, err.message);
        }
        if (r.index % 500 === 0) progress.update(r.index);
      }
      progress.stop();
      if (samples.some((s) => s.topic)) extra.layout = 'ser-topic';

      // 2. Unique items (first occurrence wins; the image is the first path any sample gives).
      const items = new Map<string, { item: PmgItem; sample: PmgSample; imagePath: string | null; imageSample: PmgSample }>();
      for (const s of samples) {
        for (const it of s.target ? [...s.history, s.target] : s.history) {
          const known = items.get(it.id);
          if (!known) items.set(it.id, { item: it, sample: s, imagePath: it.imagePath, imageSample: s });
          else if (known.imagePath === null && it.imagePath !== null) Object.assign(known, { imagePath: it.imagePath, imageSample: s });
        }
      }
      const entries = [...items.values()];
      const withImage = entries.filter((e) => e.imagePath !== null);
      const jobs: ImageJob[] = [];
      const jobOf = new Map<(typeof entries)[number], number>();
      for (const e of withImage) {
        const where = at(e.imageSample);
        const r = resolver.resolve(e.imagePath as string);
        jobs.push(
          'missing' in r
            ? { path: e.imagePath as string, file: label, line: where.line, reasonPrefix: where.prefix, missing: r.missing }
            : { path: r.path, file: label, line: where.line, reasonPrefix: where.prefix },
        );
        jobOf.set(e, jobs.length - 1);
      }
      progress.start('importing images', jobs.length);
      const hashes = await importImagesInOrder(w, jobs, options, bad, (n) => progress.update(n));
      progress.stop();
      const badItemAt = new Map<string, PmgSample>();
      for (const e of entries) {
        const j = jobOf.get(e);
        const hash = j === undefined ? undefined : hashes[j];
        if (j !== undefined && hash === undefined) {
          badItemAt.set(e.item.id, e.imageSample);
          continue;
        }
        w.addItem({
          externalId: e.item.id,
          title: '',
          text: e.item.caption,
          attributes: { caption: e.item.caption, ...e.item.extra, image_path: e.imagePath },
          imageHash: hash ?? null,
        });
        counter.items++;
        if (hash !== undefined) counter.images++;
        else extra.textOnlyItems++;
      }

      // 3. Samples whose items all made it.
      const good: PmgSample[] = [];
      for (const s of samples) {
        const broken = (s.target ? [...s.history, s.target] : s.history).find((it) => badItemAt.has(it.id));
        if (broken) {
          const first = badItemAt.get(broken.id) as PmgSample;
          if (first !== s) {
            const where = isArray ? `sample ${first.index}` : `line ${first.line}`;
            report(s, `item ${JSON.stringify(broken.id)} was skipped (bad image, reported at ${where})`);
          }
          continue;
        }
        good.push(s);
      }
      requireRows(good.length, label, 'samples', bad);

      // 4. Users: attributes, the longest history, splits.
      const longest = new Map<string, PmgSample>();
      const style = new Map<string, string>();
      for (const s of good) {
        const best = longest.get(s.user);
        if (!best || s.history.length > best.history.length) longest.set(s.user, s);
        if (s.style !== undefined && !style.has(s.user)) style.set(s.user, s.style);
      }
      progress.start('writing interactions', longest.size);
      let n = 0;
      for (const [user, s] of longest) {
        const st = style.get(user);
        w.addUser(user, { ...(s.topic ? { proxy: true, history_topic: user } : {}), ...(st === undefined ? {} : { user_style: st }) });
        counter.users.add(user);
        s.history.forEach((h, i) => {
          w.addInteraction(user, h.id, i, h.score);
          counter.interactions++;
        });
        if (++n % 500 === 0) progress.update(n);
      }
      progress.stop();
      writeUserSplits(w, longest.keys(), options);

      // 5. Tasks: one per sample with a target that has an image.
      const seed = options.seed ?? IMPORT_DEFAULTS.seed;
      const valid = options.validUsers ?? IMPORT_DEFAULTS.validUsers;
      const test = options.testUsers ?? IMPORT_DEFAULTS.testUsers;
      for (const s of good) {
        if (s.target === null) {
          extra.samplesWithoutTarget++;
          continue;
        }
        if (!w.hasItem(s.target.id) || items.get(s.target.id)?.imagePath === null) {
          extra.targetsWithoutImage++;
          continue;
        }
        w.addTask({
          externalId: `sample-${s.index}`,
          user: s.user,
          reference: s.target.id,
          target: null,
          split: fileSplit ?? userSplit(s.user, seed, valid, test),
          attributes: {
            sample: s.index,
            ...(s.line !== undefined ? { line: s.line } : {}),
            historyItemIds: s.history.map((h) => h.id),
            ...(s.style !== undefined ? { user_style: s.style } : {}),
            ...s.extra,
          },
        });
        counter.tasks++;
      }

      const warn = counter.warnings;
      warn.push(...resolver.notes());
      if (extra.textOnlyItems) warn.push(`${extra.textOnlyItems} item(s) have no image_path (null): stored text-only`);
      if (extra.samplesWithoutTarget) warn.push(`${extra.samplesWithoutTarget} sample(s) have no target (target_item_info null): their history is kept, no task made`);
      if (extra.targetsWithoutImage) warn.push(`${extra.targetsWithoutImage} sample(s) have a target without an image: no task made (the target item is stored text-only)`);
      if (extra.layout === 'ser-topic') warn.push('samples name a history_topic (PMG-Bench SER layout): each sticker topic is stored as a proxy user');
    },
    { replace: options.replace },
  );
  return { ...counter.summary(name, 'pmg-bench', bad), ...extra };
}
