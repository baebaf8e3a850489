import type { DatasetView } from '../data/access.js';
import { RagarError } from '../util/errors.js';
import { dot } from '../encoders/types.js';
import { mixSimilarity, weightsFromSimilarities, type RetrievalParams } from './weights.js';

/** Item vectors of a dataset by item id (either map may be empty). */
export interface VectorLookup {
  image: Map<number, Float32Array>;
  text: Map<number, Float32Array>;
}

/** The grid searched on the validation split. */
export interface RetrievalGrid {
  alpha: number[];
  k: (number | null)[];
  tau: number[];
}

/** Default validation grid (README). */
export const DEFAULT_GRID: RetrievalGrid = {
  alpha: [0, 0.25, 0.5, 0.75, 1],
  k: [1, 3, 5, 10, 20, null],
  tau: [0.01, 0.03, 0.1, 0.3, Infinity],
};

/** One query of a retrieval evaluation: similarities of each history item to the reference. */
interface Case {
  imageSim: (number | null)[];
  textSim: (number | null)[];
  /** A label per history item (a style, or a rating). */
  labels: (string | number)[];
  /** What the evaluation compares the aggregate to. */
  truth: string | number;
}

function similarities(ref: number, hist: readonly number[], vectors: VectorLookup): Pick<Case, 'imageSim' | 'textSim'> {
  const ri = vectors.image.get(ref);
  const rt = vectors.text.get(ref);
  return {
    imageSim: hist.map((h) => {
      const v = vectors.image.get(h);
      return ri && v ? dot(ri, v) : null;
    }),
    textSim: hist.map((h) => {
      const v = vectors.text.get(h);
      return rt && v ? dot(rt, v) : null;
    }),
  };
}

/** Weights of one case under `p` (same definition as `retrievalWeights`, on precomputed similarities), and the most similar item. */
function caseWeights(c: Case, p: RetrievalParams): { weights: number[]; best: number } {
  const n = c.labels.length;
  const s = Array.from({ length: n }, (_, j) => mixSimilarity(c.imageSim[j], c.textSim[j], p.alpha));
  const { weights, kept } = weightsFromSimilarities(s, p);
  return { weights, best: kept[0] };
}

/** The label with the largest total weight (ties: alphabetical), and the top-weighted (most similar) item's label. */
function dominantLabel(labels: readonly (string | number)[], { weights, best }: { weights: readonly number[]; best: number }): { dominant: string; top1: string } {
  const mass = new Map<string, number>();
  for (let j = 0; j < labels.length; j++) {
    const l = String(labels[j]);
    mass.set(l, (mass.get(l) ?? 0) + weights[j]);
  }
  const dominant = [...mass].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
  return { dominant, top1: String(labels[best]) };
}

function gridOf(grid: RetrievalGrid): RetrievalParams[] {
  const out: RetrievalParams[] = [];
  for (const alpha of grid.alpha) for (const k of grid.k) for (const tau of grid.tau) out.push({ alpha, k, tau });
  return out;
}

/** Style-match figures of one setting. */
export interface StyleMatchScore {
  /** Share of tasks where the weight-dominant history style is the user's taste for the reference's group. */
  styleMatch: number;
  /** Share where the single top-weighted item has that style. */
  top1StyleMatch: number;
  tasks: number;
}

function styleScore(cases: Case[], p: RetrievalParams): StyleMatchScore {
  let hit = 0;
  let top = 0;
  for (const c of cases) {
    const { dominant, top1 } = dominantLabel(c.labels, caseWeights(c, p));
    if (dominant === c.truth) hit++;
    if (top1 === c.truth) top++;
  }
  return { styleMatch: cases.length ? hit / cases.length : NaN, top1StyleMatch: cases.length ? top / cases.length : NaN, tasks: cases.length };
}

function emojiCases(view: DatasetView, vectors: VectorLookup, split: string): Case[] {
  const tasks = view.tasks(split).filter((t) => t.targetItemId !== null);
  if (tasks.length === 0) throw new RagarError(`dataset ${view.dataset.name} has no ${split} tasks with a target`, 'BAD_INPUT');
  return tasks.map((t) => {
    const hist = view.history(t.userId).map((h) => h.itemId);
    return {
      ...similarities(t.referenceItemId, hist, vectors),
      labels: hist.map((h) => view.item(h).style ?? ''),
      truth: view.item(t.targetItemId!).style ?? '',
    };
  }).filter((c) => c.labels.length > 0);
}

/** Serialisable form of retrieval parameters (`k: "all"`, `tau: "inf"`). */
export function describeParams(p: RetrievalParams): { alpha: number; k: number | 'all'; tau: number | 'inf' } {
  return { alpha: p.alpha, k: p.k === null ? 'all' : p.k, tau: Number.isFinite(p.tau) ? p.tau : 'inf' };
}

/**
 * Emoji-styles retrieval evidence: for each task of `split`, does the dominant style of the
 * weighted history match the user's true taste for the reference's group (= the target's style)?
 * Retrieval parameters are tuned on the `valid` split (never on test), for the full method and
 * for the text-only (α = 0) and image-only (α = 1) ablations; equal pooling is the baseline.
 */
export function evaluateEmojiRetrieval(view: DatasetView, vectors: VectorLookup, split: string, grid: RetrievalGrid = DEFAULT_GRID) {
  const valid = emojiCases(view, vectors, 'valid');
  const test = emojiCases(view, vectors, split);
  const tune = (alphas: number[]) => {
    let best: { p: RetrievalParams; score: StyleMatchScore } | null = null;
    for (const p of gridOf({ ...grid, alpha: alphas })) {
      const score = styleScore(valid, p);
      if (!best || score.styleMatch > best.score.styleMatch) best = { p, score };
    }
    return best!;
  };
  const full = tune(grid.alpha);
  const textOnly = tune([0]);
  const imageOnly = tune([1]);
  const uniform: RetrievalParams = { alpha: 0.5, k: null, tau: Infinity };
  const result = (b: { p: RetrievalParams; score: StyleMatchScore }) => ({
    ...styleScore(test, b.p),
    params: describeParams(b.p),
    validStyleMatch: b.score.styleMatch,
  });
  return {
    dataset: view.dataset.name,
    split,
    retrieval: result(full),
    uniform: { ...styleScore(test, uniform), params: describeParams(uniform), validStyleMatch: styleScore(valid, uniform).styleMatch },
    textOnly: result(textOnly),
    imageOnly: result(imageOnly),
    tuning: { split: 'valid', tasks: valid.length, settings: gridOf(grid).length, grid: { alpha: grid.alpha, k: grid.k.map((k) => k ?? 'all'), tau: grid.tau.map((t) => (Number.isFinite(t) ? t : 'inf')) } },
  };
}

/** Rating-prediction errors of one setting. */
export interface RatingScore {
  rmse: number;
  mae: number;
  predictions: number;
}

function ratingScore(cases: Case[], p: RetrievalParams): RatingScore {
  let se = 0;
  let ae = 0;
  for (const c of cases) {
    const w = caseWeights(c, p).weights;
    let pred = 0;
    for (let j = 0; j < w.length; j++) pred += w[j] * (c.labels[j] as number);
    const err = pred - (c.truth as number);
    se += err * err;
    ae += Math.abs(err);
  }
  const n = cases.length;
  return { rmse: Math.sqrt(se / n), mae: ae / n, predictions: n };
}

function ratingCases(view: DatasetView, vectors: VectorLookup, split: string, holdout: number): Case[] {
  const cases: Case[] = [];
  for (const user of view.users().values()) {
    if (user.split !== split) continue;
    const hist = view.history(user.id).filter((h) => h.rating !== null);
    for (let q = Math.max(1, hist.length - holdout); q < hist.length; q++) {
      const past = hist.slice(0, q);
      const ids = past.map((h) => h.itemId);
      cases.push({ ...similarities(hist[q].itemId, ids, vectors), labels: past.map((h) => h.rating!), truth: hist[q].rating! });
    }
  }
  if (cases.length === 0) throw new RagarError(`dataset ${view.dataset.name} has no rated interactions of ${split} users`, 'BAD_INPUT');
  return cases;
}

/**
 * MovieLens retrieval evidence on real behaviour: predict each `split` user's rating of each of
 * their `holdout` latest movies from the ratings of the movies they rated before it, weighted by
 * similarity to the held-out movie (retrieval, k and τ tuned on valid users) or equally (the
 * user's mean rating so far: equal pooling).
 */
export function evaluateRatingRetrieval(view: DatasetView, vectors: VectorLookup, split: string, holdout = 5, grid: RetrievalGrid = DEFAULT_GRID) {
  const valid = ratingCases(view, vectors, 'valid', holdout);
  const test = ratingCases(view, vectors, split, holdout);
  const hasImages = vectors.image.size > 0;
  const candidates = gridOf({ ...grid, alpha: hasImages ? grid.alpha : [0] });
  let best: { p: RetrievalParams; score: RatingScore } | null = null;
  for (const p of candidates) {
    const score = ratingScore(valid, p);
    if (!best || score.rmse < best.score.rmse) best = { p, score };
  }
  const uniform: RetrievalParams = { alpha: 0, k: null, tau: Infinity };
  return {
    dataset: view.dataset.name,
    split,
    holdoutPerUser: holdout,
    retrieval: { ...ratingScore(test, best!.p), params: describeParams(best!.p), validRmse: best!.score.rmse },
    uniform: { ...ratingScore(test, uniform), params: describeParams(uniform), validRmse: ratingScore(valid, uniform).rmse },
    tuning: { split: 'valid', predictions: valid.length, settings: candidates.length },
    modalities: hasImages ? 'image+text' : 'text',
  };
}
