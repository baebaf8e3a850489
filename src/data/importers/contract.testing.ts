/**
 * The contract every importer passes (Hono style: each importer's test file calls
 * {@link runImporterContract} with a factory for its own fixtures). It checks, on files the
 * fixtures write in the shape of the real release:
 *
 * - `imports`: a valid input imports, with images, and leaves no orphan image (every `images` row
 *   is used by an item and has its file, every file has its row);
 * - `rollback`: a bad row fails naming `file:line` and leaves the store exactly as it was, also
 *   when the failing import would have replaced another dataset;
 * - `skip-bad`: the same input under `skipBad` imports, counting the row and naming it;
 * - `force`: an existing name is a CONFLICT without `replace`; with it the dataset is replaced by
 *   exactly what a fresh import gives, and the old dataset's images no one uses are gone;
 * - `twice`: the same input imported under two names gives two equal datasets sharing image
 *   files; deleting one keeps the other's images, deleting both leaves no image;
 * - `empty`: an input that yields nothing (an empty file, or every row bad under `skipBad`) is an
 *   error naming the file, not an empty dataset;
 * - `encoding`: bytes that are not UTF-8 fail naming `file:line`; with the encoding named they
 *   are decoded (and an unknown encoding name is refused).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { InputError, RagarError } from '../../util/errors.js';
import type { ImportOptions, ImportSummary } from './common.js';

/** The cases of the contract, for {@link ImporterContract.skip}. */
export type ImporterContractCase = 'imports' | 'rollback' | 'skip-bad' | 'force' | 'twice' | 'empty' | 'encoding';

/** Fixture writers: each writes into a fresh folder `dir` and returns what to import. */
export interface ImporterFixtures {
  /**
   * A valid input with images. Variant `b` differs from `a` (other rows, some other images) but
   * shares at least one image with it and drops at least one of `a`'s.
   */
  valid(dir: string, variant: 'a' | 'b'): Promise<string>;
  /** A valid input except for one bad row; `where` is `<basename>:<line>` that errors must name. */
  oneBadRow(dir: string): Promise<{ input: string; where: string }>;
  /** An input that yields nothing, even under skip-bad; `file` is the basename errors must name. */
  nothing(dir: string): Promise<{ input: string; file: string }>;
  /**
   * A valid input whose text is in a legacy `encoding` (not UTF-8) at `where` (`<basename>:<line>`);
   * `text` is the decoded string that must be stored (in an item's title, text or attributes).
   */
  legacyEncoding(dir: string): Promise<{ input: string; where: string; encoding: string; text: string }>;
}

/** What an importer hands to {@link runImporterContract}. */
export interface ImporterContract {
  /** Shown in the test names, e.g. `movielens`. */
  name: string;
  /** Run the importer. */
  run(store: Store, input: string, options: ImportOptions): Promise<ImportSummary>;
  fixtures: ImporterFixtures;
  /** Cases this importer cannot meet, each with the reason. */
  skip?: Partial<Record<ImporterContractCase, string>>;
}

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `ragar-contract-${prefix}-`));
}

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

/** Row counts of every table, the dataset rows and the image files: equal means untouched. */
function snapshot(store: Store): { tables: Record<string, number>; datasets: unknown[]; files: string[] } {
  const names = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
  const tables: Record<string, number> = {};
  for (const n of names) tables[n] = store.db.prepare(`SELECT COUNT(*) FROM "${n}"`).pluck().get() as number;
  return { tables, datasets: store.db.prepare('SELECT * FROM datasets ORDER BY id').all(), files: listFiles(store.images.root) };
}

/** Every image row is used by an item and has its file; every file has its row. */
function expectNoOrphans(store: Store): void {
  const rows = (store.db.prepare('SELECT hash FROM images ORDER BY hash').pluck().all() as string[]).sort();
  const used = (store.db.prepare('SELECT DISTINCT image_hash FROM items WHERE image_hash IS NOT NULL').pluck().all() as string[]).sort();
  expect(rows).toEqual(used);
  expect(listFiles(store.images.root).map((f) => path.basename(f, '.png')).sort()).toEqual(rows);
}

function imagesOf(store: Store, dataset: string): string[] {
  return (
    store.db
      .prepare('SELECT DISTINCT i.image_hash FROM items i JOIN datasets d ON d.id = i.dataset_id WHERE d.name = ? AND i.image_hash IS NOT NULL')
      .pluck()
      .all(dataset) as string[]
  ).sort();
}

/** The counts of a summary, without name and timing. */
function counts(s: ImportSummary): Record<string, number> {
  return { users: s.users, items: s.items, interactions: s.interactions, tasks: s.tasks, images: s.images, skipped: s.skipped };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, 'the import should have failed').toBeInstanceOf(Error);
  return e as Error;
}

/**
 * Register the importer contract's tests (see this module's header) for one importer.
 *
 * @example
 * runImporterContract({ name: 'jsonl', run: (store, file, o) => importJsonl(store, file, o), fixtures });
 */
export function runImporterContract(contract: ImporterContract): void {
  const { fixtures, run } = contract;
  const test = (name: ImporterContractCase, title: string, body: () => Promise<void>): void => {
    const reason = contract.skip?.[name];
    if (reason) it.skip(`${name}: ${title} (skipped: ${reason})`, body);
    else it(`${name}: ${title}`, body);
  };
  const withStore = async (body: (store: Store) => Promise<void>): Promise<void> => {
    const home = tempDir('home');
    const store = Store.open(home);
    try {
      await body(store);
    } finally {
      store.close();
      fs.rmSync(home, { recursive: true, force: true });
    }
  };

  describe(`importer contract: ${contract.name}`, () => {
    test('imports', 'a valid input imports with its images and leaves no orphan image', () =>
      withStore(async (store) => {
        const s = await run(store, await fixtures.valid(tempDir('a'), 'a'), { name: 'x' });
        expect(s.dataset).toBe('x');
        expect(s.items).toBeGreaterThan(0);
        expect(s.images).toBeGreaterThan(0);
        expect(s.skipped).toBe(0);
        expect(store.findDataset('x')).toBeDefined();
        expectNoOrphans(store);
      }),
    );

    test('rollback', 'a bad row fails naming file:line and leaves the store exactly as it was', () =>
      withStore(async (store) => {
        await run(store, await fixtures.valid(tempDir('a'), 'a'), { name: 'other' });
        const before = snapshot(store);
        const { input, where } = await fixtures.oneBadRow(tempDir('bad'));
        const e = await failure(run(store, input, { name: 'x' }));
        expect(e).toBeInstanceOf(InputError);
        expect(e.message).toContain(`${where}:`);
        expect(snapshot(store)).toEqual(before);
        const e2 = await failure(run(store, input, { name: 'other', replace: true }));
        expect(e2.message).toContain(`${where}:`);
        expect(snapshot(store)).toEqual(before);
      }),
    );

    test('skip-bad', 'under skipBad the bad row is skipped, counted and named', () =>
      withStore(async (store) => {
        const { input, where } = await fixtures.oneBadRow(tempDir('bad'));
        const s = await run(store, input, { name: 'x', skipBad: true });
        expect(s.skipped).toBeGreaterThanOrEqual(1);
        expect(s.skippedExamples[0]).toContain(`${where}:`);
        expect(s.items).toBeGreaterThan(0);
        expectNoOrphans(store);
      }),
    );

    test('force', 'an existing name is a conflict; replace gives what a fresh import gives and drops orphan images', () =>
      withStore(async (store) => {
        const a = await fixtures.valid(tempDir('a'), 'a');
        const b = await fixtures.valid(tempDir('b'), 'b');
        await run(store, a, { name: 'x' });
        const imagesA = imagesOf(store, 'x');
        const before = snapshot(store);
        const e = await failure(run(store, b, { name: 'x' }));
        expect(e).toBeInstanceOf(RagarError);
        expect((e as RagarError).code).toBe('CONFLICT');
        expect(snapshot(store)).toEqual(before);

        const replaced = await run(store, b, { name: 'x', replace: true });
        const imagesB = imagesOf(store, 'x');
        const fresh = tempDir('fresh');
        const other = Store.open(fresh);
        try {
          expect(counts(replaced)).toEqual(counts(await run(other, b, { name: 'x' })));
          expect(imagesOf(other, 'x')).toEqual(imagesB);
        } finally {
          other.close();
          fs.rmSync(fresh, { recursive: true, force: true });
        }
        expect(store.listDatasets().map((d) => d.name)).toEqual(['x']);
        const gone = imagesA.filter((h) => !imagesB.includes(h));
        expect(gone.length, 'fixture a should have an image that b does not use').toBeGreaterThan(0);
        expect(imagesA.some((h) => imagesB.includes(h)), 'fixtures a and b should share an image').toBe(true);
        for (const h of gone) expect(fs.existsSync(store.images.pathOf(h))).toBe(false);
        expectNoOrphans(store);
      }),
    );

    test('twice', 'the same input under two names: equal datasets sharing files; deleting one keeps the other whole', () =>
      withStore(async (store) => {
        const input = await fixtures.valid(tempDir('a'), 'a');
        const one = await run(store, input, { name: 'one' });
        const files = listFiles(store.images.root);
        const two = await run(store, input, { name: 'two' });
        expect(counts(two)).toEqual(counts(one));
        expect(listFiles(store.images.root)).toEqual(files);
        expect(imagesOf(store, 'two')).toEqual(imagesOf(store, 'one'));

        store.deleteDataset('one');
        expect(store.listDatasets().map((d) => d.name)).toEqual(['two']);
        for (const h of imagesOf(store, 'two')) expect(store.images.read(h).length).toBeGreaterThan(0);
        expectNoOrphans(store);
        store.deleteDataset('two');
        expect(store.db.prepare('SELECT COUNT(*) FROM images').pluck().get()).toBe(0);
        expect(listFiles(store.images.root)).toEqual([]);
      }),
    );

    test('empty', 'an input that yields nothing is an error naming the file, with or without skipBad', () =>
      withStore(async (store) => {
        await run(store, await fixtures.valid(tempDir('a'), 'a'), { name: 'other' });
        const before = snapshot(store);
        const { input, file } = await fixtures.nothing(tempDir('empty'));
        for (const skipBad of [false, true]) {
          const e = await failure(run(store, input, { name: 'x', skipBad }));
          expect(e).toBeInstanceOf(InputError);
          expect(e.message).toContain(file);
          expect(snapshot(store)).toEqual(before);
        }
      }),
    );

    test('encoding', 'bytes that are not UTF-8 fail naming file:line unless the encoding is named', () =>
      withStore(async (store) => {
        const { input, where, encoding, text } = await fixtures.legacyEncoding(tempDir('enc'));
        for (const skipBad of [false, true]) {
          const e = await failure(run(store, input, { name: 'x', skipBad }));
          expect(e).toBeInstanceOf(InputError);
          expect(e.message).toContain(`${where}: not valid UTF-8`);
          expect(e.message).toMatch(/--encoding/);
        }
        expect(store.listDatasets()).toEqual([]);
        const e = await failure(run(store, input, { name: 'x', encoding: 'no-such-encoding' }));
        expect(e.message).toMatch(/unknown encoding "no-such-encoding"/);

        const s = await run(store, input, { name: 'x', encoding });
        expect(s.items).toBeGreaterThan(0);
        const like = `%${text}%`;
        const hits = store.db.prepare('SELECT COUNT(*) FROM items WHERE title LIKE ? OR text LIKE ? OR attributes LIKE ?').pluck().get(like, like, like);
        expect(hits, `"${text}" should be stored`).toBeGreaterThan(0);
        const garbled = store.db.prepare("SELECT COUNT(*) FROM items WHERE title LIKE '%\uFFFD%' OR text LIKE '%\uFFFD%' OR attributes LIKE '%\uFFFD%'").pluck().get();
        expect(garbled).toBe(0);
      }),
    );
  });
}
