/**
 * Importer for MovieLens (GroupLens Research) data.
 *
 * # Input folder
 *
 * - **CSV** (ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m): `ratings.csv` with header
 *   `userId,movieId,rating,timestamp` and `movies.csv` with header `movieId,title,genres` (RFC 4180
 *   quoting, e.g. `"American President, The (1995)"`; genres `|`-separated, `(no genres listed)`
 *   means none). UTF-8: bytes that are not UTF-8 stop the import naming `file:line`, unless
 *   `options.encoding` names the encoding (decoded by iconv-lite).
 * - **DAT** (ml-1m, ml-10m): `ratings.dat` `UserID::MovieID::Rating::Timestamp`, `movies.dat`
 *   `MovieID::Title::Genres`, optional `users.dat` `UserID::Gender::Age::Occupation::Zip-code`.
 *   ml-1m is Latin-1 (e.g. `Café` is the byte 0xE9): without `options.encoding`, a `.dat` file
 *   that is not valid UTF-8 is decoded as Windows-1252 (the superset of Latin-1 that the WHATWG
 *   `latin1` label means) and the summary says so.
 * - **Posters** (optional): `options.posters`, default `<dir>/posters` when it exists, holding
 *   `<movieId>.jpg|.jpeg|.png|.webp` (if several exist for one movie the first in that order wins).
 *   A movie without a poster is fine; a poster that exists but cannot be decoded is a bad row
 *   (under `skipBad` the movie is kept without an image).
 *
 * If both CSV and DAT files are present, the CSV files are used.
 *
 * # What is stored
 *
 * Items: externalId = movieId, title = the title as given, text = `<title>. Genres: <g1>, <g2>`
 * (just the title when there are none), tags = genres, group = first genre, attributes
 * `{year, genres}` with the year from a trailing `(1995)` (or null). Interactions: one per rating,
 * rating kept, timestamp in Unix seconds, each user's history in `(timestamp, file order)` order.
 * Users: ml-1m `users.dat` fields as attributes `{gender, age, ageGroup, occupation,
 * occupationName, zip}`. Every user gets a seeded split (see `writeUserSplits`).
 *
 * Ratings are streamed and held in typed arrays, so ml-25m-sized files (25M rows, larger than a
 * JavaScript string can hold) import without loading the file as one string.
 *
 * GroupLens files end with a newline: a ratings, movies or users file whose last row lacks it, or
 * whose last row is short, was cut short, and that is an error even under `skipBad` (otherwise
 * `…,964982703` cut to `…,96` would import as a rating at t = 96 s). An empty movies file, or an
 * import left with no movie or no rating (every row bad under `skipBad`), is an error naming the
 * file, never an empty dataset. Movies without a poster are counted in a warning.
 *
 * Bad rows (wrong field count, non-numeric or out-of-range values, ids that are not positive
 * integers, a rating of an unknown movie, a duplicate movie or a second rating of the same movie by
 * the same user, a corrupt poster) fail the import with `file:line: reason`, or are skipped and
 * counted under `skipBad`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { DatasetWriter, Store } from '../../store/store.js';
import { BadRowPolicy, InputError } from '../../util/errors.js';
import { silentProgress } from '../../util/progress.js';
import {
  IMPORT_DEFAULTS,
  ImportCounter,
  checkEncoding,
  decodeText,
  forEachRow,
  parseCsvFile,
  parseNumber,
  readFileBytes,
  requireRows,
  truncatedError,
  writeUserSplits,
  type ImportOptions,
  type ImportSummary,
  type TextDecoding,
} from './common.js';
import { compareIds, importImagesInOrder, type ImageJob } from './json.js';

/** Licence note stored with every MovieLens dataset. */
export const MOVIELENS_LICENSE = 'MovieLens (GroupLens Research): research use, no redistribution; never commit';

/** One movie, as read from `movies.csv` / `movies.dat` or handed over by another extractor. */
export interface MovieRecord {
  movieId: string;
  /** The title as given; MovieLens files end it with the year, e.g. `Toy Story (1995)`. */
  title: string;
  /** Genres (`(no genres listed)` and empty strings are dropped). */
  genres: string[];
  /** Release year; when undefined it is parsed from a trailing `(1995)` of the title. Null: unknown. */
  year?: number | null;
  /** 1-based line (or row) number, for error messages. */
  line?: number;
  /** File (or data-frame) name, for error messages; default {@link MovieLensWriteContext.moviesFile}. */
  file?: string;
}

/** One rating, as read from `ratings.csv` / `ratings.dat` or handed over by another extractor. */
export interface RatingRecord {
  userId: string;
  movieId: string;
  /** 0.5 to 5. */
  rating: number;
  /** Unix seconds. */
  timestamp: number;
  line?: number;
  /** Default {@link MovieLensWriteContext.ratingsFile}. */
  file?: string;
}

/** Attributes of one user (ml-1m `users.dat`, or demographics from another source). */
export interface MovieLensUserRecord {
  userId: string;
  attributes: Record<string, unknown>;
  line?: number;
  file?: string;
}

/** What {@link writeMovieLens} needs besides the records. */
export interface MovieLensWriteContext {
  /** Image size, split seed and shares, progress. */
  options: ImportOptions;
  /** Where bad rows go (throw, or count under skip-bad). */
  bad: BadRowPolicy;
  /** Counts for the import summary; updated in place. */
  counter: ImportCounter;
  /** movieId → poster image file (see {@link findPosters}); movies without one get no image. */
  posters?: ReadonlyMap<string, string>;
  /** Optional user attributes; users listed here but without ratings are still created. */
  users?: readonly MovieLensUserRecord[];
  /** Name used in errors for movie records without `file` (default `movies`). */
  moviesFile?: string;
  /** Name used in errors for rating records without `file` (default `ratings`). */
  ratingsFile?: string;
  /** Name used in errors for user records without `file` (default `users`). */
  usersFile?: string;
}

/** The files of a MovieLens folder, as found by {@link findMovieLensFiles}. */
export interface MovieLensFiles {
  format: 'csv' | 'dat';
  ratings: string;
  movies: string;
  users?: string;
}

const AGE_GROUPS: Record<number, string> = {
  1: 'Under 18',
  18: '18-24',
  25: '25-34',
  35: '35-44',
  45: '45-49',
  50: '50-55',
  56: '56+',
};

const OCCUPATIONS = [
  'other or not specified',
  'academic/educator',
  'artist',
  'clerical/admin',
  'college/grad student',
  'customer service',
  'doctor/health care',
  'executive/managerial',
  'farmer',
  'homemaker',
  'K-12 student',
  'lawyer',
  'programmer',
  'retired',
  'sales/marketing',
  'scientist',
  'self-employed',
  'technician/engineer',
  'tradesman/craftsman',
  'unemployed',
  'writer',
];

const INTEGER_ID = /^\d+$/;

/**
 * The release year at the end of a MovieLens title, `Toy Story (1995)` → 1995 (also
 * `(2006-2007)` → 2006); null when there is none.
 */
export function movieYear(title: string): number | null {
  const m = /\((\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)\s*$/.exec(title);
  return m ? Number(m[1]) : null;
}

/**
 * Find the MovieLens files in `dir`: CSV (`ratings.csv` + `movies.csv`) or DAT (`ratings.dat` +
 * `movies.dat`, optional `users.dat`). Throws an {@link InputError} saying what is expected
 * (and naming a sub-folder that looks right, if there is one) when neither is there.
 */
export function findMovieLensFiles(dir: string): MovieLensFiles {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new InputError(dir, undefined, 'MovieLens folder not found');
  }
  const expected =
    'expected a MovieLens folder with ratings.csv + movies.csv (ml-latest-small, ml-25m) or ratings.dat + movies.dat (ml-1m)';
  if (!stat.isDirectory()) throw new InputError(dir, undefined, `${expected}, got a file`);
  const has = (f: string): boolean => fs.existsSync(path.join(dir, f));
  if (has('ratings.csv') || has('movies.csv')) {
    const missing = ['ratings.csv', 'movies.csv'].filter((f) => !has(f));
    if (missing.length === 0) return { format: 'csv', ratings: path.join(dir, 'ratings.csv'), movies: path.join(dir, 'movies.csv') };
    if (!(has('ratings.dat') && has('movies.dat'))) throw new InputError(dir, undefined, `${missing.join(' and ')} missing (${expected})`);
  }
  if (has('ratings.dat') || has('movies.dat')) {
    const missing = ['ratings.dat', 'movies.dat'].filter((f) => !has(f));
    if (missing.length) throw new InputError(dir, undefined, `${missing.join(' and ')} missing (${expected})`);
    return {
      format: 'dat',
      ratings: path.join(dir, 'ratings.dat'),
      movies: path.join(dir, 'movies.dat'),
      users: has('users.dat') ? path.join(dir, 'users.dat') : undefined,
    };
  }
  let hint = '';
  try {
    const sub = fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .filter((n) => ['ratings.csv', 'ratings.dat'].some((f) => fs.existsSync(path.join(dir, n, f))));
    if (sub.length) hint = `; did you mean ${sub.map((s) => path.join(dir, s)).join(' or ')}?`;
  } catch {
    // no hint
  }
  const present = has('u.data') ? ' (ml-100k u.data/u.item is not supported)' : '';
  throw new InputError(dir, undefined, `no MovieLens files found${present}: ${expected}${hint}`);
}

/**
 * Map movieId → poster file for the `<movieId>.jpg|.jpeg|.png|.webp` files in `folder`
 * (leading zeros of the id are ignored; the first extension in that order wins).
 */
export function findPosters(folder: string): Map<string, string> {
  let names: string[];
  try {
    names = fs.readdirSync(folder);
  } catch {
    throw new InputError(folder, undefined, 'posters folder not found or not readable');
  }
  const rank: Record<string, number> = { jpg: 0, jpeg: 1, png: 2, webp: 3 };
  const best = new Map<string, { file: string; rank: number }>();
  for (const n of names.sort()) {
    const m = /^(\d+)\.(jpe?g|png|webp)$/i.exec(n);
    if (!m) continue;
    const id = m[1].replace(/^0+(?=\d)/, '');
    const r = rank[m[2].toLowerCase()];
    const cur = best.get(id);
    if (!cur || r < cur.rank) best.set(id, { file: path.join(folder, n), rank: r });
  }
  return new Map([...best].map(([id, v]) => [id, v.file]));
}

// ---------------------------------------------------------------------------------------------
// Ratings in typed arrays
// ---------------------------------------------------------------------------------------------

/** Ratings held column-wise: 25M rows cost ~0.8 GB instead of several GB of objects. */
class RatingTable {
  length = 0;
  user = new Int32Array(1024);
  movie = new Int32Array(1024);
  rating = new Float64Array(1024);
  ts = new Float64Array(1024);
  line = new Int32Array(1024);
  file = new Int32Array(1024);
  readonly users: string[] = [];
  readonly files: string[] = [];
  private readonly userIndex = new Map<string, number>();
  private readonly fileIndex = new Map<string, number>();

  push(user: string, movie: number, rating: number, ts: number, line: number | undefined, file: string): void {
    if (this.length === this.user.length) this.grow();
    let u = this.userIndex.get(user);
    if (u === undefined) {
      u = this.users.length;
      this.users.push(user);
      this.userIndex.set(user, u);
    }
    let f = this.fileIndex.get(file);
    if (f === undefined) {
      f = this.files.length;
      this.files.push(file);
      this.fileIndex.set(file, f);
    }
    const i = this.length++;
    this.user[i] = u;
    this.movie[i] = movie;
    this.rating[i] = rating;
    this.ts[i] = ts;
    this.line[i] = line ?? 0;
    this.file[i] = f;
  }

  private grow(): void {
    const n = this.user.length * 2;
    const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.user = grow(this.user, (k) => new Int32Array(k));
    this.movie = grow(this.movie, (k) => new Int32Array(k));
    this.rating = grow(this.rating, (k) => new Float64Array(k));
    this.ts = grow(this.ts, (k) => new Float64Array(k));
    this.line = grow(this.line, (k) => new Int32Array(k));
    this.file = grow(this.file, (k) => new Int32Array(k));
  }
}

/** Valid movies written so far: id → index into `ids`; skipped ones with their location. */
interface MovieIndex {
  ids: string[];
  index: Map<string, number>;
  skipped: Map<string, string>;
}

function loc(file: string, line: number | undefined): string {
  return line === undefined ? file : `${file}:${line}`;
}

/** Validate one rating and add it to the table; bad ones are reported. */
function acceptRating(
  table: RatingTable,
  movies: MovieIndex,
  bad: BadRowPolicy,
  file: string,
  line: number | undefined,
  userId: string,
  movieId: string,
  rating: number,
  timestamp: number,
): void {
  const report = (reason: string): void => bad.report(new InputError(file, line, reason));
  const u = userId.trim();
  const m = movieId.trim();
  if (!INTEGER_ID.test(u)) return report(`userId ${JSON.stringify(userId)} is not a positive integer`);
  if (!INTEGER_ID.test(m)) return report(`movieId ${JSON.stringify(movieId)} is not a positive integer`);
  const show = (v: unknown): string => (typeof v === 'number' ? String(v) : JSON.stringify(v));
  if (typeof rating !== 'number' || !Number.isFinite(rating)) return report(`rating ${show(rating)} is not a number`);
  if (rating < 0.5 || rating > 5) return report(`rating ${rating} is outside 0.5-5`);
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp) || timestamp < 0) {
    return report(`timestamp ${show(timestamp)} is not a Unix time in seconds`);
  }
  const mi = movies.index.get(m);
  if (mi === undefined) {
    const skipped = movies.skipped.get(m);
    return report(skipped ? `movieId ${m} was skipped (bad movie at ${skipped})` : `unknown movieId ${m} (not in the movies file)`);
  }
  table.push(u, mi, rating, timestamp, line, file);
}

/** Validate movies, import their posters and add them as items. */
async function addMovies(w: DatasetWriter, movies: readonly MovieRecord[], ctx: MovieLensWriteContext): Promise<MovieIndex> {
  const { bad, counter, options } = ctx;
  const progress = options.progress ?? silentProgress;
  const index: MovieIndex = { ids: [], index: new Map(), skipped: new Map() };
  const firstAt = new Map<string, string>();
  const valid: { rec: MovieRecord; id: string; file: string; genres: string[]; year: number | null }[] = [];
  for (const rec of movies) {
    const file = rec.file ?? ctx.moviesFile ?? 'movies';
    const where = loc(file, rec.line);
    const id = String(rec.movieId ?? '').trim();
    const report = (reason: string): void => {
      if (INTEGER_ID.test(id) && !firstAt.has(id) && !index.skipped.has(id)) index.skipped.set(id, where);
      bad.report(new InputError(file, rec.line, reason));
    };
    if (!INTEGER_ID.test(id)) {
      report(`movieId ${JSON.stringify(rec.movieId)} is not a positive integer`);
      continue;
    }
    const first = firstAt.get(id);
    if (first !== undefined) {
      report(`duplicate movieId ${id} (first at ${first})`);
      continue;
    }
    if (typeof rec.title !== 'string' || rec.title.trim() === '') {
      report(`movie ${id} has no title`);
      continue;
    }
    if (!Array.isArray(rec.genres) || !rec.genres.every((g) => typeof g === 'string')) {
      report(`movie ${id}: genres must be a list of strings`);
      continue;
    }
    if (rec.year !== undefined && rec.year !== null && !Number.isInteger(rec.year)) {
      report(`movie ${id}: year ${JSON.stringify(rec.year)} is not an integer`);
      continue;
    }
    const genres = rec.genres.map((g) => g.trim()).filter((g) => g !== '' && g !== '(no genres listed)');
    firstAt.set(id, where);
    valid.push({ rec, id, file, genres, year: rec.year === undefined ? movieYear(rec.title) : rec.year });
  }

  const withPoster = valid.filter((v) => ctx.posters?.has(v.id));
  const jobs: ImageJob[] = withPoster.map((v) => ({ path: ctx.posters?.get(v.id) as string, file: v.file, line: v.rec.line }));
  progress.start('importing posters', jobs.length);
  const hashes = await importImagesInOrder(w, jobs, options, bad, (n) => progress.update(n));
  progress.stop();
  const posterOf = new Map<string, string | undefined>(withPoster.map((v, i) => [v.id, hashes[i]]));

  progress.start('writing movies', valid.length);
  valid.forEach((v, k) => {
    const title = v.rec.title;
    const hash = posterOf.get(v.id);
    w.addItem({
      externalId: v.id,
      title,
      text: v.genres.length ? `${title}. Genres: ${v.genres.join(', ')}` : title,
      tags: v.genres,
      group: v.genres[0] ?? null,
      attributes: { year: v.year, genres: v.genres },
      imageHash: hash ?? null,
    });
    counter.items++;
    if (hash !== undefined) counter.images++;
    index.index.set(v.id, index.ids.length);
    index.ids.push(v.id);
    if (k % 1000 === 0) progress.update(k);
  });
  progress.stop();
  return index;
}

/** Validate user records: id → attributes. */
function collectUsers(ctx: MovieLensWriteContext): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  const firstAt = new Map<string, string>();
  for (const u of ctx.users ?? []) {
    const file = u.file ?? ctx.usersFile ?? 'users';
    const id = String(u.userId ?? '').trim();
    if (!INTEGER_ID.test(id)) {
      ctx.bad.report(new InputError(file, u.line, `userId ${JSON.stringify(u.userId)} is not a positive integer`));
      continue;
    }
    const first = firstAt.get(id);
    if (first !== undefined) {
      ctx.bad.report(new InputError(file, u.line, `duplicate userId ${id} (first at ${first})`));
      continue;
    }
    firstAt.set(id, loc(file, u.line));
    out.set(id, u.attributes ?? {});
  }
  return out;
}

/** Write users (sorted by id), their interactions in time order, and their splits. */
function writeRatings(
  w: DatasetWriter,
  table: RatingTable,
  movies: MovieIndex,
  userAttrs: Map<string, Record<string, unknown>>,
  ctx: MovieLensWriteContext,
): void {
  const { bad, counter, options } = ctx;
  const progress = options.progress ?? silentProgress;
  const n = table.length;
  // Bucket rows by user (stable, so file order is kept inside a bucket), then sort each bucket.
  const nu = table.users.length;
  const start = new Uint32Array(nu + 1);
  for (let i = 0; i < n; i++) start[table.user[i] + 1]++;
  for (let u = 0; u < nu; u++) start[u + 1] += start[u];
  const fill = start.slice(0, nu);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[fill[table.user[i]]++] = i;
  const ts = table.ts;

  const userIdx = new Map<string, number>(table.users.map((u, i) => [u, i]));
  const allUsers = [...new Set([...table.users, ...userAttrs.keys()])].sort(compareIds);
  progress.start('writing ratings', n);
  let written = 0;
  const seen = new Map<number, number>();
  for (const user of allUsers) {
    w.addUser(user, userAttrs.get(user) ?? {});
    counter.users.add(user);
    const u = userIdx.get(user);
    if (u === undefined) continue;
    const rows = order.subarray(start[u], start[u + 1]);
    rows.sort((a, b) => ts[a] - ts[b] || a - b);
    seen.clear();
    for (const i of rows) {
      const m = table.movie[i];
      const file = table.files[table.file[i]];
      const line = table.line[i] || undefined;
      const prev = seen.get(m);
      if (prev !== undefined) {
        const prevLine = table.line[prev] ? `${table.files[table.file[prev]]}:${table.line[prev]}` : 'an earlier row';
        bad.report(new InputError(file, line, `user ${user} rated movie ${movies.ids[m]} twice (first at ${prevLine})`));
        continue;
      }
      seen.set(m, i);
      w.addInteraction(user, movies.ids[m], ts[i], table.rating[i]);
      counter.interactions++;
      if (++written % 20000 === 0) progress.update(written);
    }
  }
  progress.stop();
  writeUserSplits(w, allUsers, options);
}

/**
 * Write MovieLens movies (as items, with posters where `ctx.posters` has one), users and ratings
 * (as interactions in per-user time order) into an open dataset, then the user splits. All
 * validation of the records happens here, so any source (the CSV/DAT files, or an R data frame
 * such as Debian r-cran-dslabs' `movielens`) gets the same checks: ids must be positive
 * integers, a duplicate movieId, a rating outside 0.5-5, a non-finite timestamp, a rating of an
 * unknown movie and a second rating of one movie by one user are bad rows reported through
 * `ctx.bad` (errors name `record.file` or the context's default name, and `record.line`).
 * Ties in time keep the order of `ratings`.
 *
 * @example
 * const bad = new BadRowPolicy(false);
 * const counter = new ImportCounter();
 * await store.writeDataset({ name: 'movielens', kind: 'movielens', license: MOVIELENS_LICENSE }, (w) =>
 *   writeMovieLens(w, movies, ratings, { options: { name: 'movielens' }, bad, counter, moviesFile: 'movielens.rda' }),
 * );
 * console.log(counter.summary('movielens', 'movielens', bad));
 */
export async function writeMovieLens(
  w: DatasetWriter,
  movies: readonly MovieRecord[],
  ratings: readonly RatingRecord[],
  ctx: MovieLensWriteContext,
): Promise<void> {
  const index = await addMovies(w, movies, ctx);
  requireRows(index.ids.length, ctx.moviesFile ?? 'movies', 'movies', ctx.bad);
  const userAttrs = collectUsers(ctx);
  const table = new RatingTable();
  const defaultFile = ctx.ratingsFile ?? 'ratings';
  for (const r of ratings) {
    acceptRating(
      table,
      index,
      ctx.bad,
      r.file ?? defaultFile,
      r.line,
      String(r.userId ?? ''),
      String(r.movieId ?? ''),
      r.rating,
      r.timestamp,
    );
  }
  writeRatings(w, table, index, userAttrs, ctx);
  requireRows(ctx.counter.interactions, defaultFile, 'ratings', ctx.bad);
}

// ---------------------------------------------------------------------------------------------
// Reading the files
// ---------------------------------------------------------------------------------------------

/**
 * Read a small `.dat` file: UTF-8, the encoding the user named, or (neither given nor valid
 * UTF-8) Windows-1252, the superset of the Latin-1 that ml-1m's README documents.
 */
function readDatText(file: string, decoding: TextDecoding, warnings: string[]): string {
  const { text, encoding } = decodeText(readFileBytes(file), file, { ...decoding, latin1Fallback: true });
  if (encoding === 'windows-1252') {
    warnings.push(`${path.basename(file)} is not UTF-8: read as Latin-1 (Windows-1252), the encoding ml-1m documents`);
  }
  return text;
}

/** `::`-separated lines of a DAT file (blank lines skipped); a cut-short file is an error. */
function datLines(text: string, file: string, fields: number, layout: string): { line: number; fields: string[] }[] {
  const out: { line: number; fields: string[] }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].replace(/\r$/, '');
    if (t.trim() === '') continue;
    out.push({ line: i + 1, fields: t.split('::') });
  }
  const last = out[out.length - 1];
  if (last) {
    if (!/\n\s*$/.test(text)) throw truncatedError(file, last.line, 'the file ends without a final newline');
    if (last.fields.length < fields) throw truncatedError(file, last.line, `the last row has ${last.fields.length} of ${fields} fields ${layout}`);
  }
  return out;
}

function readMoviesCsv(file: string, bad: BadRowPolicy, decoding: TextDecoding): MovieRecord[] {
  return parseCsvFile(file, ['movieId', 'title', 'genres'], bad, { decoding, requireFinalNewline: true }).map((r) => ({
    movieId: r.values.movieId,
    title: r.values.title,
    genres: r.values.genres.split('|'),
    line: r.line,
    file,
  }));
}

function readMoviesDat(file: string, bad: BadRowPolicy, decoding: TextDecoding, warnings: string[]): MovieRecord[] {
  const text = readDatText(file, decoding, warnings);
  if (text.trim() === '') throw new InputError(file, undefined, 'empty file: no movies (expected MovieID::Title::Genres lines)');
  const movies: MovieRecord[] = [];
  for (const { line, fields } of datLines(text, file, 3, 'MovieID::Title::Genres')) {
    if (fields.length < 3) {
      bad.report(new InputError(file, line, `expected 3 fields MovieID::Title::Genres, found ${fields.length}`));
      continue;
    }
    movies.push({
      movieId: fields[0],
      title: fields.slice(1, -1).join('::'),
      genres: fields[fields.length - 1].split('|'),
      line,
      file,
    });
  }
  return movies;
}

function readUsersDat(file: string, bad: BadRowPolicy, decoding: TextDecoding, warnings: string[]): MovieLensUserRecord[] {
  const text = readDatText(file, decoding, warnings);
  const users: MovieLensUserRecord[] = [];
  for (const { line, fields } of datLines(text, file, 5, 'UserID::Gender::Age::Occupation::Zip-code')) {
    if (fields.length !== 5) {
      bad.report(new InputError(file, line, `expected 5 fields UserID::Gender::Age::Occupation::Zip-code, found ${fields.length}`));
      continue;
    }
    const [userId, gender, ageText, occText, zip] = fields.map((f) => f.trim());
    if (gender !== 'M' && gender !== 'F') {
      bad.report(new InputError(file, line, `gender ${JSON.stringify(gender)} is not M or F`));
      continue;
    }
    const age = parseNumber(ageText, file, line, 'age', bad);
    if (age === undefined) continue;
    const occupation = parseNumber(occText, file, line, 'occupation', bad);
    if (occupation === undefined) continue;
    users.push({
      userId,
      line,
      file,
      attributes: {
        gender,
        age,
        ageGroup: AGE_GROUPS[age] ?? null,
        occupation,
        occupationName: OCCUPATIONS[occupation] ?? null,
        zip,
      },
    });
  }
  return users;
}

/**
 * Stream `ratings.csv` or `ratings.dat` into the table, validating every row. A last row that
 * lacks its final newline or is short means the file was cut: always an error.
 */
async function readRatings(
  files: MovieLensFiles,
  table: RatingTable,
  movies: MovieIndex,
  bad: BadRowPolicy,
  options: ImportOptions,
): Promise<void> {
  const file = files.ratings;
  const progress = options.progress ?? silentProgress;
  let size = 0;
  try {
    size = fs.statSync(file).size;
  } catch {
    // forEachRow reports it
  }
  progress.start('reading ratings', size);
  const row = (line: number, fields: string[], u: number, m: number, r: number, t: number): void => {
    const rating = parseNumber(fields[r], file, line, 'rating', bad);
    if (rating === undefined) return;
    const ts = parseNumber(fields[t], file, line, 'timestamp', bad);
    if (ts === undefined) return;
    acceptRating(table, movies, bad, file, line, fields[u], fields[m], rating, ts);
  };
  const cut = (line: number, last: { isLast: boolean; unterminated: boolean }, found: number, expected: number): boolean => {
    if (last.unterminated) throw truncatedError(file, line, 'the file ends without a final newline in the middle of this row');
    if (last.isLast && found < expected) throw truncatedError(file, line, `the last row has ${found} of ${expected} fields`);
    return false;
  };
  if (files.format === 'dat') {
    // ml-1m documents Latin-1; ratings lines are ASCII, any other line falls back per line.
    await forEachRow(
      file,
      { encoding: options.encoding, latin1Fallback: true },
      (text, line, last) => {
        const f = text.split('::');
        cut(line, last, f.length, 4);
        if (f.length !== 4) {
          bad.report(new InputError(file, line, `expected 4 fields UserID::MovieID::Rating::Timestamp, found ${f.length}`));
          return;
        }
        row(line, f, 0, 1, 2, 3);
      },
      (b) => progress.update(b),
    );
  } else {
    let cols: { u: number; m: number; r: number; t: number; n: number } | undefined;
    const unquote = (s: string): string => {
      const t = s.trim();
      return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).replace(/""/g, '"') : t;
    };
    await forEachRow(
      file,
      { encoding: options.encoding },
      (text, line, last) => {
        if (!cols) {
          const header = text.split(',').map(unquote);
          const need = ['userId', 'movieId', 'rating', 'timestamp'];
          const missing = need.filter((c) => !header.includes(c));
          if (missing.length) {
            throw new InputError(file, line, `missing column(s) ${missing.join(', ')} (header has ${header.join(', ')})`);
          }
          const [u, m, r, t] = need.map((c) => header.indexOf(c));
          cols = { u, m, r, t, n: header.length };
          return;
        }
        const f = text.split(',').map(unquote);
        cut(line, last, f.length, cols.n);
        if (f.length !== cols.n) {
          bad.report(new InputError(file, line, `expected ${cols.n} fields, found ${f.length}`));
          return;
        }
        row(line, f, cols.u, cols.m, cols.r, cols.t);
      },
      (b) => progress.update(b),
    );
  }
  progress.stop();
}

/**
 * Import a MovieLens folder (CSV or DAT format, optional posters; see this module's header) as
 * one dataset of kind `movielens`, named `options.name` (default `movielens`). Everything is
 * parsed, validated and written in one transaction: an error leaves the store as it was.
 *
 * @example
 * const summary = await importMovieLens(store, 'data/ml-latest-small', { name: 'movielens', skipBad: true });
 */
export async function importMovieLens(
  store: Store,
  dir: string,
  options: ImportOptions & { posters?: string },
): Promise<ImportSummary> {
  const name = options.name || 'movielens';
  if (options.encoding !== undefined) checkEncoding(options.encoding);
  const bad = new BadRowPolicy(options.skipBad ?? false);
  const counter = new ImportCounter();
  const files = findMovieLensFiles(dir);
  let postersDir: string | undefined;
  if (options.posters !== undefined) {
    if (!fs.existsSync(options.posters) || !fs.statSync(options.posters).isDirectory()) {
      throw new InputError(options.posters, undefined, 'posters folder not found');
    }
    postersDir = options.posters;
  } else if (fs.existsSync(path.join(dir, 'posters')) && fs.statSync(path.join(dir, 'posters')).isDirectory()) {
    postersDir = path.join(dir, 'posters');
  }

  const params: Record<string, unknown> = {
    format: files.format,
    files: [files.ratings, files.movies, ...(files.users ? [files.users] : [])].map((f) => path.basename(f)),
    posters: postersDir ? path.resolve(postersDir) : null,
    imageSize: options.imageSize ?? IMPORT_DEFAULTS.imageSize,
    seed: options.seed ?? IMPORT_DEFAULTS.seed,
    validUsers: options.validUsers ?? IMPORT_DEFAULTS.validUsers,
    testUsers: options.testUsers ?? IMPORT_DEFAULTS.testUsers,
  };
  await store.writeDataset(
    { name, kind: 'movielens', license: MOVIELENS_LICENSE, source: path.resolve(dir), params },
    async (w) => {
      const ctx: MovieLensWriteContext = {
        options,
        bad,
        counter,
        posters: postersDir ? findPosters(postersDir) : undefined,
        moviesFile: files.movies,
        ratingsFile: files.ratings,
        usersFile: files.users,
      };
      const decoding: TextDecoding = { encoding: options.encoding };
      let movies: MovieRecord[];
      if (files.format === 'csv') {
        movies = readMoviesCsv(files.movies, bad, decoding);
      } else {
        movies = readMoviesDat(files.movies, bad, decoding, counter.warnings);
        if (files.users) ctx.users = readUsersDat(files.users, bad, decoding, counter.warnings);
      }
      const index = await addMovies(w, movies, ctx);
      requireRows(index.ids.length, files.movies, 'movies', bad);
      const userAttrs = collectUsers(ctx);
      const table = new RatingTable();
      await readRatings(files, table, index, bad, options);
      writeRatings(w, table, index, userAttrs, ctx);
      requireRows(counter.interactions, files.ratings, 'ratings', bad);
      if (postersDir) {
        const without = counter.items - counter.images;
        if (without > 0) counter.warnings.push(`${without} of ${counter.items} movies have no poster in ${postersDir}: stored text-only`);
      }
    },
    { replace: options.replace },
  );
  return counter.summary(name, 'movielens', bad);
}
