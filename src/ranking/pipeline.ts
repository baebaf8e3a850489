import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DatasetView } from '../data/access.js';
import { EmbeddingCache } from '../store/embeddings.js';
import { loadDatasetVectors, resolveCachedModel, type DatasetVectors } from '../retrieval/vectors.js';
import { RagarError } from '../util/errors.js';
import { writeFileAtomicSync } from '../util/persist.js';
import type { Progress } from '../util/progress.js';
import { loadBprMf, saveBprMf, trainBprMf, type BprMfOptions } from './bprmf.js';
import { contentFeatures, type ContentFeatures } from './content.js';
import { buildRankingData } from './data.js';
import { evaluateRanker, type RankingMetrics } from './evaluate.js';
import { PopularityRanker } from './popularity.js';
import { ContentRanker, DEFAULT_RANKER, loadRanker, saveRanker, trainRanker, type RankerMeta, type RankerOptions } from './ranker.js';
import type { Ranker, RankingData } from './types.js';

/** Everything the ranking commands need about one dataset. */
export interface RankingContext {
  view: DatasetView;
  data: RankingData;
  vectors: DatasetVectors;
  /** Style descriptors appended to the image features (`ragar embed --style-encoder`), when cached. */
  style: { model: string; vectors: Map<number, Float32Array> } | null;
  features: ContentFeatures;
  /** For each item index, the item indices of the same concept (emoji-styles), else []. */
  siblings: number[][];
  fingerprint: string;
  holdout: number;
}

/** Defaults of the ranking protocol (README). */
export const RANKING_DEFAULTS = { holdout: 3 } as const;

/**
 * Load a dataset for ranking: leave-last-out data (the latest `holdout` interactions of valid
 * and test users are held out), cached content embeddings, siblings, and a fingerprint that
 * ties saved models to this exact dataset and protocol.
 */
export function prepareRanking(
  view: DatasetView,
  options: { holdout?: number; imageEncoder?: string; textEncoder?: string; styleEncoder?: string } = {},
): RankingContext {
  const holdout = options.holdout ?? RANKING_DEFAULTS.holdout;
  const data = buildRankingData(view, { holdout });
  const vectors = loadDatasetVectors(view, { image: options.imageEncoder ?? 'mobilenet', text: options.textEncoder ?? 'use', optionalImage: true });
  const style = vectors.imageModel ? loadStyleVectors(view, options.styleEncoder ?? 'style-stats') : null;
  const features = contentFeatures(data.itemIds, vectors.image, vectors.text, style?.vectors);
  const byConcept = new Map<string, number[]>();
  data.itemIds.forEach((id, i) => {
    const c = view.item(id).concept;
    if (!c) return;
    const list = byConcept.get(c);
    if (list) list.push(i);
    else byConcept.set(c, [i]);
  });
  const siblings = data.itemIds.map((id) => byConcept.get(view.item(id).concept ?? '') ?? []);
  const hash = createHash('sha256');
  hash.update(`${view.dataset.name}\n${holdout}\n`);
  for (const id of data.itemIds) hash.update(`${view.item(id).externalId}\n`);
  for (const u of data.users) hash.update(`${u.externalId}:${u.history.length}:${u.heldOut.length}\n`);
  return { view, data, vectors, style, features, siblings, fingerprint: hash.digest('hex'), holdout };
}

/**
 * The cached style descriptors of a dataset, or null when `encoder` is `none` or none are
 * cached for the default encoder (a dataset embedded with `--style-encoder none`). Naming
 * another encoder that is not cached is an error.
 */
function loadStyleVectors(view: DatasetView, encoder: string): RankingContext['style'] {
  if (encoder === 'none') return null;
  let model: string;
  try {
    model = resolveCachedModel(view, 'image', encoder);
  } catch (err) {
    if (encoder === 'style-stats' && err instanceof RagarError && err.code === 'NOT_FOUND') return null;
    throw err;
  }
  const table = new EmbeddingCache(view.store).load(view.dataset.id, 'image', model);
  return { model, vectors: new Map(table.itemIds.map((id, i) => [id, table.vectors[i]])) };
}

/** `<home>/models/<dataset>/rank`. */
export function rankModelsDir(home: string, dataset: string): string {
  return path.join(home, 'models', dataset, 'rank');
}

/** Options of {@link trainRankingModels}. */
export interface RankTrainOptions {
  ranker: RankerOptions;
  bprmf: BprMfOptions;
  /** Which models to train. */
  models: ('ranker' | 'content' | 'bprmf')[];
  progress?: Progress;
  note?: (line: string) => void;
}

/**
 * Train the ranker (content + ids), the content-only variant and the BPR-MF baseline with early
 * stopping on valid NDCG@10, and save each with its seed, protocol and training time.
 */
export async function trainRankingModels(ctx: RankingContext, home: string, options: RankTrainOptions) {
  const dir = rankModelsDir(home, ctx.view.dataset.name);
  fs.mkdirSync(dir, { recursive: true });
  const validate = makeAucValidator(ctx.data, 'valid');
  const summary: Record<string, unknown> = { dataset: ctx.view.dataset.name, dir, holdout: ctx.holdout };
  // BPR-MF first: the ranker's id part is warm-started from it (same dimension).
  const order = [...options.models].sort((a, b) => (a === 'bprmf' ? -1 : b === 'bprmf' ? 1 : 0));
  let bprFactors: { userEmb: Float32Array; itemEmb: Float32Array; itemBias: Float32Array } | undefined;
  const protocol = `leave-last-out: latest ${ctx.holdout} interactions of valid and test users held out; trained on all other interactions; early stopping on valid AUC of the held-out items`;
  for (const name of order) {
    if (name === 'bprmf') {
      options.note?.('training bpr-mf …');
      const r = trainBprMf(ctx.data, { ...options.bprmf, dimension: options.ranker.dimension, validate, progress: options.progress });
      bprFactors = { userEmb: r.ranker.userFactors, itemEmb: r.ranker.itemFactors, itemBias: r.ranker.itemBias };
      saveBprMf(path.join(dir, 'bprmf.bin'), r.ranker, ctx.data);
      const meta = {
        format: 'ragar-bprmf-v1',
        dataset: ctx.view.dataset.name,
        datasetFingerprint: ctx.fingerprint,
        options: { ...options.bprmf, validate: undefined, progress: undefined },
        protocol,
        epochsRun: r.epochsRun,
        bestEpoch: r.bestEpoch,
        validCurve: r.history.map((h) => h.valid),
        secondsPerEpoch: r.secondsPerEpoch,
        createdAt: new Date().toISOString(),
      };
      writeFileAtomicSync(path.join(dir, 'bprmf.meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
      summary.bprmf = { epochsRun: r.epochsRun, bestEpoch: r.bestEpoch, bestValidAuc: r.bestScore, secondsPerEpoch: r.secondsPerEpoch };
      continue;
    }
    options.note?.(`training ${name} …`);
    const rankerOptions = { ...options.ranker, useIds: name === 'ranker' };
    const r = await trainRanker(ctx.data, ctx.features, rankerOptions, {
      validate,
      progress: options.progress,
      siblings: ctx.siblings,
      initIds: name === 'ranker' ? bprFactors : undefined,
    });
    const meta: RankerMeta = {
      format: 'ragar-ranker-v1',
      dataset: ctx.view.dataset.name,
      datasetFingerprint: ctx.fingerprint,
      imageModel: ctx.vectors.imageModel,
      textModel: ctx.vectors.textModel,
      styleModel: ctx.style?.model ?? null,
      imageDim: ctx.features.imageDim,
      textDim: ctx.features.textDim,
      numUsers: ctx.data.users.length,
      numItems: ctx.data.numItems,
      options: { ...rankerOptions, attentionTau: Number.isFinite(rankerOptions.attentionTau) ? rankerOptions.attentionTau : 'inf' },
      protocol,
      epochsRun: r.epochsRun,
      bestEpoch: r.bestEpoch,
      validCurve: r.validCurve,
      lossCurve: r.lossCurve,
      secondsPerEpoch: r.secondsPerEpoch,
      trainSeconds: r.seconds,
      createdAt: new Date().toISOString(),
    };
    saveRanker(path.join(dir, name), r.ranker, meta);
    summary[name] = { warmStartFromBprMf: name === 'ranker' && bprFactors !== undefined, epochsRun: r.epochsRun, bestEpoch: r.bestEpoch, bestValidAuc: Math.max(...r.validCurve), secondsPerEpoch: median(r.secondsPerEpoch), trainSeconds: r.seconds };
  }
  return summary;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
}

/**
 * Validation score for early stopping: the mean AUC of valid users' held-out items against all
 * unseen items (full ranking). Far less noisy than NDCG@10 on a few dozen users.
 */
export function makeAucValidator(data: RankingData, split = 'valid'): (r: Ranker) => number {
  const users = data.users.map((u, i) => [u, i] as const).filter(([u]) => u.split === split && u.heldOut.length > 0);
  if (users.length === 0) throw new RagarError(`no ${split} users with held-out interactions to validate on`, 'BAD_INPUT');
  return (r) => {
    let total = 0;
    let n = 0;
    for (const [u, ui] of users) {
      const scores = r.scoreItems(u, ui);
      const seen = new Set(u.history);
      for (const target of u.heldOut) {
        if (seen.has(target)) continue;
        let below = 0;
        let count = 0;
        for (let i = 0; i < scores.length; i++) {
          if (seen.has(i) || i === target) continue;
          count++;
          if (scores[i] < scores[target]) below++;
          else if (scores[i] === scores[target]) below += 0.5;
        }
        total += count ? below / count : 0;
        n++;
      }
    }
    return n ? total / n : 0;
  };
}

/** Load a saved content ranker (`ranker` or `content`). */
export function loadSavedRanker(ctx: RankingContext, home: string, name: 'ranker' | 'content'): { ranker: ContentRanker; meta: RankerMeta } {
  const loaded = loadRanker(path.join(rankModelsDir(home, ctx.view.dataset.name), name), ctx.features, {
    dataset: ctx.view.dataset.name,
    fingerprint: ctx.fingerprint,
  });
  const savedStyle = loaded.meta.styleModel ?? null;
  const style = ctx.style?.model ?? null;
  if (loaded.meta.imageModel !== ctx.vectors.imageModel || loaded.meta.textModel !== ctx.vectors.textModel || savedStyle !== style) {
    const names = (i: string | null, t: string | null, s: string | null) => [i, s, t].filter(Boolean).join(' + ') || 'no';
    throw new RagarError(
      `the saved ${name} was trained on ${names(loaded.meta.imageModel, loaded.meta.textModel, savedStyle)} embeddings, not ${names(ctx.vectors.imageModel, ctx.vectors.textModel, style)}; retrain it with \`ragar rank train\``,
      'BAD_INPUT',
    );
  }
  return loaded;
}

/**
 * Cold pairwise accuracy (emoji-styles): for each task of `split` (its concept is held out from
 * all interactions), the target rendition (the user's true style for the group) is scored from
 * content alone against each other rendition of the same concept; the share of pairs it wins.
 */
export function coldPairwiseAccuracy(ctx: RankingContext, ranker: ContentRanker, split: string): { accuracy: number; pairs: number; tasks: number } {
  const userIndex = new Map(ctx.data.users.map((u, i) => [u.userId, i]));
  const { features } = ctx;
  const cold = (i: number) => ({
    image: features.hasImage[i] ? features.image.subarray(i * features.imageDim, (i + 1) * features.imageDim) : null,
    text: features.hasText[i] ? features.text.subarray(i * features.textDim, (i + 1) * features.textDim) : null,
  });
  let wins = 0;
  let pairs = 0;
  let tasks = 0;
  for (const task of ctx.view.tasks(split)) {
    if (task.targetItemId === null) continue;
    const ui = userIndex.get(task.userId);
    const target = ctx.data.itemIndex.get(task.targetItemId);
    if (ui === undefined || target === undefined) continue;
    const user = ctx.data.users[ui];
    const ts = ranker.scoreOne(user, -1, cold(target));
    tasks++;
    for (const other of ctx.siblings[target]) {
      if (other === target) continue;
      pairs++;
      if (ts > ranker.scoreOne(user, -1, cold(other))) wins++;
    }
  }
  if (pairs === 0) throw new RagarError(`no ${split} task has a target with sibling renditions: cold pairwise accuracy needs emoji-styles-like data`, 'BAD_INPUT');
  return { accuracy: wins / pairs, pairs, tasks };
}

/** Evaluate every available model on `split`: ranker, popularity, bprmf, content (+ cold pairwise on emoji-styles). */
export function evaluateRankingModels(ctx: RankingContext, home: string, split: string) {
  const models: Record<string, RankingMetrics> = {};
  const timing: Record<string, number> = {};
  const run = (name: string, r: Ranker) => {
    const t = Date.now();
    models[name] = evaluateRanker(ctx.data, r, split, [10, 20]);
    timing[name] = (Date.now() - t) / 1000;
  };
  const ranker = loadSavedRanker(ctx, home, 'ranker');
  run('ranker', ranker.ranker);
  run('popularity', new PopularityRanker(ctx.data));
  const bprFile = path.join(rankModelsDir(home, ctx.view.dataset.name), 'bprmf.bin');
  if (!fs.existsSync(bprFile)) throw new RagarError(`no BPR-MF baseline at ${bprFile}; run \`ragar rank train\` first`, 'NOT_FOUND');
  run('bprmf', loadBprMf(bprFile, ctx.data));
  const content = loadSavedRanker(ctx, home, 'content');
  run('content', content.ranker);
  const result: Record<string, unknown> = {
    dataset: ctx.view.dataset.name,
    split,
    protocol: ranker.meta.protocol,
    models,
    evalSeconds: timing,
  };
  if (ctx.siblings.some((s) => s.length > 1) && ctx.view.tasks(split).length) {
    const c = coldPairwiseAccuracy(ctx, ranker.ranker, split);
    result.coldPairwiseAccuracy = c.accuracy;
    result.coldPairs = c.pairs;
    result.coldPairwiseAccuracyContent = coldPairwiseAccuracy(ctx, content.ranker, split).accuracy;
  }
  return result;
}

export { DEFAULT_RANKER };
