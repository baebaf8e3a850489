import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { InputError } from '../../util/errors.js';
import iconv from 'iconv-lite';
import { runImporterContract } from './contract.testing.js';
import { importPmgBench } from './pmgBench.js';
import { countOf, garbageBytes, historyOf, itemOf, jpegBytes, pngBytes, snapshot, tempDir, writeFile } from './testing/fixtures-a.js';

type Sample = Record<string, unknown>;

function info(id: string, caption: string, image = `images/${id}.png`): Record<string, unknown> {
  return { item_id: id, caption, image_path: image };
}

/** Samples shaped like PMG's processed_dataset/*.json (POG / SER flavour). */
function samples(): Sample[] {
  return [
    {
      user_id: 'u1',
      history_item_ids: ['i1', 'i2'],
      history_items_info: [info('i1', 'A red floral dress with puff sleeves'), info('i2', 'A denim jacket with brass buttons')],
      target_item_id: 'i3',
      target_item_info: info('i3', 'A pleated blue midi skirt'),
      user_style: 'elegant, vibrant, classic',
      num_interactions: 2,
      window_position: 0,
      total_sequence_length: 4,
    },
    {
      user_id: 'u1',
      history_item_ids: ['i1', 'i2', 'i3'],
      history_items_info: [info('i1', 'A red floral dress with puff sleeves'), info('i2', 'A denim jacket with brass buttons'), info('i3', 'A pleated blue midi skirt')],
      target_item_id: 'i4',
      target_item_info: info('i4', 'White canvas sneakers', 'images/i4.jpg'),
      user_style: 'elegant, vibrant, classic',
      num_interactions: 3,
      window_position: 1,
      total_sequence_length: 4,
    },
    {
      user_id: 'u2',
      history_item_ids: ['i2'],
      // Same id, different caption: the first one is kept.
      history_items_info: [info('i2', 'another caption for the jacket')],
      target_item_id: 'i5',
      target_item_info: info('i5', 'A straw sun hat'),
    },
  ];
}

async function pmgDir(): Promise<string> {
  const dir = tempDir();
  const colors: Record<string, string> = { i1: '#f00', i2: '#0f0', i3: '#00f', i5: '#ff0' };
  for (const [id, c] of Object.entries(colors)) writeFile(dir, `images/${id}.png`, await pngBytes(c));
  writeFile(dir, 'images/i4.jpg', await jpegBytes('#0ff'));
  return dir;
}

function writeArray(dir: string, data: unknown[], name = 'train.json', indent = 2): string {
  return writeFile(dir, name, JSON.stringify(data, null, indent));
}

function writeJsonl(dir: string, data: unknown[], name = 'samples.jsonl'): string {
  return writeFile(dir, name, data.map((d) => JSON.stringify(d)).join('\n') + '\n');
}

describe('importPmgBench', () => {
  it('imports a JSON array: unique items, longest history per user, tasks, styles', async () => {
    const dir = await pmgDir();
    const file = writeArray(dir, samples());
    const store = Store.open(tempDir());
    const s = await importPmgBench(store, file, { name: 'pmg' });
    expect(s).toMatchObject({ dataset: 'pmg', kind: 'pmg-bench', users: 2, items: 5, interactions: 4, tasks: 3, images: 5, skipped: 0 });

    expect(historyOf(store, 'pmg', 'u1').map((h) => [h.item, h.ts, h.position])).toEqual([
      ['i1', 0, 0],
      ['i2', 1, 1],
      ['i3', 2, 2],
    ]);
    expect(historyOf(store, 'pmg', 'u2').map((h) => h.item)).toEqual(['i2']);
    expect(itemOf(store, 'pmg', 'i2')).toMatchObject({
      text: 'A denim jacket with brass buttons',
      attributes: { caption: 'A denim jacket with brass buttons', image_path: 'images/i2.png' },
    });
    expect(itemOf(store, 'pmg', 'i4')?.image_hash).toMatch(/^[0-9a-f]{64}$/);

    const users = store.db.prepare('SELECT external_id, attributes FROM users ORDER BY id').all() as { external_id: string; attributes: string }[];
    expect(users.map((u) => [u.external_id, JSON.parse(u.attributes)])).toEqual([
      ['u1', { user_style: 'elegant, vibrant, classic' }],
      ['u2', {}],
    ]);

    const tasks = store.db
      .prepare(
        `SELECT t.external_id AS id, u.external_id AS user, r.external_id AS reference, t.target_item_id AS target, t.split, t.attributes
         FROM tasks t JOIN users u ON u.id = t.user_id JOIN items r ON r.id = t.reference_item_id ORDER BY t.id`,
      )
      .all() as { id: string; user: string; reference: string; target: number | null; split: string; attributes: string }[];
    expect(tasks.map((t) => [t.id, t.user, t.reference, t.target, t.split])).toEqual([
      ['sample-0', 'u1', 'i3', null, 'train'],
      ['sample-1', 'u1', 'i4', null, 'train'],
      ['sample-2', 'u2', 'i5', null, 'train'],
    ]);
    expect(JSON.parse(tasks[0].attributes)).toEqual({
      sample: 0,
      line: 2,
      historyItemIds: ['i1', 'i2'],
      user_style: 'elegant, vibrant, classic',
      num_interactions: 2,
      window_position: 0,
      total_sequence_length: 4,
    });
    expect(countOf(store, 'pmg', 'splits')).toBe(2);
    store.close();
  });

  it('imports JSONL (one sample per line) and FLICKR-AES worker_id / score fields', async () => {
    const dir = await pmgDir();
    const flickr: Sample = {
      worker_id: 'A1B2C3',
      history_item_ids: ['i5', 'i1'],
      history_items_info: [
        { ...info('i5', 'a hat'), score: 4, aesthetic_score: 0.75 },
        { ...info('i1', 'a dress'), score: 2, aesthetic_score: 0.25 },
      ],
      target_item_id: 'i2',
      target_item_info: info('i2', 'a jacket'),
      worker_style: 'nature, landscapes',
    };
    const file = writeJsonl(dir, [...samples(), flickr]);
    const store = Store.open(tempDir());
    const s = await importPmgBench(store, file, { name: 'pmg-jsonl' });
    expect(s).toMatchObject({ users: 3, items: 5, interactions: 6, tasks: 4, skipped: 0 });
    expect(historyOf(store, 'pmg-jsonl', 'A1B2C3').map((h) => [h.item, h.ts, h.rating])).toEqual([
      ['i5', 0, 4],
      ['i1', 1, 2],
    ]);
    // First occurrence wins: i5 was first seen (as a target) without aesthetic_score.
    expect(itemOf(store, 'pmg-jsonl', 'i5')?.attributes).toEqual({ caption: 'A straw sun hat', image_path: 'images/i5.png' });
    const t = store.db.prepare("SELECT split, attributes FROM tasks WHERE external_id = 'sample-3'").get() as { split: string; attributes: string };
    expect(['train', 'valid', 'test']).toContain(t.split);
    expect(JSON.parse(t.attributes)).toMatchObject({ sample: 3, line: 4, user_style: 'nature, landscapes' });
    store.close();
  });

  it('takes absolute image paths and sets the task split from test.json / val.json', async () => {
    const dir = await pmgDir();
    const data = samples().slice(2);
    (data[0].target_item_info as Record<string, unknown>).image_path = path.join(dir, 'images', 'i5.png');
    const store = Store.open(tempDir());
    await importPmgBench(store, writeArray(dir, data, 'test.json'), { name: 't' });
    await importPmgBench(store, writeArray(dir, data, 'val.json'), { name: 'v' });
    const splits = store.db.prepare('SELECT split FROM tasks ORDER BY id').all() as { split: string }[];
    expect(splits.map((x) => x.split)).toEqual(['test', 'valid']);
    store.close();
  });

  type Mutate = (s: Sample[]) => void;
  const badCases: { what: string; mutate: Mutate; reason: RegExp; skipped?: number; left?: { tasks: number } }[] = [
    { what: 'missing user_id', mutate: (s) => delete s[1].user_id, reason: /missing user_id/ },
    { what: 'non-string user_style', mutate: (s) => (s[1].user_style = 3), reason: /user_style must be a string/ },
    { what: 'missing target_item_info', mutate: (s) => delete s[1].target_item_info, reason: /missing target_item_info \(null is allowed/ },
    {
      what: 'history ids not matching history_items_info',
      mutate: (s) => (s[1].history_item_ids = ['i1', 'i9', 'i3']),
      reason: /history_item_ids\[1\] is "i9" but history_items_info\[1\]\.item_id is "i2"/,
    },
    {
      what: 'history item without image_path',
      mutate: (s) => delete ((s[1].history_items_info as Record<string, unknown>[])[2] as Record<string, unknown>).image_path,
      reason: /history_items_info\[2\]: missing image_path for item "i3" \(null is allowed: a text-only item\)/,
    },
    { what: 'a sample that is not an object', mutate: (s) => (s[1] = [1, 2] as unknown as Sample), reason: /expected a JSON object/ },
    {
      what: 'a missing image file',
      mutate: (s) => ((s[1].target_item_info as Record<string, unknown>).image_path = 'images/nope.png'),
      reason: /image .*nope\.png not found/,
    },
  ];

  for (const c of badCases) {
    it(`${c.what}: names the sample (array) or the line (JSONL); skipped and counted with skipBad`, async () => {
      const dir = await pmgDir();
      const data = samples();
      c.mutate(data);
      const store = Store.open(tempDir());

      const arrayFile = writeArray(dir, data);
      const err = await importPmgBench(store, arrayFile, { name: 'pmg' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(/train\.json:\d+: sample 1: /);
      expect((err as Error).message).toMatch(c.reason);

      const minified = writeArray(dir, data, 'min.json', 0);
      const err2 = await importPmgBench(store, minified, { name: 'pmg' }).catch((e: unknown) => e);
      expect((err2 as Error).message).toMatch(/min\.json: sample 1: /);

      const jsonl = writeJsonl(dir, data);
      const err3 = await importPmgBench(store, jsonl, { name: 'pmg' }).catch((e: unknown) => e);
      expect((err3 as Error).message).toMatch(/samples\.jsonl:2: /);
      expect((err3 as Error).message).toMatch(c.reason);
      expect(store.listDatasets()).toEqual([]);

      const s = await importPmgBench(store, arrayFile, { name: 'pmg', skipBad: true });
      expect(s).toMatchObject({ skipped: 1, tasks: 2 });
      expect(s.skippedExamples[0]).toMatch(/sample 1: /);
      // u1's longest history now comes from sample 0.
      expect(historyOf(store, 'pmg', 'u1').map((h) => h.item)).toEqual(['i1', 'i2']);
      store.close();
    });
  }

  it('a corrupt image is an error naming it; with skipBad every sample using that item is skipped', async () => {
    const dir = await pmgDir();
    writeFile(dir, 'images/x.png', garbageBytes());
    const data = samples();
    (data[0].history_items_info as Record<string, unknown>[])[1] = info('i2', 'A denim jacket with brass buttons', 'images/x.png');
    const file = writeArray(dir, data);
    const store = Store.open(tempDir());
    const before = snapshot(store);
    const err = await importPmgBench(store, file, { name: 'pmg' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/train\.json:2: sample 0: image .*x\.png is corrupt or not an image/);
    expect(snapshot(store)).toEqual(before);

    // The image error (sample 0) plus samples 1 and 2, which also use item i2: nothing is left,
    // and an empty dataset is refused rather than written.
    const e2 = await importPmgBench(store, file, { name: 'pmg', skipBad: true }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(InputError);
    expect((e2 as Error).message).toMatch(
      /train\.json: nothing to import: no samples; all 3 row\(s\) .*bad and skipped \(first: .*train\.json:2: sample 0: image .*x\.png is corrupt/,
    );
    expect(snapshot(store)).toEqual(before);

    data.push({ ...samples()[0], user_id: 'u3' }); // a sample that does not use x.png
    (data[3].history_items_info as Record<string, unknown>[])[1] = info('i6', 'A wool scarf', 'images/i1.png');
    data[3].history_item_ids = ['i1', 'i6'];
    const s = await importPmgBench(store, writeArray(dir, data), { name: 'pmg', skipBad: true });
    expect(s).toMatchObject({ skipped: 3, tasks: 1, users: 1, interactions: 2 });
    expect(s.skippedExamples[1]).toMatch(/sample 1: item "i2" was skipped \(bad image, reported at sample 0\)/);
    store.close();
  });

  it('a truncated or garbled file is a clear InputError', async () => {
    const dir = await pmgDir();
    const store = Store.open(tempDir());
    const text = JSON.stringify(samples(), null, 2);
    const truncated = writeFile(dir, 'cut.json', text.slice(0, Math.floor(text.length / 2)));
    const e1 = await importPmgBench(store, truncated, { name: 'p', skipBad: true }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(InputError);
    expect((e1 as Error).message).toMatch(/cut\.json:\d+: malformed JSON \(unexpected end of input; is the file truncated\?\)/);

    const broken = writeFile(dir, 'broken.json', text.replace('"u2"', '"u2" "oops"'));
    const e2 = await importPmgBench(store, broken, { name: 'p' }).catch((e: unknown) => e);
    const line = text.slice(0, text.indexOf('"u2"')).split('\n').length;
    expect((e2 as Error).message).toMatch(new RegExp(`broken\\.json:${line}: malformed JSON \\(.* at column \\d+\\)`));

    // V8 gives no position for an unexpected token; the line is still found.
    const bare = writeFile(dir, 'bare.json', text.replace('"u2"', 'u2'));
    const e2b = await importPmgBench(store, bare, { name: 'p' }).catch((e: unknown) => e);
    expect((e2b as Error).message).toMatch(new RegExp(`bare\\.json:${line}: malformed JSON \\(Unexpected token 'u' at column 16\\)`));

    const lines = samples().map((x) => JSON.stringify(x));
    const cutJsonl = writeFile(dir, 'cut.jsonl', lines.join('\n').slice(0, -20));
    const e3 = await importPmgBench(store, cutJsonl, { name: 'p' }).catch((e: unknown) => e);
    expect((e3 as Error).message).toMatch(/cut\.jsonl:3: malformed JSON \(.*is the file truncated\?\)/);
    const s = await importPmgBench(store, cutJsonl, { name: 'p', skipBad: true });
    expect(s).toMatchObject({ skipped: 1, tasks: 2 });

    const garbage = writeFile(dir, 'garbage.json', garbageBytes(300));
    const e4 = await importPmgBench(store, garbage, { name: 'q', skipBad: true }).catch((e: unknown) => e);
    expect(e4).toBeInstanceOf(InputError);
    expect((e4 as Error).message).toMatch(/garbage\.json:1: not valid UTF-8 \(byte 0x[0-9A-F]{2}/);
    const junk = writeFile(dir, 'junk.json', 'user_id,caption\nu1,hello\n');
    const e5 = await importPmgBench(store, junk, { name: 'q', skipBad: true }).catch((e: unknown) => e);
    expect((e5 as Error).message).toMatch(/junk\.json:1: expected a JSON array of PMG samples or one JSON object per line/);
    const empty = writeFile(dir, 'empty.json', '\n');
    await expect(importPmgBench(store, empty, { name: 'q' })).rejects.toThrow(/empty\.json: empty file/);
    await expect(importPmgBench(store, path.join(dir, 'missing.json'), { name: 'q' })).rejects.toThrow(/missing\.json: file not found/);
    expect(store.listDatasets().map((d) => d.name)).toEqual(['p']);
    store.close();
  });

  it('a failed import leaves the store unchanged; names conflict unless replace', async () => {
    const dir = await pmgDir();
    const store = Store.open(tempDir());
    await importPmgBench(store, writeArray(dir, samples().slice(0, 1), 'one.json'), { name: 'other' });
    const before = snapshot(store);

    // Fails at the last image, after the others (new files) were stored.
    const otherDir = tempDir();
    for (const [id, c] of Object.entries({ i1: '#123', i2: '#456', i3: '#789', i5: '#abc' })) {
      writeFile(otherDir, `images/${id}.png`, await pngBytes(c));
    }
    writeFile(otherDir, 'images/i4.jpg', garbageBytes());
    const file = writeArray(otherDir, samples());
    await expect(importPmgBench(store, file, { name: 'pmg' })).rejects.toThrow(/i4\.jpg/);
    expect(snapshot(store)).toEqual(before);
    await expect(importPmgBench(store, file, { name: 'other', replace: true })).rejects.toThrow(/i4\.jpg/);
    expect(snapshot(store)).toEqual(before);

    const good = writeArray(dir, samples());
    await expect(importPmgBench(store, good, { name: 'other' })).rejects.toThrow(/already exists/);
    expect(snapshot(store)).toEqual(before);
    const s = await importPmgBench(store, good, { name: 'other', replace: true });
    expect(s.tasks).toBe(3);
    expect(countOf(store, 'other', 'tasks')).toBe(3);
    expect(store.listDatasets().map((d) => d.name)).toEqual(['other']);
    expect(fs.existsSync(store.images.root)).toBe(true);
    store.close();
  });
});

describe('importPmgBench: the layouts PMG-Bench\'s own scripts write', () => {
  it("accepts prepare_ser_dataset.py's output: history_topic, per-item annotation, target_* fields, absolute paths", async () => {
    // Shaped like PMG-Bench method/data_process/prepare_ser_dataset.py: json.dump(indent=2),
    // image paths os.path.join(IMAGES_ROOT, "<topic>/<file>") on the machine that ran it.
    const dir = tempDir();
    const root = '/data-nfs/gpu1-1/someone/SER_Dataset/Images';
    const colours: Record<string, string> = { '01-panda/sticker_1.png': '#f00', '01-panda/sticker_10.png': '#0f0', '07-cat/sticker_3.png': '#00f', '02-dog/sticker_2.png': '#ff0' };
    for (const [rel, c] of Object.entries(colours)) writeFile(dir, `SER/Images/${rel}`, await pngBytes(c));
    const anno = (topic: string, file: string, n: number) => ({ topic, file_name: file, text: '', anno1: n, anno2: n, anno3: n, anno: n });
    const hist = (topic: string, file: string, n: number | null, caption: string) => ({
      item_id: `${topic}/${file}`,
      annotation: n === null ? {} : anno(topic, file, n),
      caption,
      image_path: `${root}/${topic}/${file}`,
    });
    const data = [
      {
        history_topic: '01-panda',
        history_item_ids: ['01-panda/sticker_1.png', '01-panda/sticker_10.png'],
        history_items_info: [hist('01-panda', 'sticker_1.png', 3, 'a panda waving'), hist('01-panda', 'sticker_10.png', null, '')],
        target_item_id: '07-cat/sticker_3.png',
        target_annotation: anno('07-cat', 'sticker_3.png', 5),
        target_caption: 'a cat crying',
        target_image_path: `${root}/07-cat/sticker_3.png`,
      },
      {
        history_topic: '02-dog',
        history_item_ids: ['02-dog/sticker_2.png'],
        history_items_info: [hist('02-dog', 'sticker_2.png', 1, 'a dog laughing')],
        target_item_id: '01-panda/sticker_1.png',
        target_annotation: anno('01-panda', 'sticker_1.png', 3),
        target_caption: 'a panda waving',
        target_image_path: `${root}/01-panda/sticker_1.png`,
      },
    ];
    const file = writeArray(dir, data, 'test.json');
    const store = Store.open(tempDir());
    await expect(importPmgBench(store, file, { name: 'ser' })).rejects.toThrow(/test\.json:2: sample 0: image \/data-nfs\/.*sticker_1\.png not found \(an absolute path written on another machine\? pass --images DIR/);
    const s = await importPmgBench(store, file, { name: 'ser', images: path.join(dir, 'SER') });
    expect(s).toMatchObject({ layout: 'ser-topic', samples: 2, users: 2, items: 4, images: 4, interactions: 3, tasks: 2, skipped: 0, textOnlyItems: 0 });
    expect(s.warnings).toEqual([
      `4 image path(s) found under ${path.join(dir, 'SER')} by their tail: dropped "/data-nfs/gpu1-1/someone/SER_Dataset", matched e.g. "Images/01-panda/sticker_1.png"`,
      'samples name a history_topic (PMG-Bench SER layout): each sticker topic is stored as a proxy user',
    ]);
    expect(historyOf(store, 'ser', '01-panda').map((h) => h.item)).toEqual(['01-panda/sticker_1.png', '01-panda/sticker_10.png']);
    const user = store.db.prepare("SELECT attributes FROM users WHERE external_id = '01-panda'").pluck().get() as string;
    expect(JSON.parse(user)).toEqual({ proxy: true, history_topic: '01-panda' });
    expect(itemOf(store, 'ser', '07-cat/sticker_3.png')).toMatchObject({
      text: 'a cat crying',
      attributes: { caption: 'a cat crying', annotation: anno('07-cat', 'sticker_3.png', 5), image_path: `${root}/07-cat/sticker_3.png` },
    });
    // An empty annotation ({}) is not stored.
    expect(itemOf(store, 'ser', '01-panda/sticker_10.png')?.attributes).not.toHaveProperty('annotation');
    const tasks = store.db.prepare('SELECT t.split, i.external_id AS ref, t.target_item_id AS target FROM tasks t JOIN items i ON i.id = t.reference_item_id ORDER BY t.id').all();
    expect(tasks).toEqual([
      { split: 'test', ref: '07-cat/sticker_3.png', target: null },
      { split: 'test', ref: '01-panda/sticker_1.png', target: null },
    ]);
    store.close();
  });

  it("accepts prepare_pog_dataset_split.py's nulls: image_path null (text-only item), target null (no task), and counts them", async () => {
    // Shaped like PMG-Bench method/data_process/prepare_pog_dataset_split.py: find_image_path()
    // returns None for items whose image was not downloaded; a one-item history has no target.
    const dir = await pmgDir();
    const data = [
      {
        user_id: '1000045',
        history_item_ids: ['i1', 'i9'],
        history_items_info: [info('i1', 'a red dress'), { item_id: 'i9', caption: '', image_path: null }],
        target_item_id: 'i3',
        target_item_info: info('i3', 'a blue skirt'),
        user_style: '',
        num_interactions: 2,
      },
      {
        user_id: '1000046',
        history_item_ids: ['i2'],
        history_items_info: [info('i2', 'a denim jacket')],
        target_item_id: null,
        target_item_info: null,
        user_style: 'casual',
        num_interactions: 1,
      },
      {
        user_id: '1000047',
        history_item_ids: ['i2'],
        history_items_info: [info('i2', 'a denim jacket')],
        target_item_id: 'i8',
        target_item_info: { item_id: 'i8', caption: 'sandals', image_path: null },
        user_style: '',
        num_interactions: 1,
      },
    ];
    const store = Store.open(tempDir());
    const s = await importPmgBench(store, writeArray(dir, data, 'train.json'), { name: 'pog' });
    expect(s).toMatchObject({ samples: 3, users: 3, items: 5, images: 3, interactions: 4, tasks: 1, skipped: 0, textOnlyItems: 2, samplesWithoutTarget: 1, targetsWithoutImage: 1 });
    expect(s.warnings).toEqual([
      '2 item(s) have no image_path (null): stored text-only',
      '1 sample(s) have no target (target_item_info null): their history is kept, no task made',
      '1 sample(s) have a target without an image: no task made (the target item is stored text-only)',
    ]);
    expect(itemOf(store, 'pog', 'i9')).toMatchObject({ image_hash: null, attributes: { image_path: null } });
    expect(historyOf(store, 'pog', '1000046').map((h) => h.item)).toEqual(['i2']);
    // target_item_id naming an item while target_item_info is null is a contradiction: a bad row.
    data[1].target_item_id = 'i5';
    await expect(importPmgBench(store, writeArray(dir, data, 'train.json'), { name: 'pog2' })).rejects.toThrow(
      /train\.json:\d+: sample 1: target_item_id is "i5" but target_item_info is null/,
    );
    store.close();
  });

  it('an empty array, or samples that are all bad under skipBad, is an error naming the file', async () => {
    const dir = await pmgDir();
    const store = Store.open(tempDir());
    await expect(importPmgBench(store, writeFile(dir, 'empty.json', '[]\n'), { name: 'p' })).rejects.toThrow(/empty\.json: nothing to import: no samples; refusing/);
    const bad = samples().map((x) => ({ ...x, user_id: undefined }));
    await expect(importPmgBench(store, writeArray(dir, bad, 'bad.json'), { name: 'p', skipBad: true })).rejects.toThrow(
      /bad\.json: nothing to import: no samples; all 3 row\(s\)/,
    );
    expect(store.listDatasets()).toEqual([]);
    store.close();
  });

  it('a GBK caption is an error naming file:line, read with encoding gbk', async () => {
    const dir = await pmgDir();
    const data = samples();
    data[2].history_items_info = [info('i6', '牛仔外套，铜扣', 'images/i2.png')];
    data[2].history_item_ids = ['i6'];
    const text = data.map((x) => JSON.stringify(x)).join('\n') + '\n';
    const file = writeFile(dir, 'gbk.jsonl', iconv.encode(text, 'gbk'));
    const store = Store.open(tempDir());
    await expect(importPmgBench(store, file, { name: 'p' })).rejects.toThrow(/gbk\.jsonl:3: not valid UTF-8/);
    const s = await importPmgBench(store, file, { name: 'p', encoding: 'gbk' });
    expect(s.tasks).toBe(3);
    expect(itemOf(store, 'p', 'i6')?.text).toBe('牛仔外套，铜扣');
    store.close();
  });
});

runImporterContract({
  name: 'pmg-bench',
  run: (store, file, options) => importPmgBench(store, file, options),
  fixtures: {
    async valid(dir, variant) {
      const colours = variant === 'a' ? { i1: '#f00', i2: '#0f0', i3: '#00f' } : { i1: '#0f0', i2: '#ff0', i3: '#0ff' };
      for (const [id, c] of Object.entries(colours)) writeFile(dir, `images/${id}.png`, await pngBytes(c));
      const users = variant === 'a' ? ['u1', 'u2'] : ['u3'];
      return writeJsonl(
        dir,
        users.map((u) => ({ user_id: u, history_item_ids: ['i1', 'i2'], history_items_info: [info('i1', 'one'), info('i2', 'two')], target_item_id: 'i3', target_item_info: info('i3', 'three'), user_style: 'bold' })),
      );
    },
    async oneBadRow(dir) {
      const input = await this.valid(dir, 'a');
      fs.appendFileSync(input, JSON.stringify({ history_items_info: [info('i1', 'one')], target_item_info: info('i3', 'three') }) + '\n');
      return { input, where: 'samples.jsonl:3' };
    },
    async nothing(dir) {
      return { input: writeFile(dir, 'test.json', '[]'), file: 'test.json' };
    },
    async legacyEncoding(dir) {
      const input = await this.valid(dir, 'a');
      const line = JSON.stringify({ user_id: 'u9', history_items_info: [info('i7', '碎花连衣裙', 'images/i1.png')], target_item_info: info('i3', 'three') });
      fs.appendFileSync(input, iconv.encode(line + '\n', 'gbk'));
      return { input, where: 'samples.jsonl:3', encoding: 'gbk', text: '碎花连衣裙' };
    },
  },
});
