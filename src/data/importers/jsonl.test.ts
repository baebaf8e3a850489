import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { BadRowPolicy, InputError } from '../../util/errors.js';
import iconv from 'iconv-lite';
import { runImporterContract } from './contract.testing.js';
import { compareIds, describeJsonError, parseJsonLines } from './json.js';
import { defaultJsonlName, importJsonl } from './jsonl.js';
import { countOf, garbageBytes, historyOf, itemOf, pngBytes, snapshot, tempDir, writeFile } from './testing/fixtures-a.js';

const LINES = [
  '# ragar JSONL: interactions may come before the items they use',
  '{"type": "interaction", "user": "u1", "item": "b", "ts": 20, "rating": 4}',
  '{"type": "interaction", "user": "u1", "item": "a", "ts": 10}',
  '{"type": "item", "id": "a", "title": "Red apple", "text": "a red apple, flat style", "tags": ["fruit", "red"], "group": "food", "subgroup": "fruit", "concept": "apple", "style": "flat", "image": "img/a.png", "attributes": {"source": "test"}}',
  '{"type": "item", "id": "b", "title": "Green pear", "image": "img/b.png"}',
  '',
  '{"type": "item", "id": "c", "title": "Cat"}',
  '{"type": "item", "id": 7, "title": "Seven"}',
  '{"type": "user", "id": "u2", "attributes": {"age": 31}, "split": "test"}',
  '{"type": "interaction", "user": "u2", "item": "c"}',
  '{"type": "interaction", "user": "u2", "item": 7}',
  '{"type": "interaction", "user": "u1", "item": "c", "ts": 10}',
  '{"type": "task", "id": "t1", "user": "u1", "reference": "c", "target": "a", "split": "valid"}',
  '{"type": "task", "user": "u2", "reference": "a"}',
];

async function jsonlDir(lines = LINES, name = 'data.jsonl'): Promise<{ dir: string; file: string }> {
  const dir = tempDir();
  writeFile(dir, 'img/a.png', await pngBytes('#f00'));
  writeFile(dir, 'img/b.png', await pngBytes('#0f0'));
  return { dir, file: writeFile(dir, name, lines.join('\n') + '\n') };
}

function tasksOf(store: Store): { id: string; user: string; reference: string; target: string | null; split: string }[] {
  return store.db
    .prepare(
      `SELECT t.external_id AS id, u.external_id AS user, r.external_id AS reference, g.external_id AS target, t.split
       FROM tasks t JOIN users u ON u.id = t.user_id JOIN items r ON r.id = t.reference_item_id
       LEFT JOIN items g ON g.id = t.target_item_id ORDER BY t.id`,
    )
    .all() as { id: string; user: string; reference: string; target: string | null; split: string }[];
}

describe('importJsonl', () => {
  it('imports items (after their interactions), users, time-ordered histories, tasks and splits', async () => {
    const { file } = await jsonlDir();
    const store = Store.open(tempDir());
    const s = await importJsonl(store, file, { name: '' });
    expect(s).toMatchObject({ dataset: 'data', kind: 'jsonl', users: 2, items: 4, interactions: 5, tasks: 2, images: 2, skipped: 0 });

    // (ts, line): a@10 (line 3), c@10 (line 12), b@20 (line 2).
    expect(historyOf(store, 'data', 'u1').map((h) => [h.item, h.ts, h.rating])).toEqual([
      ['a', 10, null],
      ['c', 10, null],
      ['b', 20, 4],
    ]);
    // ts defaults to the line number.
    expect(historyOf(store, 'data', 'u2').map((h) => [h.item, h.ts])).toEqual([
      ['c', 10],
      ['7', 11],
    ]);
    expect(itemOf(store, 'data', 'a')).toMatchObject({
      title: 'Red apple',
      text: 'a red apple, flat style',
      tags: ['fruit', 'red'],
      grp: 'food',
      attributes: { source: 'test' },
    });
    expect(itemOf(store, 'data', 'a')?.image_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(itemOf(store, 'data', 'b')).toMatchObject({ text: 'Green pear', tags: [], grp: null });
    expect(itemOf(store, 'data', 'c')?.image_hash).toBeNull();
    const row = store.db.prepare("SELECT subgroup, concept, style FROM items WHERE external_id = 'a'").get();
    expect(row).toEqual({ subgroup: 'fruit', concept: 'apple', style: 'flat' });

    const u2 = store.db.prepare("SELECT attributes FROM users WHERE external_id = 'u2'").get() as { attributes: string };
    expect(JSON.parse(u2.attributes)).toEqual({ age: 31 });
    const splits = Object.fromEntries(
      (store.db.prepare("SELECT key, split FROM splits WHERE entity = 'user'").all() as { key: string; split: string }[]).map((r) => [r.key, r.split]),
    );
    expect(Object.keys(splits).sort()).toEqual(['u1', 'u2']);
    expect(splits.u2).toBe('test');
    expect(tasksOf(store)).toEqual([
      { id: 't1', user: 'u1', reference: 'c', target: 'a', split: 'valid' },
      { id: 'line-14', user: 'u2', reference: 'a', target: null, split: 'test' },
    ]);
    const ds = store.getDataset('data');
    expect(ds.kind).toBe('jsonl');
    expect(ds.source).toBe(path.resolve(file));
    store.close();
  });

  it('derives the default dataset name from the file name', () => {
    expect(defaultJsonlName('/x/My Set.v2.jsonl')).toBe('My-Set.v2');
    expect(defaultJsonlName('data.ndjson')).toBe('data');
    expect(defaultJsonlName('__.jsonl')).toBe('jsonl');
    expect(defaultJsonlName('x'.repeat(80) + '.jsonl')).toHaveLength(64);
  });

  it('has helpers that behave', () => {
    expect(['10', 'b', '9', 'a', '010'].sort(compareIds)).toEqual(['9', '010', '10', 'a', 'b']);
    const bad = new BadRowPolicy(true);
    expect(parseJsonLines('\uFEFF{"a":1}\r\n\n# c\n{oops}\n', 'f.jsonl', bad)).toEqual([{ line: 1, value: { a: 1 } }]);
    expect(bad.skipped[0].message).toMatch(/^f\.jsonl:4: malformed JSON \(.* at column 2\)$/);
    let err: unknown;
    try {
      JSON.parse('[1,\n2,');
    } catch (e) {
      err = e;
    }
    expect(describeJsonError(err, '[1,\n2,')).toMatchObject({ line: 2, message: 'unexpected end of input; is the file truncated?' });
    const cases: [string, number, number][] = [
      ['[\n  {"a": 1},\n  {"b": oops}\n]', 3, 9],
      ['{"a": tru}', 1, 7],
      ['[1, 2]]', 1, 7],
      ['{"a": "x\\q"}', 1, 10],
      ['['.repeat(5000) + ' x', 1, 5002],
    ];
    for (const [text, line, column] of cases) {
      let e: unknown;
      try {
        JSON.parse(text);
      } catch (x) {
        e = x;
      }
      expect(describeJsonError(e, text), text).toMatchObject({ line, column });
    }
    expect(describeJsonError(new Error('Unterminated string in JSON at position 4'), '"abc').message).toMatch(/truncated/);
  });

  // `at`: where the error is reported when that is not the changed line (a second occurrence).
  const badCases: { what: string; line: number; content: string; reason: RegExp; skipped?: number; at?: number }[] = [
    { what: 'malformed JSON', line: 7, content: '{"type": "item", "id": "c", "title": "Cat"', reason: /malformed JSON/, skipped: 4 },
    { what: 'a non-object line', line: 6, content: '[1, 2]', reason: /expected a JSON object/ },
    { what: 'a missing type', line: 6, content: '{"id": "z"}', reason: /missing "type"/ },
    { what: 'an unknown type', line: 6, content: '{"type": "rating", "id": "z"}', reason: /unknown type "rating"/ },
    { what: 'an unknown field', line: 6, content: '{"type": "item", "id": "z", "titel": "Zebra"}', reason: /unknown field\(s\) "titel" for type item/ },
    { what: 'a duplicate item id', line: 6, content: '{"type": "item", "id": "c", "title": "Dog"}', reason: /duplicate item id "c" \(first defined at line 6\)/, at: 7 },
    { what: 'an item without id', line: 6, content: '{"type": "item", "title": "Dog"}', reason: /missing "id"/ },
    { what: 'tags that are not strings', line: 6, content: '{"type": "item", "id": "z", "tags": [1]}', reason: /"tags" must be an array of strings/ },
    { what: 'an interaction with an unknown item', line: 6, content: '{"type": "interaction", "user": "u1", "item": "zzz"}', reason: /unknown item "zzz"/ },
    { what: 'a non-numeric ts', line: 6, content: '{"type": "interaction", "user": "u1", "item": "a", "ts": "yesterday"}', reason: /"ts" must be a number, got "yesterday"/ },
    { what: 'a non-numeric rating', line: 6, content: '{"type": "interaction", "user": "u1", "item": "a", "rating": "good"}', reason: /"rating" must be a number/ },
    { what: 'an interaction without user', line: 6, content: '{"type": "interaction", "item": "a"}', reason: /missing "user"/ },
    { what: 'a task with an unknown reference', line: 6, content: '{"type": "task", "user": "u1", "reference": "nope"}', reason: /task "line-6": unknown item "nope"/ },
    { what: 'a duplicate task id', line: 6, content: '{"type": "task", "id": "t1", "user": "u1", "reference": "a"}', reason: /duplicate task id "t1" \(first defined at line 6\)/, at: 13 },
    { what: 'a bad split', line: 6, content: '{"type": "user", "id": "u3", "split": "holdout"}', reason: /"split" must be train, valid or test/ },
    { what: 'a duplicate user', line: 6, content: '{"type": "user", "id": "u2"}', reason: /duplicate user id "u2" \(first defined at line 6\)/, at: 9 },
    { what: 'a missing image', line: 6, content: '{"type": "item", "id": "z", "image": "img/none.png"}', reason: /image .*none\.png not found/ },
  ];

  for (const c of badCases) {
    it(`${c.what}: fails naming data.jsonl:${c.line}, or is skipped and counted`, async () => {
      const lines = [...LINES];
      lines[c.line - 1] = c.content;
      const { file } = await jsonlDir(lines);
      const store = Store.open(tempDir());
      const err = await importJsonl(store, file, { name: 'd' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      const at = c.at ?? c.line;
      expect((err as Error).message).toContain(`data.jsonl:${at}: `);
      expect((err as Error).message).toMatch(c.reason);
      expect(store.listDatasets()).toEqual([]);
      const s = await importJsonl(store, file, { name: 'd', skipBad: true });
      expect(s.skipped).toBe(c.skipped ?? 1);
      expect(s.skippedExamples[0]).toContain(`data.jsonl:${at}: `);
      store.close();
    });
  }

  it('a corrupt image names the file; with skipBad the item and the lines that use it are skipped', async () => {
    const { dir, file } = await jsonlDir();
    writeFile(dir, 'img/b.png', garbageBytes());
    const store = Store.open(tempDir());
    const before = snapshot(store);
    const err = await importJsonl(store, file, { name: 'd' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/data\.jsonl:5: image .*img\/b\.png is corrupt or not an image/);
    expect(snapshot(store)).toEqual(before);
    const s = await importJsonl(store, file, { name: 'd', skipBad: true });
    expect(s).toMatchObject({ items: 3, images: 1, interactions: 4, skipped: 2 });
    expect(s.skippedExamples[1]).toBe(`${file}:2: item "b" was skipped (bad item at line 5)`);
    store.close();
  });

  it('a truncated file gives a clear error on its last line', async () => {
    const text = LINES.join('\n');
    const { file } = await jsonlDir([text.slice(0, text.length - 15)], 'cut.jsonl');
    const store = Store.open(tempDir());
    await expect(importJsonl(store, file, { name: 'd' })).rejects.toThrow(/cut\.jsonl:14: malformed JSON \(.*truncated/);
    await expect(importJsonl(store, file + '.missing', { name: 'd' })).rejects.toThrow(/file not found/);
    store.close();
  });

  it('a failed import leaves the store unchanged; names conflict unless replace', async () => {
    const store = Store.open(tempDir());
    const first = await jsonlDir();
    await importJsonl(store, first.file, { name: 'other' });
    const before = snapshot(store);

    // New images are stored, then the last line fails.
    const dir = tempDir();
    writeFile(dir, 'img/a.png', await pngBytes('#123'));
    writeFile(dir, 'img/b.png', await pngBytes('#456'));
    const file = writeFile(dir, 'data.jsonl', [...LINES, '{"type": "task", "user": "u1", "reference": "missing"}'].join('\n'));
    await expect(importJsonl(store, file, { name: 'd' })).rejects.toThrow(/data\.jsonl:15: task "line-15": unknown item "missing"/);
    expect(snapshot(store)).toEqual(before);
    await expect(importJsonl(store, file, { name: 'other', replace: true })).rejects.toThrow(/unknown item "missing"/);
    expect(snapshot(store)).toEqual(before);

    const ok = writeFile(dir, 'ok.jsonl', LINES.slice(0, 8).join('\n'));
    await expect(importJsonl(store, ok, { name: 'other' })).rejects.toThrow(/already exists/);
    expect(snapshot(store)).toEqual(before);
    const s = await importJsonl(store, ok, { name: 'other', replace: true });
    expect(s).toMatchObject({ items: 4, interactions: 2, tasks: 0 });
    expect(countOf(store, 'other', 'interactions')).toBe(2);
    expect(store.listDatasets().map((d) => d.name)).toEqual(['other']);
    store.close();
  });
});

describe('importJsonl: encodings, empty files and image paths from another machine', () => {
  it('a latin-1 line is an error naming file:line, decoded with encoding latin1', async () => {
    const dir = tempDir();
    const file = writeFile(
      dir,
      'latin.jsonl',
      Buffer.concat([
        Buffer.from('{"type": "item", "id": "a", "title": "apple"}\n'),
        iconv.encode('{"type": "item", "id": "b", "title": "Crème brûlée"}\n', 'latin1'),
        Buffer.from('{"type": "interaction", "user": "u1", "item": "b"}\n'),
      ]),
    );
    const store = Store.open(tempDir());
    await expect(importJsonl(store, file, { name: 'd' })).rejects.toThrow(/latin\.jsonl:2: not valid UTF-8 \(byte 0xE8 at byte column 41\); .*--encoding/);
    await expect(importJsonl(store, file, { name: 'd', skipBad: true })).rejects.toThrow(/latin\.jsonl:2: not valid UTF-8/);
    expect(store.listDatasets()).toEqual([]);
    const s = await importJsonl(store, file, { name: 'd', encoding: 'latin1' });
    expect(s).toMatchObject({ items: 2, interactions: 1 });
    expect(itemOf(store, 'd', 'b')?.title).toBe('Crème brûlée');
    store.close();
  });

  it('an empty file, or one whose every line is bad, is an error naming it, not an empty dataset', async () => {
    const dir = tempDir();
    const store = Store.open(tempDir());
    const empty = writeFile(dir, 'empty.jsonl', '');
    await expect(importJsonl(store, empty, { name: 'd' })).rejects.toThrow(/empty\.jsonl: nothing to import: no items; refusing to create an empty dataset/);
    const comments = writeFile(dir, 'comments.jsonl', '# nothing here yet\n\n');
    await expect(importJsonl(store, comments, { name: 'd' })).rejects.toThrow(/comments\.jsonl: nothing to import/);
    const allBad = writeFile(dir, 'bad.jsonl', '{"type": "item"}\n{"type": "itme", "id": "a"}\n');
    await expect(importJsonl(store, allBad, { name: 'd', skipBad: true })).rejects.toThrow(
      /bad\.jsonl: nothing to import: no items; all 2 row\(s\) .*skipped \(first: .*bad\.jsonl:1: missing "id"\)/,
    );
    expect(store.listDatasets()).toEqual([]);
    store.close();
  });

  it('re-roots absolute image paths from another machine with images, saying what matched', async () => {
    const dir = tempDir();
    writeFile(dir, 'local/pics/fruit/a.png', await pngBytes('#f00'));
    writeFile(dir, 'local/pics/fruit/b.png', await pngBytes('#0f0'));
    const file = writeFile(
      dir,
      'data.jsonl',
      [
        '{"type": "item", "id": "a", "title": "apple", "image": "/home/alice/datasets/pics/fruit/a.png"}',
        '{"type": "item", "id": "b", "title": "pear", "image": "/home/alice/datasets/pics/fruit/b.png"}',
        '{"type": "interaction", "user": "u1", "item": "a"}',
      ].join('\n') + '\n',
    );
    const store = Store.open(tempDir());
    await expect(importJsonl(store, file, { name: 'd' })).rejects.toThrow(
      /data\.jsonl:1: image \/home\/alice\/datasets\/pics\/fruit\/a\.png not found \(an absolute path written on another machine\? pass --images DIR/,
    );
    // Under skip-bad nothing would be left: an error, not an empty dataset with exit 0.
    await expect(importJsonl(store, file, { name: 'd', skipBad: true })).rejects.toThrow(/nothing to import: no items/);
    await expect(importJsonl(store, file, { name: 'd', images: path.join(dir, 'nope') })).rejects.toThrow(/nope: images folder \(--images\) not found/);
    const s = await importJsonl(store, file, { name: 'd', images: path.join(dir, 'local') });
    expect(s).toMatchObject({ items: 2, images: 2, skipped: 0 });
    expect(s.warnings).toEqual([
      `2 image path(s) found under ${path.join(dir, 'local')} by their tail: dropped "/home/alice/datasets", matched e.g. "pics/fruit/a.png"`,
    ]);
    expect(itemOf(store, 'd', 'b')?.image_hash).toMatch(/^[0-9a-f]{64}$/);
    // A tail that is nowhere under the folder is still a bad row naming both.
    const other = writeFile(dir, 'other.jsonl', '{"type": "item", "id": "z", "image": "/mnt/x/zebra.png"}\n');
    await expect(importJsonl(store, other, { name: 'e', images: path.join(dir, 'local') })).rejects.toThrow(
      /other\.jsonl:1: image \/mnt\/x\/zebra\.png not found, nor any tail of it under .*local/,
    );
    store.close();
  });
});

runImporterContract({
  name: 'jsonl',
  run: (store, file, options) => importJsonl(store, file, options),
  fixtures: {
    async valid(dir, variant) {
      const [first, second] = variant === 'a' ? ['#f00', '#0f0'] : ['#0f0', '#00f'];
      writeFile(dir, 'img/x.png', await pngBytes(first));
      writeFile(dir, 'img/y.png', await pngBytes(second));
      const users = variant === 'a' ? ['u1', 'u2'] : ['u3'];
      return writeFile(
        dir,
        'data.jsonl',
        [
          '{"type": "item", "id": "x", "title": "first", "image": "img/x.png"}',
          '{"type": "item", "id": "y", "title": "second", "image": "img/y.png"}',
          ...users.map((u) => `{"type": "interaction", "user": "${u}", "item": "x"}`),
        ].join('\n') + '\n',
      );
    },
    async oneBadRow(dir) {
      const input = await this.valid(dir, 'a');
      fs.appendFileSync(input, '{"type": "interaction", "item": "x"}\n');
      return { input, where: 'data.jsonl:5' };
    },
    async nothing(dir) {
      return { input: writeFile(dir, 'nothing.jsonl', '{"type": "item", "id": ""}\n{"type": "item"}\n'), file: 'nothing.jsonl' };
    },
    async legacyEncoding(dir) {
      const input = await this.valid(dir, 'a');
      fs.appendFileSync(input, iconv.encode('{"type": "item", "id": "z", "title": "Crème"}\n', 'latin1'));
      return { input, where: 'data.jsonl:5', encoding: 'latin1', text: 'Crème' };
    },
  },
});
