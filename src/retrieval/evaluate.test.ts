import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetView } from '../data/access.js';
import { buildEmojiStyles, DEFAULT_EMOJI_BUILD } from '../data/emoji/build.js';
import { embedDataset } from '../encoders/embed.js';
import { FakeEncoder } from '../encoders/testing/fakeEncoders.js';
import type { ImageInput } from '../encoders/types.js';
import { buildPreference } from '../preference/build.js';
import { loadDatasetVectors } from './vectors.js';
import { Store } from '../store/store.js';
import { evaluateEmojiRetrieval } from './evaluate.js';

let home: string;
let store: Store;
beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-reval-'));
  store = Store.open(home);
  await buildEmojiStyles(store, { ...DEFAULT_EMOJI_BUILD, users: 80, maxConcepts: 200, size: 8, historyMin: 15, historyMax: 30, overrideRate: 0.7 });
  // A text encoder that only sees the subgroup: items of one group land close together,
  // as a good text encoder would place them. Images: random per picture.
  const text = new FakeEncoder<string>('text', { modelId: 'use-fake', keyOf: (t) => /\(([^)]*)\)/.exec(t)?.[1].split(' ')[0] ?? t });
  const image = new FakeEncoder<ImageInput>('image', { modelId: 'mobilenetv2-fake' });
  await embedDataset(store, 'emoji-styles', { text, image });
});
afterAll(() => {
  store.close();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('retrieval evaluation on emoji-styles', () => {
  it('finds the group-specific taste more often with retrieval weights than with equal pooling', () => {
    const view = DatasetView.open(store, 'emoji-styles');
    const vectors = loadDatasetVectors(view, { image: 'mobilenet', text: 'use' });
    const r = evaluateEmojiRetrieval(view, vectors, 'test');
    expect(r.retrieval.tasks).toBeGreaterThan(10);
    expect(r.retrieval.styleMatch).toBeGreaterThan(r.uniform.styleMatch + 0.1);
    expect(r.uniform.params).toEqual({ alpha: 0.5, k: 'all', tau: 'inf' });
    expect(r.tuning.split).toBe('valid');
  });

  it('builds a preference whose weights sum to 1 and favour the reference group', () => {
    const view = DatasetView.open(store, 'emoji-styles');
    const vectors = loadDatasetVectors(view, { image: 'mobilenet', text: 'use' });
    const task = view.tasks('test')[0];
    const pref = buildPreference(view, vectors, task.userExternalId, task.referenceItemId, { alpha: 0, k: 5, tau: 0.05 }, { keywords: 4 });
    const total = pref.history.reduce((s, h) => s + h.weight, 0);
    expect(total).toBeCloseTo(1, 6);
    expect(pref.history.filter((h) => h.weight > 0).length).toBeLessThanOrEqual(5);
    expect(pref.keywords.length).toBeLessThanOrEqual(4);
    expect(pref.visual!.vector).toHaveLength(16);
    const uniform = buildPreference(view, vectors, task.userExternalId, task.referenceItemId, { alpha: 0, k: 5, tau: 0.05 }, { weighting: 'uniform' });
    expect(new Set(uniform.history.map((h) => h.weight.toFixed(12))).size).toBe(1);
    expect(() => buildPreference(view, vectors, 'nobody', task.referenceItemId, { alpha: 0, k: 5, tau: 1 })).toThrow(/no user "nobody"/);
    expect(() => buildPreference(view, vectors, task.userExternalId, 'no-such-item', { alpha: 0, k: 5, tau: 1 })).toThrow(/no item "no-such-item"/);
  });
});
