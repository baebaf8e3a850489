/**
 * `ragar eval --prepare`: bring a data home to the state the evaluation needs, doing only what is
 * missing, so that `ragar eval --prepare` works from a fresh clone:
 *
 * 1. build emoji-styles with its defaults (only that benchmark can be built; others are imported);
 * 2. embed its items with MobileNetV2, USE and the style statistics (cached vectors are kept);
 * 3. tune the retrieval settings on the valid split (`retrieval.json`), as `ragar demo` does;
 * 4. train the ranker (BPR-MF warm start, then the multimodal ranker), as `ragar demo` does;
 * 5. train the image–text joint space (`ragar train joint` with its defaults), for CS and Hist-CS.
 *
 * Generator weights are not trained here (that takes the better part of an hour on two cores):
 * the shipped ones are used unless `ragar train generator` wrote others into the data home.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DatasetView } from '../data/access.js';
import { DEFAULT_EMOJI_BUILD, buildEmojiStyles } from '../data/emoji/build.js';
import { EmbeddingCache } from '../store/embeddings.js';
import { embedDataset } from '../encoders/embed.js';
import { DEFAULT_JOINT, jointSpaceFile } from '../encoders/joint.js';
import { MOBILENET_MODEL_ID } from '../encoders/mobilenet.js';
import { createImageEncoder, createTextEncoder } from '../encoders/registry.js';
import { STYLE_STATS_MODEL_ID } from '../encoders/styleStats.js';
import { jointSpaceDir, trainJointForDataset } from '../encoders/trainJoint.js';
import type { ImageEncoder, TextEncoder } from '../encoders/types.js';
import { USE_MODEL_ID } from '../encoders/use.js';
import { generationSetupFrom } from './setup.js';
import { prepareRanking, trainRankingModels } from '../ranking/pipeline.js';
import { DEFAULT_RANKER } from '../ranking/ranker.js';
import { saveTunedFromEvaluation, tunedRetrievalPath } from '../retrieval/tuned.js';
import { loadDatasetVectors } from '../retrieval/vectors.js';
import type { Store } from '../store/store.js';
import { RagarError } from '../util/errors.js';
import { silentProgress, type Progress } from '../util/progress.js';
import { evaluateEmojiRetrieval } from '../retrieval/evaluate.js';

/** What {@link prepareEvaluation} did, step by step (`'done'` = already there). */
export interface PreparationSummary {
  dataset: 'built' | 'done';
  embeddings: 'computed' | 'done';
  retrieval: 'tuned' | 'done';
  ranker: 'trained' | 'done';
  joint: 'trained' | 'done';
  seconds: number;
}

/**
 * Do whatever is missing for `ragar eval` on `dataset` (see the module comment).
 *
 * @throws RagarError (`NOT_FOUND`) for a missing dataset other than emoji-styles (it cannot be built here).
 * @example
 * const done = await prepareEvaluation(store, 'emoji-styles', { progress, note });
 * done.ranker; // 'trained' on a fresh home, 'done' afterwards
 */
export async function prepareEvaluation(
  store: Store,
  dataset: string,
  options: { progress?: Progress; note?: (line: string) => void; workers?: number; signal?: AbortSignal } = {},
): Promise<PreparationSummary> {
  const started = performance.now();
  const progress = options.progress ?? silentProgress;
  const note = options.note ?? (() => {});
  const summary: PreparationSummary = { dataset: 'done', embeddings: 'done', retrieval: 'done', ranker: 'done', joint: 'done', seconds: 0 };

  if (!store.findDataset(dataset)) {
    if (dataset !== DEFAULT_EMOJI_BUILD.name) throw new RagarError(`no dataset named ${JSON.stringify(dataset)} in ${store.home}; --prepare can only build ${DEFAULT_EMOJI_BUILD.name} (import others with \`ragar dataset import\`)`, 'NOT_FOUND');
    note(`building ${dataset} with default settings into ${store.home} …`);
    await buildEmojiStyles(store, DEFAULT_EMOJI_BUILD, progress);
    summary.dataset = 'built';
  }

  const ds = store.getDataset(dataset);
  const cache = new EmbeddingCache(store);
  const missing = (field: 'image' | 'text', modelId: string) => !cache.dimensionOf(modelId) || cache.missing(ds.id, field, modelId).length > 0;
  const needImage = missing('image', MOBILENET_MODEL_ID);
  const needText = missing('text', USE_MODEL_ID);
  const needStyle = missing('image', STYLE_STATS_MODEL_ID);
  if (needImage || needText || needStyle) {
    note('embedding items (MobileNetV2 images, USE texts, style statistics; cached vectors are reused) …');
    let image: ImageEncoder | undefined;
    let text: TextEncoder | undefined;
    let style: ImageEncoder | undefined;
    try {
      if (needText) text = await createTextEncoder();
      if (needImage) image = await createImageEncoder({ workers: options.workers });
      if (image || text) await embedDataset(store, dataset, { image, text, progress, signal: options.signal });
      if (needStyle) {
        style = await createImageEncoder({ image: 'style-stats' });
        await embedDataset(store, dataset, { image: style, progress, signal: options.signal });
      }
    } finally {
      await image?.dispose();
      await text?.dispose();
      await style?.dispose();
    }
    summary.embeddings = 'computed';
  }

  const view = DatasetView.open(store, dataset);
  if (!fs.existsSync(tunedRetrievalPath(store.home, dataset))) {
    note('tuning the retrieval settings on the valid split …');
    const vectors = loadDatasetVectors(view, { image: 'mobilenet', text: 'use' });
    const r = evaluateEmojiRetrieval(view, vectors, 'valid');
    saveTunedFromEvaluation(store.home, dataset, r.retrieval.params, 'styleMatch', r.retrieval.validStyleMatch, vectors);
    summary.retrieval = 'tuned';
  }

  const rc = prepareRanking(view);
  try {
    generationSetupFrom(rc, store.home);
  } catch (err) {
    if (!(err instanceof RagarError)) throw err;
    note('training the ranker (BPR-MF warm start, then the multimodal ranker; early stopping on valid) …');
    await trainRankingModels(rc, store.home, { models: ['bprmf', 'ranker'], ranker: DEFAULT_RANKER, bprmf: { epochs: 50, seed: 1, patience: DEFAULT_RANKER.patience }, progress, note });
    summary.ranker = 'trained';
  }

  if (!jointSpaceFile(jointSpaceDir(store.home, dataset))) {
    note('training the image–text joint space (for CS and Hist-CS) …');
    trainJointForDataset(store, dataset, { image: 'mobilenet', text: 'use' }, { ...DEFAULT_JOINT, progress });
    summary.joint = 'trained';
  }
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}
