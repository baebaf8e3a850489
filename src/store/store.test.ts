import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from './migrations.js';
import { normalizeImage } from './images.js';
import { Store } from './store.js';

let homes: string[] = [];
function home(): string {
  const h = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-store-'));
  homes.push(h);
  return h;
}
afterEach(() => {
  homes.forEach((h) => fs.rmSync(h, { recursive: true, force: true }));
  homes = [];
});

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name)).sort();
}

const red = () => sharp({ create: { width: 10, height: 6, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer();

describe('Store', () => {
  it('applies migrations once and records the schema version', () => {
    const h = home();
    const s = Store.open(h);
    expect(s.schemaVersion).toBe(SCHEMA_VERSION);
    s.close();
    const again = Store.open(h);
    expect(again.schemaVersion).toBe(SCHEMA_VERSION);
    again.close();
  });

  it('refuses a store written by a newer schema', () => {
    const h = home();
    const s = Store.open(h);
    s.db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    s.close();
    expect(() => Store.open(h)).toThrow(/newer than this ragar/);
  });

  it('normalises images to square RGB PNGs stored by content hash', async () => {
    const s = Store.open(home());
    const hash = await s.writeDataset({ name: 'd', kind: 'jsonl' }, async (w) => {
      const h1 = await w.putImage(await red(), { size: 16 }, 'red.png');
      const h2 = await w.putImage(await red(), { size: 16 }, 'red-again.png');
      expect(h2).toBe(h1);
      w.addItem({ externalId: 'a', imageHash: h1 });
      return h1;
    });
    const png = s.images.read(hash);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([16, 16, 3]);
    // transparent red over white, padded with white
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([data[0], data[1], data[2]]).toEqual([255, 255, 255]);
    const mid = (8 * 16 + 8) * 3;
    expect(data[mid]).toBe(255);
    expect(data[mid + 1]).toBeGreaterThan(100);
    expect(data[mid + 1]).toBeLessThan(160);
    s.close();
  });

  it('names a corrupt image in the error', async () => {
    await expect(normalizeImage(Buffer.from('not a png at all'), { size: 8 }, 'broken.png')).rejects.toThrow(/broken\.png: not a readable image/);
  });

  it('rolls back rows and new image files when a write fails, leaving other datasets untouched', async () => {
    const h = home();
    const s = Store.open(h);
    await s.writeDataset({ name: 'keep', kind: 'jsonl' }, async (w) => {
      w.addItem({ externalId: 'x', imageHash: await w.putImage(await red(), { size: 8 }, 'r') });
      w.addInteraction('u1', 'x', 1);
    });
    const before = listFiles(path.join(h, 'images'));
    const counts = () =>
      ['datasets', 'items', 'users', 'interactions', 'tasks', 'splits', 'images'].map((t) => s.db.prepare(`SELECT COUNT(*) FROM ${t}`).pluck().get());
    const countsBefore = counts();
    await expect(
      s.writeDataset({ name: 'broken', kind: 'jsonl' }, async (w) => {
        const blue = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#00f' } }).png().toBuffer();
        w.addItem({ externalId: 'b', imageHash: await w.putImage(blue, { size: 8 }, 'blue') });
        w.addInteraction('u1', 'b', 1);
        w.addInteraction('u1', 'missing', 2);
      }),
    ).rejects.toThrow(/unknown item id "missing"/);
    expect(counts()).toEqual(countsBefore);
    expect(listFiles(path.join(h, 'images'))).toEqual(before);
    expect(s.findDataset('broken')).toBeUndefined();
    s.close();
  });

  it('keeps interaction order per user and rejects duplicates and unknown names', async () => {
    const s = Store.open(home());
    await s.writeDataset({ name: 'd', kind: 'jsonl' }, (w) => {
      w.addItem({ externalId: 'a' });
      w.addItem({ externalId: 'b' });
      expect(() => w.addItem({ externalId: 'a' })).toThrow(/duplicate item id "a"/);
      w.addInteraction('u', 'b', 5);
      w.addInteraction('u', 'a', 5);
    });
    const order = s.db.prepare('SELECT i.external_id FROM interactions x JOIN items i ON i.id = x.item_id ORDER BY x.ts, x.position').pluck().all();
    expect(order).toEqual(['b', 'a']);
    expect(() => s.getDataset('nope')).toThrow(/no dataset named "nope".*known: d/);
    await expect(s.writeDataset({ name: 'bad name!', kind: 'x' }, () => {})).rejects.toThrow(/must be 1-64/);
    s.close();
  });

  it('delete and replace remove orphan images (rows and files); images shared with other datasets stay', async () => {
    const h = home();
    const s = Store.open(h);
    const solid = (c: string) => sharp({ create: { width: 4, height: 4, channels: 3, background: c } }).png().toBuffer();
    const write = (name: string, colours: string[], replace = false) =>
      s.writeDataset(
        { name, kind: 'jsonl' },
        async (w) => {
          for (const c of colours) w.addItem({ externalId: c, imageHash: await w.putImage(await solid(c), { size: 8 }, c) });
          // Stored but used by no item (e.g. its item was skipped afterwards): not kept either.
          await w.putImage(await solid('#123456'), { size: 8 }, 'unused');
        },
        { replace },
      );
    const rows = () => (s.db.prepare('SELECT hash FROM images ORDER BY hash').pluck().all() as string[]);
    const files = () => listFiles(path.join(h, 'images')).map((f) => path.basename(f, '.png'));
    const hashOf = (name: string, id: string) =>
      s.db.prepare('SELECT i.image_hash FROM items i JOIN datasets d ON d.id = i.dataset_id WHERE d.name = ? AND i.external_id = ?').pluck().get(name, id) as string;

    await write('a', ['#f00', '#0f0']);
    await write('b', ['#0f0', '#00f']);
    const [red, green, blue] = [hashOf('a', '#f00'), hashOf('a', '#0f0'), hashOf('b', '#00f')];
    expect(hashOf('b', '#0f0')).toBe(green);
    expect(rows()).toEqual([red, green, blue].sort());
    expect(files().sort()).toEqual(rows());

    // Replacing a: red goes (only a used it), green stays (b uses it), yellow arrives.
    await write('a', ['#ff0', '#0f0'], true);
    const yellow = hashOf('a', '#ff0');
    expect(rows()).toEqual([green, blue, yellow].sort());
    expect(files().sort()).toEqual(rows());
    expect(fs.existsSync(s.images.pathOf(red))).toBe(false);

    // Deleting b: blue goes, green stays for a.
    expect(s.deleteDataset('b')).toEqual({ images: 1 });
    expect(rows()).toEqual([green, yellow].sort());
    expect(files().sort()).toEqual(rows());
    expect(s.images.read(green).length).toBeGreaterThan(0);

    expect(s.deleteDataset('a')).toEqual({ images: 2 });
    expect(rows()).toEqual([]);
    expect(files()).toEqual([]);
    expect(() => s.deleteDataset('a')).toThrow(/no dataset named "a"/);
    s.close();
  });
});
