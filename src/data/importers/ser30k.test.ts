import fs from 'node:fs';
import path from 'node:path';
import { describe, it, expect, afterEach } from 'vitest';
import { Store } from '../../store/store.js';
import iconv from 'iconv-lite';
import { runImporterContract } from './contract.testing.js';
import { importSer30k, naturalCompare } from './ser30k.js';
import { history, itemRow, snapshot, splits, tempDir, tinyImage, writeFile } from './testing/fixtures-b.js';

// Fixtures shaped like the SER30K release: Images/<topic>/<file_name>, Annotations/all_annos.json
// and Annotations/image-level/{train,val,test}.json, each {"annotations": [{topic, file_name,
// text, anno1, anno2, anno3, anno}]}.
interface Anno {
  topic: string;
  file_name: string;
  text: string;
  anno1: number;
  anno2: number;
  anno3: number;
  anno: number | string;
}

const a = (topic: string, file: string, anno: number, text = ''): Anno => ({
  topic,
  file_name: file,
  text,
  anno1: anno,
  anno2: anno,
  anno3: anno === 7 ? 7 : anno + 1,
  anno,
});

// Deliberately not in natural order inside 01-panda-bear.
const ANNOS: Anno[] = [
  a('01-panda-bear', 'sticker_10.jpg', 1, 'HELLO'),
  a('01-panda-bear', 'sticker_2.jpg', 3),
  a('01-panda-bear', 'sticker_1.jpg', 7),
  a('cute-ghost', 'sticker_1.jpg', 2, 'boo'),
  a('cute-ghost', 'sticker_3.jpg', 5),
];
const SPLIT: Record<'train' | 'val' | 'test', number[]> = { train: [0, 1, 3], val: [2], test: [4] };

interface SerFixture {
  annos?: unknown[];
  /** `all` (all_annos.json + image-level splits), `splits` (image-level only), `readme` (splits under Annotations/). */
  layout?: 'all' | 'splits' | 'readme';
  pretty?: boolean;
  extra?: Record<string, unknown>;
  images?: Record<string, Buffer | null>;
}

function json(value: unknown, pretty: boolean): string {
  return pretty ? JSON.stringify(value, null, 2) + '\n' : JSON.stringify(value);
}

async function writeSer(fx: SerFixture = {}): Promise<string> {
  const dir = tempDir();
  const annos = fx.annos ?? ANNOS;
  const layout = fx.layout ?? 'all';
  const pretty = fx.pretty ?? false;
  const ann = path.join(dir, 'Annotations');
  if (layout === 'all') writeFile(path.join(ann, 'all_annos.json'), json({ annotations: annos, ...fx.extra }, pretty));
  const splitDir = layout === 'readme' ? ann : path.join(ann, 'image-level');
  for (const [file, idx] of Object.entries(SPLIT)) {
    const part = idx.filter((i) => i < annos.length).map((i) => annos[i]);
    writeFile(path.join(splitDir, `${file}.json`), json({ annotations: part }, pretty));
  }
  const colours = ['#f00', '#0f0', '#00f', '#ff0', '#0ff', '#f0f', '#888'];
  let k = 0;
  for (const x of ANNOS) {
    const key = `${x.topic}/${x.file_name}`;
    const data = fx.images && key in fx.images ? fx.images[key] : await tinyImage(colours[k % colours.length], 'jpeg');
    k++;
    if (data) writeFile(path.join(dir, 'Images', x.topic, x.file_name), data);
  }
  return dir;
}

/** Line of the `{` that opens the annotation of `topic/file` in a pretty-printed file. */
function entryLine(file: string, topic: string, name: string): number {
  const rows = fs.readFileSync(file, 'utf8').split('\n');
  const at = rows.findIndex((r, i) => r.includes(`"file_name": "${name}"`) && rows[i - 1]?.includes(`"topic": "${topic}"`));
  let i = at;
  while (rows[i].trim() !== '{') i--;
  return i + 1;
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

describe('importSer30k', () => {
  it('imports stickers, proxy users in natural order, item and user splits', async () => {
    const store = openStore();
    const dir = await writeSer();
    const s = await importSer30k(store, dir, {});
    expect(s).toMatchObject({
      dataset: 'ser30k',
      kind: 'ser30k',
      items: 5,
      images: 5,
      users: 2,
      interactions: 5,
      tasks: 0,
      skipped: 0,
      topics: 2,
      emotionNamesFrom: 'default',
    });
    expect(s.emotionNames).toEqual(['emotion-1', 'emotion-2', 'emotion-3', 'emotion-4', 'emotion-5', 'emotion-6', 'emotion-7']);
    expect(s.warnings.join(' ')).toMatch(/no emotion names/);

    const ds = store.getDataset('ser30k');
    expect(ds.license).toMatch(/academic research/);
    expect(ds.source).toBe('https://github.com/nku-shengzheliu/SER30K');
    expect(ds.params.users).toBe('topics');

    const it10 = itemRow(store, 'ser30k', '01-panda-bear/sticker_10.jpg')!;
    expect(it10).toMatchObject({ title: 'panda bear', text: 'HELLO', tags: ['emotion-1'], grp: '01-panda-bear' });
    expect(it10.attributes).toEqual({
      topic: '01-panda-bear',
      file_name: 'sticker_10.jpg',
      anno: 1,
      emotion: 'emotion-1',
      anno1: 1,
      anno2: 1,
      anno3: 2,
    });
    expect(it10.image_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(itemRow(store, 'ser30k', 'cute-ghost/sticker_1.jpg')!.title).toBe('cute ghost');

    expect(history(store, 'ser30k', '01-panda-bear')).toEqual([
      { item: '01-panda-bear/sticker_1.jpg', ts: 0, position: 0 },
      { item: '01-panda-bear/sticker_2.jpg', ts: 1, position: 1 },
      { item: '01-panda-bear/sticker_10.jpg', ts: 2, position: 2 },
    ]);
    const user = store.db.prepare("SELECT attributes FROM users WHERE external_id = 'cute-ghost'").get() as {
      attributes: string;
    };
    expect(JSON.parse(user.attributes)).toEqual({ proxy: true, stickers: 2 });

    expect(Object.fromEntries(splits(store, 'ser30k', 'item'))).toEqual({
      '01-panda-bear/sticker_10.jpg': 'train',
      '01-panda-bear/sticker_2.jpg': 'train',
      'cute-ghost/sticker_1.jpg': 'train',
      '01-panda-bear/sticker_1.jpg': 'valid',
      'cute-ghost/sticker_3.jpg': 'test',
    });
    const us = splits(store, 'ser30k', 'user');
    expect([...us.keys()].sort()).toEqual(['01-panda-bear', 'cute-ghost']);
  });

  it('uses emotion names from the option or from the file categories', async () => {
    const names = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
    const store = openStore();
    const s1 = await importSer30k(store, await writeSer(), { name: 'opt', emotionNames: names });
    expect(s1.emotionNamesFrom).toBe('option');
    expect(itemRow(store, 'opt', '01-panda-bear/sticker_2.jpg')!.tags).toEqual(['n3']);
    expect(s1.warnings).toEqual([]);

    const categories = names.map((n, i) => ({ id: i + 1, name: `c-${n}` }));
    const s2 = await importSer30k(store, await writeSer({ extra: { categories } }), { name: 'cat' });
    expect(s2.emotionNamesFrom).toBe('file');
    expect(itemRow(store, 'cat', '01-panda-bear/sticker_1.jpg')!.tags).toEqual(['c-n7']);

    const s3 = await importSer30k(store, await writeSer({ extra: { categories: { '1': 'x' } } }), { name: 'odd' });
    expect(s3.emotionNamesFrom).toBe('default');
    expect(s3.warnings.join(' ')).toMatch(/"categories" has a shape/);

    await expect(importSer30k(store, await writeSer(), { name: 'short', emotionNames: ['a'] })).rejects.toThrow(
      /emotionNames must be 7/,
    );
  });

  it('reads the split files alone, in image-level/ or directly under Annotations/', async () => {
    for (const layout of ['splits', 'readme'] as const) {
      const store = openStore();
      const s = await importSer30k(store, await writeSer({ layout }), {});
      expect(s).toMatchObject({ items: 5, users: 2, interactions: 5, skipped: 0 });
      expect(splits(store, 'ser30k', 'item').get('cute-ghost/sticker_3.jpg')).toBe('test');
    }
  });

  it("imports items only with users: 'none'", async () => {
    const store = openStore();
    const s = await importSer30k(store, await writeSer(), { users: 'none' });
    expect(s).toMatchObject({ items: 5, users: 0, interactions: 0 });
    expect(splits(store, 'ser30k', 'user').size).toBe(0);
  });

  const badCases: { name: string; annos: () => unknown[]; at: [string, string] | null; index: number; reason: RegExp }[] = [
    {
      name: 'emotion label out of range',
      annos: () => [...ANNOS.slice(0, 2), { ...ANNOS[2], anno: 9 }, ...ANNOS.slice(3)],
      at: ['01-panda-bear', 'sticker_1.jpg'],
      index: 2,
      reason: /emotion label "anno" 9 is not an integer in 1\.\.7/,
    },
    {
      name: 'duplicate sticker',
      annos: () => [...ANNOS, ANNOS[3]],
      at: null,
      index: 5,
      reason: /duplicate sticker "cute-ghost\/sticker_1\.jpg"/,
    },
    {
      name: 'missing file_name',
      annos: () => [...ANNOS.slice(0, 3), { ...ANNOS[3], file_name: undefined }, ANNOS[4]],
      at: null,
      index: 3,
      reason: /missing "file_name"/,
    },
    {
      name: 'path outside the topic folder',
      annos: () => [...ANNOS.slice(0, 4), { ...ANNOS[4], file_name: '../../etc/passwd' }],
      at: null,
      index: 4,
      reason: /must be plain names/,
    },
    {
      name: 'entry that is not an object',
      annos: () => [...ANNOS, 42],
      at: null,
      index: 5,
      reason: /entry is not an object/,
    },
    {
      name: 'missing image',
      annos: () => [...ANNOS, a('cute-ghost', 'sticker_99.jpg', 4)],
      at: ['cute-ghost', 'sticker_99.jpg'],
      index: 5,
      reason: /image .*Images\/cute-ghost\/sticker_99\.jpg not found/,
    },
  ];

  for (const c of badCases) {
    it(`reports a bad annotation with file and line: ${c.name}`, async () => {
      const store = openStore();
      const dir = await writeSer({ annos: c.annos(), pretty: true });
      const file = path.join(dir, 'Annotations', 'all_annos.json');
      const err = await importSer30k(store, dir, {}).then(
        () => null,
        (e: Error) => e,
      );
      expect(err).not.toBeNull();
      const line = c.at ? entryLine(file, ...c.at) : undefined;
      expect(err!.message).toMatch(line ? `all_annos.json:${line}: annotations[${c.index}]` : /all_annos\.json:\d+: /);
      expect(err!.message).toContain(`annotations[${c.index}]`);
      expect(err!.message).toMatch(c.reason);
      expect(store.listDatasets()).toEqual([]);
    });
  }

  it('gives line 1 and the entry index for a one-line (json.dump) file', async () => {
    const store = openStore();
    const dir = await writeSer({ annos: [...ANNOS.slice(0, 4), { ...ANNOS[4], anno: 0 }] });
    await expect(importSer30k(store, dir, {})).rejects.toThrow(/all_annos\.json:1: annotations\[4\]: cute-ghost\/sticker_3\.jpg: emotion label/);
  });

  it('reports split-file entries that name no sticker', async () => {
    const store = openStore();
    const dir = await writeSer({ pretty: true });
    const test = path.join(dir, 'Annotations', 'image-level', 'test.json');
    fs.writeFileSync(test, JSON.stringify({ annotations: [ANNOS[4], a('cute-ghost', 'nope.jpg', 1)] }, null, 2));
    await expect(importSer30k(store, dir, {})).rejects.toThrow(/test\.json:12: annotations\[1\]: unknown sticker "cute-ghost\/nope\.jpg"/);
  });

  it('skips and counts bad annotations under skipBad', async () => {
    const store = openStore();
    const annos = [...ANNOS.slice(0, 2), { ...ANNOS[2], anno: 'x' }, ...ANNOS.slice(3), a('cute-ghost', 'gone.jpg', 1)];
    const s = await importSer30k(store, await writeSer({ annos, pretty: true }), { skipBad: true });
    expect(s.skipped).toBe(3); // bad label, missing image, and the val.json entry of the dropped sticker
    expect(s.skippedExamples[0]).toMatch(/all_annos\.json:\d+: annotations\[2\]: .*emotion label "anno" "x"/);
    expect(s.skippedExamples[1]).toMatch(/gone\.jpg not found/);
    expect(s.skippedExamples[2]).toMatch(/val\.json:\d+: annotations\[0\]: unknown sticker "01-panda-bear\/sticker_1\.jpg"/);
    expect(s).toMatchObject({ items: 4, users: 2, interactions: 4 });
    expect(history(store, 'ser30k', '01-panda-bear').map((h) => h.item)).toEqual([
      '01-panda-bear/sticker_2.jpg',
      '01-panda-bear/sticker_10.jpg',
    ]);
  });

  it('names a corrupt image file', async () => {
    const store = openStore();
    const junk = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 53 + 7) % 256));
    const dir = await writeSer({ images: { '01-panda-bear/sticker_2.jpg': junk }, pretty: true });
    const line = entryLine(path.join(dir, 'Annotations', 'all_annos.json'), '01-panda-bear', 'sticker_2.jpg');
    await expect(importSer30k(store, dir, {})).rejects.toThrow(
      new RegExp(`all_annos\\.json:${line}: annotations\\[1\\]: image .*01-panda-bear/sticker_2\\.jpg is corrupt`),
    );
  });

  it('reports a truncated or malformed JSON file clearly, even under skipBad', async () => {
    const store = openStore();
    const dir = await writeSer({ pretty: true });
    const file = path.join(dir, 'Annotations', 'all_annos.json');
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
    await expect(importSer30k(store, dir, { skipBad: true })).rejects.toThrow(/all_annos\.json:\d+: JSON ends early: the file looks truncated/);
    fs.writeFileSync(file, text.replace('"text": "boo",', '"text": "boo" "x",'));
    await expect(importSer30k(store, dir, {})).rejects.toThrow(/all_annos\.json:\d+: not valid JSON/);
    fs.writeFileSync(file, '[]');
    await expect(importSer30k(store, dir, {})).rejects.toThrow(/all_annos\.json:1: expected an object with an "annotations" array/);
    expect(store.listDatasets()).toEqual([]);
  });

  it('requires the Images folder and some annotation file', async () => {
    const store = openStore();
    const dir = await writeSer();
    fs.rmSync(path.join(dir, 'Annotations'), { recursive: true });
    await expect(importSer30k(store, dir, {})).rejects.toThrow(/Annotations: no SER30K annotation files/);
    fs.rmSync(path.join(dir, 'Images'), { recursive: true });
    await expect(importSer30k(store, dir, {})).rejects.toThrow(/Images: images folder not found/);
  });

  it('leaves the store unchanged when an import fails, other datasets untouched', async () => {
    const store = openStore();
    await importSer30k(store, await writeSer(), { name: 'other' });
    const before = snapshot(store);
    const otherHistory = history(store, 'other', 'cute-ghost');

    // New image bytes (so new files are written) and a bad entry at the end.
    const images: Record<string, Buffer> = {};
    const cols = ['#101010', '#202020', '#303030', '#404040', '#505050'];
    for (const [i, x] of ANNOS.entries()) images[`${x.topic}/${x.file_name}`] = await tinyImage(cols[i], 'png');
    const dir = await writeSer({ images, annos: [...ANNOS, a('cute-ghost', 'missing.jpg', 1)] });
    await expect(importSer30k(store, dir, { name: 'ser2' })).rejects.toThrow(/missing\.jpg not found/);
    expect(snapshot(store)).toEqual(before);
    expect(store.findDataset('ser2')).toBeUndefined();
    expect(history(store, 'other', 'cute-ghost')).toEqual(otherHistory);

    await expect(importSer30k(store, dir, { name: 'other', replace: true })).rejects.toThrow(/missing\.jpg/);
    expect(snapshot(store)).toEqual(before);
  });

  it('refuses an existing name without replace, replaces it with replace', async () => {
    const store = openStore();
    const dir = await writeSer();
    await importSer30k(store, dir, {});
    const before = snapshot(store);
    await expect(importSer30k(store, dir, {})).rejects.toThrow(/dataset "ser30k" already exists/);
    expect(snapshot(store)).toEqual(before);
    const s = await importSer30k(store, await writeSer({ annos: ANNOS.slice(3) }), { replace: true });
    expect(s.items).toBe(2);
    expect(store.listDatasets()).toHaveLength(1);
  });
});

describe('naturalCompare', () => {
  it('orders digit runs by value', () => {
    const names = ['sticker_10.jpg', 'sticker_2.jpg', 'sticker_1.jpg', 'sticker_02.jpg', 'a.jpg'];
    expect([...names].sort(naturalCompare)).toEqual(['a.jpg', 'sticker_1.jpg', 'sticker_2.jpg', 'sticker_02.jpg', 'sticker_10.jpg']);
  });
});

/** A SER30K folder with one annotation per line of all_annos.json (entry i on line i + 2). */
async function serOneLinePerEntry(dir: string, annos: Anno[], colours: Record<string, string>, encoding = 'utf8'): Promise<string> {
  const text = '{"annotations": [\n' + annos.map((x) => JSON.stringify(x)).join(',\n') + '\n]}\n';
  writeFile(path.join(dir, 'Annotations', 'all_annos.json'), iconv.encode(text, encoding));
  for (const [key, colour] of Object.entries(colours)) writeFile(path.join(dir, 'Images', key), await tinyImage(colour, 'png'));
  return dir;
}

describe('importSer30k: encodings and empty results', () => {
  it('annotations whose every entry is bad are an error naming the file under skipBad, not an empty dataset', async () => {
    const store = openStore();
    const dir = await writeSer({ annos: [{ ...ANNOS[0], anno: 9 }, { ...ANNOS[1], anno: 0 }], layout: 'all' });
    await expect(importSer30k(store, dir, { skipBad: true })).rejects.toThrow(/all_annos\.json: nothing to import: no annotations; all 2 row\(s\)/);
    const empty = await writeSer({ annos: [] });
    await expect(importSer30k(store, empty, {})).rejects.toThrow(/all_annos\.json: nothing to import: no annotations; refusing/);
    expect(store.listDatasets()).toEqual([]);
  });

  it('a latin-1 sticker text is an error naming file:line; read with encoding latin1', async () => {
    const store = openStore();
    const dir = await serOneLinePerEntry(tempDir(), [a('01-panda-bear', 'sticker_1.png', 1), a('01-panda-bear', 'sticker_2.png', 2, 'très bien')], {
      '01-panda-bear/sticker_1.png': '#f00',
      '01-panda-bear/sticker_2.png': '#0f0',
    }, 'latin1');
    await expect(importSer30k(store, dir, {})).rejects.toThrow(/all_annos\.json:3: not valid UTF-8 \(byte 0xE8/);
    const s = await importSer30k(store, dir, { encoding: 'latin1' });
    expect(s.items).toBe(2);
    expect(itemRow(store, 'ser30k', '01-panda-bear/sticker_2.png')!.text).toBe('très bien');
  });
});

runImporterContract({
  name: 'ser30k',
  run: (store, dir, options) => importSer30k(store, dir, options),
  fixtures: {
    async valid(dir, variant) {
      const annos = variant === 'a' ? [a('01-panda-bear', 'sticker_1.png', 1), a('01-panda-bear', 'sticker_2.png', 2)] : [a('01-panda-bear', 'sticker_2.png', 2), a('cute-ghost', 'sticker_1.png', 4)];
      const colours: Record<string, string> =
        variant === 'a' ? { '01-panda-bear/sticker_1.png': '#f00', '01-panda-bear/sticker_2.png': '#0f0' } : { '01-panda-bear/sticker_2.png': '#0f0', 'cute-ghost/sticker_1.png': '#00f' };
      return serOneLinePerEntry(dir, annos, colours);
    },
    async oneBadRow(dir) {
      await serOneLinePerEntry(dir, [a('01-panda-bear', 'sticker_1.png', 1), { ...a('01-panda-bear', 'sticker_2.png', 2), anno: 8 }], {
        '01-panda-bear/sticker_1.png': '#f00',
        '01-panda-bear/sticker_2.png': '#0f0',
      });
      return { input: dir, where: 'all_annos.json:3' };
    },
    async nothing(dir) {
      await serOneLinePerEntry(dir, [{ ...a('01-panda-bear', 'sticker_1.png', 1), anno: 'sad' }], { '01-panda-bear/sticker_1.png': '#f00' });
      return { input: dir, file: 'all_annos.json' };
    },
    async legacyEncoding(dir) {
      await serOneLinePerEntry(dir, [a('01-panda-bear', 'sticker_1.png', 1, 'ça va'), a('01-panda-bear', 'sticker_2.png', 2)], {
        '01-panda-bear/sticker_1.png': '#f00',
        '01-panda-bear/sticker_2.png': '#0f0',
      }, 'latin1');
      return { input: dir, where: 'all_annos.json:2', encoding: 'latin1', text: 'ça va' };
    },
  },
});
