/**
 * Test helper: build a tiny emoji-styles data home in `dir` with the real embedded encoders (the
 * library's defaults: MobileNetV2, USE, style statistics) and a quickly trained ranker (BPR-MF
 * warm start, one short ranker epoch), as the API and service tests need.
 *
 * @example
 * await buildTinyEmojiHome(home, { users: 16, maxConcepts: 24, historyMax: 10 });
 */
import { DatasetView } from '../data/access.js';
import { buildEmojiStyles, DEFAULT_EMOJI_BUILD } from '../data/emoji/build.js';
import { embedDataset } from '../encoders/embed.js';
import { createImageEncoder, createTextEncoder } from '../encoders/registry.js';
import { Store } from '../store/store.js';
import { prepareRanking, trainRankingModels } from './pipeline.js';
import { DEFAULT_RANKER } from './ranker.js';

/** Build, embed and train the ranker of a tiny emoji-styles home (32 px renditions). */
export async function buildTinyEmojiHome(dir: string, size: { users: number; maxConcepts: number; historyMax: number }): Promise<void> {
  const store = Store.open(dir);
  try {
    await buildEmojiStyles(store, { ...DEFAULT_EMOJI_BUILD, users: size.users, maxConcepts: size.maxConcepts, size: 32, historyMin: 6, historyMax: size.historyMax, validConcepts: 0.25, testConcepts: 0.25, validUsers: 0.25 });
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
