import fs from 'node:fs';
import path from 'node:path';
import { ExactIndex } from '../retrieval/exactIndex.js';
import type { VectorIndex, VectorMetric } from '../retrieval/vectorIndex.js';
import { Adam } from '../util/adam.js';
import { createProjectionEngine } from './projection.js';
import { RagarError } from '../util/errors.js';
import { readTensorBundle, writeTensorBundle } from '../util/tensorBundle.js';
import { silentProgress, type Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import type { ContentFeatures } from './content.js';
import type { Ranker, RankingData, RankingUser } from './types.js';

/**
 * RAGAR's multimodal ranking model R(u, x) (DESIGN §2 step 4).
 *
 * Item tower: `g(x) = Wᵀ·[E_v(x); E_t(x)]` (a learned linear projection of the image and text
 * embeddings), so that any image, seen or not, is scored from content. User side:
 * reference-aware attention over the history (the retrieval idea inside the ranker): for a
 * candidate x, the `attentionK` history items whose text (else image) embedding is most similar
 * to x get weights `softmax(sim / attentionTau)` and `v_u(x) = Σ_h a_h(x)·g(h) + q`, where q is a
 * learned global content preference. Where the item and the user are known, id embeddings add
 * `p_u·e_x + b_x` (BPR-MF style). Score: `R(u, x) = g(x)·v_u(x) + β·m_u(x) + [ids] (p_u·e_x + b_x)`.
 * Trained with BPR on (history prefix → next item, sampled negative) triples, Adam on W and q,
 * SGD on the id embeddings; early stopping on validation NDCG@10.
 */
export interface RankerOptions {
  /** Dimension of g(x) and of the id embeddings. */
  dimension: number;
  /** History items attended per candidate. */
  attentionK: number;
  /** Attention softmax temperature (`Infinity` = equal weights over the top-k). */
  attentionTau: number;
  /** Most recent history items considered (longer histories are cut to their tail). */
  maxHistory: number;
  /** Use id embeddings for known users and items (false = the content-only model). */
  useIds: boolean;
  epochs: number;
  /** Training triples per epoch (0 = one per training interaction that has a history before it). */
  samplesPerEpoch: number;
  batchSize: number;
  learningRate: number;
  idLearningRate: number;
  regularization: number;
  patience: number;
  seed: number;
  /**
   * Share of negatives drawn from the positive's siblings (items of the same concept: the same
   * emoji in another style) instead of uniformly; teaches the model what distinguishes
   * renditions of one concept. Ignored where items have no concept.
   */
  siblingNegatives: number;
}

/** Defaults (README). */
export const DEFAULT_RANKER: RankerOptions = {
  dimension: 32,
  attentionK: 5,
  attentionTau: Infinity,
  maxHistory: 100,
  useIds: true,
  epochs: 10,
  samplesPerEpoch: 0,
  batchSize: 64,
  learningRate: 0.01,
  idLearningRate: 0.05,
  regularization: 1e-4,
  patience: 4,
  seed: 1,
  siblingNegatives: 0.5,
};

/** The trained parameters. */
export interface RankerWeights {
  /** (imageDim + textDim) × dimension, row-major: image rows first. */
  w: Float32Array;
  q: Float32Array;
  /** numUsers × dimension (empty when useIds is false). */
  userEmb: Float32Array;
  /** numItems × dimension. */
  itemEmb: Float32Array;
  itemBias: Float32Array;
  /** [β]: weight of the mean attended similarity (how much of the history resembles the candidate). */
  beta: Float32Array;
}

/** A candidate outside the dataset (e.g. a generated image): its content features only. */
export interface ColdItem {
  image: Float32Array | null;
  text: Float32Array | null;
}

/** A user's history as vector indexes for the ranker's attention ({@link ContentRanker.historyIndexes}). */
export interface HistoryIndexes {
  text: VectorIndex | null;
  image: VectorIndex | null;
  /** History positions the text index holds. */
  textPositions: ReadonlySet<number>;
  /** History positions the image index holds. */
  imagePositions: ReadonlySet<number>;
  /** History length. */
  length: number;
}

/** Id of history position j in a history index: 10 digits, smaller for later positions (ties order later first). */
function historyId(j: number): string {
  return String(2_000_000_000 - j);
}

function positionOf(id: string): number {
  return 2_000_000_000 - Number(id);
}

/** The content ranker, usable for scoring after training or loading. */
export class ContentRanker implements Ranker {
  readonly name: string;
  readonly options: RankerOptions;
  readonly features: ContentFeatures;
  readonly weights: RankerWeights;
  readonly numUsers: number;
  private readonly inDim: number;
  private gCache: Float32Array | null = null;

  constructor(features: ContentFeatures, numUsers: number, options: RankerOptions, weights: RankerWeights, name?: string) {
    this.features = features;
    this.options = options;
    this.weights = weights;
    this.numUsers = numUsers;
    this.inDim = features.imageDim + features.textDim;
    this.name = name ?? (options.useIds ? 'ranker' : 'content');
    if (weights.w.length !== this.inDim * options.dimension) throw new RagarError('ranker weights do not match the content features', 'BAD_INPUT');
  }

  get numItems(): number {
    return this.features.hasText.length;
  }

  /** g(x) for a feature vector pair. */
  project(image: Float32Array | null, text: Float32Array | null, out = new Float32Array(this.options.dimension)): Float32Array {
    const d = this.options.dimension;
    const { w } = this.weights;
    out.fill(0);
    const { imageDim, textDim } = this.features;
    if (image && imageDim) {
      for (let i = 0; i < imageDim; i++) {
        const x = image[i];
        if (x === 0) continue;
        const r = i * d;
        for (let j = 0; j < d; j++) out[j] += x * w[r + j];
      }
    }
    if (text && textDim) {
      for (let i = 0; i < textDim; i++) {
        const x = text[i];
        if (x === 0) continue;
        const r = (imageDim + i) * d;
        for (let j = 0; j < d; j++) out[j] += x * w[r + j];
      }
    }
    return out;
  }

  private itemImage(i: number): Float32Array | null {
    const { imageDim } = this.features;
    return this.features.hasImage[i] ? this.features.image.subarray(i * imageDim, (i + 1) * imageDim) : null;
  }

  private itemText(i: number): Float32Array | null {
    const { textDim } = this.features;
    return this.features.hasText[i] ? this.features.text.subarray(i * textDim, (i + 1) * textDim) : null;
  }

  /** g(x) of every dataset item (cached until the weights change). */
  projectAll(): Float32Array {
    if (!this.gCache) {
      const d = this.options.dimension;
      const g = new Float32Array(this.numItems * d);
      for (let i = 0; i < this.numItems; i++) this.project(this.itemImage(i), this.itemText(i), g.subarray(i * d, (i + 1) * d));
      this.gCache = g;
    }
    return this.gCache;
  }

  /**
   * Use `g` (numItems × dimension, as {@link projectAll} would compute it from the current
   * weights) as the cached projections; trainers compute it in one batched product.
   */
  setProjections(g: Float32Array): void {
    if (g.length !== this.numItems * this.options.dimension) throw new RagarError('projections do not match the items', 'INTERNAL');
    this.gCache = g;
  }

  /** Forget cached projections (after a weight update). */
  invalidate(): void {
    this.gCache = null;
  }

  /** Attention of a candidate over history items: indices into `hist` and weights. */
  attention(candidate: ColdItem, hist: readonly number[]): { idx: number[]; a: number[]; m: number } {
    const { textDim, imageDim } = this.features;
    const sims: number[] = new Array(hist.length);
    for (let j = 0; j < hist.length; j++) {
      const h = hist[j];
      let s = 0;
      if (candidate.text && this.features.hasText[h]) {
        const t = this.features.text;
        const o = h * textDim;
        for (let k = 0; k < textDim; k++) s += candidate.text[k] * t[o + k];
      } else if (candidate.image && this.features.hasImage[h]) {
        const im = this.features.image;
        const o = h * imageDim;
        for (let k = 0; k < imageDim; k++) s += candidate.image[k] * im[o + k];
      }
      sims[j] = s;
    }
    return this.attend(
      sims.map((_, j) => j),
      sims,
    );
  }

  /**
   * A history (item indices, as {@link historyOf} gives) as vector indexes for the attention: one of
   * the text vectors of the items that have text, one of the image rows of those that have an image.
   * Ids encode the history position so that equal similarities order later positions first, as
   * {@link attention} does. `create` builds each index (default: exact, inner product).
   *
   * @example
   * const indexes = await ranker.historyIndexes(ranker.historyOf(user));
   * const att = await ranker.attentionFromIndex(candidate, ranker.historyOf(user), indexes);
   */
  async historyIndexes(
    hist: readonly number[],
    create: (dimension: number, metric: VectorMetric) => VectorIndex = (d, m) => new ExactIndex(d, m),
  ): Promise<HistoryIndexes> {
    const { textDim, imageDim } = this.features;
    const build = async (dim: number, has: Uint8Array | boolean[], data: Float32Array): Promise<VectorIndex | null> => {
      if (!dim) return null;
      const ids: string[] = [];
      const rows: Float32Array[] = [];
      hist.forEach((h, j) => {
        if (!has[h]) return;
        ids.push(historyId(j));
        rows.push(data.subarray(h * dim, (h + 1) * dim));
      });
      if (ids.length === 0) return null;
      const index = create(dim, 'ip');
      await index.add(ids, rows);
      return index;
    };
    const positions = (has: Uint8Array | boolean[], dim: number) => new Set(dim ? hist.flatMap((h, j) => (has[h] ? [j] : [])) : []);
    return {
      text: await build(textDim, this.features.hasText, this.features.text),
      image: await build(imageDim, this.features.hasImage, this.features.image),
      textPositions: positions(this.features.hasText, textDim),
      imagePositions: positions(this.features.hasImage, imageDim),
      length: hist.length,
    };
  }

  /**
   * {@link attention} with the similarities asked of the history's vector indexes
   * ({@link historyIndexes}): each index is asked for its best `attentionK` positions only, so a
   * vector database can serve it. Same result as {@link attention} (tested).
   */
  async attentionFromIndex(candidate: ColdItem, indexes: HistoryIndexes): Promise<{ idx: number[]; a: number[]; m: number }> {
    const K = this.options.attentionK;
    const useText = (j: number): boolean => candidate.text !== null && indexes.textPositions.has(j);
    const useImage = (j: number): boolean => !useText(j) && candidate.image !== null && indexes.imagePositions.has(j);
    const sims = new Map<number, number>();
    if (candidate.text && indexes.text) {
      for (const h of await indexes.text.search(candidate.text, K)) sims.set(positionOf(h.id), h.score);
    }
    if (candidate.image && indexes.image) {
      for (const h of await indexes.image.search(candidate.image, K, { filter: (id) => useImage(positionOf(id)) })) sims.set(positionOf(h.id), h.score);
    }
    // positions the candidate shares no modality with score 0: the K latest of them can compete
    for (let j = indexes.length - 1, zeros = 0; j >= 0 && zeros < K; j--) {
      if (useText(j) || useImage(j)) continue;
      sims.set(j, 0);
      zeros++;
    }
    const pairs = [...sims.entries()];
    return this.attend(
      pairs.map(([j]) => j),
      pairs.map(([, sim]) => sim),
    );
  }

  /** The attention's selection and weights over (position, similarity) pairs: best K, ties later first. */
  private attend(positions: readonly number[], sims: readonly number[]): { idx: number[]; a: number[]; m: number } {
    const order = positions.map((_, i) => i).sort((x, y) => sims[y] - sims[x] || positions[y] - positions[x]);
    const k = Math.min(this.options.attentionK, order.length);
    const top = order.slice(0, k);
    const idx = top.map((i) => positions[i]);
    const m = k ? top.reduce((acc, i) => acc + sims[i], 0) / k : 0;
    let a: number[];
    if (!Number.isFinite(this.options.attentionTau)) a = idx.map(() => 1 / k);
    else {
      const max = sims[top[0]];
      const e = top.map((i) => Math.exp((sims[i] - max) / this.options.attentionTau));
      const sum = e.reduce((acc, x) => acc + x, 0);
      a = e.map((x) => x / sum);
    }
    return { idx, a, m };
  }

  /**
   * {@link scoreOne} for a cold candidate with the attention asked of the user's history indexes
   * (built with {@link historyIndexes} when not given): the path `ragar rank score` takes.
   *
   * @example
   * const score = await ranker.scoreColdFromIndex(user, { image: row, text: null });
   */
  async scoreColdFromIndex(user: RankingUser, candidate: ColdItem, indexes?: HistoryIndexes): Promise<number> {
    const d = this.options.dimension;
    const hist = this.historyOf(user);
    const g = this.projectAll();
    const gx = this.project(candidate.image, candidate.text);
    const v = Float32Array.from(this.weights.q);
    let m = 0;
    if (hist.length) {
      const att = await this.attentionFromIndex(candidate, indexes ?? (await this.historyIndexes(hist)));
      m = att.m;
      att.idx.forEach((j, t) => {
        const h = hist[j];
        for (let k = 0; k < d; k++) v[k] += att.a[t] * g[h * d + k];
      });
    }
    let s = this.weights.beta[0] * m;
    for (let k = 0; k < d; k++) s += gx[k] * v[k];
    return s;
  }

  /** The history the model reads for a user: the tail of `user.history`. */
  historyOf(user: RankingUser): number[] {
    return user.history.slice(-this.options.maxHistory);
  }

  /** Score one candidate (a dataset item index, or a cold item) for a user. */
  scoreOne(user: RankingUser, userIndex: number, candidate: number | ColdItem): number {
    const d = this.options.dimension;
    const hist = this.historyOf(user);
    const g = this.projectAll();
    const cold: ColdItem = typeof candidate === 'number' ? { image: this.itemImage(candidate), text: this.itemText(candidate) } : candidate;
    const gx = typeof candidate === 'number' ? g.subarray(candidate * d, (candidate + 1) * d) : this.project(cold.image, cold.text);
    const v = Float32Array.from(this.weights.q);
    let m = 0;
    if (hist.length) {
      const att = this.attention(cold, hist);
      m = att.m;
      att.idx.forEach((j, t) => {
        const h = hist[j];
        for (let k = 0; k < d; k++) v[k] += att.a[t] * g[h * d + k];
      });
    }
    let s = this.weights.beta[0] * m;
    for (let k = 0; k < d; k++) s += gx[k] * v[k];
    if (this.options.useIds && typeof candidate === 'number' && userIndex >= 0 && userIndex < this.numUsers) {
      const { userEmb, itemEmb, itemBias } = this.weights;
      for (let k = 0; k < d; k++) s += userEmb[userIndex * d + k] * itemEmb[candidate * d + k];
      s += itemBias[candidate];
    }
    return s;
  }

  /**
   * The parts of `R(u, x)` for a cold candidate that do not depend on its image, given its text:
   * `R(u, x) = g_img(x)·v + c`, where `g_img(x) = W_imgᵀ·imageRow(x)`. With the text fixed (the
   * attention reads the text), the score is linear in the image part, which is what a pixel-space
   * tower distilled from `W_img` needs to give the generator a gradient.
   *
   * @example
   * const { v, constant } = ranker.imageScoreParts(user, referenceText);
   * const score = dot(tower.embed(pixels), v) + constant; // ≈ ranker.scoreOne(user, -1, { image, text })
   */
  imageScoreParts(user: RankingUser, text: Float32Array): { v: Float32Array; constant: number } {
    const d = this.options.dimension;
    const hist = this.historyOf(user);
    const g = this.projectAll();
    const v = Float32Array.from(this.weights.q);
    let m = 0;
    if (hist.length) {
      const att = this.attention({ image: null, text }, hist);
      m = att.m;
      att.idx.forEach((j, t) => {
        const h = hist[j];
        for (let k = 0; k < d; k++) v[k] += att.a[t] * g[h * d + k];
      });
    }
    const gt = this.project(null, text);
    let constant = this.weights.beta[0] * m;
    for (let k = 0; k < d; k++) constant += gt[k] * v[k];
    return { v, constant };
  }

  /** The image part `g_img(x) = W_imgᵀ·row` of a full image row (see {@link imageRow}). */
  projectImage(row: Float32Array): Float32Array {
    return this.project(row, null);
  }

  /** Scores of every dataset item for a user (full ranking). Items with identical text share one attention pass. */
  scoreItems(user: RankingUser, userIndex: number): Float32Array {
    const d = this.options.dimension;
    const hist = this.historyOf(user);
    const g = this.projectAll();
    const groups = this.textGroups();
    let attentions = this.attentionCache.get(user);
    if (!attentions || attentions.hist.length !== hist.length || attentions.hist.some((h, j) => h !== hist[j])) {
      attentions = Object.assign(new Map<number, { idx: number[]; a: number[]; m: number }>(), { hist });
      this.attentionCache.set(user, attentions);
    }
    const vByGroup = new Map<number, Float32Array>();
    const mByGroup = new Map<number, number>();
    const out = new Float32Array(this.numItems);
    const ids = this.options.useIds && userIndex >= 0 && userIndex < this.numUsers;
    const { userEmb, itemEmb, itemBias } = this.weights;
    for (let i = 0; i < this.numItems; i++) {
      const key = this.features.hasText[i] ? groups[i] : -1 - i;
      let v = vByGroup.get(key);
      let m = mByGroup.get(key) ?? 0;
      if (!v) {
        v = Float32Array.from(this.weights.q);
        m = 0;
        if (hist.length) {
          // the attention reads only the features, so it is kept per user and text group across
          // weight updates (an early-stopping validation scores the same users every epoch)
          let cached = attentions.get(key);
          if (!cached) {
            cached = this.attention({ image: this.itemImage(i), text: this.itemText(i) }, hist);
            if (this.features.hasText[i]) attentions.set(key, cached);
          }
          const { idx, a, m: mean } = cached;
          m = mean;
          for (let t = 0; t < idx.length; t++) {
            const h = hist[idx[t]];
            for (let k = 0; k < d; k++) v[k] += a[t] * g[h * d + k];
          }
        }
        if (this.features.hasText[i]) {
          vByGroup.set(key, v);
          mByGroup.set(key, m);
        }
      }
      let s = this.weights.beta[0] * m;
      for (let k = 0; k < d; k++) s += g[i * d + k] * v[k];
      if (ids) {
        for (let k = 0; k < d; k++) s += userEmb[userIndex * d + k] * itemEmb[i * d + k];
        s += itemBias[i];
      }
      out[i] = s;
    }
    return out;
  }

  private groupsCache: Int32Array | null = null;
  /** Attention per text group of each user {@link scoreItems} has ranked for (features-only, so weight updates keep it). */
  private readonly attentionCache = new WeakMap<RankingUser, Map<number, { idx: number[]; a: number[]; m: number }> & { hist: number[] }>();

  /** For each item, the index of the first item with the same text embedding (attention is then shared). */
  private textGroups(): Int32Array {
    if (!this.groupsCache) {
      const { textDim } = this.features;
      const seen = new Map<string, number>();
      const groups = new Int32Array(this.numItems);
      for (let i = 0; i < this.numItems; i++) {
        const bytes = Buffer.from(this.features.text.buffer, this.features.text.byteOffset + i * textDim * 4, textDim * 4).toString('base64');
        const first = seen.get(bytes);
        if (first === undefined) {
          seen.set(bytes, i);
          groups[i] = i;
        } else groups[i] = first;
      }
      this.groupsCache = groups;
    }
    return this.groupsCache;
  }
}


/** Result of {@link trainRanker}. */
export interface RankerTraining {
  ranker: ContentRanker;
  epochsRun: number;
  bestEpoch: number;
  validCurve: number[];
  lossCurve: number[];
  secondsPerEpoch: number[];
  seconds: number;
}

/**
 * Train the ranker with BPR on the ranking data's training interactions: for a random user
 * and position t ≥ 1 in their history, the item at t is the positive, the prefix before t is
 * the history, and a uniformly drawn item the user never interacted with is the negative.
 * `validate` (NDCG@10 on valid users) drives early stopping; the best weights are kept.
 */
export async function trainRanker(
  data: RankingData,
  features: ContentFeatures,
  options: RankerOptions,
  hooks: {
    validate?: (r: ContentRanker) => number;
    progress?: Progress;
    siblings?: readonly (readonly number[])[];
    /** Warm start of the id part from a trained matrix factorisation (same dimension). */
    initIds?: { userEmb: Float32Array; itemEmb: Float32Array; itemBias: Float32Array };
  } = {},
): Promise<RankerTraining> {
  const started = Date.now();
  const rng = new Rng(options.seed);
  const d = options.dimension;
  const inDim = features.imageDim + features.textDim;
  const numItems = data.numItems;
  const numUsers = data.users.length;
  const init = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);
  const weights: RankerWeights = {
    w: init(inDim * d, 0.05),
    q: new Float32Array(d),
    userEmb: options.useIds ? init(numUsers * d, 0.1) : new Float32Array(0),
    itemEmb: options.useIds ? init(numItems * d, 0.1) : new Float32Array(0),
    itemBias: new Float32Array(options.useIds ? numItems : 0),
    beta: new Float32Array(1),
  };
  if (options.useIds && hooks.initIds) {
    if (hooks.initIds.userEmb.length !== weights.userEmb.length || hooks.initIds.itemEmb.length !== weights.itemEmb.length) {
      throw new RagarError('the warm-start factors do not match the ranker dimension', 'BAD_INPUT');
    }
    weights.userEmb.set(hooks.initIds.userEmb);
    weights.itemEmb.set(hooks.initIds.itemEmb);
    weights.itemBias.set(hooks.initIds.itemBias);
  }
  const ranker = new ContentRanker(features, numUsers, options, weights);
  const progress = hooks.progress ?? silentProgress;
  const seen = data.users.map((u) => new Set([...u.history, ...u.heldOut]));
  const candidates: [number, number][] = [];
  data.users.forEach((u, ui) => {
    for (let t = 1; t < u.history.length; t++) candidates.push([ui, t]);
  });
  if (candidates.length === 0) throw new RagarError('no training interaction has a history before it: nothing to train the ranker on', 'BAD_INPUT');
  const perEpoch = options.samplesPerEpoch > 0 ? options.samplesPerEpoch : candidates.length;
  const optW = new Adam(weights.w.length, options.learningRate);
  const optQ = new Adam(d, options.learningRate);
  const gQ = new Float32Array(d);
  const gBeta = new Float32Array(1);
  const optBeta = new Adam(1, options.learningRate * 10);
  const validCurve: number[] = [];
  const lossCurve: number[] = [];
  const secondsPerEpoch: number[] = [];
  let best = { score: -Infinity, epoch: 0, weights: cloneWeights(weights) };
  let epochsRun = 0;

  const itemImage = (i: number) => (features.hasImage[i] ? features.image.subarray(i * features.imageDim, (i + 1) * features.imageDim) : null);
  const itemText = (i: number) => (features.hasText[i] ? features.text.subarray(i * features.textDim, (i + 1) * features.textDim) : null);
  // Profiled (emoji-styles, 7,679 items, 1,839-d content rows): nearly all of a step was the tower
  // products g(x) = Wᵀφ(x) and the outer products φ(x)·dg(x)ᵀ, 59 k multiply-adds per item in
  // TypeScript. Each batch now gathers its distinct items' rows Φ once, computes G = Φ·W and
  // ∂W = Φᵀ·∂G as one MatMul each on onnxruntime, and keeps the per-sample work (attention, scores,
  // id updates, in the same order and with the same random draws) in TypeScript.
  const engine = await createProjectionEngine(inDim, d);
  /** Copy item i's content row [image | text] (zeros for a missing modality) into `phi` at row r. */
  const gather = (phi: Float32Array, r: number, i: number) => {
    const im = itemImage(i);
    const tx = itemText(i);
    const o = r * inDim;
    if (im) phi.set(im, o);
    else phi.fill(0, o, o + features.imageDim);
    if (tx) phi.set(tx, o + features.imageDim);
    else phi.fill(0, o + features.imageDim, o + inDim);
  };
  let phi = new Float32Array(0);
  /** All items' rows, for the projections the validation reads (built once). */
  let phiAll: Float32Array | null = null;
  const refreshProjections = async () => {
    if (!phiAll) {
      phiAll = new Float32Array(numItems * inDim);
      for (let i = 0; i < numItems; i++) gather(phiAll, i, i);
    }
    ranker.setProjections(await engine.project(phiAll, numItems, weights.w));
  };

  try {
    if (hooks.validate) {
      await refreshProjections();
      const score0 = hooks.validate(ranker);
      best = { score: score0, epoch: 0, weights: cloneWeights(weights) };
    }
    progress.start('ranker training', options.epochs);
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const epochStart = Date.now();
      let lossSum = 0;
      const order = rng.shuffle(candidates.slice()).slice(0, perEpoch);
      for (let start = 0; start < order.length; start += options.batchSize) {
        const batch = order.slice(start, start + options.batchSize);
        gQ.fill(0);
        gBeta.fill(0);
        // 1. negatives (same draws as before) and attention, which reads only the features
        const rowOf = new Map<number, number>();
        const rowFor = (i: number) => {
          let r = rowOf.get(i);
          if (r === undefined) rowOf.set(i, (r = rowOf.size));
          return r;
        };
        const samples = batch.map(([ui, t]) => {
          const user = data.users[ui];
          const hist = user.history.slice(Math.max(0, t - options.maxHistory), t);
          const pos = user.history[t];
          let neg = rng.int(numItems);
          const sib = hooks.siblings?.[pos];
          if (sib && sib.length > 1 && rng.next() < options.siblingNegatives) {
            neg = sib[rng.int(sib.length)];
            for (let tries = 0; tries < 5 && neg === pos; tries++) neg = sib[rng.int(sib.length)];
            if (neg === pos) neg = rng.int(numItems);
          }
          for (let tries = 0; tries < 20 && (seen[ui].has(neg) || neg === pos); tries++) neg = rng.int(numItems);
          const parts = [pos, neg].map((x) => {
            const att = ranker.attention({ image: itemImage(x), text: itemText(x) }, hist);
            return { x, att, row: rowFor(x), histRows: att.idx.map((j) => rowFor(hist[j])) };
          });
          return { ui, parts };
        });
        // 2. the tower of every distinct item of the batch at once
        const rows = rowOf.size;
        if (phi.length < rows * inDim) phi = new Float32Array(rows * inDim * 2);
        for (const [i, r] of rowOf) gather(phi, r, i);
        const G = await engine.project(phi, rows, weights.w);
        const dG = new Float32Array(rows * d);
        // 3. scores, loss and gradients per sample, in order (the id part is updated in place)
        for (const { ui, parts } of samples) {
          const scored = parts.map((p) => {
            const v = Float32Array.from(weights.q);
            p.histRows.forEach((hr, k) => {
              const a = p.att.a[k];
              for (let c = 0; c < d; c++) v[c] += a * G[hr * d + c];
            });
            const g = G.subarray(p.row * d, (p.row + 1) * d);
            let s = weights.beta[0] * p.att.m;
            for (let c = 0; c < d; c++) s += g[c] * v[c];
            if (options.useIds) {
              for (let c = 0; c < d; c++) s += weights.userEmb[ui * d + c] * weights.itemEmb[p.x * d + c];
              s += weights.itemBias[p.x];
            }
            return { ...p, v, g, s };
          });
          const diff = scored[0].s - scored[1].s;
          const sig = 1 / (1 + Math.exp(-diff));
          lossSum += -Math.log(Math.max(sig, 1e-12));
          const delta = sig - 1; // dL/ds+ ; dL/ds- = -delta
          for (const [p, coef] of [
            [scored[0], delta],
            [scored[1], -delta],
          ] as const) {
            // dg(x) = coef·v ; dg(h) = coef·a_h·g(x) ; dq = coef·g(x)
            const o = p.row * d;
            for (let c = 0; c < d; c++) dG[o + c] += coef * p.v[c];
            p.histRows.forEach((hr, k) => {
              const ca = coef * p.att.a[k];
              for (let c = 0; c < d; c++) dG[hr * d + c] += ca * p.g[c];
            });
            for (let c = 0; c < d; c++) gQ[c] += coef * p.g[c];
            gBeta[0] += coef * p.att.m;
            if (options.useIds) {
              const lr = options.idLearningRate;
              const reg = options.regularization;
              for (let c = 0; c < d; c++) {
                const pu = weights.userEmb[ui * d + c];
                const ex = weights.itemEmb[p.x * d + c];
                weights.userEmb[ui * d + c] -= lr * (coef * ex + reg * pu);
                weights.itemEmb[p.x * d + c] -= lr * (coef * pu + reg * ex);
              }
              weights.itemBias[p.x] -= lr * (coef + reg * weights.itemBias[p.x]);
            }
          }
        }
        // 4. ∂W = Φᵀ·∂G, then the same regularised Adam steps as before
        const gW = await engine.gradient(phi, rows, dG);
        const scale = 1 / batch.length;
        for (let i = 0; i < gW.length; i++) gW[i] = gW[i] * scale + options.regularization * weights.w[i];
        for (let i = 0; i < d; i++) gQ[i] *= scale;
        optW.step(weights.w, gW);
        optQ.step(weights.q, gQ);
        gBeta[0] *= scale;
        optBeta.step(weights.beta, gBeta);
      }
      ranker.invalidate();
      epochsRun = epoch + 1;
      lossCurve.push(lossSum / Math.max(1, order.length));
      secondsPerEpoch.push((Date.now() - epochStart) / 1000);
      if (hooks.validate) {
        await refreshProjections();
        const score = hooks.validate(ranker);
        validCurve.push(score);
        if (score > best.score) best = { score, epoch: epochsRun, weights: cloneWeights(weights) };
        else if (epochsRun - best.epoch >= options.patience) {
          progress.update(epochsRun);
          break;
        }
      } else {
        best = { score: NaN, epoch: epochsRun, weights: cloneWeights(weights) };
      }
      progress.update(epochsRun);
    }
    progress.stop();
  } finally {
    await engine.release();
  }
  const final = new ContentRanker(features, numUsers, options, best.weights);
  return {
    ranker: final,
    epochsRun,
    bestEpoch: best.epoch,
    validCurve,
    lossCurve,
    secondsPerEpoch,
    seconds: (Date.now() - started) / 1000,
  };
}

function cloneWeights(w: RankerWeights): RankerWeights {
  return { w: w.w.slice(), q: w.q.slice(), userEmb: w.userEmb.slice(), itemEmb: w.itemEmb.slice(), itemBias: w.itemBias.slice(), beta: w.beta.slice() };
}

/** What is saved beside the ranker's weights. */
export interface RankerMeta {
  format: 'ragar-ranker-v1';
  dataset: string;
  /** SHA-256 of the dataset's item and user id lists: a model from another dataset is refused. */
  datasetFingerprint: string;
  imageModel: string | null;
  textModel: string | null;
  /** Style descriptor appended to the image features (absent in files written before it existed = none). */
  styleModel?: string | null;
  imageDim: number;
  textDim: number;
  numUsers: number;
  numItems: number;
  options: Omit<RankerOptions, 'attentionTau'> & { attentionTau: number | 'inf' };
  protocol: string;
  epochsRun: number;
  bestEpoch: number;
  validCurve: number[];
  lossCurve: number[];
  secondsPerEpoch: number[];
  trainSeconds: number;
  createdAt: string;
}

/** The file a saved ranker lives in, inside its folder (a tensor bundle: metadata and weights together). */
export const RANKER_FILE = 'ranker.bundle';

/**
 * Save a ranker as one tensor bundle (`<dir>/ranker.bundle`: the metadata and w, q, userEmb,
 * itemEmb, itemBias, beta), written atomically; files of the older two-file layout are removed.
 */
export function saveRanker(dir: string, ranker: ContentRanker, meta: RankerMeta): void {
  const { w, q, userEmb, itemEmb, itemBias, beta } = ranker.weights;
  writeTensorBundle(path.join(dir, RANKER_FILE), meta.format, meta, { w, q, userEmb, itemEmb, itemBias, beta });
  for (const legacy of ['weights.bin', 'meta.json']) fs.rmSync(path.join(dir, legacy), { force: true });
}

/** Load a saved ranker for `features`; refuses files of another format, dataset or shape. */
export function loadRanker(dir: string, features: ContentFeatures, expect: { dataset: string; fingerprint: string }): { ranker: ContentRanker; meta: RankerMeta } {
  const bundleFile = path.join(dir, RANKER_FILE);
  const metaFile = fs.existsSync(bundleFile) ? bundleFile : path.join(dir, 'meta.json');
  if (!fs.existsSync(metaFile)) throw new RagarError(`no ranker at ${dir}; run \`ragar rank train --dataset ${expect.dataset}\` first`, 'NOT_FOUND');
  const bundle = metaFile === bundleFile ? readTensorBundle<RankerMeta>(bundleFile, 'ragar-ranker-v1') : null;
  let meta: RankerMeta;
  try {
    meta = bundle ? bundle.meta : (JSON.parse(fs.readFileSync(metaFile, 'utf8')) as RankerMeta);
  } catch (err) {
    throw new RagarError(`${metaFile} is not valid JSON (${(err as Error).message})`, 'BAD_INPUT');
  }
  if (meta.format !== 'ragar-ranker-v1') throw new RagarError(`${metaFile}: unsupported ranker format ${String(meta.format)} (this ragar reads ragar-ranker-v1)`, 'VERSION');
  if (meta.dataset !== expect.dataset || meta.datasetFingerprint !== expect.fingerprint) {
    throw new RagarError(`${dir} holds a ranker trained on dataset ${meta.dataset} (fingerprint ${meta.datasetFingerprint.slice(0, 12)}), not on ${expect.dataset} as it is now (${expect.fingerprint.slice(0, 12)}); retrain with \`ragar rank train\``, 'BAD_INPUT');
  }
  if (meta.imageDim !== features.imageDim || meta.textDim !== features.textDim) {
    throw new RagarError(`${dir}: ranker expects ${meta.imageDim}+${meta.textDim}-d features, the cache gives ${features.imageDim}+${features.textDim}`, 'BAD_INPUT');
  }
  const options: RankerOptions = { ...meta.options, attentionTau: meta.options.attentionTau === 'inf' ? Infinity : meta.options.attentionTau };
  const d = options.dimension;
  const sizes = [(meta.imageDim + meta.textDim) * d, d, options.useIds ? meta.numUsers * d : 0, options.useIds ? meta.numItems * d : 0, options.useIds ? meta.numItems : 0, 1];
  if (bundle) {
    const t = bundle.tensors;
    const names = ['w', 'q', 'userEmb', 'itemEmb', 'itemBias', 'beta'] as const;
    names.forEach((n, i) => {
      if (t[n]?.length !== sizes[i]) throw new RagarError(`${bundleFile}: tensor ${n} has ${t[n]?.length ?? 0} values, expected ${sizes[i]}`, 'CORRUPT');
    });
    return { ranker: new ContentRanker(features, meta.numUsers, options, { w: t.w, q: t.q, userEmb: t.userEmb, itemEmb: t.itemEmb, itemBias: t.itemBias, beta: t.beta }), meta };
  }
  // The two-file layout written before the tensor bundle (meta.json + weights.bin).
  const buf = fs.readFileSync(path.join(dir, 'weights.bin'));
  const total = sizes.reduce((s, x) => s + x, 0);
  if (buf.byteLength !== total * 4) throw new RagarError(`${dir}/weights.bin has ${buf.byteLength} bytes, expected ${total * 4}`, 'BAD_INPUT');
  const all = new Float32Array(total);
  new Uint8Array(all.buffer).set(buf);
  const parts: Float32Array[] = [];
  let o = 0;
  for (const s of sizes) {
    parts.push(all.slice(o, o + s));
    o += s;
  }
  const weights: RankerWeights = { w: parts[0], q: parts[1], userEmb: parts[2], itemEmb: parts[3], itemBias: parts[4], beta: parts[5] };
  return { ranker: new ContentRanker(features, meta.numUsers, options, weights), meta };
}
