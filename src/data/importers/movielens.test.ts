import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { BadRowPolicy, InputError } from '../../util/errors.js';
import { ImportCounter } from './common.js';
import iconv from 'iconv-lite';
import { runImporterContract } from './contract.testing.js';
import { findPosters, importMovieLens, movieYear, writeMovieLens, MOVIELENS_LICENSE } from './movielens.js';
import {
  countOf,
  garbageBytes,
  historyOf,
  itemOf,
  jpegBytes,
  pngBytes,
  snapshot,
  tempDir,
  writeFile,
} from './testing/fixtures-a.js';

// Shaped like ml-latest-small: real header, RFC 4180 quoting, `|` genres, "(no genres listed)".
const MOVIES_CSV = [
  'movieId,title,genres',
  '1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy',
  '2,Jumanji (1995),Adventure|Children|Fantasy',
  '11,"American President, The (1995)",Comedy|Drama|Romance',
  '176,"Sweet Hereafter, The (1997)",Drama',
  '149532,Marco Polo: One Hundred Eyes (2015),(no genres listed)',
  '',
].join('\n');

const RATINGS_CSV = [
  'userId,movieId,rating,timestamp',
  '1,1,4.0,964982703',
  '1,11,4.0,964981247',
  '1,2,3.5,964982703',
  '1,176,5.0,964980000',
  '2,11,3.0,1445714835',
  '2,149532,0.5,1445714800',
  '10,1,2.5,1445714900',
  '',
].join('\n');

function mlCsvDir(movies = MOVIES_CSV, ratings = RATINGS_CSV): string {
  const dir = tempDir();
  writeFile(dir, 'movies.csv', movies);
  writeFile(dir, 'ratings.csv', ratings);
  return dir;
}

function openStore(): Store {
  return Store.open(tempDir());
}

/** Replace line `n` (1-based) of `text`. */
function withLine(text: string, n: number, line: string): string {
  const lines = text.split('\n');
  lines[n - 1] = line;
  return lines.join('\n');
}

describe('importMovieLens (CSV, ml-latest-small shape)', () => {
  it('imports movies, ratings in per-user time order, text, tags and splits', async () => {
    const store = openStore();
    const dir = mlCsvDir();
    const s = await importMovieLens(store, dir, { name: 'movielens' });
    expect(s).toMatchObject({ dataset: 'movielens', kind: 'movielens', users: 3, items: 5, interactions: 7, tasks: 0, images: 0, skipped: 0 });
    const ds = store.getDataset('movielens');
    expect(ds.license).toBe(MOVIELENS_LICENSE);
    expect(ds.params).toMatchObject({ format: 'csv' });

    // User 1: sorted by timestamp; 1 and 2 share a timestamp and keep file order.
    expect(historyOf(store, 'movielens', '1').map((h) => [h.item, h.ts, h.rating, h.position])).toEqual([
      ['176', 964980000, 5, 0],
      ['11', 964981247, 4, 1],
      ['1', 964982703, 4, 2],
      ['2', 964982703, 3.5, 3],
    ]);
    expect(historyOf(store, 'movielens', '2').map((h) => h.item)).toEqual(['149532', '11']);

    const president = itemOf(store, 'movielens', '11');
    expect(president).toMatchObject({
      title: 'American President, The (1995)',
      text: 'American President, The (1995). Genres: Comedy, Drama, Romance',
      tags: ['Comedy', 'Drama', 'Romance'],
      grp: 'Comedy',
      attributes: { year: 1995, genres: ['Comedy', 'Drama', 'Romance'] },
      image_hash: null,
    });
    const noGenre = itemOf(store, 'movielens', '149532');
    expect(noGenre).toMatchObject({ text: 'Marco Polo: One Hundred Eyes (2015)', tags: [], grp: null, attributes: { year: 2015, genres: [] } });

    expect(countOf(store, 'movielens', 'splits')).toBe(3);
    const splits = store.db.prepare("SELECT key, split FROM splits WHERE entity = 'user'").all() as { key: string; split: string }[];
    for (const sp of splits) expect(['train', 'valid', 'test']).toContain(sp.split);
    // Users are written in numeric id order.
    const users = (store.db.prepare('SELECT external_id FROM users ORDER BY id').all() as { external_id: string }[]).map((u) => u.external_id);
    expect(users).toEqual(['1', '2', '10']);
    store.close();
  });

  it('reads CRLF line ends and a UTF-8 BOM', async () => {
    const store = openStore();
    const dir = mlCsvDir('\uFEFF' + MOVIES_CSV.replace(/\n/g, '\r\n'), '\uFEFF' + RATINGS_CSV.replace(/\n/g, '\r\n'));
    const s = await importMovieLens(store, dir, { name: 'ml' });
    expect(s).toMatchObject({ users: 3, items: 5, interactions: 7, skipped: 0 });
    expect(itemOf(store, 'ml', '2')?.title).toBe('Jumanji (1995)');
    store.close();
  });

  it('parses years', () => {
    expect(movieYear('Toy Story (1995)')).toBe(1995);
    expect(movieYear('Babylon 5')).toBeNull();
    expect(movieYear('Big Bang Theory, The (2007-)')).toBe(2007);
    expect(movieYear('Fawlty Towers (1975-1979) ')).toBe(1975);
  });

  const badCases: { what: string; file: 'movies.csv' | 'ratings.csv'; line: number; content: string; reason: RegExp; left: { items: number; interactions: number }; skipped?: number }[] = [
    { what: 'non-numeric rating', file: 'ratings.csv', line: 4, content: '1,2,abc,964982703', reason: /rating "abc" is not a number/, left: { items: 5, interactions: 6 } },
    { what: 'non-numeric timestamp', file: 'ratings.csv', line: 3, content: '1,11,4.0,', reason: /timestamp "" is not a number/, left: { items: 5, interactions: 6 } },
    { what: 'missing field (short row inside the file)', file: 'ratings.csv', line: 5, content: '1,176', reason: /expected 4 fields, found 2/, left: { items: 5, interactions: 6 } },
    { what: 'unknown movieId', file: 'ratings.csv', line: 6, content: '2,999,3.0,1445714835', reason: /unknown movieId 999/, left: { items: 5, interactions: 6 } },
    { what: 'rating out of range', file: 'ratings.csv', line: 6, content: '2,11,7,1445714835', reason: /rating 7 is outside 0\.5-5/, left: { items: 5, interactions: 6 } },
    { what: 'non-integer userId', file: 'ratings.csv', line: 6, content: 'bob,11,3.0,1445714835', reason: /userId "bob" is not a positive integer/, left: { items: 5, interactions: 6 } },
    { what: 'second rating of a movie', file: 'ratings.csv', line: 6, content: '1,2,3.0,1445714835', reason: /user 1 rated movie 2 twice \(first at .*ratings\.csv:4\)/, left: { items: 5, interactions: 6 } },
    { what: 'duplicate movieId', file: 'movies.csv', line: 7, content: '2,"Jumanji, again (1995)",Adventure\n', reason: /duplicate movieId 2 \(first at .*movies\.csv:3\)/, left: { items: 5, interactions: 7 } },
    { what: 'movie row with a missing field', file: 'movies.csv', line: 7, content: '999,"Some Movie, A (1997)"\n1000,Last Movie (1999),Drama\n', reason: /expected 3 fields, found 2/, left: { items: 6, interactions: 7 } },
    { what: 'movie without a title (its ratings are skipped too)', file: 'movies.csv', line: 5, content: '176,,Drama', reason: /movie 176 has no title/, left: { items: 4, interactions: 6 }, skipped: 2 },
  ];

  for (const c of badCases) {
    it(`${c.what}: fails naming ${c.file}:${c.line}, or is skipped and counted`, async () => {
      const movies = c.file === 'movies.csv' ? withLine(MOVIES_CSV, c.line, c.content) : MOVIES_CSV;
      const ratings = c.file === 'ratings.csv' ? withLine(RATINGS_CSV, c.line, c.content) : RATINGS_CSV;
      const dir = mlCsvDir(movies, ratings);
      const store = openStore();
      const err = await importMovieLens(store, dir, { name: 'ml' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toContain(`${c.file}:${c.line}:`);
      expect((err as Error).message).toMatch(c.reason);
      expect(store.listDatasets()).toEqual([]);

      const s = await importMovieLens(store, dir, { name: 'ml', skipBad: true });
      expect(s.skipped).toBe(c.skipped ?? 1);
      expect(s.skippedExamples[0]).toContain(`${c.file}:${c.line}:`);
      if (c.skipped === 2) expect(s.skippedExamples[1]).toMatch(/ratings\.csv:5: movieId 176 was skipped \(bad movie at .*movies\.csv:5\)/);
      expect({ items: s.items, interactions: s.interactions }).toEqual(c.left);
      store.close();
    });
  }

  it('a truncated movies.csv (open quote) is a clear error even with skipBad', async () => {
    const dir = mlCsvDir(MOVIES_CSV.slice(0, MOVIES_CSV.indexOf('Sweet') + 5));
    const store = openStore();
    for (const skipBad of [false, true]) {
      const err = await importMovieLens(store, dir, { name: 'ml', skipBad }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(/movies\.csv:\d+: malformed CSV/);
    }
    store.close();
  });

  it('a ratings.csv without the expected header is a clear error', async () => {
    const dir = mlCsvDir(MOVIES_CSV, 'user,movie,rating,timestamp\n1,1,4.0,964982703\n');
    const store = openStore();
    await expect(importMovieLens(store, dir, { name: 'ml' })).rejects.toThrow(/ratings\.csv:1: missing column\(s\) userId, movieId/);
    fs.writeFileSync(path.join(dir, 'ratings.csv'), '');
    await expect(importMovieLens(store, dir, { name: 'ml' })).rejects.toThrow(/ratings\.csv: empty file/);
    store.close();
  });

  it('garbage bytes as ratings.csv give an InputError, not a stack trace', async () => {
    const dir = mlCsvDir(MOVIES_CSV, 'userId,movieId,rating,timestamp\n' + garbageBytes(400).toString('latin1'));
    const store = openStore();
    const err = await importMovieLens(store, dir, { name: 'ml' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/ratings\.csv:2: /);
    store.close();
  });

  it('explains what it expects when the folder has no MovieLens files', async () => {
    const store = openStore();
    const empty = tempDir();
    await expect(importMovieLens(store, empty, { name: 'ml' })).rejects.toThrow(/no MovieLens files found.*ratings\.csv \+ movies\.csv.*ratings\.dat \+ movies\.dat/);
    const parent = tempDir();
    writeFile(parent, 'ml-latest-small/ratings.csv', RATINGS_CSV);
    await expect(importMovieLens(store, parent, { name: 'ml' })).rejects.toThrow(/did you mean .*ml-latest-small/);
    const half = tempDir();
    writeFile(half, 'ratings.csv', RATINGS_CSV);
    await expect(importMovieLens(store, half, { name: 'ml' })).rejects.toThrow(/movies\.csv missing/);
    await expect(importMovieLens(store, path.join(empty, 'nope'), { name: 'ml' })).rejects.toThrow(/folder not found/);
    store.close();
  });
});

describe('importMovieLens posters', () => {
  async function withPosters(): Promise<string> {
    const dir = mlCsvDir();
    writeFile(dir, 'posters/1.jpg', await jpegBytes('#00f'));
    writeFile(dir, 'posters/2.png', await pngBytes('#0f0'));
    writeFile(dir, 'posters/2.webp', garbageBytes()); // .png wins over .webp
    writeFile(dir, 'posters/readme.txt', 'not a poster');
    return dir;
  }

  it('attaches <movieId>.jpg|png posters from <dir>/posters; movies without one are fine', async () => {
    const dir = await withPosters();
    expect([...findPosters(path.join(dir, 'posters')).keys()].sort()).toEqual(['1', '2']);
    const store = openStore();
    const s = await importMovieLens(store, dir, { name: 'ml', imageSize: 16 });
    expect(s).toMatchObject({ items: 5, images: 2, skipped: 0 });
    const hash = itemOf(store, 'ml', '1')?.image_hash as string;
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(store.db.prepare('SELECT width, height FROM images WHERE hash = ?').get(hash)).toEqual({ width: 16, height: 16 });
    expect(itemOf(store, 'ml', '11')?.image_hash).toBeNull();
    store.close();
  });

  it('a corrupt poster is an error naming the image, or a counted skip that keeps the movie', async () => {
    const dir = await withPosters();
    writeFile(dir, 'posters/11.png', garbageBytes());
    const store = openStore();
    const before = snapshot(store);
    const err = await importMovieLens(store, dir, { name: 'ml' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/movies\.csv:4: image .*11\.png is corrupt/);
    expect(snapshot(store)).toEqual(before);

    const s = await importMovieLens(store, dir, { name: 'ml', skipBad: true });
    expect(s).toMatchObject({ items: 5, images: 2, skipped: 1 });
    expect(s.skippedExamples[0]).toMatch(/11\.png/);
    expect(itemOf(store, 'ml', '11')?.image_hash).toBeNull();
    store.close();
  });

  it('takes posters from options.posters, and fails clearly when that folder is missing', async () => {
    const dir = mlCsvDir();
    const posters = tempDir();
    writeFile(posters, '176.jpeg', await jpegBytes('#123456'));
    const store = openStore();
    const s = await importMovieLens(store, dir, { name: 'ml', posters });
    expect(s.images).toBe(1);
    expect(itemOf(store, 'ml', '176')?.image_hash).toMatch(/^[0-9a-f]{64}$/);
    await expect(importMovieLens(store, dir, { name: 'ml2', posters: path.join(posters, 'nope') })).rejects.toThrow(/posters folder not found/);
    store.close();
  });
});

describe('importMovieLens (DAT, ml-1m shape)', () => {
  function ml1mDir(): string {
    const dir = tempDir();
    // ml-1m is Latin-1: é is the single byte 0xE9.
    writeFile(
      dir,
      'movies.dat',
      Buffer.from(
        [
          '1::Toy Story (1995)::Animation|Children\'s|Comedy',
          '73::Misérables, Les (1995)::Drama|Musical',
          '1158::Café au Lait (Métisse) (1993)::Comedy',
          '1193::One Flew Over the Cuckoo\'s Nest (1975)::Drama',
          '',
        ].join('\n'),
        'latin1',
      ),
    );
    writeFile(dir, 'ratings.dat', ['1::1193::5::978300760', '1::73::3::978302109', '1::1::5::978300760', '2::1158::4::978298413', ''].join('\n'));
    writeFile(dir, 'users.dat', ['1::F::1::10::48067', '2::M::56::16::70072', '3::M::25::15::55117', ''].join('\n'));
    return dir;
  }

  it('decodes Latin-1 titles, reads users.dat attributes and orders ratings', async () => {
    const store = openStore();
    const s = await importMovieLens(store, ml1mDir(), { name: 'ml-1m' });
    expect(s).toMatchObject({ users: 3, items: 4, interactions: 4, skipped: 0 });
    expect(store.getDataset('ml-1m').params).toMatchObject({ format: 'dat' });
    expect(itemOf(store, 'ml-1m', '73')).toMatchObject({
      title: 'Misérables, Les (1995)',
      text: 'Misérables, Les (1995). Genres: Drama, Musical',
      grp: 'Drama',
    });
    expect(itemOf(store, 'ml-1m', '1158')?.title).toBe('Café au Lait (Métisse) (1993)');
    expect(itemOf(store, 'ml-1m', '1')?.tags).toEqual(['Animation', "Children's", 'Comedy']);
    expect(historyOf(store, 'ml-1m', '1').map((h) => h.item)).toEqual(['1193', '1', '73']);
    const attrs = (id: string): unknown =>
      JSON.parse((store.db.prepare('SELECT attributes FROM users WHERE external_id = ?').get(id) as { attributes: string }).attributes);
    expect(attrs('1')).toEqual({ gender: 'F', age: 1, ageGroup: 'Under 18', occupation: 10, occupationName: 'K-12 student', zip: '48067' });
    expect(attrs('3')).toMatchObject({ ageGroup: '25-34', occupationName: 'scientist' });
    expect(countOf(store, 'ml-1m', 'splits')).toBe(3);
    store.close();
  });

  it('reports bad .dat rows with file and line', async () => {
    const cases: { file: string; content: string; line: number; reason: RegExp }[] = [
      { file: 'ratings.dat', content: '1::1193::5::978300760\n1::73::3\n1::1::5::978300760\n', line: 2, reason: /expected 4 fields/ },
      { file: 'ratings.dat', content: '1::1193::five::978300760\n1::73::3::978302109\n', line: 1, reason: /rating "five" is not a number/ },
      { file: 'movies.dat', content: '1::Toy Story (1995)::Animation\n73\n1193::One Flew Over the Cuckoo\'s Nest (1975)::Drama\n', line: 2, reason: /expected 3 fields/ },
      { file: 'users.dat', content: '1::F::1::10::48067\n2::X::56::16::70072\n', line: 2, reason: /gender "X"/ },
      { file: 'users.dat', content: '1::F::1::10::48067\n1::F::1::10::48067\n', line: 2, reason: /duplicate userId 1/ },
    ];
    for (const c of cases) {
      const dir = ml1mDir();
      writeFile(dir, c.file, c.content);
      const store = openStore();
      const err = await importMovieLens(store, dir, { name: 'ml' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toContain(`${c.file}:${c.line}:`);
      expect((err as Error).message).toMatch(c.reason);
      const s = await importMovieLens(store, dir, { name: 'ml', skipBad: true });
      expect(s.skipped).toBeGreaterThanOrEqual(1);
      expect(s.skippedExamples[0]).toContain(`${c.file}:${c.line}:`);
      store.close();
    }
  });
});

describe('importMovieLens transactions', () => {
  it('a failed import leaves the store exactly as it was, other datasets untouched', async () => {
    const store = openStore();
    const otherDir = mlCsvDir();
    writeFile(otherDir, 'posters/1.png', await pngBytes('#f00'));
    await importMovieLens(store, otherDir, { name: 'other' });
    const before = snapshot(store);
    const otherItem = itemOf(store, 'other', '1');

    // Fails late: new posters are stored, movies and most ratings written, then a bad last rating.
    const dir = mlCsvDir(MOVIES_CSV, RATINGS_CSV.trimEnd() + '\n10,424242,4.0,1445714999\n');
    writeFile(dir, 'posters/2.png', await pngBytes('#0f0'));
    writeFile(dir, 'posters/11.jpg', await jpegBytes('#0ff'));
    await expect(importMovieLens(store, dir, { name: 'ml' })).rejects.toThrow(/ratings\.csv:9: unknown movieId 424242/);
    expect(snapshot(store)).toEqual(before);

    // Fails in the middle of the posters.
    writeFile(dir, 'ratings.csv', RATINGS_CSV);
    writeFile(dir, 'posters/176.png', garbageBytes());
    await expect(importMovieLens(store, dir, { name: 'ml' })).rejects.toThrow(/176\.png/);
    expect(snapshot(store)).toEqual(before);

    // Fails while replacing the other dataset: it survives.
    await expect(importMovieLens(store, dir, { name: 'other', replace: true })).rejects.toThrow(/176\.png/);
    expect(snapshot(store)).toEqual(before);
    expect(itemOf(store, 'other', '1')).toEqual(otherItem);
    store.close();
  });

  it('an existing name is an error without replace, and is replaced with it', async () => {
    const store = openStore();
    await importMovieLens(store, mlCsvDir(), { name: 'ml' });
    await importMovieLens(store, mlCsvDir(), { name: 'other' });
    const other = snapshot(store);
    const smaller = mlCsvDir(MOVIES_CSV, RATINGS_CSV.split('\n').slice(0, 3).join('\n') + '\n');
    await expect(importMovieLens(store, smaller, { name: 'ml' })).rejects.toThrow(/already exists/);
    expect(snapshot(store)).toEqual(other);
    const s = await importMovieLens(store, smaller, { name: 'ml', replace: true });
    expect(s).toMatchObject({ users: 1, interactions: 2 });
    expect(countOf(store, 'ml', 'interactions')).toBe(2);
    expect(countOf(store, 'other', 'interactions')).toBe(7);
    expect(store.listDatasets().map((d) => d.name)).toEqual(['ml', 'other']);
    store.close();
  });
});

describe('writeMovieLens (records from another source, e.g. an R data frame)', () => {
  it('validates records, uses the given year and labels, and writes users, ratings and splits', async () => {
    const store = openStore();
    const bad = new BadRowPolicy(true);
    const counter = new ImportCounter();
    await store.writeDataset({ name: 'dslabs', kind: 'movielens', license: MOVIELENS_LICENSE }, (w) =>
      writeMovieLens(
        w,
        [
          { movieId: '31', title: 'Dangerous Minds', genres: ['Drama'], year: 1995, line: 1 },
          { movieId: '1029', title: 'Dumbo', genres: ['Animation', 'Children', 'Drama', 'Musical'], year: 1941, line: 2 },
          { movieId: '1061', title: 'Sleepers', genres: ['Thriller'], year: null, line: 3 },
        ],
        [
          { userId: '1', movieId: '31', rating: 2.5, timestamp: 1260759144, line: 1 },
          { userId: '1', movieId: '1029', rating: 3, timestamp: 1260759179, line: 2 },
          { userId: '1', movieId: '9999', rating: 3, timestamp: 1260759180, line: 3 },
          { userId: '2', movieId: '1061', rating: Number.NaN, timestamp: 1260759181, line: 4 },
          { userId: '2', movieId: '1061', rating: 4, timestamp: 1260759182, line: 5 },
        ],
        { options: { name: 'dslabs' }, bad, counter, moviesFile: 'movielens.rda', ratingsFile: 'movielens.rda' },
      ),
    );
    const s = counter.summary('dslabs', 'movielens', bad);
    expect(s).toMatchObject({ users: 2, items: 3, interactions: 3, skipped: 2 });
    expect(s.skippedExamples).toEqual([
      'movielens.rda:3: unknown movieId 9999 (not in the movies file)',
      'movielens.rda:4: rating NaN is not a number',
    ]);
    expect(itemOf(store, 'dslabs', '1029')).toMatchObject({ title: 'Dumbo', text: 'Dumbo. Genres: Animation, Children, Drama, Musical', attributes: { year: 1941 } });
    expect(itemOf(store, 'dslabs', '1061')?.attributes.year).toBeNull();
    expect(countOf(store, 'dslabs', 'splits')).toBe(2);

    const strict = new BadRowPolicy(false);
    await expect(
      store.writeDataset({ name: 'dslabs2', kind: 'movielens' }, (w) =>
        writeMovieLens(w, [{ movieId: '1', title: 'A', genres: [] }], [{ userId: '1', movieId: '2', rating: 3, timestamp: 1 }], {
          options: { name: 'dslabs2' },
          bad: strict,
          counter: new ImportCounter(),
        }),
      ),
    ).rejects.toThrow(/^ratings: unknown movieId 2/);
    expect(store.findDataset('dslabs2')).toBeUndefined();
    store.close();
  });
});

describe('importMovieLens: encodings, truncation and empty files', () => {
  it('a latin-1 movies.csv is an error naming file:line; read with encoding latin1', async () => {
    const movies = MOVIES_CSV.replace('Jumanji (1995)', 'Café Society (2016)');
    const dir = mlCsvDir(iconv.encode(movies, 'latin1') as unknown as string);
    const store = openStore();
    for (const skipBad of [false, true]) {
      await expect(importMovieLens(store, dir, { name: 'ml', skipBad })).rejects.toThrow(/movies\.csv:3: not valid UTF-8 \(byte 0xE9 at byte column 6\)/);
    }
    expect(store.listDatasets()).toEqual([]);
    const s = await importMovieLens(store, dir, { name: 'ml', encoding: 'latin1' });
    expect(s).toMatchObject({ items: 5, interactions: 7, warnings: [] });
    expect(itemOf(store, 'ml', '2')?.title).toBe('Café Society (2016)');
    await expect(importMovieLens(store, dir, { name: 'ml2', encoding: 'latin-9000' })).rejects.toThrow(/unknown encoding "latin-9000"/);
    store.close();
  });

  it("ml-1m's documented latin-1 stays automatic (with a note), and an explicit encoding is used as given", async () => {
    const dir = tempDir();
    writeFile(dir, 'movies.dat', iconv.encode('1::Toy Story (1995)::Animation\n1158::Café au Lait (Métisse) (1993)::Comedy\n', 'latin1'));
    writeFile(dir, 'ratings.dat', '1::1::5::978300760\n1::1158::4::978298413\n');
    const store = openStore();
    const s = await importMovieLens(store, dir, { name: 'ml-1m' });
    expect(s.warnings).toEqual(['movies.dat is not UTF-8: read as Latin-1 (Windows-1252), the encoding ml-1m documents']);
    expect(itemOf(store, 'ml-1m', '1158')?.title).toBe('Café au Lait (Métisse) (1993)');
    // A UTF-8 movies.dat (some re-distributions convert it) is read as UTF-8, without a note.
    writeFile(dir, 'movies.dat', '1::Toy Story (1995)::Animation\n1158::Café au Lait (Métisse) (1993)::Comedy\n');
    const u = await importMovieLens(store, dir, { name: 'ml-utf8' });
    expect(u.warnings).toEqual([]);
    expect(itemOf(store, 'ml-utf8', '1158')?.title).toBe('Café au Lait (Métisse) (1993)');
    store.close();
  });

  it('a ratings.csv cut in the middle of a row is reported as truncated, even under skipBad', async () => {
    // Cut inside the timestamp of the last row: "10,1,2.5,14" would be a rating at t = 14 s.
    const cut = RATINGS_CSV.trimEnd().slice(0, -8);
    expect(cut.endsWith('10,1,2.5,14')).toBe(true);
    const store = openStore();
    for (const skipBad of [false, true]) {
      await expect(importMovieLens(store, mlCsvDir(MOVIES_CSV, cut), { name: 'ml', skipBad })).rejects.toThrow(
        /ratings\.csv:8: the file ends without a final newline in the middle of this row, so the file looks truncated/,
      );
      // Cut between fields: the last row is short.
      await expect(importMovieLens(store, mlCsvDir(MOVIES_CSV, RATINGS_CSV.trimEnd().slice(0, -12) + '\n'), { name: 'ml', skipBad })).rejects.toThrow(
        /ratings\.csv:8: the last row has 3 of 4 fields, so the file looks truncated/,
      );
      // Same for ml-1m's ratings.dat and a movies.csv without its final newline.
      const dat = tempDir();
      writeFile(dat, 'movies.dat', '1::Toy Story (1995)::Animation\n');
      writeFile(dat, 'ratings.dat', '1::1::5::978300760\n2::1::4::97');
      await expect(importMovieLens(store, dat, { name: 'ml', skipBad })).rejects.toThrow(/ratings\.dat:2: .*looks truncated/);
      await expect(importMovieLens(store, mlCsvDir(MOVIES_CSV.trimEnd()), { name: 'ml', skipBad })).rejects.toThrow(
        /movies\.csv:6: the file ends without a final newline, so the file looks truncated/,
      );
    }
    expect(store.listDatasets()).toEqual([]);
    store.close();
  });

  it('an empty movies.dat is named as such, not reported as an unknown movieId in ratings.dat', async () => {
    const dir = tempDir();
    writeFile(dir, 'movies.dat', '');
    writeFile(dir, 'ratings.dat', '1::1193::5::978300760\n');
    const store = openStore();
    for (const skipBad of [false, true]) {
      await expect(importMovieLens(store, dir, { name: 'ml', skipBad })).rejects.toThrow(/movies\.dat: empty file: no movies/);
    }
    // A movies.csv with only its header, likewise.
    await expect(importMovieLens(store, mlCsvDir('movieId,title,genres\n'), { name: 'ml' })).rejects.toThrow(/movies\.csv: nothing to import: no movies; refusing/);
    store.close();
  });

  it('ratings that are all bad under skipBad are an error naming ratings.csv, not a dataset without ratings', async () => {
    const ratings = 'userId,movieId,rating,timestamp\n1,999,4.0,964982703\n2,998,3.0,964982703\n';
    const store = openStore();
    await expect(importMovieLens(store, mlCsvDir(MOVIES_CSV, ratings), { name: 'ml', skipBad: true })).rejects.toThrow(
      /ratings\.csv: nothing to import: no ratings; all 2 row\(s\) .*\(first: .*ratings\.csv:2: unknown movieId 999/,
    );
    expect(store.listDatasets()).toEqual([]);
    store.close();
  });
});

runImporterContract({
  name: 'movielens',
  run: (store, dir, options) => importMovieLens(store, dir, options),
  fixtures: {
    async valid(dir, variant) {
      writeFile(dir, 'movies.csv', MOVIES_CSV);
      writeFile(dir, 'ratings.csv', variant === 'a' ? RATINGS_CSV : RATINGS_CSV.split('\n').slice(0, 4).join('\n') + '\n');
      writeFile(dir, 'posters/1.png', await pngBytes(variant === 'a' ? '#f00' : '#00f'));
      writeFile(dir, 'posters/2.jpg', await jpegBytes('#0f0'));
      return dir;
    },
    async oneBadRow(dir) {
      await this.valid(dir, 'a');
      writeFile(dir, 'ratings.csv', withLine(RATINGS_CSV, 3, '1,11,four,964981247'));
      return { input: dir, where: 'ratings.csv:3' };
    },
    async nothing(dir) {
      writeFile(dir, 'movies.csv', 'movieId,title,genres\nx,Toy Story (1995),Animation\n');
      writeFile(dir, 'ratings.csv', 'userId,movieId,rating,timestamp\n');
      return { input: dir, file: 'movies.csv' };
    },
    async legacyEncoding(dir) {
      await this.valid(dir, 'a');
      writeFile(dir, 'movies.csv', iconv.encode(withLine(MOVIES_CSV, 5, '176,"Douce France, La (1995)",Drama'.replace('Douce', 'Crème')), 'latin1'));
      return { input: dir, where: 'movies.csv:5', encoding: 'latin1', text: 'Crème France' };
    },
  },
});
