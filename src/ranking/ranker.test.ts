import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { l2normalize } from '../encoders/types.js';
import { Rng } from '../util/rng.js';
import { contentFeatures } from './content.js';
import { UsearchIndex } from '../retrieval/usearchIndex.js';
import { readTensorBundle } from '../util/tensorBundle.js';
import { DEFAULT_RANKER, loadRanker, RANKER_FILE, saveRanker, trainRanker, type RankerMeta } from './ranker.js';
import type { RankingData, RankingUser } from './types.js';

/**
 * Planted data: items are (concept, style); image features = style direction + concept noise,
 * text features = the concept's group direction. Each user prefers one style per group.
 */
function planted(seed: number) {
  const rng = new Rng(seed);
  const styles = 3;
  const groups = 2;
  const concepts = 24;
  const imageDim = 12;
  const textDim = 6;
  const styleDir = Array.from({ length: styles }, () => Float32Array.from({ length: imageDim }, () => rng.normal()));
  const groupDir = Array.from({ length: groups }, () => Float32Array.from({ length: textDim }, () => rng.normal()));
  const itemIds: number[] = [];
  const image = new Map<number, Float32Array>();
  const text = new Map<number, Float32Array>();
  const meta: { concept: number; style: number; group: number }[] = [];
  for (let c = 0; c < concepts; c++) {
    const group = c % groups;
    const conceptNoise = Float32Array.from({ length: imageDim }, () => rng.normal() * 1.5);
    const t = l2normalize(Float32Array.from(groupDir[group], (x) => x + rng.normal() * 0.3));
    for (let s = 0; s < styles; s++) {
      const id = itemIds.length;
      itemIds.push(id);
      image.set(id, l2normalize(Float32Array.from(styleDir[s], (x, i) => x + conceptNoise[i])));
      text.set(id, t);
      meta.push({ concept: c, style: s, group });
    }
  }
  const users: RankingUser[] = [];
  const taste: number[][] = [];
  for (let u = 0; u < 80; u++) {
    const pref = Array.from({ length: groups }, () => rng.int(styles));
    taste.push(pref);
    const seen = rng.shuffle(Array.from({ length: concepts }, (_, c) => c)).slice(0, 12);
    const history = seen.map((c) => c * styles + pref[c % groups]);
    users.push({ userId: u, externalId: `u${u}`, split: u < 60 ? 'train' : 'valid', history, heldOut: [] });
  }
  const data: RankingData = {
    itemIds,
    itemIndex: new Map(itemIds.map((id, i) => [id, i])),
    users,
    trainInteractions: users.flatMap((u, ui) => u.history.map((item) => ({ user: ui, item }))),
    numItems: itemIds.length,
  };
  const siblings = meta.map((m) => meta.flatMap((o, i) => (o.concept === m.concept ? [i] : [])));
  return { data, features: contentFeatures(itemIds, image, text), meta, taste, siblings, styles };
}

describe('content ranker', () => {
  it('asks its attention of vector indexes with the same result as in memory (ties, missing modalities, both indexes)', async () => {
    const p = planted(5);
    // drop the text of some items and the image of others, so every attention branch runs
    const image = new Map<number, Float32Array>();
    const text = new Map<number, Float32Array>();
    p.data.itemIds.forEach((id, i) => {
      if (i % 5 !== 0) image.set(id, p.features.image.slice(i * 12, (i + 1) * 12));
      if (i % 4 !== 1) text.set(id, p.features.text.slice(i * 6, (i + 1) * 6));
    });
    const { contentFeatures: build } = await import('./content.js');
    const features = build(p.data.itemIds, image, text);
    const rng = new Rng(9);
    for (const attentionTau of [Infinity, 0.1]) {
      const { ranker } = await trainRanker(p.data, features, { ...DEFAULT_RANKER, dimension: 4, epochs: 1, attentionK: 3, attentionTau });
      for (const create of [undefined, (d: number, m: 'cosine' | 'ip') => new UsearchIndex(d, m, { exactBelow: 0 })]) {
        for (const base of p.data.users.slice(0, 25)) {
          // the same concept in two styles: equal text similarities, so the tie order matters
          const user = { ...base, history: base.history.flatMap((h) => [h, h - (h % 3) + ((h + 1) % 3)]) };
          const hist = ranker.historyOf(user);
          const indexes = await ranker.historyIndexes(hist, create);
          for (let t = 0; t < 4; t++) {
            const i = rng.int(p.data.numItems);
            const img = features.hasImage[i] ? features.image.subarray(i * 12, (i + 1) * 12) : null;
            const txt = features.hasText[i] ? features.text.subarray(i * 6, (i + 1) * 6) : null;
            for (const cold of [{ image: img, text: txt }, { image: img, text: null }, { image: null, text: txt }]) {
              const want = ranker.attention(cold, hist);
              const got = await ranker.attentionFromIndex(cold, indexes);
              expect(got.idx).toEqual(want.idx);
              got.a.forEach((x, k) => expect(x).toBeCloseTo(want.a[k], 9));
              expect(got.m).toBeCloseTo(want.m, 9);
              expect(await ranker.scoreColdFromIndex(user, cold, indexes)).toBeCloseTo(ranker.scoreOne(user, -1, cold), 6);
            }
          }
        }
      }
    }
  });

  it('learns group-dependent style taste from behaviour and scores unseen renditions by content', async () => {
    const p = planted(7);
    const { ranker, lossCurve } = await trainRanker(p.data, p.features, { ...DEFAULT_RANKER, dimension: 8, epochs: 15, learningRate: 0.02, useIds: false }, { siblings: p.siblings });
    expect(lossCurve[lossCurve.length - 1]).toBeLessThan(lossCurve[0]);
    // Pairwise: for each user and each concept, the rendition in the user's taste vs the others, scored cold (content only).
    let win = 0;
    let total = 0;
    p.data.users.forEach((u, ui) => {
      for (let c = 0; c < 24; c++) {
        const target = c * p.styles + p.taste[ui][c % 2];
        const cold = (i: number) => ({ image: p.features.image.subarray(i * 12, (i + 1) * 12), text: p.features.text.subarray(i * 6, (i + 1) * 6) });
        const st = ranker.scoreOne(u, -1, cold(target));
        for (let s = 0; s < p.styles; s++) {
          const other = c * p.styles + s;
          if (other === target) continue;
          total++;
          if (st > ranker.scoreOne(u, -1, cold(other))) win++;
        }
      }
    });
    expect(win / total).toBeGreaterThan(0.8);
  });

  it('saves and loads, refusing a model of another dataset', async () => {
    const p = planted(3);
    const { ranker } = await trainRanker(p.data, p.features, { ...DEFAULT_RANKER, dimension: 4, epochs: 1 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-ranker-'));
    const meta = {
      format: 'ragar-ranker-v1',
      dataset: 'planted',
      datasetFingerprint: 'abc',
      imageModel: null,
      textModel: null,
      imageDim: 12,
      textDim: 6,
      numUsers: p.data.users.length,
      numItems: p.data.numItems,
      options: { ...ranker.options, attentionTau: 'inf' },
      protocol: 'test',
      epochsRun: 1,
      bestEpoch: 1,
      validCurve: [],
      lossCurve: [],
      secondsPerEpoch: [],
      trainSeconds: 0,
      createdAt: '',
    } satisfies RankerMeta;
    saveRanker(dir, ranker, meta);
    const loaded = loadRanker(dir, p.features, { dataset: 'planted', fingerprint: 'abc' }).ranker;
    expect(loaded.scoreItems(p.data.users[0], 0)).toEqual(ranker.scoreItems(p.data.users[0], 0));
    expect(() => loadRanker(dir, p.features, { dataset: 'other', fingerprint: 'abc' })).toThrow(/trained on dataset planted/);
    expect(fs.readdirSync(dir)).toEqual([RANKER_FILE]);
    // A ranker saved in the two-file layout of earlier versions still loads.
    const { meta: m, tensors } = readTensorBundle<RankerMeta>(path.join(dir, RANKER_FILE), 'ragar-ranker-v1');
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(m));
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(['w', 'q', 'userEmb', 'itemEmb', 'itemBias', 'beta'].map((n) => Buffer.from(tensors[n].buffer))));
    fs.rmSync(path.join(dir, RANKER_FILE));
    expect(loadRanker(dir, p.features, { dataset: 'planted', fingerprint: 'abc' }).ranker.scoreItems(p.data.users[0], 0)).toEqual(ranker.scoreItems(p.data.users[0], 0));
    // A corrupted bundle is refused by its checksum.
    saveRanker(dir, ranker, meta);
    const bytes = fs.readFileSync(path.join(dir, RANKER_FILE));
    bytes[bytes.length - 1] ^= 0x40;
    fs.writeFileSync(path.join(dir, RANKER_FILE), bytes);
    expect(() => loadRanker(dir, p.features, { dataset: 'planted', fingerprint: 'abc' })).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
