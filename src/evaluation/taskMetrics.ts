/**
 * Per-task metrics of the evaluation harness (`ragar eval`, DESIGN §4): every number a method's
 * output gets on one task, so that methods can be compared task by task (paired bootstrap), plus
 * the specifications that label each metric with its feature extractor.
 *
 * One output of one task is scored against:
 * - the **reference** (semantics): CIS = 100 · cos(image, reference image) with MobileNetV2;
 *   CS = 100 · cos(image, reference text) in the project's learned MobileNetV2↔USE joint space
 *   (`ragar train joint`; unavailable without it);
 * - the **history** (personalisation): Hist-CIS, Hist-CS, Hist-SSIM and Hist-MS-SSIM against the
 *   user's history items, **weighted by the tuned retrieval weights** (the setup's retrieval
 *   parameters, the same yardstick for every method and ablation setting), keeping the
 *   `histK` heaviest items and renormalising their weights. This differs from the plain mean over
 *   the whole history of the PMG/Pigeon protocol on purpose: emoji-styles users have a
 *   group-dependent taste, so a plain mean would reward an output for looking like history items
 *   about unrelated things; the weighted yardstick asks "does it look like what this user liked
 *   among related items";
 * - the **ground truth** (benchmark): target SSIM (luma, Wang et al.), target cosine = 100 · cos
 *   with MobileNetV2, a perceptual distance = 1 − cos of the standardised style-statistics
 *   descriptors (a low-level look descriptor; VGG-LPIPS is not available offline, and 1 − cos
 *   MobileNetV2 would only restate the target cosine), style accuracy (a style classifier
 *   trained on renditions of concepts outside the split), concept recognition (top-1 among the
 *   true concept and 9 distractors drawn in the target style);
 * - the **ranker** (recommendation side): the ranker's cold score R(u, x) of the output for its
 *   own user (with the reference's text), the margin over the mean score of a fixed seeded
 *   sample of other users of the split, the own user's rank among them (1 = best) and whether it
 *   is first.
 *
 * With a local CLIP (`--clip DIR` / `$RAGAR_CLIP`) the CLIP versions of CIS, CS, Hist-CIS and
 * Hist-CS are added (CLIP's own image and text towers; item vectors come from the embedding cache
 * when `ragar embed --clip` stored them, else are encoded on first use).
 *
 * The Fréchet distance is a set-level metric: see {@link setFrechet}.
 *
 * **Reference-only benchmarks** (PMG-Bench, POG, SER-30K, MovieLens imports: no concepts drawn
 * in styles, tasks without a held-out target) get every metric that needs neither: the semantic
 * (CIS, CS), history (Hist-*) and ranker rows, and the CLIP versions; the ground-truth rows
 * (target SSIM and cosine, perceptual distance, style accuracy, concept top-1, Fréchet) are left
 * out (`TaskInstruments.gallery` is null, `EvalTask.target` may be null).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ItemRecord, TaskRecord } from '../data/access.js';
import { EmbeddingCache } from '../store/embeddings.js';
import type { ClipEncoders } from '../encoders/clip.js';
import { jointSpaceFile, loadJointSpace, type JointSpace } from '../encoders/joint.js';
import { decodePixels64 } from '../encoders/pixels.js';
import { conceptHit, conceptTop1Gallery, styleHit, type EvaluationInstruments } from './outputMetrics.js';
import type { PersonalizationSetup } from '../pipeline/personalize.js';
import { buildPreference } from '../preference/build.js';
import { imageRow } from '../ranking/content.js';
import type { RankingUser } from '../ranking/types.js';
import type { RetrievalParams } from '../retrieval/weights.js';
import { RagarError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { frechetDistance } from './metrics/frechet.js';
import { featureCosine } from './metrics/perceptual.js';
import { msSsim, ssim } from './metrics/ssim.js';
import type { MetricSpec } from './report/types.js';

/** Bumped whenever a per-task metric changes meaning: cached scores of older versions are recomputed. */
export const TASK_METRICS_VERSION = 1;

/** Options of {@link openTaskInstruments}. */
export interface TaskInstrumentOptions {
  /** The split evaluated (its concepts are held out from the style classifier's training). */
  split: string;
  /** Seed of the style classifier, the concept distractors and the other-user sample. */
  seed: number;
  /** Folder of the joint space (`<home>/models/<dataset>/joint`); null or missing = CS unavailable. */
  jointDir?: string | null;
  /** CLIP encoders for the CLIP-based metrics (null = none). */
  clip?: ClipEncoders | null;
  /** Heaviest history items kept for the Hist-* metrics (default 10). */
  histK?: number;
  /** Other users of the split the ranker scores each output for (default 20). */
  otherUsers?: number;
  /** Identity of the ranker's weights (e.g. `rankerChecksum`), part of {@link TaskInstruments.key}. */
  rankerKey?: string;
}

/** CLIP side of the instruments: encoders plus item vectors (cached or encoded on first use). */
interface ClipInstrument {
  encoders: ClipEncoders;
  images: Map<number, Float32Array>;
  texts: Map<number, Float32Array>;
  /** Where the item vectors came from, for the notes. */
  source: string;
}

/** The fixed instruments of one evaluation (see {@link openTaskInstruments}). */
export interface TaskInstruments {
  setup: PersonalizationSetup;
  split: string;
  seed: number;
  /**
   * Style classifier and concept galleries (shared with `ragar generate evaluate`); null for a
   * reference-only dataset (no items with both a concept and a style).
   */
  gallery: EvaluationInstruments | null;
  /** The learned joint space, or null with the reason in {@link jointNote}. */
  joint: JointSpace | null;
  jointNote: string | null;
  clip: ClipInstrument | null;
  histK: number;
  /** The pool of other users (a seeded sample of the split's users, own user dropped per task). */
  otherPool: RankingUser[];
  otherUsers: number;
  /** The retrieval parameters of the history yardstick (the setup's tuned ones). */
  yardstick: RetrievalParams;
  /** Short names of the extractors, for labels. */
  extractors: { image: string; style: string; joint: string; clip: string | null };
  /**
   * Hash of everything per-task scores depend on besides the output itself (metric version,
   * dataset, seed, ranker, joint space, CLIP, yardstick, sample sizes): cached scores with
   * another key are recomputed from the cached output.
   */
  key: string;
  /** Decoded 64×64 pixels of dataset items, filled on first use. */
  pixels: Map<number, Float32Array>;
}

/** One task, prepared for scoring (see {@link prepareEvalTasks}). */
export interface EvalTask {
  task: TaskRecord;
  reference: ItemRecord;
  /** The held-out ground truth; null on a reference-only benchmark. */
  target: ItemRecord | null;
  refImage: Float32Array;
  refText: Float32Array | null;
  /**
   * The history yardstick: the heaviest items under the tuned retrieval weights, `weight`
   * renormalised over the kept items, `retrievalWeight` as the retrieval gave it.
   */
  history: { item: ItemRecord; weight: number; retrievalWeight: number }[];
  ownUser: RankingUser;
  others: RankingUser[];
  /** Seed of the generators' candidates for this task (independent of the task's position). */
  seed: number;
}

/** An output to score: its PNG, MobileNetV2 vector and raw style-statistics vector. */
export interface OutputToScore {
  png: Buffer | Uint8Array;
  image: Float32Array;
  style: Float32Array | null;
  /** CLIP image vector, when already computed (else encoded here if CLIP is configured). */
  clipImage?: Float32Array | null;
}

/** Per-task scores (metric key → value; NaN = not available). */
export type TaskScores = Record<string, number>;

/** A short, readable name of an encoder's model id, for metric labels. */
export function extractorName(modelId: string | null): string {
  if (!modelId) return 'none';
  if (modelId.startsWith('mobilenetv2-nsfwjs')) return 'MobileNetV2 flatten_1';
  if (modelId.startsWith('use-energetic-ai')) return 'USE';
  if (modelId.startsWith('style-stats')) return 'style-stats';
  return modelId;
}

function sha256File(file: string, hash: ReturnType<typeof createHash>): void {
  if (fs.existsSync(file)) hash.update(fs.readFileSync(file));
}

/** A RankingUser for a store user: the whole history, as `generationPreference` builds it. */
function rankingUserOf(setup: PersonalizationSetup, userId: number): RankingUser {
  const { rc } = setup;
  const u = rc.view.user(userId);
  const history = rc.view.history(u.id).map((h) => rc.data.itemIndex.get(h.itemId));
  if (history.some((i) => i === undefined)) throw new RagarError(`user ${u.externalId}: a history item is missing from the ranking data`, 'BAD_INPUT');
  return { userId: u.id, externalId: u.externalId, split: u.split, history: history as number[], heldOut: [] };
}

/**
 * Build the fixed instruments of an evaluation: the style classifier and concept galleries
 * (`conceptTop1Gallery`), the joint space when it exists and matches the dataset's encoders, the
 * CLIP item vectors, and the seeded pool of other users. Errors (`BAD_INPUT`) when the dataset
 * has no concepts, styles or style descriptors.
 *
 * @example
 * const instruments = openTaskInstruments(setup, { split: 'test', seed: 1, jointDir: jointSpaceDir(home, 'emoji-styles') });
 */
export function openTaskInstruments(setup: PersonalizationSetup, options: TaskInstrumentOptions): TaskInstruments {
  const { rc } = setup;
  const view = rc.view;
  if (!rc.style) throw new RagarError(`the evaluation needs the style descriptors of ${view.dataset.name}; run \`ragar embed --dataset ${view.dataset.name}\``, 'NOT_FOUND');
  if (!rc.vectors.imageModel) throw new RagarError(`the evaluation needs image embeddings of ${view.dataset.name}; run \`ragar embed --dataset ${view.dataset.name}\``, 'NOT_FOUND');
  const groundTruth = [...view.items().values()].some((i) => i.concept && i.style);
  const gallery = groundTruth ? conceptTop1Gallery(setup, options.split, options.seed) : null;

  let joint: JointSpace | null = null;
  let jointNote: string | null = null;
  const jointHash = createHash('sha256');
  const jointFile = options.jointDir ? jointSpaceFile(options.jointDir) : null;
  if (!options.jointDir || !jointFile) {
    jointNote = `CS and Hist-CS need the learned image–text joint space, which ${view.dataset.name} does not have yet: run \`ragar train joint --dataset ${view.dataset.name}\``;
  } else {
    const loaded = loadJointSpace(options.jointDir);
    if (loaded.meta.imageModel !== rc.vectors.imageModel || loaded.meta.textModel !== rc.vectors.textModel) {
      jointNote = `the joint space in ${options.jointDir} was trained on ${loaded.meta.imageModel} + ${loaded.meta.textModel}, not ${rc.vectors.imageModel} + ${rc.vectors.textModel}: CS and Hist-CS are not reported; retrain it with \`ragar train joint\``;
    } else {
      joint = loaded.space;
      sha256File(jointFile, jointHash);
    }
  }

  let clip: ClipInstrument | null = null;
  if (options.clip) {
    const cache = new EmbeddingCache(view.store);
    const models = cache.models(view.dataset.id);
    const load = (field: 'image' | 'text', modelId: string) =>
      models.some((m) => m.field === field && m.modelId === modelId)
        ? (() => {
            const t = cache.load(view.dataset.id, field, modelId);
            return new Map(t.itemIds.map((id, i) => [id, t.vectors[i]]));
          })()
        : new Map<number, Float32Array>();
    const images = load('image', options.clip.image.modelId);
    const texts = load('text', options.clip.text.modelId);
    clip = {
      encoders: options.clip,
      images,
      texts,
      source: images.size || texts.size ? `item vectors from the embedding cache (${images.size} images, ${texts.size} texts), the rest encoded here` : 'item vectors encoded here (run `ragar embed --clip DIR --image-encoder clip --text-encoder clip` to cache them)',
    };
  }

  const otherUsers = options.otherUsers ?? 20;
  const splitUsers = [...view.users().values()].filter((u) => u.split === options.split);
  const pool = new Rng(options.seed).fork('eval:other-users').shuffle([...splitUsers]).slice(0, otherUsers + 1);
  const otherPool = pool.map((u) => rankingUserOf(setup, u.id));

  const histK = options.histK ?? 10;
  if (!(Number.isInteger(histK) && histK >= 1)) throw new RagarError(`histK must be a positive integer, got ${histK}`, 'BAD_INPUT');
  const yardstick = setup.retrieval;
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        v: TASK_METRICS_VERSION,
        fingerprint: rc.fingerprint,
        imageModel: rc.vectors.imageModel,
        textModel: rc.vectors.textModel,
        styleModel: rc.style.model,
        split: options.split,
        seed: options.seed,
        ranker: options.rankerKey ?? null,
        joint: joint ? jointHash.digest('hex') : null,
        clip: clip ? clip.encoders.spaceId : null,
        histK,
        otherUsers,
        yardstick: { ...yardstick, tau: Number.isFinite(yardstick.tau) ? yardstick.tau : 'inf' },
      }),
    )
    .digest('hex')
    .slice(0, 16);
  return {
    setup,
    split: options.split,
    seed: options.seed,
    gallery,
    joint,
    jointNote,
    clip,
    histK,
    otherPool,
    otherUsers,
    yardstick,
    extractors: { image: extractorName(rc.vectors.imageModel), style: extractorName(rc.style.model), joint: `joint ${extractorName(rc.vectors.imageModel).split(' ')[0]}+${extractorName(rc.vectors.textModel)}`, clip: clip ? clip.encoders.spaceId : null },
    key,
    pixels: new Map(),
  };
}

/**
 * Prepare tasks for scoring: reference, target and their vectors, the history yardstick (tuned
 * retrieval weights, heaviest `histK` items renormalised), the own user and the other users.
 * Tasks without a target are an error on a benchmark with ground truth (the harness filters
 * them first) and allowed on a reference-only one.
 *
 * @example
 * const tasks = prepareEvalTasks(instruments, view.tasks('test').filter((t) => t.targetItemId !== null));
 */
export function prepareEvalTasks(instruments: TaskInstruments, tasks: readonly TaskRecord[]): EvalTask[] {
  const { setup } = instruments;
  const { rc } = setup;
  const view = rc.view;
  return tasks.map((task) => {
    if (task.targetItemId === null && instruments.gallery) throw new RagarError(`task ${task.externalId} has no target`, 'BAD_INPUT');
    const reference = view.item(task.referenceItemId);
    const target = task.targetItemId === null ? null : view.item(task.targetItemId);
    const refImage = rc.vectors.image.get(reference.id);
    if (!refImage || !reference.imageHash || (target && !target.imageHash)) throw new RagarError(`task ${task.externalId}: the reference or target has no image or no cached embedding; run \`ragar embed\``, 'NOT_FOUND');
    const pref = buildPreference(view, rc.vectors, task.userId, reference, instruments.yardstick, { weighting: 'retrieval', keywords: 1 });
    const items = pref.history
      .map((h) => ({ item: view.item(h.item), weight: h.weight }))
      .filter((h) => h.weight > 0)
      .sort((a, b) => b.weight - a.weight)
      .slice(0, instruments.histK);
    const total = items.reduce((s, h) => s + h.weight, 0);
    const history = items.map((h) => ({ item: h.item, weight: h.weight / total, retrievalWeight: h.weight }));
    const ownUser = rankingUserOf(setup, task.userId);
    const others = instruments.otherPool.filter((u) => u.userId !== task.userId).slice(0, instruments.otherUsers);
    const seed = new Rng(instruments.seed).fork(`eval:task:${task.externalId}`).int(1_000_000_000);
    return { task, reference, target, refImage, refText: rc.vectors.text.get(reference.id) ?? null, history, ownUser, others, seed };
  });
}

/** Decoded pixels of a dataset item (memoised). */
async function itemPixels(instruments: TaskInstruments, item: ItemRecord): Promise<Float32Array> {
  let px = instruments.pixels.get(item.id);
  if (!px) {
    px = await decodePixels64(instruments.setup.rc.view.store.images.read(item.imageHash!));
    instruments.pixels.set(item.id, px);
  }
  return px;
}

/** CLIP vectors of items (memoised; encoded in one batch per call where missing). */
async function clipItems(clip: ClipInstrument, instruments: TaskInstruments, items: readonly ItemRecord[], field: 'image' | 'text'): Promise<Float32Array[]> {
  const map = field === 'image' ? clip.images : clip.texts;
  const missing = [...new Map(items.filter((it) => !map.has(it.id)).map((it) => [it.id, it])).values()];
  if (missing.length) {
    const vectors =
      field === 'image'
        ? await clip.encoders.image.encode(missing.map((it) => instruments.setup.rc.view.store.images.read(it.imageHash!)))
        : await clip.encoders.text.encode(missing.map((it) => it.text || it.title));
    missing.forEach((it, i) => map.set(it.id, vectors[i]));
  }
  return items.map((it) => map.get(it.id)!);
}

/** The CLIP image vector of an output (computed when not given). */
export async function clipOutputVector(instruments: TaskInstruments, output: OutputToScore): Promise<Float32Array | null> {
  if (!instruments.clip) return null;
  if (output.clipImage) return output.clipImage;
  const [v] = await instruments.clip.encoders.image.encode([Buffer.from(output.png)]);
  return v;
}

/** Standardised style block of a raw style-statistics vector (the ranker's standardisation). */
function standardStyle(instruments: TaskInstruments, style: Float32Array): Float32Array {
  const block = instruments.setup.rc.features.style;
  if (!block) return style;
  const out = new Float32Array(block.dim);
  for (let k = 0; k < block.dim; k++) out[k] = (style[k] - block.mean[k]) / block.std[k];
  return out;
}

/**
 * Score one output of one task: every per-task metric of {@link taskMetricSpecs} (NaN where an
 * instrument is missing, e.g. CS without the joint space).
 *
 * @example
 * const scores = await scoreTaskOutput(instruments, task, { png, image: mobilenetVec, style: styleVec });
 * scores.style; // 1 when the style classifier sees the user's target style
 */
export async function scoreTaskOutput(instruments: TaskInstruments, t: EvalTask, output: OutputToScore): Promise<TaskScores> {
  const { setup, gallery, joint } = instruments;
  const { rc, ranker } = setup;
  const s: TaskScores = {};
  const out = output.image;
  if (out.length !== t.refImage.length) throw new RagarError(`output embedding has ${out.length} values, the dataset's ${t.refImage.length}`, 'BAD_INPUT');
  const histImages = t.history.map((h) => rc.vectors.image.get(h.item.id) ?? null);

  // Semantics: to the reference.
  s.cis = 100 * featureCosine(out, t.refImage);
  s.cs = joint && t.refText ? 100 * joint.score(out, t.refText) : NaN;

  // Personalisation: to the weighted history.
  let hc = 0;
  let hcW = 0;
  let ht = 0;
  let htW = 0;
  const projected = joint ? joint.projectImage(out) : null;
  t.history.forEach((h, j) => {
    const v = histImages[j];
    if (v) {
      hc += h.weight * featureCosine(out, v);
      hcW += h.weight;
    }
    const text = rc.vectors.text.get(h.item.id);
    if (projected && text) {
      const p = joint!.projectText(text);
      let d = 0;
      for (let k = 0; k < p.length; k++) d += p[k] * projected[k];
      ht += h.weight * d;
      htW += h.weight;
    }
  });
  s.histCis = hcW > 0 ? (100 * hc) / hcW : NaN;
  s.histCs = htW > 0 ? (100 * ht) / htW : NaN;
  const px = await decodePixels64(output.png);
  let hs = 0;
  let hm = 0;
  let hw = 0;
  for (const h of t.history) {
    if (!h.item.imageHash) continue;
    const hp = await itemPixels(instruments, h.item);
    hs += h.weight * ssim(px, hp);
    hm += h.weight * msSsim(px, hp);
    hw += h.weight;
  }
  s.histSsim = hw > 0 ? hs / hw : NaN;
  s.histMsSsim = hw > 0 ? hm / hw : NaN;

  // Ground truth (benchmarks that have one).
  if (t.target) {
    const targetPx = await itemPixels(instruments, t.target);
    s.targetSsim = ssim(px, targetPx);
    const targetImage = rc.vectors.image.get(t.target.id)!;
    s.targetCosine = 100 * featureCosine(out, targetImage);
    const targetStyle = rc.style!.vectors.get(t.target.id) ?? null;
    s.perceptual = output.style && targetStyle ? 1 - featureCosine(standardStyle(instruments, output.style), standardStyle(instruments, targetStyle)) : NaN;
  }
  if (t.target && gallery) {
    s.style = output.style ? (styleHit(gallery, out, output.style, t.target.style) ? 1 : 0) : NaN;
    s.concept = conceptHit(gallery, t.task.externalId, t.target, out) ? 1 : 0;
  }

  // Ranker: own user against others.
  const cold = { image: imageRow(rc.features, out, output.style), text: t.refText };
  const own = ranker.scoreOne(t.ownUser, -1, cold);
  s.rankerScore = own;
  if (t.others.length) {
    const others = t.others.map((u) => ranker.scoreOne(u, -1, cold));
    s.rankerMargin = own - others.reduce((a, b) => a + b, 0) / others.length;
    s.rankerRank = 1 + others.filter((x) => x > own).length;
    s.rankerTop1 = s.rankerRank === 1 ? 1 : 0;
  } else {
    s.rankerMargin = NaN;
    s.rankerRank = NaN;
    s.rankerTop1 = NaN;
  }

  // CLIP.
  if (instruments.clip) {
    const clip = instruments.clip;
    const co = (await clipOutputVector(instruments, output))!;
    const [refImg] = await clipItems(clip, instruments, [t.reference], 'image');
    const [refTxt] = await clipItems(clip, instruments, [t.reference], 'text');
    s.clipCis = 100 * featureCosine(co, refImg);
    s.clipCs = 100 * featureCosine(co, refTxt);
    const items = t.history.map((h) => h.item).filter((it) => it.imageHash);
    const weights = t.history.filter((h) => h.item.imageHash).map((h) => h.weight);
    const hi = await clipItems(clip, instruments, items, 'image');
    const ht2 = await clipItems(clip, instruments, t.history.map((h) => h.item), 'text');
    const wsum = weights.reduce((a, b) => a + b, 0);
    s.clipHistCis = wsum > 0 ? (100 * hi.reduce((a, v, j) => a + weights[j] * featureCosine(co, v), 0)) / wsum : NaN;
    s.clipHistCs = (100 * ht2.reduce((a, v, j) => a + t.history[j].weight * featureCosine(co, v), 0)) / t.history.reduce((a, h) => a + h.weight, 0);
  }
  return s;
}

/** CLIP image vectors of the targets of `tasks` (for the CLIP Fréchet distance). */
export async function clipTargetVectors(instruments: TaskInstruments, tasks: readonly EvalTask[]): Promise<Float32Array[]> {
  if (!instruments.clip) return [];
  if (tasks.some((t) => !t.target)) return [];
  return clipItems(instruments.clip, instruments, tasks.map((t) => t.target!), 'image');
}

/**
 * The Fréchet distance between a method's output features and the real targets' features of the
 * same tasks (FID's formula; NaN with fewer than two tasks).
 *
 * @example
 * setFrechet(outputs.map((o) => o.image), tasks.map((t) => rc.vectors.image.get(t.target.id)!));
 */
export function setFrechet(outputs: readonly Float32Array[], targets: readonly Float32Array[]): number {
  if (outputs.length !== targets.length) throw new RagarError(`Fréchet distance: ${outputs.length} outputs for ${targets.length} targets`, 'BAD_INPUT');
  return outputs.length >= 2 ? frechetDistance(outputs, targets) : NaN;
}

/**
 * The metric columns of the evaluation report, in display order, each labelled with its feature
 * extractor (CLIP columns only when CLIP is configured; the ground-truth columns only when the
 * benchmark has ground truth, `gallery` not null).
 *
 * @example
 * taskMetricSpecs(instruments).map((m) => m.label); // ['CIS [MobileNetV2 flatten_1]', …]
 */
export function taskMetricSpecs(instruments: Pick<TaskInstruments, 'extractors' | 'clip' | 'histK' | 'otherUsers'> & { gallery?: TaskInstruments['gallery'] }): MetricSpec[] {
  const { image, style, joint, clip } = instruments.extractors;
  const hist = `the history weighted by the tuned retrieval weights (heaviest ${instruments.histK} items, renormalised)`;
  const n = instruments.otherUsers;
  const specs: MetricSpec[] = [
    { key: 'style', label: `Style acc. [${image} + ${style}]`, extractor: 'style classifier', higherIsBetter: true, format: 'percent', description: `share of outputs that a logistic style classifier on ${image} + ${style} features (trained on renditions of concepts outside the split) assigns the target's style, the user's taste for the reference's group` },
    { key: 'concept', label: `Concept top-1 [${image}]`, extractor: 'nearest of 10 concepts', higherIsBetter: true, format: 'percent', description: `the true concept drawn in the target style is the nearest (${image} cosine) of 10 concepts drawn in that style (9 seeded distractors; chance 10%)` },
    { key: 'targetSsim', label: 'Target SSIM [luma]', extractor: 'SSIM, 11×11 σ 1.5', higherIsBetter: true, format: 'number', description: 'SSIM (Wang et al.; luma, Gaussian window 11, σ 1.5, K1 0.01, K2 0.03) at 64×64 to the held-out ground-truth rendition' },
    { key: 'targetCosine', label: `Target cos [${image}]`, extractor: '100 × cosine', higherIsBetter: true, format: 'number', description: `${image} feature cosine to the held-out ground-truth rendition` },
    { key: 'perceptual', label: `Perceptual dist. [${style}]`, extractor: '1 − cosine', higherIsBetter: false, format: 'number', description: `1 − cosine of the standardised ${style} descriptors (colour, shading, gradient and outline statistics) of output and target: a look distance standing in for VGG-LPIPS, which is not available offline` },
    { key: 'cis', label: `CIS [${image}]`, extractor: '100 × cosine', higherIsBetter: true, format: 'number', description: `image–image ${image} cosine to the reference (semantics kept)` },
    { key: 'cs', label: `CS [${joint}]`, extractor: '100 × cosine', higherIsBetter: true, format: 'number', description: `image–text cosine to the reference's text in the learned ${joint} space (ragar train joint)` },
    { key: 'frechet', label: `Fréchet dist. [${image}]`, extractor: 'FID formula, set-level', higherIsBetter: false, format: 'number', description: `Fréchet distance between the ${image} features of the outputs and of the real targets of the same tasks` },
    { key: 'histCis', label: `Hist-CIS [${image}]`, extractor: '100 × cosine, weighted', higherIsBetter: true, format: 'number', description: `${image} image cosine to ${hist}` },
    { key: 'histCs', label: `Hist-CS [${joint}]`, extractor: '100 × cosine, weighted', higherIsBetter: true, format: 'number', description: `cosine of the output image to the texts of ${hist}, in the ${joint} space` },
    { key: 'histSsim', label: 'Hist-SSIM [luma]', extractor: 'SSIM, weighted', higherIsBetter: true, format: 'number', description: `SSIM (luma, 11×11 Gaussian) at 64×64 to ${hist}` },
    { key: 'histMsSsim', label: 'Hist-MS-SSIM [luma]', extractor: 'MS-SSIM, 5 scales, weighted', higherIsBetter: true, format: 'number', description: `MS-SSIM (five scales, standard weights, window clipped at 8 and 4 px) at 64×64 to ${hist}` },
    { key: 'rankerScore', label: 'Ranker score [own user]', extractor: 'R(u, x), cold path', higherIsBetter: true, format: 'number', description: `the trained ranker's score of the output (${image} + ${style} + the reference's text) for the user it was personalised for` },
    { key: 'rankerMargin', label: 'Ranker margin [own − others]', extractor: `vs ${n} other users`, higherIsBetter: true, format: 'number', description: `R(own user, x) − the mean of R(v, x) over ${n} seeded other users v of the split` },
    { key: 'rankerRank', label: `Own-user rank [of ${n + 1}]`, extractor: '1 = best', higherIsBetter: false, format: 'number', description: `rank of R(own user, x) among the own user and ${n} other users of the split` },
    { key: 'rankerTop1', label: `Own user first [of ${n + 1}]`, extractor: 'share of tasks', higherIsBetter: true, format: 'percent', description: `share of tasks where the own user scores the output above all ${n} other users` },
  ];
  if (clip) {
    const c = `CLIP ${clip}`;
    specs.push(
      { key: 'clipCis', label: `CIS [${c}]`, extractor: '100 × cosine', higherIsBetter: true, format: 'number', description: 'CLIP image–image cosine to the reference' },
      { key: 'clipCs', label: `CS [${c}]`, extractor: '100 × cosine', higherIsBetter: true, format: 'number', description: "CLIP image–text cosine to the reference's text" },
      { key: 'clipHistCis', label: `Hist-CIS [${c}]`, extractor: '100 × cosine, weighted', higherIsBetter: true, format: 'number', description: `CLIP image cosine to ${hist}` },
      { key: 'clipHistCs', label: `Hist-CS [${c}]`, extractor: '100 × cosine, weighted', higherIsBetter: true, format: 'number', description: `CLIP image–text cosine to the texts of ${hist}` },
      { key: 'clipFrechet', label: `Fréchet dist. [${c}]`, extractor: 'FID formula, set-level', higherIsBetter: false, format: 'number', description: 'Fréchet distance between CLIP image features of the outputs and of the real targets' },
    );
  }
  return instruments.gallery === null ? specs.filter((m) => !GROUND_TRUTH_METRICS.includes(m.key)) : specs;
}

/** Keys of the metrics that need a held-out ground truth (left out on reference-only benchmarks). */
export const GROUND_TRUTH_METRICS: readonly string[] = ['style', 'concept', 'targetSsim', 'targetCosine', 'perceptual', 'frechet', 'clipFrechet'];

/** Keys of the set-level metrics (computed over a method's outputs, not per task). */
export const SET_LEVEL_METRICS: readonly string[] = ['frechet', 'clipFrechet'];
