import fs from 'node:fs';
import path from 'node:path';
import { describe, it, expect, afterEach } from 'vitest';
import { Store } from '../../store/store.js';
import type { Progress } from '../../util/progress.js';
import iconv from 'iconv-lite';
import { runImporterContract } from './contract.testing.js';
import { importPog } from './pog.js';
import { history, itemRow, snapshot, splits, tempDir, tinyImage, writeFile } from './testing/fixtures-b.js';

// Fixtures shaped like the POG release (github.com/wenyuer/POG): comma-separated, no header,
// ';' between ids, Chinese titles that may contain commas; images named <item_id>.<ext>.
const ITEMS = [
  'a01f3c9e,50010850,http://img.alicdn.com/bao/uploaded/i1/a01f3c9e.jpg,2019夏季新款女装碎花连衣裙',
  'b02e4d8f,50011277,http://img.alicdn.com/bao/uploaded/i2/b02e4d8f.png,韩版宽松牛仔外套,百搭 春秋',
  'c03d5e7a,50010850,http://img.alicdn.com/bao/uploaded/i3/c03d5e7a.jpg,法式复古方领泡泡袖连衣裙',
  'd04c6f6b,50012027,http://img.alicdn.com/bao/uploaded/i4/d04c6f6b.jpg,小白鞋女 平底板鞋',
];
const OUTFITS = ['o9aa11,a01f3c9e;b02e4d8f', 'o9bb22,c03d5e7a;d04c6f6b;a01f3c9e'];
const USERS = [
  'u7x1,a01f3c9e;b02e4d8f;c03d5e7a,o9aa11',
  'u7y2,d04c6f6b;a01f3c9e,o9bb22',
  'u7x1,d04c6f6b,o9bb22',
];

interface PogFixture {
  items?: string[];
  outfits?: string[] | null;
  users?: string[];
  /** item id -> file name and bytes; `null` leaves the images folder out. */
  images?: Record<string, [string, Buffer]> | null;
  raw?: { items?: string; outfits?: string; users?: string };
}

const lines = (rows: string[]) => rows.join('\n') + '\n';

async function defaultImages(colours = ['#f00', '#0f0', '#00f', '#ff0']): Promise<Record<string, [string, Buffer]>> {
  return {
    a01f3c9e: ['a01f3c9e.jpg', await tinyImage(colours[0], 'jpeg')],
    b02e4d8f: ['b02e4d8f.png', await tinyImage(colours[1], 'png')],
    c03d5e7a: ['c03d5e7a.jpg', await tinyImage(colours[2], 'jpeg')],
    d04c6f6b: ['d04c6f6b.webp', await tinyImage(colours[3], 'webp')],
  };
}

async function writePog(fx: PogFixture = {}): Promise<string> {
  const dir = tempDir();
  writeFile(path.join(dir, 'item_data.txt'), fx.raw?.items ?? lines(fx.items ?? ITEMS));
  if (fx.outfits !== null) writeFile(path.join(dir, 'outfit_data.txt'), fx.raw?.outfits ?? lines(fx.outfits ?? OUTFITS));
  writeFile(path.join(dir, 'user_data.txt'), fx.raw?.users ?? lines(fx.users ?? USERS));
  const images = fx.images === undefined ? await defaultImages() : fx.images;
  if (images) {
    fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
    for (const [file, data] of Object.values(images)) fs.writeFileSync(path.join(dir, 'images', file), data);
  }
  return dir;
}

const opened: Store[] = [];
function openStore(): Store {
  const s = Store.open(tempDir());
  opened.push(s);
  return s;
}
afterEach(() => {
  while (opened.length) opened.pop()!.close();
});

describe('importPog', () => {
  it('imports items, images, outfits, users in file order and user splits', async () => {
    const store = openStore();
    const dir = await writePog();
    const calls: string[] = [];
    const progress: Progress = { start: (l) => calls.push(l), update() {}, stop() {} };
    const s = await importPog(store, dir, { progress });

    expect(s).toMatchObject({
      dataset: 'pog',
      kind: 'pog',
      users: 2,
      items: 4,
      interactions: 6,
      tasks: 0,
      images: 4,
      skipped: 0,
      outfits: 2,
      textOnlyItems: 0,
      warnings: [],
    });
    expect(calls).toContain('pog: item images');

    const ds = store.getDataset('pog');
    expect(ds.kind).toBe('pog');
    expect(ds.license).toMatch(/research/);
    expect(ds.source).toBe('https://github.com/wenyuer/POG');

    const b = itemRow(store, 'pog', 'b02e4d8f')!;
    expect(b.title).toBe('韩版宽松牛仔外套,百搭 春秋'); // the title keeps its comma
    expect(b.text).toBe(b.title);
    expect(b.tags).toEqual(['50011277']);
    expect(b.grp).toBe('50011277');
    expect(b.attributes).toEqual({
      cate_id: '50011277',
      pic_url: 'http://img.alicdn.com/bao/uploaded/i2/b02e4d8f.png',
      outfits: ['o9aa11'],
    });
    expect(b.image_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(itemRow(store, 'pog', 'a01f3c9e')!.attributes.outfits).toEqual(['o9aa11', 'o9bb22']);
    expect(fs.existsSync(store.images.pathOf(b.image_hash!))).toBe(true);

    // u7x1's history: its two lines concatenated in file order, ts = index.
    expect(history(store, 'pog', 'u7x1')).toEqual([
      { item: 'a01f3c9e', ts: 0, position: 0 },
      { item: 'b02e4d8f', ts: 1, position: 1 },
      { item: 'c03d5e7a', ts: 2, position: 2 },
      { item: 'd04c6f6b', ts: 3, position: 3 },
    ]);
    expect(history(store, 'pog', 'u7y2').map((h) => h.item)).toEqual(['d04c6f6b', 'a01f3c9e']);
    const user = store.db.prepare("SELECT attributes FROM users WHERE external_id = 'u7x1'").get() as { attributes: string };
    expect(JSON.parse(user.attributes)).toEqual({ outfits: ['o9aa11', 'o9bb22'] });

    const us = splits(store, 'pog', 'user');
    expect([...us.keys()].sort()).toEqual(['u7x1', 'u7y2']);
    for (const v of us.values()) expect(['train', 'valid', 'test']).toContain(v);
  });

  it('imports text-only with a warning when the default images folder is absent', async () => {
    const store = openStore();
    const dir = await writePog({ images: null });
    const s = await importPog(store, dir, {});
    expect(s.items).toBe(4);
    expect(s.images).toBe(0);
    expect(s.textOnlyItems).toBe(4);
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toMatch(/no images folder/);
    expect(itemRow(store, 'pog', 'a01f3c9e')!.image_hash).toBeNull();
    expect(store.getDataset('pog').params.images).toBeNull();
  });

  it('requires an images folder that was named explicitly', async () => {
    const store = openStore();
    const dir = await writePog({ images: null });
    await expect(importPog(store, dir, { images: path.join(dir, 'pics') })).rejects.toThrow(/pics.*images folder not found/);
  });

  it('reads images from a folder given in options', async () => {
    const store = openStore();
    const dir = await writePog({ images: null });
    const other = tempDir();
    for (const [file, data] of Object.values(await defaultImages())) fs.writeFileSync(path.join(other, file), data);
    const s = await importPog(store, dir, { images: other });
    expect(s.images).toBe(4);
  });

  it('works without outfit_data.txt (warning, no outfit lists)', async () => {
    const store = openStore();
    const dir = await writePog({ outfits: null });
    const s = await importPog(store, dir, {});
    expect(s.outfits).toBe(0);
    expect(s.warnings.join(' ')).toMatch(/no outfit_data\.txt/);
    expect(itemRow(store, 'pog', 'a01f3c9e')!.attributes.outfits).toBeUndefined();
    expect(s.interactions).toBe(6);
  });

  it('tolerates CRLF, a BOM, blank lines and a header line', async () => {
    const store = openStore();
    const dir = await writePog({
      raw: {
        items: '\uFEFFitem_id,cate_id,pic_url,title\r\n' + ITEMS.join('\r\n') + '\r\n\r\n',
        users: 'user_id,item_ids,outfit_id\n\n' + lines(USERS),
      },
    });
    const s = await importPog(store, dir, {});
    expect(s).toMatchObject({ items: 4, users: 2, interactions: 6, skipped: 0 });
    expect(itemRow(store, 'pog', 'a01f3c9e')!.title).toBe('2019夏季新款女装碎花连衣裙');
  });

  const badCases: { name: string; fx: () => Promise<PogFixture>; where: RegExp; reason: RegExp }[] = [
    {
      name: 'item line with too few fields',
      fx: async () => ({ items: [...ITEMS.slice(0, 2), 'e05b7a1c,50010850', ...ITEMS.slice(2)] }),
      where: /item_data\.txt:3/,
      reason: /expected 4 fields/,
    },
    {
      name: 'duplicate item id',
      fx: async () => ({ items: [...ITEMS, 'b02e4d8f,50011277,http://img.alicdn.com/bao/uploaded/i9/other.png,另一件外套'] }),
      where: /item_data\.txt:5/,
      reason: /duplicate item id "b02e4d8f" with different fields \(first on line 2\)/,
    },
    {
      name: 'empty cate_id',
      fx: async () => ({ items: [ITEMS[0], 'b02e4d8f,,http://x/b.png,t', ...ITEMS.slice(2)] }),
      where: /item_data\.txt:2/,
      reason: /empty cate_id/,
    },
    {
      name: 'outfit with an unknown item',
      fx: async () => ({ outfits: [OUTFITS[0], 'o9bb22,c03d5e7a;zzzz'] }),
      where: /outfit_data\.txt:2/,
      reason: /unknown item id "zzzz"/,
    },
    {
      name: 'duplicate outfit id',
      fx: async () => ({ outfits: [...OUTFITS, 'o9aa11,a01f3c9e;d04c6f6b'] }),
      where: /outfit_data\.txt:3/,
      reason: /duplicate outfit id "o9aa11" with different items \(first on line 1\)/,
    },
    {
      name: 'user line with an unknown item',
      fx: async () => ({ users: [USERS[0], 'u7y2,d04c6f6b;nope,o9bb22', USERS[2]] }),
      where: /user_data\.txt:2/,
      reason: /unknown item id "nope"/,
    },
    {
      name: 'user line with the wrong field count',
      fx: async () => ({ users: [USERS[0], 'u7y2,d04c6f6b;a01f3c9e', USERS[2]] }),
      where: /user_data\.txt:2/,
      reason: /expected 3 fields/,
    },
    {
      name: 'user line with an empty history',
      fx: async () => ({ users: [USERS[0], 'u7y2,,o9bb22', USERS[2]] }),
      where: /user_data\.txt:2/,
      reason: /empty item history/,
    },
    {
      name: 'user line with an unknown outfit',
      fx: async () => ({ users: [USERS[0], USERS[1], 'u7x1,d04c6f6b,o9zz99'] }),
      where: /user_data\.txt:3/,
      reason: /unknown outfit id "o9zz99"/,
    },
  ];

  for (const c of badCases) {
    it(`reports a bad row: ${c.name}`, async () => {
      const store = openStore();
      const dir = await writePog(await c.fx());
      const err = await importPog(store, dir, {}).then(
        () => null,
        (e: Error) => e,
      );
      expect(err).not.toBeNull();
      expect(err!.message).toMatch(c.where);
      expect(err!.message).toMatch(c.reason);
      expect(store.listDatasets()).toEqual([]);
    });
  }

  it('skips and counts bad rows under skipBad; of two conflicting item lines the first stays', async () => {
    const store = openStore();
    const dir = await writePog({
      items: [...ITEMS, 'e05b7a1c,50010850', 'b02e4d8f,50011277,http://x/other.png,另一件外套'],
      users: [...USERS, 'u7z3,nope,o9aa11', 'u7z3,a01f3c9e,o9aa11', 'u7w4,b02e4d8f,o9aa11'],
    });
    const s = await importPog(store, dir, { skipBad: true });
    // items: line 5 (fields), line 6 (conflicting duplicate: b02e4d8f is skipped, first stays).
    expect(s.skipped).toBe(3);
    expect(s.skippedExamples).toEqual([
      expect.stringMatching(/item_data\.txt:5: expected 4 fields/),
      expect.stringMatching(/item_data\.txt:6: duplicate item id "b02e4d8f" with different fields \(first on line 2\)/),
      expect.stringMatching(/user_data\.txt:4: .*unknown item id "nope"/),
    ]);
    expect(s.items).toBe(4);
    expect(history(store, 'pog', 'u7z3').map((h) => h.item)).toEqual(['a01f3c9e']);
    expect(history(store, 'pog', 'u7w4').map((h) => h.item)).toEqual(['b02e4d8f']);
    expect(s.users).toBe(4);
  });

  it('keeps an item whose image file is missing, text-only, with a warning and a count (no cascade)', async () => {
    // Real image folders have gaps: the iFashion downloaders log URLs that no longer answer.
    const store = openStore();
    const images = await defaultImages();
    delete images.c03d5e7a; // item line 3, used by outfit o9bb22 and by users u7x1 and u7y2
    const dir = await writePog({ images });
    for (const skipBad of [false, true]) {
      const s = await importPog(store, dir, { name: `pog-${skipBad}`, skipBad });
      expect(s).toMatchObject({ users: 2, items: 4, images: 3, interactions: 6, outfits: 2, skipped: 0, textOnlyItems: 1 });
      expect(s.warnings).toEqual([expect.stringMatching(/^1 of 4 items have no image in .*images \(e\.g\. "c03d5e7a"; .*\): imported text-only$/)]);
      expect(itemRow(store, `pog-${skipBad}`, 'c03d5e7a')).toMatchObject({ title: '法式复古方领泡泡袖连衣裙', image_hash: null });
      expect(history(store, `pog-${skipBad}`, 'u7x1').map((h) => h.item)).toEqual(['a01f3c9e', 'b02e4d8f', 'c03d5e7a', 'd04c6f6b']);
    }
  });

  it('drops an identical duplicate line of item_data.txt / outfit_data.txt with a warning', async () => {
    const store = openStore();
    const dir = await writePog({ items: [ITEMS[0], ITEMS[1], ITEMS[2], ITEMS[1], ITEMS[3]], outfits: [...OUTFITS, OUTFITS[1]] });
    const s = await importPog(store, dir, {});
    expect(s).toMatchObject({ items: 4, outfits: 2, skipped: 0, duplicateLines: 2 });
    expect(s.warnings).toEqual([
      'dropped 2 identical duplicate line(s): item_data.txt:4 repeats line 2, outfit_data.txt:3 repeats line 2',
    ]);
    expect(itemRow(store, 'pog', 'b02e4d8f')!.attributes.outfits).toEqual(['o9aa11']);
    expect(itemRow(store, 'pog', 'a01f3c9e')!.attributes.outfits).toEqual(['o9aa11', 'o9bb22']);
  });

  it('names a corrupt image file and its item line', async () => {
    const store = openStore();
    const images = await defaultImages();
    images.c03d5e7a = ['c03d5e7a.jpg', Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 37 + 11) % 256))];
    const dir = await writePog({ images });
    await expect(importPog(store, dir, {})).rejects.toThrow(/item_data\.txt:3: image .*c03d5e7a\.jpg is corrupt/);
    const s = await importPog(store, dir, { skipBad: true });
    expect(s.skipped).toBeGreaterThanOrEqual(1);
    expect(s.skippedExamples[0]).toMatch(/c03d5e7a\.jpg is corrupt/);
  });

  it('reports a truncated file clearly, even under skipBad', async () => {
    const store = openStore();
    const cut = lines(USERS).slice(0, lines(USERS).length - 16); // ends inside the last line
    const dir = await writePog({ raw: { users: cut } });
    for (const skipBad of [false, true]) {
      await expect(importPog(store, dir, { skipBad })).rejects.toThrow(/user_data\.txt:3: .*looks truncated/);
    }
    const dir2 = await writePog({ raw: { items: lines(ITEMS).slice(0, 30) } });
    await expect(importPog(store, dir2, { skipBad: true })).rejects.toThrow(/item_data\.txt:1: .*looks truncated/);
    expect(store.listDatasets()).toEqual([]);
  });

  it('accepts a valid last line without a final newline', async () => {
    const store = openStore();
    const dir = await writePog({ raw: { users: USERS.join('\n') } });
    const s = await importPog(store, dir, {});
    expect(s.interactions).toBe(6);
  });

  it('names a missing or empty required file', async () => {
    const store = openStore();
    const dir = await writePog();
    fs.rmSync(path.join(dir, 'user_data.txt'));
    await expect(importPog(store, dir, {})).rejects.toThrow(/user_data\.txt: file not found/);
    fs.writeFileSync(path.join(dir, 'user_data.txt'), '');
    await expect(importPog(store, dir, {})).rejects.toThrow(/user_data\.txt: empty file/);
  });

  it('leaves the store unchanged when an import fails, other datasets untouched', async () => {
    const store = openStore();
    await importPog(store, await writePog(), { name: 'other' });
    const before = snapshot(store);
    const otherBefore = history(store, 'other', 'u7x1');

    // New colours: the failing import stores new image files before it fails on user_data.txt.
    const images = await defaultImages(['#123456', '#234567', '#345678', '#456789']);
    const dir = await writePog({ images, users: [USERS[0], USERS[1], 'u7x1,bogus,o9aa11'] });
    await expect(importPog(store, dir, { name: 'pog2' })).rejects.toThrow(/user_data\.txt:3/);
    expect(snapshot(store)).toEqual(before);
    expect(store.findDataset('pog2')).toBeUndefined();
    expect(history(store, 'other', 'u7x1')).toEqual(otherBefore);

    // The same failure on a replace leaves the old dataset in place.
    await expect(importPog(store, dir, { name: 'other', replace: true })).rejects.toThrow(/user_data\.txt:3/);
    expect(snapshot(store)).toEqual(before);
  });

  it('refuses an existing name without replace, replaces it with replace', async () => {
    const store = openStore();
    const dir = await writePog();
    await importPog(store, dir, {});
    const before = snapshot(store);
    await expect(importPog(store, dir, {})).rejects.toThrow(/dataset "pog" already exists/);
    expect(snapshot(store)).toEqual(before);
    const s = await importPog(store, await writePog({ users: [USERS[1]] }), { replace: true });
    expect(s.interactions).toBe(2);
    expect(store.listDatasets()).toHaveLength(1);
  });
});

describe('importPog: encodings and empty results', () => {
  it('a GBK item_data.txt is an error naming file:line; read with encoding gbk', async () => {
    const store = openStore();
    const dir = await writePog({ raw: { items: iconv.encode(lines(ITEMS), 'gbk') as unknown as string } });
    for (const skipBad of [false, true]) {
      await expect(importPog(store, dir, { skipBad })).rejects.toThrow(/item_data\.txt:1: not valid UTF-8 \(byte 0xCF at byte column 74\); .*--encoding/);
    }
    expect(store.listDatasets()).toEqual([]);
    const s = await importPog(store, dir, { encoding: 'gbk' });
    expect(s).toMatchObject({ items: 4, users: 2, interactions: 6, skipped: 0 });
    expect(itemRow(store, 'pog', 'b02e4d8f')!.title).toBe('韩版宽松牛仔外套,百搭 春秋');
  });

  it('user lines that are all bad under skipBad are an error naming user_data.txt, not a dataset without users', async () => {
    const store = openStore();
    const dir = await writePog({ users: ['u1,nope,o9aa11', 'u2,,o9aa11'] });
    await expect(importPog(store, dir, { skipBad: true })).rejects.toThrow(
      /user_data\.txt: nothing to import: no users; all 2 row\(s\) .*\(first: .*user_data\.txt:1: user "u1": unknown item id "nope"\)/,
    );
    const blank = await writePog({ raw: { items: '\n\n' } });
    await expect(importPog(store, blank, {})).rejects.toThrow(/item_data\.txt: empty file \(only blank lines\)/);
    expect(store.listDatasets()).toEqual([]);
  });
});

runImporterContract({
  name: 'pog',
  run: (store, dir, options) => importPog(store, dir, options),
  fixtures: {
    async valid(dir, variant) {
      const images = await defaultImages(variant === 'a' ? ['#f00', '#0f0', '#00f', '#ff0'] : ['#f0f', '#0f0', '#0ff', '#fff']);
      writeFile(path.join(dir, 'item_data.txt'), lines(ITEMS));
      writeFile(path.join(dir, 'outfit_data.txt'), lines(OUTFITS));
      writeFile(path.join(dir, 'user_data.txt'), lines(variant === 'a' ? USERS : USERS.slice(1)));
      for (const [file, data] of Object.values(images)) writeFile(path.join(dir, 'images', file), data);
      return dir;
    },
    async oneBadRow(dir) {
      await this.valid(dir, 'a');
      writeFile(path.join(dir, 'user_data.txt'), lines([USERS[0], 'u7y2,d04c6f6b;zzzz,o9bb22', USERS[2]]));
      return { input: dir, where: 'user_data.txt:2' };
    },
    async nothing(dir) {
      await this.valid(dir, 'a');
      writeFile(path.join(dir, 'item_data.txt'), lines(['a01f3c9e,50010850', 'b02e4d8f']));
      return { input: dir, file: 'item_data.txt' };
    },
    async legacyEncoding(dir) {
      await this.valid(dir, 'a');
      writeFile(path.join(dir, 'item_data.txt'), iconv.encode(lines(ITEMS), 'gbk'));
      return { input: dir, where: 'item_data.txt:1', encoding: 'gbk', text: '碎花连衣裙' };
    },
  },
});
