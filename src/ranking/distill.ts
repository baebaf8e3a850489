import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodePixels64 } from '../encoders/pixels.js';
import { RagarError } from '../util/errors.js';
import { silentProgress, type Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { spearman } from './metrics.js';
import { loadSavedRanker, rankModelsDir, type RankingContext } from './pipeline.js';
import type { ContentRanker } from './ranker.js';
import { ImageTower, trainImageTower, DEFAULT_TOWER_TRAIN, type TowerExample, type TowerTrainOptions } from './tower.js';
import { readJsonFile, writeFileAtomicSync } from '../util/persist.js';

/** Format of `distill.json` beside a distilled tower. */
export const DISTILL_FORMAT = 'ragar-tower-distill-v1';

/** Options of {@link distillRankerTower}. */
export interface DistillOptions {
  /** Tower training options (defaults: {@link DEFAULT_TOWER_TRAIN} with 30 epochs). */
  tower?: Partial<Omit<TowerTrainOptions, 'progress'>>;
  /** Most test users to measure agreement on (all by default). */
  maxUsers?: number;
  progress?: Progress;
  note?: (line: string) => void;
}

/** Defaults of `ragar rank distill` (README). */
export const DEFAULT_DISTILL_TOWER: Omit<TowerTrainOptions, 'progress'> = { ...DEFAULT_TOWER_TRAIN, epochs: 30 };

/** Agreement of tower-based and full ranker scores on images the tower never saw. */
export interface DistillAgreement {
  /** Mean over test users of Spearman(full R(u,x), tower R(u,x)) over the held-out images. */
  spearmanFull: number;
  /** The same on the image part only: Spearman(g_img(x)·v, s(x)·v). */
  spearmanImagePart: number;
  /** Cold pairwise accuracy of test tasks with the full ranker and with the tower path. */
  coldPairwiseFull: number | null;
  coldPairwiseTower: number | null;
  /** Share of those pairs the two paths order the same way. */
  coldPairwiseConsistency: number | null;
  heldOutImages: number;
  users: number;
}

/** `distill.json`. */
export interface DistillMeta {
  format: typeof DISTILL_FORMAT;
  dataset: string;
  datasetFingerprint: string;
  /** SHA-256 of the ranker's weights file the targets came from: a tower is used only with that ranker. */
  rankerSha256: string;
  split: string;
  trainItems: number;
  validItems: number;
  heldOutItems: number;
  seed: number;
  options: Omit<TowerTrainOptions, 'progress'>;
  trainSeconds: number;
  msPerSample: number;
  bestEpoch: number;
  agreement: DistillAgreement;
  createdAt: string;
}

/** `<home>/models/<dataset>/rank/tower`. */
export function towerDir(home: string, dataset: string): string {
  return path.join(rankModelsDir(home, dataset), 'tower');
}

/** SHA-256 of the saved ranker's weight file. */
export function rankerChecksum(home: string, dataset: string): string {
  const dir = path.join(rankModelsDir(home, dataset), 'ranker');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.bin') || f.endsWith('.bundle')).sort() : [];
  if (!files.length) throw new RagarError(`no trained ranker in ${dir}; run \`ragar rank train\` first`, 'NOT_FOUND');
  const hash = createHash('sha256');
  for (const f of files) hash.update(fs.readFileSync(path.join(dir, f)));
  return hash.digest('hex');
}

/**
 * Distil the pixel-space image tower from the trained ranker (DESIGN §2 step 4): targets are the
 * ranker's image part `g_img(x) = W_imgᵀ·[E_v(x); style(x)]` of every item with an image. Items
 * are split by concept split where the dataset has one (train concepts train the tower, valid
 * concepts stop it early, test concepts are held out), else by a seeded 80/10/10 item split.
 * Agreement is measured on the held-out images for test users: Spearman of the full ranker's
 * cold score against the tower path's score `s(x)·v + c` (same text, same attention), and cold
 * pairwise accuracy with both paths. Saves the tower and `distill.json` in {@link towerDir}.
 *
 * @example
 * const meta = await distillRankerTower(ctx, home, { tower: { epochs: 20 } });
 * meta.agreement.spearmanFull; // ≈ 1 for a perfect student
 */
export async function distillRankerTower(ctx: RankingContext, home: string, options: DistillOptions = {}): Promise<DistillMeta> {
  const { view, data, features } = ctx;
  if (!features.imageDim) throw new RagarError(`dataset ${view.dataset.name} has no image embeddings: nothing to distil a pixel tower from`, 'BAD_INPUT');
  const { ranker } = loadSavedRanker(ctx, home, 'ranker');
  const rankerSha256 = rankerChecksum(home, view.dataset.name);
  const towerOptions = { ...DEFAULT_DISTILL_TOWER, ...options.tower };
  const progress = options.progress ?? silentProgress;
  const note = options.note ?? (() => {});

  // Split the items that have images.
  const conceptSplit = view.conceptSplits();
  const rng = new Rng(towerOptions.seed);
  const splitOf = (i: number): 'train' | 'valid' | 'test' => {
    const c = view.item(data.itemIds[i]).concept;
    const s = c ? conceptSplit.get(c) : undefined;
    if (s === 'train' || s === 'valid' || s === 'test') return s;
    const r = rng.next();
    return r < 0.8 ? 'train' : r < 0.9 ? 'valid' : 'test';
  };
  const parts: Record<'train' | 'valid' | 'test', number[]> = { train: [], valid: [], test: [] };
  for (let i = 0; i < data.numItems; i++) if (features.hasImage[i]) parts[splitOf(i)].push(i);
  if (parts.train.length < 2 || parts.test.length < 2) throw new RagarError(`too few images to distil a tower (train ${parts.train.length}, held out ${parts.test.length})`, 'BAD_INPUT');
  if (!parts.valid.length) parts.valid = parts.train.splice(0, Math.max(1, Math.floor(parts.train.length / 8)));

  const row = (i: number) => features.image.subarray(i * features.imageDim, (i + 1) * features.imageDim);
  const text = (i: number) => (features.hasText[i] ? features.text.subarray(i * features.textDim, (i + 1) * features.textDim) : null);
  const pixelsOf = new Map<number, Float32Array>();
  const all = [...parts.train, ...parts.valid, ...parts.test];
  progress.start('decoding images', all.length);
  for (const [n, i] of all.entries()) {
    const hash = view.item(data.itemIds[i]).imageHash;
    if (!hash) continue;
    pixelsOf.set(i, await decodePixels64(view.store.images.read(hash)));
    if (n % 200 === 0) progress.update(n + 1);
  }
  progress.update(all.length);
  progress.stop();
  const examples = (idx: number[]): TowerExample[] => idx.map((i) => ({ pixels: pixelsOf.get(i)!, target: ranker.projectImage(row(i)) }));
  note(`distilling the image tower on ${parts.train.length} images (early stopping on ${parts.valid.length}, ${parts.test.length} held out) …`);
  const started = Date.now();
  const trained = trainImageTower(examples(parts.train), examples(parts.valid), { ...towerOptions, progress });
  const trainSeconds = (Date.now() - started) / 1000;
  const agreement = measureAgreement(ctx, ranker, trained.tower, parts.test, pixelsOf, row, text, options.maxUsers);

  const dir = towerDir(home, view.dataset.name);
  await trained.tower.save(dir);
  const meta: DistillMeta = {
    format: DISTILL_FORMAT,
    dataset: view.dataset.name,
    datasetFingerprint: ctx.fingerprint,
    rankerSha256,
    split: conceptSplit.size ? 'concept split: train concepts train, valid concepts stop early, test concepts held out' : 'seeded 80/10/10 item split',
    trainItems: parts.train.length,
    validItems: parts.valid.length,
    heldOutItems: parts.test.length,
    seed: towerOptions.seed,
    options: towerOptions,
    trainSeconds,
    msPerSample: trained.msPerSample,
    bestEpoch: trained.bestEpoch,
    agreement,
    createdAt: new Date().toISOString(),
  };
  writeFileAtomicSync(path.join(dir, 'distill.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return meta;
}

function measureAgreement(
  ctx: RankingContext,
  ranker: ContentRanker,
  tower: ImageTower,
  heldOut: number[],
  pixelsOf: Map<number, Float32Array>,
  row: (i: number) => Float32Array,
  text: (i: number) => Float32Array | null,
  maxUsers?: number,
): DistillAgreement {
  const { data } = ctx;
  const towerPart = new Map(heldOut.map((i) => [i, tower.embed(pixelsOf.get(i)!)]));
  const fullPart = new Map(heldOut.map((i) => [i, ranker.projectImage(row(i))]));
  const users = data.users.map((u, ui) => [u, ui] as const).filter(([u]) => u.split === 'test' && u.history.length > 0).slice(0, maxUsers ?? Infinity);
  const dotf = (a: Float32Array, b: Float32Array) => {
    let s = 0;
    for (let k = 0; k < a.length; k++) s += a[k] * b[k];
    return s;
  };
  // Items with the same text share the attention: cache the parts per user and text.
  const full: number[] = [];
  const imagePart: number[] = [];
  const partsCache = new Map<string, { v: Float32Array; constant: number }>();
  const partsOf = (user: (typeof data.users)[number], i: number) => {
    const t = text(i);
    if (!t) return null;
    const key = Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('base64');
    let p = partsCache.get(key);
    if (!p) partsCache.set(key, (p = ranker.imageScoreParts(user, t)));
    return p;
  };
  for (const [user] of users) {
    partsCache.clear();
    const f: number[] = [];
    const s: number[] = [];
    const fi: number[] = [];
    const si: number[] = [];
    for (const i of heldOut) {
      const p = partsOf(user, i);
      if (!p) continue;
      const a = dotf(fullPart.get(i)!, p.v);
      const b = dotf(towerPart.get(i)!, p.v);
      f.push(a + p.constant);
      s.push(b + p.constant);
      fi.push(a);
      si.push(b);
    }
    if (f.length >= 2) {
      full.push(spearman(f, s));
      imagePart.push(spearman(fi, si));
    }
  }
  const mean = (xs: number[]) => {
    const ok = xs.filter(Number.isFinite);
    return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : NaN;
  };
  // Cold pairwise accuracy of test tasks on both paths.
  const userIndex = new Map(data.users.map((u, i) => [u.userId, i]));
  let pairs = 0;
  let winsFull = 0;
  let winsTower = 0;
  let same = 0;
  const held = new Set(heldOut);
  for (const task of ctx.view.tasks('test')) {
    if (task.targetItemId === null) continue;
    const ui = userIndex.get(task.userId);
    const target = data.itemIndex.get(task.targetItemId);
    if (ui === undefined || target === undefined || !held.has(target)) continue;
    const user = data.users[ui];
    const p = ranker.imageScoreParts(user, text(target) ?? new Float32Array(ctx.features.textDim));
    const ft = dotf(fullPart.get(target)!, p.v);
    const tt = dotf(towerPart.get(target)!, p.v);
    for (const other of ctx.siblings[target]) {
      if (other === target || !held.has(other)) continue;
      const fo = dotf(fullPart.get(other)!, p.v);
      const to = dotf(towerPart.get(other)!, p.v);
      pairs++;
      if (ft > fo) winsFull++;
      if (tt > to) winsTower++;
      if (ft > fo === tt > to) same++;
    }
  }
  return {
    spearmanFull: mean(full),
    spearmanImagePart: mean(imagePart),
    coldPairwiseFull: pairs ? winsFull / pairs : null,
    coldPairwiseTower: pairs ? winsTower / pairs : null,
    coldPairwiseConsistency: pairs ? same / pairs : null,
    heldOutImages: heldOut.length,
    users: full.length,
  };
}

/**
 * Load the distilled tower of a dataset, refusing one distilled from another ranker or dataset.
 *
 * @example
 * const { tower, meta } = await loadDistilledTower(home, ctx);
 */
export async function loadDistilledTower(home: string, ctx: Pick<RankingContext, 'view' | 'fingerprint'>): Promise<{ tower: ImageTower; meta: DistillMeta }> {
  const dir = towerDir(home, ctx.view.dataset.name);
  const file = path.join(dir, 'distill.json');
  if (!fs.existsSync(file)) throw new RagarError(`no distilled image tower in ${dir}; run \`ragar rank distill --dataset ${ctx.view.dataset.name}\``, 'NOT_FOUND');
  const meta = readJsonFile<DistillMeta>(file);
  if (meta.format !== DISTILL_FORMAT) throw new RagarError(`${file}: format ${JSON.stringify(meta.format)} is not ${DISTILL_FORMAT}`, 'BAD_INPUT');
  if (meta.dataset !== ctx.view.dataset.name || meta.datasetFingerprint !== ctx.fingerprint) {
    throw new RagarError(`${dir}: the tower was distilled on dataset ${meta.dataset} (another build or protocol); run \`ragar rank distill\` again`, 'BAD_INPUT');
  }
  const sha = rankerChecksum(home, ctx.view.dataset.name);
  if (sha !== meta.rankerSha256) throw new RagarError(`${dir}: the tower was distilled from another ranker than the saved one; run \`ragar rank distill\` again`, 'BAD_INPUT');
  return { tower: await ImageTower.load(dir), meta };
}
