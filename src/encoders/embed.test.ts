import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEmojiStyles, DEFAULT_EMOJI_BUILD } from '../data/emoji/build.js';
import { Store } from '../store/store.js';
import { EmbeddingCache } from '../store/embeddings.js';
import { embedDataset } from './embed.js';
import { FakeEncoder } from './testing/fakeEncoders.js';
import type { ImageInput } from './types.js';

let home: string;
let store: Store;
beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-embed-'));
  store = Store.open(home);
  await buildEmojiStyles(store, { ...DEFAULT_EMOJI_BUILD, users: 6, maxConcepts: 12, size: 16, historyMin: 3, historyMax: 5 });
});
afterAll(() => {
  store.close();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('embedDataset', () => {
  it('embeds every item once, encodes shared texts once, and does nothing on a second run', async () => {
    const text = new FakeEncoder<string>('text');
    const image = new FakeEncoder<ImageInput>('image');
    const first = await embedDataset(store, 'emoji-styles', { text, image, batchSize: 7 });
    expect(first.text).toMatchObject({ computed: 60, encoded: 12, cached: 0 });
    expect(first.image!.computed).toBe(60);
    expect(text.encodedInputs).toBe(12);
    const again = await embedDataset(store, 'emoji-styles', { text, image, batchSize: 7 });
    expect(again.text).toMatchObject({ computed: 0, encoded: 0, cached: 60 });
    expect(again.image).toMatchObject({ computed: 0, cached: 60 });
    expect(text.encodedInputs).toBe(12);
    const ds = store.getDataset('emoji-styles');
    const table = new EmbeddingCache(store).load(ds.id, 'text', 'fake-text');
    expect(table.vectors).toHaveLength(60);
    expect(table.vectors[0]).toHaveLength(16);
  });

  it('keeps finished batches when a run fails, and resumes from there', async () => {
    const failing = new FakeEncoder<ImageInput>('image', { modelId: 'fake-resume' });
    failing.failAfter(2);
    await expect(embedDataset(store, 'emoji-styles', { image: failing, batchSize: 5 })).rejects.toThrow(/simulated/);
    const ds = store.getDataset('emoji-styles');
    const cache = new EmbeddingCache(store);
    const saved = cache.count(ds.id, 'image', 'fake-resume');
    expect(saved).toBeGreaterThanOrEqual(10);
    expect(saved).toBeLessThan(60);
    const resumed = new FakeEncoder<ImageInput>('image', { modelId: 'fake-resume' });
    const summary = await embedDataset(store, 'emoji-styles', { image: resumed, batchSize: 5 });
    expect(summary.image!.cached).toBe(saved);
    expect(cache.count(ds.id, 'image', 'fake-resume')).toBe(60);
  });

  it('refuses vectors of another dimension under the same model id, unless rebuilt', async () => {
    const other = new FakeEncoder<string>('text', { modelId: 'fake-text', dimension: 8 });
    await expect(embedDataset(store, 'emoji-styles', { text: other })).rejects.toThrow(/dimension 16.*dimension 8.*--rebuild/);
    const rebuilt = await embedDataset(store, 'emoji-styles', { text: other, rebuild: true });
    expect(rebuilt.text).toMatchObject({ computed: 60, dimension: 8 });
  });

  it('names the item whose image cannot be encoded', async () => {
    const picky = new FakeEncoder<ImageInput>('image', { modelId: 'fake-picky' });
    const ds = store.getDataset('emoji-styles');
    const victim = store.db.prepare('SELECT external_id, image_hash FROM items WHERE dataset_id = ? ORDER BY id LIMIT 1 OFFSET 3').get(ds.id) as { external_id: string; image_hash: string };
    const original = picky.encode.bind(picky);
    picky.encode = async (inputs, options) => {
      const bad = store.images.read(victim.image_hash);
      if (inputs.some((x) => Buffer.compare(Buffer.from(x), bad) === 0)) throw new Error('image 0 could not be decoded');
      return original(inputs, options);
    };
    await expect(embedDataset(store, 'emoji-styles', { image: picky, batchSize: 8 })).rejects.toThrow(
      new RegExp(`cannot embed the image of item [^:]*${victim.external_id.replace('/', '\\/')}.*image file .*${victim.image_hash}`),
    );
  });

  it('names an unknown dataset and stops on abort', async () => {
    await expect(embedDataset(store, 'nope', { text: new FakeEncoder<string>('text') })).rejects.toThrow(/no dataset named "nope"/);
    const controller = new AbortController();
    controller.abort();
    await expect(
      embedDataset(store, 'emoji-styles', { text: new FakeEncoder<string>('text', { modelId: 'fake-abort' }), signal: controller.signal }),
    ).rejects.toThrow(/aborted/);
  });
});
