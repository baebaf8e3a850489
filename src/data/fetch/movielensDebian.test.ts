import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { rDataFrame, rDbl, rFactor, rInt, rChr, compactIntSeq, writeLazyLoadDb } from '../rdata/writer.testing.js';
import { datasetStats } from '../stats.js';
import { fetchMovieLensDebian } from './movielensDebian.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-deb-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const hasDpkg = (() => {
  try {
    execFileSync('dpkg-deb', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Build a tiny r-cran-dslabs .deb whose R data holds a movielens frame shaped like the real one. */
function buildFakeDeb(packageName: string, frame: ReturnType<typeof rDataFrame>): string {
  const root = fs.mkdtempSync(path.join(tmp, 'pkg-'));
  const dataDir = path.join(root, 'usr/lib/R/site-library/dslabs/data');
  fs.mkdirSync(dataDir, { recursive: true });
  writeLazyLoadDb(dataDir, 'Rdata', { movielens: frame, murders: rInt([1, 2]) });
  fs.mkdirSync(path.join(root, 'DEBIAN'));
  fs.writeFileSync(
    path.join(root, 'DEBIAN/control'),
    `Package: ${packageName}\nVersion: 0.7.4-1\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test\n`,
  );
  const deb = path.join(tmp, `${packageName}-${path.basename(root)}.deb`);
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', root, deb], { stdio: 'ignore' });
  return deb;
}

const frame = () =>
  rDataFrame(
    {
      movieId: rInt([31, 1029, 31, 1029, 5]),
      title: rChr(['Dangerous Minds', 'Dumbo', 'Dangerous Minds', 'Dumbo', null]),
      year: rInt([1995, 1941, 1995, 1941, null]),
      genres: rFactor(['Drama', 'Animation|Children', 'Drama', 'Animation|Children', '(no genres listed)'], ['(no genres listed)', 'Animation|Children', 'Drama']),
      userId: rInt([1, 1, 2, 2, 2]),
      rating: rDbl([2.5, 3, 4, 4.5, 1]),
      timestamp: rInt([1260759144, 1260759179, 1300000000, 1200000000, 1250000000]),
    },
    { rowNames: compactIntSeq(5) },
  );

describe.skipIf(!hasDpkg)('fetch movielens-debian', () => {
  it('reads the movielens frame out of the package and writes a time-ordered dataset', async () => {
    const store = Store.open(fs.mkdtempSync(path.join(tmp, 'home-')));
    const summary = await fetchMovieLensDebian(store, { deb: buildFakeDeb('r-cran-dslabs', frame()) });
    expect(summary).toMatchObject({ users: 2, items: 3, interactions: 5, debian: 'r-cran-dslabs 0.7.4-1' });
    const stats = datasetStats(store, 'movielens');
    expect(stats.ratings).toBe(5);
    const titles = store.db.prepare('SELECT title FROM items ORDER BY CAST(external_id AS INTEGER)').pluck().all();
    expect(titles).toEqual(['movie 5', 'Dangerous Minds (1995)', 'Dumbo (1941)']);
    const user2 = store.db
      .prepare(`SELECT i.external_id FROM interactions x JOIN users u ON u.id = x.user_id JOIN items i ON i.id = x.item_id WHERE u.external_id = '2' ORDER BY x.position`)
      .pluck()
      .all();
    expect(user2).toEqual(['1029', '5', '31']);
    store.close();
  });

  it('rejects another package and leaves the store empty', async () => {
    const store = Store.open(fs.mkdtempSync(path.join(tmp, 'home-')));
    await expect(fetchMovieLensDebian(store, { deb: buildFakeDeb('r-cran-other', frame()) })).rejects.toThrow(/expected r-cran-dslabs/);
    await expect(fetchMovieLensDebian(store, { deb: path.join(tmp, 'nope.deb') })).rejects.toThrow(/nope\.deb: file not found/);
    fs.writeFileSync(path.join(tmp, 'garbage.deb'), 'not a deb');
    await expect(fetchMovieLensDebian(store, { deb: path.join(tmp, 'garbage.deb') })).rejects.toThrow(/not a readable Debian package/);
    expect(store.listDatasets()).toEqual([]);
    store.close();
  });

  it('names the bad row when the frame holds an invalid rating', async () => {
    const store = Store.open(fs.mkdtempSync(path.join(tmp, 'home-')));
    const bad = frame();
    (bad.data[5] as { data: (number | null)[] }).data[3] = 9;
    await expect(fetchMovieLensDebian(store, { deb: buildFakeDeb('r-cran-dslabs', bad) })).rejects.toThrow(/movielens:4/);
    expect(store.listDatasets()).toEqual([]);
    store.close();
  });
});
