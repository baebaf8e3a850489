import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Store } from '../../store/store.js';
import { BadRowPolicy, RagarError } from '../../util/errors.js';
import { silentProgress, type Progress } from '../../util/progress.js';
import { ImportCounter, IMPORT_DEFAULTS, type ImportSummary } from '../importers/common.js';
import { MOVIELENS_LICENSE, writeMovieLens, type MovieRecord, type RatingRecord } from '../importers/movielens.js';
import { openLazyLoadDb } from '../rdata/lazyload.js';
import { numericColumn, stringColumn, type RDataFrame } from '../rdata/xdr.js';
import { aptDownload, unpackDeb } from './debian.js';

/** The Debian package and the object inside it. */
export const DSLABS_PACKAGE = 'r-cran-dslabs';
const DSLABS_DATA = 'usr/lib/R/site-library/dslabs/data/Rdata.rdx';

/** Options of `ragar dataset fetch movielens-debian`. */
export interface FetchMovieLensOptions {
  /** Dataset name (default `movielens`). */
  name?: string;
  /** Use this .deb instead of running `apt-get download`. */
  deb?: string;
  replace?: boolean;
  seed?: number;
  validUsers?: number;
  testUsers?: number;
  progress?: Progress;
}

/**
 * Convert the dslabs `movielens` data frame (movieId, title, year, genres, userId, rating,
 * timestamp; one row per rating) into MovieLens records. Titles get their year appended as in
 * the GroupLens CSV (`Dumbo (1941)`); the few NA titles become `movie <id>`.
 */
export function movielensRecordsFromFrame(df: RDataFrame, label: string): { movies: MovieRecord[]; ratings: RatingRecord[] } {
  const need = ['movieId', 'title', 'year', 'genres', 'userId', 'rating', 'timestamp'];
  const missing = need.filter((c) => !df.names.includes(c));
  if (missing.length) throw new RagarError(`${label}: the movielens data frame lacks column(s) ${missing.join(', ')} (has ${df.names.join(', ')})`, 'BAD_INPUT');
  const movieId = numericColumn(df, 'movieId');
  const title = stringColumn(df, 'title');
  const year = numericColumn(df, 'year');
  const genres = stringColumn(df, 'genres');
  const userId = numericColumn(df, 'userId');
  const rating = numericColumn(df, 'rating');
  const timestamp = numericColumn(df, 'timestamp');
  const movies = new Map<string, MovieRecord>();
  const ratings: RatingRecord[] = new Array(df.nrow);
  for (let i = 0; i < df.nrow; i++) {
    const id = String(movieId[i]);
    if (!movies.has(id)) {
      // dslabs leaves a few titles NA (its year parser failed on e.g. "Fawlty Towers (1975-1979)");
      // keep their ratings and name the movie by id.
      const t = title[i] ?? `movie ${id}`;
      const y = year[i];
      movies.set(id, {
        movieId: id,
        title: y != null && t ? `${t} (${y})` : t,
        genres: (genres[i] ?? '').split('|').filter(Boolean),
        year: y ?? null,
        line: i + 1,
        file: label,
      });
    }
    ratings[i] = {
      userId: String(userId[i]),
      movieId: id,
      rating: rating[i] ?? NaN,
      timestamp: timestamp[i] ?? NaN,
      line: i + 1,
      file: label,
    };
  }
  return { movies: [...movies.values()], ratings };
}

/**
 * Fetch MovieLens ml-latest-small from Debian's `r-cran-dslabs` package at run time: download
 * the .deb with `apt-get download` (or use `options.deb`), unpack it with `dpkg-deb -x`, read
 * the `movielens` data frame from the package's R lazy-load database in TypeScript, and write
 * it as dataset `movielens` in one transaction. Nothing is installed; the temporary files are
 * removed. The data stays in the data home (GroupLens terms: never commit it).
 *
 * @example
 * const summary = await fetchMovieLensDebian(store, {}); // 100,004 ratings, 671 users
 */
export async function fetchMovieLensDebian(store: Store, options: FetchMovieLensOptions = {}): Promise<ImportSummary & { debian: string }> {
  const progress = options.progress ?? silentProgress;
  const name = options.name ?? 'movielens';
  if (!options.replace && store.findDataset(name)) {
    throw new RagarError(`dataset ${JSON.stringify(name)} already exists; pass --force to replace it`, 'CONFLICT');
  }
  let downloadDir: string | undefined;
  let deb = options.deb;
  if (!deb) {
    downloadDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-apt-'));
    progress.start(`apt-get download ${DSLABS_PACKAGE}`, 1);
    deb = await aptDownload(DSLABS_PACKAGE, downloadDir);
    progress.update(1);
    progress.stop();
  }
  const unpacked = await unpackDeb(deb);
  try {
    if (unpacked.package !== DSLABS_PACKAGE) {
      throw new RagarError(`${deb} is package ${unpacked.package}, expected ${DSLABS_PACKAGE}`, 'BAD_INPUT');
    }
    const rdx = path.join(unpacked.root, DSLABS_DATA);
    if (!fs.existsSync(rdx)) throw new RagarError(`${deb}: no R data at ${DSLABS_DATA}`, 'BAD_INPUT');
    const db = await openLazyLoadDb(rdx);
    if (!db.has('movielens')) throw new RagarError(`${deb}: its R data has no movielens object (has ${db.names.join(', ')})`, 'BAD_INPUT');
    const frame = await db.fetchDataFrame('movielens');
    const label = `${DSLABS_PACKAGE}_${unpacked.version}:movielens`;
    const { movies, ratings } = movielensRecordsFromFrame(frame, label);
    const importOptions = {
      name,
      replace: options.replace,
      seed: options.seed ?? IMPORT_DEFAULTS.seed,
      validUsers: options.validUsers ?? IMPORT_DEFAULTS.validUsers,
      testUsers: options.testUsers ?? IMPORT_DEFAULTS.testUsers,
      progress,
    };
    const bad = new BadRowPolicy(false);
    const counter = new ImportCounter();
    await store.writeDataset(
      {
        name,
        kind: 'movielens',
        license: MOVIELENS_LICENSE,
        source: `Debian ${DSLABS_PACKAGE} ${unpacked.version} (R object dslabs::movielens, ml-latest-small)`,
        params: { seed: importOptions.seed, validUsers: importOptions.validUsers, testUsers: importOptions.testUsers, debian: `${DSLABS_PACKAGE} ${unpacked.version}` },
      },
      (w) => writeMovieLens(w, movies, ratings, { options: importOptions, bad, counter, moviesFile: label, ratingsFile: label }),
      { replace: options.replace },
    );
    return { ...counter.summary(name, 'movielens', bad), debian: `${DSLABS_PACKAGE} ${unpacked.version}` };
  } finally {
    unpacked.cleanup();
    if (downloadDir) fs.rmSync(downloadDir, { recursive: true, force: true });
  }
}
