import fs from 'node:fs';
import path from 'node:path';
import { Adam } from '../util/adam.js';
import { RagarError } from '../util/errors.js';
import { readTensorBundle, writeTensorBundle } from '../util/tensorBundle.js';
import { Rng } from '../util/rng.js';
import { silentProgress, type Progress } from '../util/progress.js';

/**
 * A learned joint image–text space: two linear projections trained with a symmetric
 * contrastive (InfoNCE, CLIP-style) loss on item image–text pairs, so that the embedded
 * default encoders (MobileNetV2 image features, USE text features) give image–text scores (CS)
 * without CLIP. Plain TypeScript, manual gradients, Adam.
 */
export interface JointTrainOptions {
  /** Output dimension. */
  dimension: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Fixed softmax temperature of the contrastive loss. */
  temperature: number;
  seed: number;
  progress?: Progress;
}

/** Defaults (README). */
export const DEFAULT_JOINT: Omit<JointTrainOptions, 'progress'> = {
  dimension: 128,
  epochs: 60,
  batchSize: 256,
  learningRate: 2e-3,
  temperature: 0.05,
  seed: 1,
};

/** One training pair: an image vector, the id of its text and the text vector. */
export interface JointPair {
  image: Float32Array;
  /** Pairs with the same textKey share a text (e.g. one concept drawn in several styles). */
  textKey: string;
  text: Float32Array;
}

/** Trained projections. */
export class JointSpace {
  readonly imageDim: number;
  readonly textDim: number;
  readonly dimension: number;
  /** Row-major imageDim × dimension. */
  readonly wImage: Float32Array;
  /** Row-major textDim × dimension. */
  readonly wText: Float32Array;

  constructor(imageDim: number, textDim: number, dimension: number, wImage: Float32Array, wText: Float32Array) {
    if (wImage.length !== imageDim * dimension || wText.length !== textDim * dimension) {
      throw new RagarError('joint space weights do not match their dimensions', 'BAD_INPUT');
    }
    this.imageDim = imageDim;
    this.textDim = textDim;
    this.dimension = dimension;
    this.wImage = wImage;
    this.wText = wText;
  }

  /** Project an image feature vector into the joint space (unit length). */
  projectImage(v: Float32Array): Float32Array {
    return project(v, this.wImage, this.imageDim, this.dimension);
  }

  /** Project a text feature vector into the joint space (unit length). */
  projectText(v: Float32Array): Float32Array {
    return project(v, this.wText, this.textDim, this.dimension);
  }

  /** Cosine of an image and a text in the joint space. */
  score(image: Float32Array, text: Float32Array): number {
    const a = this.projectImage(image);
    const b = this.projectText(text);
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  }
}

function project(v: Float32Array, w: Float32Array, inDim: number, outDim: number): Float32Array {
  if (v.length !== inDim) throw new RagarError(`expected a ${inDim}-d feature vector, got ${v.length}`, 'BAD_INPUT');
  const out = new Float32Array(outDim);
  for (let i = 0; i < inDim; i++) {
    const x = v[i];
    if (x === 0) continue;
    const row = i * outDim;
    for (let j = 0; j < outDim; j++) out[j] += x * w[row + j];
  }
  let n = 0;
  for (let j = 0; j < outDim; j++) n += out[j] * out[j];
  n = Math.sqrt(n) || 1;
  for (let j = 0; j < outDim; j++) out[j] /= n;
  return out;
}

/** X (B×I) · W (I×D) → B×D. */
function matmul(x: Float32Array, w: Float32Array, b: number, inDim: number, outDim: number): Float32Array {
  const out = new Float32Array(b * outDim);
  for (let r = 0; r < b; r++) {
    const o = r * outDim;
    for (let i = 0; i < inDim; i++) {
      const xv = x[r * inDim + i];
      if (xv === 0) continue;
      const row = i * outDim;
      for (let j = 0; j < outDim; j++) out[o + j] += xv * w[row + j];
    }
  }
  return out;
}

/** Xᵀ (I×B) · G (B×D) → I×D, accumulated into `grad`. */
function matmulTransposedInto(x: Float32Array, g: Float32Array, b: number, inDim: number, outDim: number, grad: Float32Array): void {
  grad.fill(0);
  for (let r = 0; r < b; r++) {
    const gr = r * outDim;
    for (let i = 0; i < inDim; i++) {
      const xv = x[r * inDim + i];
      if (xv === 0) continue;
      const row = i * outDim;
      for (let j = 0; j < outDim; j++) grad[row + j] += xv * g[gr + j];
    }
  }
}

function normalizeRows(u: Float32Array, b: number, d: number): { z: Float32Array; norms: Float32Array } {
  const z = new Float32Array(u.length);
  const norms = new Float32Array(b);
  for (let r = 0; r < b; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += u[r * d + j] ** 2;
    const n = Math.sqrt(s) || 1e-12;
    norms[r] = n;
    for (let j = 0; j < d; j++) z[r * d + j] = u[r * d + j] / n;
  }
  return { z, norms };
}

/** Gradient through row normalisation: du = (dz − z (z·dz)) / |u|. */
function normalizeBackward(z: Float32Array, dz: Float32Array, norms: Float32Array, b: number, d: number): Float32Array {
  const du = new Float32Array(z.length);
  for (let r = 0; r < b; r++) {
    let p = 0;
    for (let j = 0; j < d; j++) p += z[r * d + j] * dz[r * d + j];
    for (let j = 0; j < d; j++) du[r * d + j] = (dz[r * d + j] - z[r * d + j] * p) / norms[r];
  }
  return du;
}


/**
 * One contrastive step's loss and gradients (exported for the gradient test).
 * Loss = ½·(CE over rows + CE over columns) of `S / T`, S = Zi·Ztᵀ, labels on the diagonal.
 */
export function contrastiveLossAndGrad(
  xi: Float32Array,
  xt: Float32Array,
  b: number,
  space: JointSpace,
  temperature: number,
): { loss: number; gImage: Float32Array; gText: Float32Array } {
  const d = space.dimension;
  const ui = matmul(xi, space.wImage, b, space.imageDim, d);
  const ut = matmul(xt, space.wText, b, space.textDim, d);
  const { z: zi, norms: ni } = normalizeRows(ui, b, d);
  const { z: zt, norms: nt } = normalizeRows(ut, b, d);
  const logits = new Float64Array(b * b);
  for (let r = 0; r < b; r++) {
    for (let c = 0; c < b; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += zi[r * d + j] * zt[c * d + j];
      logits[r * b + c] = s / temperature;
    }
  }
  const dS = new Float64Array(b * b);
  let loss = 0;
  // rows: image → text
  for (let r = 0; r < b; r++) {
    let max = -Infinity;
    for (let c = 0; c < b; c++) max = Math.max(max, logits[r * b + c]);
    let sum = 0;
    for (let c = 0; c < b; c++) sum += Math.exp(logits[r * b + c] - max);
    loss += (Math.log(sum) + max - logits[r * b + r]) / (2 * b);
    for (let c = 0; c < b; c++) dS[r * b + c] += (Math.exp(logits[r * b + c] - max) / sum - (r === c ? 1 : 0)) / (2 * b);
  }
  // columns: text → image
  for (let c = 0; c < b; c++) {
    let max = -Infinity;
    for (let r = 0; r < b; r++) max = Math.max(max, logits[r * b + c]);
    let sum = 0;
    for (let r = 0; r < b; r++) sum += Math.exp(logits[r * b + c] - max);
    loss += (Math.log(sum) + max - logits[c * b + c]) / (2 * b);
    for (let r = 0; r < b; r++) dS[r * b + c] += (Math.exp(logits[r * b + c] - max) / sum - (r === c ? 1 : 0)) / (2 * b);
  }
  const dzi = new Float32Array(b * d);
  const dzt = new Float32Array(b * d);
  for (let r = 0; r < b; r++) {
    for (let c = 0; c < b; c++) {
      const g = dS[r * b + c] / temperature;
      if (g === 0) continue;
      for (let j = 0; j < d; j++) {
        dzi[r * d + j] += g * zt[c * d + j];
        dzt[c * d + j] += g * zi[r * d + j];
      }
    }
  }
  const dui = normalizeBackward(zi, dzi, ni, b, d);
  const dut = normalizeBackward(zt, dzt, nt, b, d);
  const gImage = new Float32Array(space.wImage.length);
  const gText = new Float32Array(space.wText.length);
  matmulTransposedInto(xi, dui, b, space.imageDim, d, gImage);
  matmulTransposedInto(xt, dut, b, space.textDim, d, gText);
  return { loss, gImage, gText };
}

/** Randomly initialised projections (scaled Gaussian). */
export function initJointSpace(imageDim: number, textDim: number, dimension: number, rng: Rng): JointSpace {
  const init = (n: number, fanIn: number) => Float32Array.from({ length: n }, () => rng.normal() / Math.sqrt(fanIn));
  return new JointSpace(imageDim, textDim, dimension, init(imageDim * dimension, imageDim), init(textDim * dimension, textDim));
}

/**
 * Train the joint space. Each batch holds pairs with distinct text keys (so no false negatives
 * from one concept drawn in several styles). Returns the space and the loss per epoch.
 */
export function trainJointSpace(pairs: readonly JointPair[], options: JointTrainOptions): { space: JointSpace; losses: number[] } {
  if (pairs.length < 2) throw new RagarError('joint training needs at least two image–text pairs', 'BAD_INPUT');
  const imageDim = pairs[0].image.length;
  const textDim = pairs[0].text.length;
  const rng = new Rng(options.seed);
  const space = initJointSpace(imageDim, textDim, options.dimension, rng.fork('init'));
  const optImage = new Adam(space.wImage.length, options.learningRate);
  const optText = new Adam(space.wText.length, options.learningRate);
  const byKey = new Map<string, JointPair[]>();
  for (const p of pairs) {
    if (p.image.length !== imageDim || p.text.length !== textDim) throw new RagarError('joint pairs have mixed dimensions', 'BAD_INPUT');
    const list = byKey.get(p.textKey);
    if (list) list.push(p);
    else byKey.set(p.textKey, [p]);
  }
  const keys = [...byKey.keys()].sort();
  const progress = options.progress ?? silentProgress;
  const losses: number[] = [];
  const batchRng = rng.fork('batches');
  progress.start('joint training', options.epochs);
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const order = batchRng.shuffle([...keys]);
    let total = 0;
    let steps = 0;
    for (let start = 0; start + 1 < order.length; start += options.batchSize) {
      const batchKeys = order.slice(start, start + options.batchSize);
      const b = batchKeys.length;
      if (b < 2) break;
      const xi = new Float32Array(b * imageDim);
      const xt = new Float32Array(b * textDim);
      batchKeys.forEach((k, r) => {
        const p = batchRng.pick(byKey.get(k)!);
        xi.set(p.image, r * imageDim);
        xt.set(p.text, r * textDim);
      });
      const { loss, gImage, gText } = contrastiveLossAndGrad(xi, xt, b, space, options.temperature);
      optImage.step(space.wImage, gImage);
      optText.step(space.wText, gText);
      total += loss;
      steps++;
    }
    losses.push(total / Math.max(1, steps));
    progress.update(epoch + 1);
  }
  progress.stop();
  return { space, losses };
}

/** Image→text retrieval quality on held-out pairs: Recall@K against chance. */
export interface JointEvaluation {
  images: number;
  candidates: number;
  recallAt1: number;
  recallAt10: number;
  chanceAt1: number;
  chanceAt10: number;
}

/** For each held-out image, rank all distinct held-out texts; Recall@1/@10 of its own text. */
export function evaluateJointSpace(space: JointSpace, pairs: readonly JointPair[]): JointEvaluation {
  const texts = new Map<string, Float32Array>();
  for (const p of pairs) if (!texts.has(p.textKey)) texts.set(p.textKey, space.projectText(p.text));
  const keys = [...texts.keys()];
  const tv = keys.map((k) => texts.get(k)!);
  let r1 = 0;
  let r10 = 0;
  for (const p of pairs) {
    const q = space.projectImage(p.image);
    const own = texts.get(p.textKey)!;
    let ownScore = 0;
    for (let j = 0; j < q.length; j++) ownScore += q[j] * own[j];
    let better = 0;
    for (let c = 0; c < tv.length; c++) {
      if (keys[c] === p.textKey) continue;
      let s = 0;
      const t = tv[c];
      for (let j = 0; j < q.length; j++) s += q[j] * t[j];
      if (s > ownScore) better++;
    }
    if (better < 1) r1++;
    if (better < 10) r10++;
  }
  const n = pairs.length;
  return {
    images: n,
    candidates: keys.length,
    recallAt1: r1 / n,
    recallAt10: r10 / n,
    chanceAt1: 1 / keys.length,
    chanceAt10: Math.min(1, 10 / keys.length),
  };
}

/** What is saved beside the weights. */
export interface JointMeta {
  format: 'ragar-joint-v1';
  dataset: string;
  imageModel: string;
  textModel: string;
  imageDim: number;
  textDim: number;
  dimension: number;
  options: Omit<JointTrainOptions, 'progress'>;
  split: string;
  trainPairs: number;
  trainSeconds: number;
  losses: number[];
  heldOut: JointEvaluation;
  createdAt: string;
}

/** The file a saved joint space lives in, inside its folder (a tensor bundle). */
export const JOINT_FILE = 'joint.bundle';

/**
 * The file that holds a saved joint space's weights (the bundle, or `weights.bin` of the older
 * two-file layout), or null when there is none: its bytes identify the weights.
 */
export function jointSpaceFile(dir: string): string | null {
  if (fs.existsSync(path.join(dir, JOINT_FILE))) return path.join(dir, JOINT_FILE);
  return fs.existsSync(path.join(dir, 'meta.json')) ? path.join(dir, 'weights.bin') : null;
}

/** Save a joint space as one tensor bundle (`<dir>/joint.bundle`: metadata, image and text projections), atomically. */
export function saveJointSpace(dir: string, space: JointSpace, meta: JointMeta): void {
  writeTensorBundle(path.join(dir, JOINT_FILE), meta.format, meta, {
    wImage: { data: space.wImage, shape: [meta.imageDim, meta.dimension] },
    wText: { data: space.wText, shape: [meta.textDim, meta.dimension] },
  });
  for (const legacy of ['weights.bin', 'meta.json']) fs.rmSync(path.join(dir, legacy), { force: true });
}

/** Load a joint space saved by {@link saveJointSpace} (or in the older two-file layout); clear errors for missing or mismatched files. */
export function loadJointSpace(dir: string): { space: JointSpace; meta: JointMeta } {
  const file = jointSpaceFile(dir);
  if (!file) throw new RagarError(`no joint space at ${dir}; run \`ragar train joint\` first`, 'NOT_FOUND');
  if (file.endsWith(JOINT_FILE)) {
    const { meta, tensors } = readTensorBundle<JointMeta>(file, 'ragar-joint-v1');
    const ni = meta.imageDim * meta.dimension;
    const nt = meta.textDim * meta.dimension;
    if (tensors.wImage?.length !== ni || tensors.wText?.length !== nt) throw new RagarError(`${file}: projections do not match ${meta.imageDim}+${meta.textDim} → ${meta.dimension}`, 'CORRUPT');
    return { space: new JointSpace(meta.imageDim, meta.textDim, meta.dimension, tensors.wImage, tensors.wText), meta };
  }
  const metaFile = path.join(dir, 'meta.json');
  const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as JointMeta;
  if (meta.format !== 'ragar-joint-v1') throw new RagarError(`${metaFile}: unknown format ${String(meta.format)}`, 'VERSION');
  const buf = fs.readFileSync(path.join(dir, 'weights.bin'));
  const ni = meta.imageDim * meta.dimension;
  const nt = meta.textDim * meta.dimension;
  if (buf.byteLength !== (ni + nt) * 4) throw new RagarError(`${dir}/weights.bin has ${buf.byteLength} bytes, expected ${(ni + nt) * 4}`, 'BAD_INPUT');
  const all = new Float32Array(ni + nt);
  new Uint8Array(all.buffer).set(buf);
  return { space: new JointSpace(meta.imageDim, meta.textDim, meta.dimension, all.slice(0, ni), all.slice(ni)), meta };
}
