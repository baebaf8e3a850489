import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { openLazyLoadDb, type LazyLoadDb } from './lazyload.js';
import { RDataError, asDataFrame, numericColumn, type REnvironment, type RValue } from './xdr.js';
import {
  hasXzCli,
  rChr,
  rDbl,
  rEnv,
  rInt,
  rList,
  rLgl,
  rNamedList,
  SAMPLE_COLUMNS,
  sampleDataFrame,
  serializeXdr,
  writeLazyLoadDb,
  xzContainerCli,
  type BuildDbOptions,
} from './writer.testing.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ragar-rdata-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
/** Write a database with `sample` (the sample data frame) and `vec` to a fresh folder. */
async function makeDb(options: BuildDbOptions, extra: Record<string, RValue> = {}): Promise<LazyLoadDb> {
  const dir = path.join(tmp, `db${++counter}`);
  const { rdxPath, rdbPath } = writeLazyLoadDb(dir, 'Rdata', { sample: sampleDataFrame(), vec: rInt([1, null, 3]), ...extra }, options);
  return openLazyLoadDb(rdxPath, rdbPath);
}

async function rejection(p: Promise<unknown>): Promise<RDataError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RDataError);
    return err as RDataError;
  }
  throw new Error('expected an RDataError');
}

const XZ = hasXzCli();

describe('openLazyLoadDb', () => {
  it('reads a zlib database (compressed = TRUE)', async () => {
    const db = await makeDb({ compressed: 1 });
    expect(db.compressed).toBe(1);
    expect(db.names).toEqual(['sample', 'vec']);
    expect(db.has('vec')).toBe(true);
    expect(db.has('nope')).toBe(false);
    expect(db.keyOf('sample').offset).toBe(0);
    expect(await db.fetch('vec')).toEqual(rInt([1, null, 3]));
    const df = await db.fetchDataFrame('sample');
    expect(df.columns).toEqual(SAMPLE_COLUMNS);
    expect(asDataFrame(db.fetchSync('sample')).columns).toEqual(SAMPLE_COLUMNS);
  });

  it('defaults the .rdb path from the .rdx path', async () => {
    const dir = path.join(tmp, 'default-rdb');
    const { rdxPath, rdbPath } = writeLazyLoadDb(dir, 'pkg', { vec: rInt([4]) });
    const db = await openLazyLoadDb(rdxPath);
    expect(db.rdbPath).toBe(rdbPath);
    expect(await db.fetch('vec')).toEqual(rInt([4]));
  });

  it('reads uncompressed databases (compressed = FALSE)', async () => {
    const db = await makeDb({ compressed: 0 });
    expect(db.compressed).toBe(0);
    expect((await db.fetchDataFrame('sample')).columns).toEqual(SAMPLE_COLUMNS);
  });

  for (const [compressed, tag] of [
    [3, '1'],
    [3, '0'],
    [2, '1'],
    [2, '0'],
  ] as const) {
    it(`reads compressed = ${compressed} blobs with type byte '${tag}'`, async () => {
      const db = await makeDb({ compressed, tag });
      expect(db.compressed).toBe(compressed);
      expect((await db.fetchDataFrame('sample')).columns).toEqual(SAMPLE_COLUMNS);
      expect(db.fetchSync('vec')).toEqual(rInt([1, null, 3]));
    });
  }

  it('reads the committed xz (type 3, tag Z) fixture without the xz tool', async () => {
    const db = await openLazyLoadDb(path.join(here, 'fixtures/xz-db/Rdata.rdx'));
    expect(db.compressed).toBe(3);
    expect(db.names).toEqual(['sample', 'small']);
    expect((await db.fetchDataFrame('sample')).columns).toEqual(SAMPLE_COLUMNS);
    expect(await db.fetch('small')).toEqual(rInt([1, 2, null]));
    expect(() => db.fetchSync('small')).toThrow(/xz-compressed; use the asynchronous fetch/);
  });

  it.skipIf(!XZ)('reads xz blobs made by the xz tool (raw LZMA2, as R writes them)', async () => {
    const db = await makeDb({ compressed: 3, tag: 'Z' });
    expect((await db.fetchDataFrame('sample')).columns).toEqual(SAMPLE_COLUMNS);
    // a larger, less compressible value
    const big = rDbl(Array.from({ length: 50_000 }, (_, i) => Math.sin(i) * 1e6));
    const db2 = await makeDb({ compressed: 3, tag: 'Z' }, { big });
    expect(await db2.fetch('big')).toEqual(big);
  });

  it.skipIf(!XZ)('also accepts a full .xz container in a Z blob', async () => {
    const db = await makeDb({ compressed: 3, tag: 'Z', xz: xzContainerCli });
    expect((await db.fetchDataFrame('sample')).columns).toEqual(SAMPLE_COLUMNS);
  });

  it("also accepts a zlib stream in a 'Z' blob", async () => {
    const { deflateSync } = await import('node:zlib');
    const db = await makeDb({ compressed: 3, tag: 'Z', xz: (b) => deflateSync(b) });
    expect(await db.fetch('vec')).toEqual(rInt([1, null, 3]));
  });

  it('reads an .rdx that is not gzip-compressed', async () => {
    const dir = path.join(tmp, 'plain-rdx');
    const { rdxPath } = writeLazyLoadDb(dir, 'Rdata', { vec: rInt([9]) });
    const { gunzipSync } = await import('node:zlib');
    writeFileSync(rdxPath, gunzipSync(readFileSync(rdxPath)));
    expect(await (await openLazyLoadDb(rdxPath)).fetch('vec')).toEqual(rInt([9]));
  });

  it('resolves environments from the references table', async () => {
    const env = rEnv('persistent', ['env::1']);
    const formulaLike = rList([rInt([1])], ['x'], { '.Environment': env });
    const db = await makeDb(
      { compressed: 1, references: { 'env::1': rNamedList({
        bindings: rNamedList({ a: rDbl([2.5]), me: env }),
        enclos: rEnv('global'),
        attributes: { type: 'null' },
        isS4: rLgl([false]),
        locked: rLgl([true]),
      }) } },
      { f: formulaLike },
    );
    const v = await db.fetch('f');
    const e = (v as { attributes: Map<string, RValue> }).attributes.get('.Environment') as REnvironment;
    expect(e).toMatchObject({ kind: 'persistent', spec: ['env::1'], resolved: true, locked: true });
    expect(e.bindings.get('a')).toEqual(rDbl([2.5]));
    expect(e.bindings.get('me')).toBe(e);
    expect((e.enclos as REnvironment).kind).toBe('global');

    const lazy = await db.fetch('f', { resolveEnvironments: false });
    const le = (lazy as { attributes: Map<string, RValue> }).attributes.get('.Environment') as REnvironment;
    expect(le).toMatchObject({ kind: 'persistent', resolved: false });
    expect(le.bindings.size).toBe(0);
  });
});

describe('openLazyLoadDb errors', () => {
  it('lists the variables that exist when asked for an unknown one', async () => {
    const db = await makeDb({ compressed: 1 });
    const err = await rejection(db.fetch('movielens'));
    expect(err.message).toMatch(/Rdata\.rdx: no variable "movielens" in this lazy-load database; it has: sample, vec/);
  });

  it('names the .rdb file when it is truncated', async () => {
    const dir = path.join(tmp, 'truncated');
    const { rdxPath, rdbPath } = writeLazyLoadDb(dir, 'Rdata', { a: rInt([1]), b: rChr(['x', 'y']) });
    const rdb = readFileSync(rdbPath);
    writeFileSync(rdbPath, rdb.subarray(0, rdb.length - 5));
    const db = await openLazyLoadDb(rdxPath, rdbPath);
    expect(await db.fetch('a')).toEqual(rInt([1]));
    const err = await rejection(db.fetch('b'));
    expect(err.message).toContain(rdbPath);
    expect(err.message).toMatch(/lies beyond the end of the file .* truncated or does not match its \.rdx index/);
    expect(() => db.fetchSync('b')).toThrow(/lies beyond the end of the file/);
  });

  it('reports a corrupt compressed blob', async () => {
    const dir = path.join(tmp, 'corrupt');
    const { rdxPath, rdbPath } = writeLazyLoadDb(dir, 'Rdata', { a: rInt([1, 2, 3]) });
    const rdb = Buffer.from(readFileSync(rdbPath));
    rdb.fill(0x41, 6);
    writeFileSync(rdbPath, rdb);
    const err = await rejection((await openLazyLoadDb(rdxPath, rdbPath)).fetch('a'));
    expect(err.message).toMatch(/Rdata\.rdb \(variable "a"\): zlib data is corrupt or truncated/);
  });

  it('reports a blob whose serialization header is wrong', async () => {
    const db = await makeDb({ compressed: 0 });
    writeFileSync(db.rdbPath, Buffer.from(readFileSync(db.rdbPath)).fill(0x42, 0, 1));
    const err = await rejection(db.fetch('sample'));
    expect(err.message).toMatch(/Rdata\.rdb \(variable "sample"\): R native binary serialization format/);
  });

  it('rejects bzip2 and unknown type bytes clearly', async () => {
    const bz = await makeDb({ compressed: 2, tag: '2' });
    expect((await rejection(bz.fetch('vec'))).message).toMatch(/bzip2-compressed \(type '2'\), which is not supported/);
    const dir = path.join(tmp, 'badtag');
    const { rdxPath, rdbPath } = writeLazyLoadDb(dir, 'Rdata', { vec: rInt([1]) }, { compressed: 3, tag: '0' });
    const rdb = Buffer.from(readFileSync(rdbPath));
    rdb[4] = 0x51; // 'Q'
    writeFileSync(rdbPath, rdb);
    const err = await rejection((await openLazyLoadDb(rdxPath, rdbPath)).fetch('vec'));
    expect(err.message).toMatch(/unknown compression type byte 0x51 \('Q'\)/);
  });

  it('rejects an .rdx that is not R data or not an index', async () => {
    const dir = path.join(tmp, 'badrdx');
    const { rdxPath, rdbPath } = writeLazyLoadDb(dir, 'Rdata', { vec: rInt([1]) });
    writeFileSync(rdxPath, gzipSync(Buffer.from('A\n3\n')));
    expect((await rejection(openLazyLoadDb(rdxPath, rdbPath))).message).toMatch(/Rdata\.rdx: R ASCII serialization format/);
    writeFileSync(rdxPath, gzipSync(serializeXdr(rList([rInt([1])], ['foo']))));
    expect((await rejection(openLazyLoadDb(rdxPath, rdbPath))).message).toMatch(/not a lazy-load index .*names foo/);
    writeFileSync(rdxPath, readFileSync(rdxPath).subarray(0, 10));
    expect((await rejection(openLazyLoadDb(rdxPath, rdbPath))).message).toMatch(/Rdata\.rdx: gzip data is corrupt or truncated/);
    writeFileSync(rdxPath, gzipSync(serializeXdr(rNamedList({ variables: rNamedList({ v: rInt([1, 2, 3]) }) }))));
    expect((await rejection(openLazyLoadDb(rdxPath, rdbPath))).message).toMatch(/bad key for variables "v"/);
    writeFileSync(rdxPath, gzipSync(serializeXdr(rNamedList({ variables: rNamedList({}), compressed: rDbl([9]) }))));
    expect((await rejection(openLazyLoadDb(rdxPath, rdbPath))).message).toMatch(/unknown compression 9/);
  });

  it('names missing files', async () => {
    expect((await rejection(openLazyLoadDb(path.join(tmp, 'missing.rdx')))).message).toMatch(/cannot read lazy-load index .*missing\.rdx/);
    const { rdxPath } = writeLazyLoadDb(path.join(tmp, 'nordb'), 'Rdata', { vec: rInt([1]) });
    expect((await rejection(openLazyLoadDb(rdxPath, path.join(tmp, 'nope.rdb')))).message).toMatch(/cannot read lazy-load data file .*nope\.rdb/);
  });
});

const DSLABS = ['/tmp/dsl/usr/lib/R/site-library/dslabs/data', '/usr/lib/R/site-library/dslabs/data'].find((d) =>
  existsSync(path.join(d, 'Rdata.rdx')),
);

describe.skipIf(!DSLABS)('real r-cran-dslabs database (when installed)', () => {
  it('reads movielens', async () => {
    const db = await openLazyLoadDb(path.join(DSLABS as string, 'Rdata.rdx'));
    const df = await db.fetchDataFrame('movielens');
    expect(df.nrow).toBe(100_004);
    expect(df.names).toEqual(['movieId', 'title', 'year', 'genres', 'userId', 'rating', 'timestamp']);
    expect(new Set(numericColumn(df, 'userId')).size).toBe(671);
    expect(new Set(numericColumn(df, 'movieId')).size).toBe(9066);
  });
});
