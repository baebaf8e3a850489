import path from 'node:path';
import { DatasetView } from '../data/access.js';
import { loadDatasetVectors } from './vectors.js';
import type { Store } from '../store/store.js';
import { RagarError } from '../util/errors.js';
import { hashString32 } from '../util/rng.js';
import { evaluateJointSpace, saveJointSpace, trainJointSpace, type JointMeta, type JointPair, type JointTrainOptions } from './joint.js';

/** Folder of a dataset's joint space: `<home>/models/<dataset>/joint`. */
export function jointSpaceDir(home: string, dataset: string): string {
  return path.join(home, 'models', dataset, 'joint');
}

/**
 * Train the joint image–text space of a dataset from its cached embeddings (`ragar train
 * joint`). Training pairs: items of train concepts (emoji-styles) or, without concepts, a
 * seeded 90% of items; the rest are held out and evaluated by image→text Recall@1/@10 against
 * chance. Saves weights and `meta.json` (seed, split, training time, losses, held-out figures).
 */
export function trainJointForDataset(
  store: Store,
  dataset: string,
  encoders: { image: string; text: string },
  options: JointTrainOptions,
): JointMeta & { dir: string } {
  const view = DatasetView.open(store, dataset);
  const vectors = loadDatasetVectors(view, encoders);
  const conceptSplit = view.conceptSplits();
  const train: JointPair[] = [];
  const held: JointPair[] = [];
  for (const item of view.items().values()) {
    const image = vectors.image.get(item.id);
    const text = vectors.text.get(item.id);
    if (!image || !text) continue;
    const textKey = item.concept ?? (item.text || item.title);
    const isTrain = conceptSplit.size
      ? conceptSplit.get(item.concept ?? '') === 'train'
      : hashString32(`${options.seed}:joint:${item.externalId}`) / 2 ** 32 >= 0.1;
    (isTrain ? train : held).push({ image, text, textKey });
  }
  if (train.length < 2 || held.length < 2) {
    throw new RagarError(`dataset ${dataset} has too few items with both image and text embeddings (${train.length} train, ${held.length} held out)`, 'BAD_INPUT');
  }
  const started = Date.now();
  const { space, losses } = trainJointSpace(train, options);
  const trainSeconds = (Date.now() - started) / 1000;
  const heldOut = evaluateJointSpace(space, held);
  const { progress: _p, ...recorded } = options;
  const meta: JointMeta = {
    format: 'ragar-joint-v1',
    dataset,
    imageModel: vectors.imageModel!,
    textModel: vectors.textModel!,
    imageDim: space.imageDim,
    textDim: space.textDim,
    dimension: space.dimension,
    options: recorded,
    split: conceptSplit.size ? 'train concepts (valid+test concepts held out)' : 'seeded 90% of items (10% held out)',
    trainPairs: train.length,
    trainSeconds,
    losses,
    heldOut,
    createdAt: new Date().toISOString(),
  };
  const dir = jointSpaceDir(store.home, dataset);
  saveJointSpace(dir, space, meta);
  return { ...meta, dir };
}
