import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import iconv from 'iconv-lite';
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
  /**
   * Character encoding of the input text files (`--encoding latin1|gbk|…`, any name iconv-lite
   * knows). Unset: UTF-8, and a byte sequence that is not valid UTF-8 is an error naming the
   * file and line (MovieLens `.dat` files fall back to Latin-1, ml-1m's documented encoding).
   */
  encoding?: string;
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
  /** Things the user should know that did not stop the import (gaps, dropped duplicates, …). */
  warnings: string[];
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

/** How to decode an input text file. */
export interface TextDecoding {
  /** An encoding named by the user (iconv-lite name); unset means strict UTF-8. */
  encoding?: string;
  /**
   * Without `encoding`: decode a file (or, when streaming, a line) that is not valid UTF-8 as
   * Windows-1252 instead of failing; used for MovieLens `.dat` files, documented as Latin-1.
   */
  latin1Fallback?: boolean;
}

/**
 * Check an encoding name given by the user (`--encoding`); returns it, or throws a
 * {@link RagarError} when iconv-lite does not know it.
 */
export function checkEncoding(name: string): string {
  if (!iconv.encodingExists(name)) {
    throw new RagarError(`unknown encoding ${JSON.stringify(name)} (try latin1, windows-1252, gbk, gb18030, big5, shift_jis, utf-16le)`, 'BAD_INPUT');
  }
  return name;
}

/**
 * Offset of the first byte of `bytes` that does not start a valid UTF-8 sequence (overlong
 * forms, surrogates and code points above U+10FFFF are invalid; so is a sequence cut by the end),
 * or -1 when all of it is valid.
 */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const c = bytes[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) need = 2;
    else if (c >= 0xf0 && c <= 0xf4) need = 3;
    else return i;
    if (i + need >= n) return i;
    let lo = 0x80;
    let hi = 0xbf;
    if (c === 0xe0) lo = 0xa0;
    else if (c === 0xed) hi = 0x9f;
    else if (c === 0xf0) lo = 0x90;
    else if (c === 0xf4) hi = 0x8f;
    if (bytes[i + 1] < lo || bytes[i + 1] > hi) return i;
    for (let k = 2; k <= need; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    i += need + 1;
  }
  return -1;
}

/** The error for bytes that are not UTF-8: `file:line: not valid UTF-8 (…)`. */
function utf8Error(file: string, bytes: Uint8Array, offset: number, firstLine: number): InputError {
  let line = firstLine;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  const byte = `0x${(bytes[offset] ?? 0).toString(16).toUpperCase().padStart(2, '0')}`;
  return new InputError(
    file,
    line,
    `not valid UTF-8 (byte ${byte} at byte column ${offset - lineStart + 1}); ` +
      'if the file uses another encoding, name it with --encoding (e.g. latin1, windows-1252, gbk)',
  );
}

/**
 * Decode the bytes of an input file: with `decoding.encoding` through iconv-lite, else as strict
 * UTF-8 (a leading BOM dropped), where invalid bytes throw an {@link InputError} naming
 * `file:line`, unless `latin1Fallback` is set. Returns the text and the encoding used.
 *
 * @example
 * decodeText(fs.readFileSync('movies.csv'), 'movies.csv', { encoding: 'latin1' }).text
 */
export function decodeText(bytes: Buffer, file: string, decoding: TextDecoding = {}): { text: string; encoding: string } {
  if (decoding.encoding) return { text: iconv.decode(bytes, checkEncoding(decoding.encoding)), encoding: decoding.encoding };
  if (isUtf8(bytes)) return { text: bytes.toString('utf8').replace(/^\uFEFF/, ''), encoding: 'utf-8' };
  if (decoding.latin1Fallback) return { text: new TextDecoder('windows-1252').decode(bytes), encoding: 'windows-1252' };
  throw utf8Error(file, bytes, Math.max(0, invalidUtf8Offset(bytes)), 1);
}

/** Read a whole file's bytes, or throw an {@link InputError} naming it. */
export function readFileBytes(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(
      file,
      undefined,
      code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, expected a file' : `cannot read (${code ?? (err as Error).message})`,
    );
  }
}

/**
 * Read a whole text file and decode it by {@link decodeText} (strict UTF-8 unless an encoding is
 * named), or throw an {@link InputError} naming the file (and line, for bad bytes).
 */
export function readTextFile(file: string, decoding: TextDecoding = {}): string {
  return decodeText(readFileBytes(file), file, decoding).text;
}

/**
 * Stream a text file line by line, decoding as {@link decodeText} does, without holding the
 * file as one string. `onLine` gets every line (blank ones too) without its line break (a
 * trailing CR is dropped, and a BOM on line 1), its 1-based number, and `unterminated`: true only
 * for a last line that no newline follows (the file may have been cut short). Returns whether
 * the file ended with a newline and the number of lines.
 */
export async function forEachTextLine(
  file: string,
  decoding: TextDecoding,
  onLine: (text: string, line: number, unterminated: boolean) => void,
  onBytes?: (bytes: number) => void,
): Promise<{ lines: number; endsWithNewline: boolean }> {
  let line = 0;
  let bytes = 0;
  let endsWithNewline = true;
  let sawAny = false;
  const emit = (t: string, unterminated: boolean): void => {
    line++;
    let text = t.endsWith('\r') ? t.slice(0, -1) : t;
    if (line === 1) text = text.replace(/^\uFEFF/, '');
    onLine(text, line, unterminated);
  };
  const encoding = decoding.encoding ? checkEncoding(decoding.encoding) : undefined;
  const decoder = encoding ? iconv.getDecoder(encoding) : undefined;
  let restText = '';
  let restBytes: Buffer = Buffer.alloc(0);
  /** Decode complete lines (`block` holds whole lines separated by LF, no final LF). */
  const decodeBlock = (block: Buffer): string => {
    if (isUtf8(block)) return block.toString('utf8');
    if (!decoding.latin1Fallback) throw utf8Error(file, block, Math.max(0, invalidUtf8Offset(block)), line + 1);
    const parts: string[] = [];
    let start = 0;
    for (;;) {
      const nl = block.indexOf(0x0a, start);
      const piece = block.subarray(start, nl < 0 ? block.length : nl);
      parts.push(isUtf8(piece) ? piece.toString('utf8') : new TextDecoder('windows-1252').decode(piece));
      if (nl < 0) break;
      start = nl + 1;
    }
    return parts.join('\n');
  };
  try {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
      const buf = chunk as Buffer;
      if (buf.length === 0) continue;
      sawAny = true;
      bytes += buf.length;
      endsWithNewline = buf[buf.length - 1] === 0x0a;
      if (decoder) {
        const parts = (restText + decoder.write(buf)).split('\n');
        restText = parts.pop() as string;
        for (const p of parts) emit(p, false);
      } else {
        const all = restBytes.length ? Buffer.concat([restBytes, buf]) : buf;
        const last = all.lastIndexOf(0x0a);
        if (last < 0) {
          restBytes = all;
        } else {
          const text = decodeBlock(all.subarray(0, last));
          restBytes = all.subarray(last + 1);
          for (const p of text.split('\n')) emit(p, false);
        }
      }
      onBytes?.(bytes);
    }
  } catch (err) {
    if (err instanceof RagarError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(
      file,
      undefined,
      code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, expected a file' : `cannot read (${code ?? (err as Error).message})`,
    );
  }
  const tail = decoder ? restText + (decoder.end() ?? '') : restBytes.length ? decodeBlock(restBytes) : '';
  if (tail !== '') emit(tail, true);
  return { lines: line, endsWithNewline: !sawAny || endsWithNewline };
}

/** One parsed CSV record with its 1-based line number. */
export interface CsvRow {
  line: number;
  values: Record<string, string>;
}

/** Options of {@link parseCsvFile}. */
export interface CsvOptions {
  delimiter?: string;
  decoding?: TextDecoding;
  /**
   * Treat a file that does not end with a newline, or whose last record has too few fields, as
   * cut short: always an error (even under skip-bad), never a silently imported partial row.
   */
  requireFinalNewline?: boolean;
}

/**
 * Parse a CSV file with a header row. Rows with the wrong number of fields are reported
 * through `bad` (an error, or a counted skip). Checks that `required` columns exist.
 *
 * @example
 * const rows = parseCsvFile('ratings.csv', ['userId', 'movieId', 'rating', 'timestamp'], bad);
 */
export function parseCsvFile(file: string, required: string[], bad: BadRowPolicy, options: CsvOptions = {}): CsvRow[] {
  const text = readTextFile(file, options.decoding);
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      delimiter: options.delimiter ?? ',',
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
  const last = records[records.length - 1];
  if (options.requireFinalNewline && records.length > 1) {
    if (!/\n\s*$/.test(text) && text.trim() !== '') {
      throw truncatedError(file, last.info.lines, 'the file ends without a final newline');
    }
    if (last.record.length < header.length) {
      throw truncatedError(file, last.info.lines, `the last row has ${last.record.length} of ${header.length} fields`);
    }
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

/** `file:line: <why>: the file looks truncated …`: a cut-short file, never a skippable row. */
export function truncatedError(file: string, line: number | undefined, why: string): InputError {
  return new InputError(file, line, `${why}, so the file looks truncated (cut short while copying or downloading?); get a complete copy`);
}

/**
 * Stream the non-blank lines of a text file (see {@link forEachTextLine}), telling the callback
 * which one is the last and whether that last line lacks its final newline, so that a reader can
 * treat a cut-short last row as truncation rather than as a bad row. Blank lines are skipped
 * but counted in line numbers. Throws an {@link InputError} for a file with no non-blank line.
 */
export async function forEachRow(
  file: string,
  decoding: TextDecoding,
  onRow: (text: string, line: number, last: { isLast: boolean; unterminated: boolean }) => void,
  onBytes?: (bytes: number) => void,
): Promise<{ rows: number }> {
  let pending: { text: string; line: number } | null = null;
  let rows = 0;
  const { endsWithNewline, lines } = await forEachTextLine(
    file,
    decoding,
    (text, line) => {
      if (text.trim() === '') return;
      if (pending) onRow(pending.text, pending.line, { isLast: false, unterminated: false });
      pending = { text, line };
      rows++;
    },
    onBytes,
  );
  const p = pending as { text: string; line: number } | null;
  if (!p) throw new InputError(file, undefined, lines === 0 ? 'empty file' : 'empty file (only blank lines)');
  onRow(p.text, p.line, { isLast: true, unterminated: !endsWithNewline && p.line === lines });
  return { rows };
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
  /** Warnings for the summary. */
  readonly warnings: string[] = [];
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
      warnings: [...this.warnings],
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

/**
 * Refuse an import that would create an empty dataset: throws an {@link InputError} naming
 * `file` when `count` is 0, saying how many rows were skipped as bad (with the first one).
 *
 * @example
 * requireRows(counter.items, 'data.jsonl', 'items', bad); // data.jsonl: nothing to import: no items …
 */
export function requireRows(count: number, file: string, what: string, bad: BadRowPolicy): void {
  if (count > 0) return;
  const why = bad.count
    ? `; all ${bad.count} row(s) that would give them were bad and skipped (first: ${bad.skipped[0].message})`
    : '';
  throw new InputError(file, undefined, `nothing to import: no ${what}${why}; refusing to create an empty dataset`);
}

/** Options of importers whose files name image paths (PMG-Bench, JSONL). */
export interface ImagePathOptions {
  /**
   * A local folder in which image paths that do not exist as written (absolute paths from
   * another machine, or relative ones) are looked up by their tail (`--images DIR`).
   */
  images?: string;
}

/**
 * Resolves image paths written in a data file: relative to the file's folder (absolute ones as
 * they are); a path that does not exist there is looked up in the `images` folder by its longest
 * tail that exists under it (`/mnt/a/SER/Images/t/1.png` → `DIR/Images/t/1.png`, else
 * `DIR/t/1.png`, else `DIR/1.png`). Once a prefix has been re-rooted, later paths with the same
 * prefix take the same route. {@link ImagePathResolver.notes} says which prefixes were replaced
 * and which part of the path matched.
 */
export class ImagePathResolver {
  private readonly base: string;
  private readonly root: string | undefined;
  /** Learned prefix (as written) → count and an example of the matched tail. */
  private readonly routes = new Map<string, { count: number; tail: string; shown: string }>();

  constructor(baseDir: string, imagesDir?: string) {
    this.base = baseDir;
    if (imagesDir !== undefined) {
      let ok = false;
      try {
        ok = fs.statSync(imagesDir).isDirectory();
      } catch {
        ok = false;
      }
      if (!ok) throw new InputError(imagesDir, undefined, 'images folder (--images) not found');
      this.root = path.resolve(imagesDir);
    }
  }

  /** The local file for `written`, or the reason there is none. */
  resolve(written: string): { path: string } | { missing: string } {
    const direct = path.resolve(this.base, written);
    if (isFile(direct)) return { path: direct };
    if (this.root === undefined) {
      const hint = path.isAbsolute(written) || /^[A-Za-z]:[\\/]/.test(written)
        ? ' (an absolute path written on another machine? pass --images DIR to find it by its tail in a local folder)'
        : '';
      return { missing: `image ${written} not found${hint}` };
    }
    const parts = written.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
    if (parts.length === 0 || parts.includes('..')) return { missing: `image ${written} not found` };
    // A known route first, then the longest tail that exists.
    for (const [prefix] of this.routes) {
      const pre = prefix === '' ? [] : prefix.split('/');
      if (pre.length < parts.length && pre.every((p, i) => p === parts[i])) {
        const candidate = path.join(this.root, ...parts.slice(pre.length));
        if (isFile(candidate)) return this.found(prefix, parts.slice(pre.length), candidate, written);
      }
    }
    for (let k = 0; k < parts.length; k++) {
      const candidate = path.join(this.root, ...parts.slice(k));
      if (isFile(candidate)) return this.found(parts.slice(0, k).join('/'), parts.slice(k), candidate, written);
    }
    return { missing: `image ${written} not found, nor any tail of it under ${this.root}` };
  }

  private found(prefix: string, tail: string[], file: string, written: string): { path: string } {
    const route = this.routes.get(prefix);
    if (route) route.count++;
    else this.routes.set(prefix, { count: 1, tail: tail.join('/'), shown: prefix && /^[\\/]/.test(written) ? `/${prefix}` : prefix });
    return { path: file };
  }

  /** One line per replaced prefix: how many paths, what was dropped and what matched. */
  notes(): string[] {
    return [...this.routes].map(
      ([prefix, r]) =>
        `${r.count} image path(s) found under ${this.root} by their tail: dropped ${prefix === '' ? 'nothing' : JSON.stringify(r.shown)}, ` +
        `matched e.g. ${JSON.stringify(r.tail)}`,
    );
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
