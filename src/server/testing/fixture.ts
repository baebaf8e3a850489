import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatasetView } from '../../data/access.js';
import { buildEmojiStyles, DEFAULT_EMOJI_BUILD } from '../../data/emoji/build.js';
import { embedDataset } from '../../encoders/embed.js';
import { createImageEncoder, createTextEncoder } from '../../encoders/registry.js';
import { prepareRanking, trainRankingModels } from '../../ranking/pipeline.js';
import { DEFAULT_RANKER } from '../../ranking/ranker.js';
import { SCHEMA_VERSION } from '../../store/migrations.js';
import { Store } from '../../store/store.js';

const FIXTURE = path.join(os.tmpdir(), `ragar-service-fixture-s${SCHEMA_VERSION}-v1`);

async function build(dir: string): Promise<void> {
  const store = Store.open(dir);
  try {
    await buildEmojiStyles(store, { ...DEFAULT_EMOJI_BUILD, users: 12, maxConcepts: 16, size: 32, historyMin: 6, historyMax: 8, validConcepts: 0.25, testConcepts: 0.25, validUsers: 0.25 });
    const image = await createImageEncoder({ workers: 0 });
    const text = await createTextEncoder();
    const style = await createImageEncoder({ image: 'style-stats' });
    try {
      await embedDataset(store, 'emoji-styles', { image, text });
      await embedDataset(store, 'emoji-styles', { image: style });
    } finally {
      await Promise.all([image.dispose(), text.dispose(), style.dispose()]);
    }
    await trainRankingModels(prepareRanking(DatasetView.open(store, 'emoji-styles')), dir, { models: ['bprmf', 'ranker'], ranker: { ...DEFAULT_RANKER, epochs: 1, samplesPerEpoch: 200 }, bprmf: { epochs: 2, seed: 1 } });
  } finally {
    store.close();
  }
}

/**
 * A fresh copy of a tiny emoji-styles data home (real embedded encoders, a quickly trained
 * ranker) for the service's tests. The home is built once per machine (under a lock, shared by
 * parallel test files) and copied, so each test owns its store.
 */
export async function serviceHome(): Promise<string> {
  const done = path.join(FIXTURE, '.complete');
  if (!fs.existsSync(done)) {
    const lock = `${FIXTURE}.lock`;
    for (;;) {
      try {
        fs.mkdirSync(lock);
        break;
      } catch {
        if (fs.existsSync(done)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    try {
      if (!fs.existsSync(done)) {
        fs.rmSync(FIXTURE, { recursive: true, force: true });
        await build(FIXTURE);
        fs.writeFileSync(done, 'ok\n');
      }
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-service-'));
  fs.cpSync(FIXTURE, copy, { recursive: true, filter: (src) => !src.endsWith('.complete') });
  return copy;
}
