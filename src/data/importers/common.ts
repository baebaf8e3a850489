import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { Store, DatasetWriter } from '../../store/store.js';
import { BadRowPolicy, InputError, RagarError } from '../../util/errors.js';
import type { Progress } from '../../util/progress.js';
import { hashString32 } from '../../util/rng.js';

/** Options shared by every importer (CLI flags of `ragar dataset import`). */
export interface ImportOptions {
  /** Dataset name (each importer has its own default, e.g. `movielens`). */
  name: string;
  /** Replace an existing dataset of that name (`--force`). */
  replace?: boolean;
  /** Skip and count malformed rows instead of failing (`--skip-bad`). */
  skipBad?: boolean;
  /** Side of the stored square images in pixels (`--image-size`, default 128). */
  imageSize?: number;
  /** Seed of the user split (`--seed`, default 1). */
  seed?: number;
  /** Shares of users in valid and test (`--valid-users 0.1 --test-users 0.2`). */
  validUsers?: number;
  testUsers?: number;
  progress?: Progress;
}

/** Defaults of {@link ImportOptions}. */
export const IMPORT_DEFAULTS = { imageSize: 128, seed: 1, validUsers: 0.1, testUsers: 0.2 } as const;

/** What an import wrote. */
export interface ImportSummary {
  dataset: string;
  kind: string;
  users: number;
  items: number;
  interactions: number;
  tasks: number;
  images: number;
  /** Rows skipped under `--skip-bad`. */
  skipped: number;
  /** The first few skipped rows' messages (file:line: reason). */
  skippedExamples: string[];
  seconds: number;
}

/**
 * Deterministic user split from the user id and a seed: the same user lands in the same split
 * on every import, whatever the file order.
 *
 * @example
 * userSplit('42', 1, 0.1, 0.2) // 'train' | 'valid' | 'test'
 */
export function userSplit(userId: string, seed: number, valid: number, test: number): 'train' | 'valid' | 'test' {
  const u = hashString32(`${seed}:user:${userId}`) / 4294967296;
  if (u < test) return 'test';
  if (u < test + valid) return 'valid';
  return 'train';
}

/** Read a whole text file, or throw an {@link InputError} naming it. */
export function readTextFile(file: string, encoding: BufferEncoding = 'utf8'): string {
  try {
    return fs.readFileSync(file, encoding);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(file, undefined, code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? (err as Error).message})`);
  }
}

/** One parsed CSV record with its 1-based line number. */
export interface CsvRow {
  line: number;
  values: Record<string, string>;
}

/**
 * Parse a CSV file with a header row. Rows with the wrong number of fields are reported
 * through `bad` (an error, or a counted skip). Checks that `required` columns exist.
 *
 * @example
 * const rows = parseCsvFile('ratings.csv', ['userId', 'movieId', 'rating', 'timestamp'], bad);
 */
export function parseCsvFile(file: string, required: string[], bad: BadRowPolicy, delimiter = ','): CsvRow[] {
  const text = readTextFile(file);
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      delimiter,
      relax_column_count: true,
      skip_empty_lines: true,
      bom: true,
      info: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    const e = err as { lines?: number; message: string };
    throw new InputError(file, e.lines, `malformed CSV (${e.message.replace(/^Invalid [^:]*: /, '')})`);
  }
  if (records.length === 0) throw new InputError(file, 1, 'empty file: expected a header row');
  const header = records[0].record.map((h) => h.trim());
  const missing = required.filter((c) => !header.includes(c));
  if (missing.length) {
    throw new InputError(file, 1, `missing column(s) ${missing.join(', ')} (header has ${header.join(', ')})`);
  }
  const rows: CsvRow[] = [];
  for (const { record, info } of records.slice(1)) {
    if (record.length !== header.length) {
      bad.report(new InputError(file, info.lines, `expected ${header.length} fields, found ${record.length}`));
      continue;
    }
    const values: Record<string, string> = {};
    header.forEach((h, i) => (values[h] = record[i]));
    rows.push({ line: info.lines, values });
  }
  return rows;
}

/** Parse a finite number or report `what` as bad at `file:line`; returns undefined when skipped. */
export function parseNumber(
  text: string | undefined,
  file: string,
  line: number,
  what: string,
  bad: BadRowPolicy,
): number | undefined {
  const value = text === undefined || text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(value)) {
    bad.report(new InputError(file, line, `${what} ${JSON.stringify(text ?? '')} is not a number`));
    return undefined;
  }
  return value;
}

/** Counts kept while an importer writes, turned into an {@link ImportSummary} at the end. */
export class ImportCounter {
  users = new Set<string>();
  items = 0;
  interactions = 0;
  tasks = 0;
  images = 0;
  private readonly started = Date.now();

  /** Build the summary. */
  summary(dataset: string, kind: string, bad: BadRowPolicy): ImportSummary {
    return {
      dataset,
      kind,
      users: this.users.size,
      items: this.items,
      interactions: this.interactions,
      tasks: this.tasks,
      images: this.images,
      skipped: bad.count,
      skippedExamples: bad.skipped.slice(0, 5).map((e) => e.message),
      seconds: (Date.now() - this.started) / 1000,
    };
  }
}

/**
 * Write the user splits of every user the writer saw (by `userSplit`) for an import.
 */
export function writeUserSplits(w: DatasetWriter, users: Iterable<string>, options: ImportOptions): void {
  const seed = options.seed ?? IMPORT_DEFAULTS.seed;
  const valid = options.validUsers ?? IMPORT_DEFAULTS.validUsers;
  const test = options.testUsers ?? IMPORT_DEFAULTS.testUsers;
  if (!(valid >= 0 && test >= 0 && valid + test < 1)) {
    throw new RagarError(`user split shares must be >= 0 and sum below 1 (valid ${valid}, test ${test})`, 'BAD_INPUT');
  }
  for (const u of users) w.setSplit('user', u, userSplit(u, seed, valid, test));
}

/**
 * Load, validate and store an image file for an item. A missing or corrupt image is reported
 * through `bad`; returns the image hash or undefined when skipped.
 */
export async function importImage(
  w: DatasetWriter,
  file: string,
  ref: { file: string; line?: number },
  options: ImportOptions,
  bad: BadRowPolicy,
): Promise<string | undefined> {
  let data: Buffer;
  try {
    data = await fs.promises.readFile(file);
  } catch {
    bad.report(new InputError(ref.file, ref.line, `image ${file} not found`));
    return undefined;
  }
  try {
    return await w.putImage(data, { size: options.imageSize ?? IMPORT_DEFAULTS.imageSize }, file);
  } catch (err) {
    bad.report(new InputError(ref.file, ref.line, `image ${file} is corrupt or not an image (${(err as Error).message.split(': ').pop()})`));
    return undefined;
  }
}

export type { Store };
