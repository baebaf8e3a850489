/**
 * The image tower: a small network `s(x) ∈ R^d` computed directly from 64×64 RGB pixels and
 * distilled from the ranker's image part `t(x) = W_imgᵀ·E_v(x)` (DESIGN §2 step 4), so that a
 * generator can get the gradient of the ranker's image score with respect to PIXELS cheaply
 * (classifier-guidance style sampling, the rank loss of a trainable generator). MobileNetV2
 * (`E_v`) is neither differentiable in this project nor fast; this tower is both.
 *
 * Architecture (all sizes in {@link TowerArchitecture}):
 *
 * 1. average-pool the 64×64×3 input (HWC, values in [0, 1]) to `poolTo`×`poolTo`×3 and map it to
 *    [-1, 1] (`2·pool(x) − 1`), so that the white background is +1;
 * 2. `convChannels.length` hand-written 3×3 convolutions, stride 2, zero padding 1, each followed
 *    by the activation (GELU, tanh form, by default: smooth, so the pixel gradient field has no
 *    kinks);
 * 3. a head that turns the feature maps into one vector: `flatten` (the last map as is) or `gap`
 *    (the global average of every conv layer's channels, concatenated: multi-scale colour and
 *    texture statistics, pooled like MobileNet's own global pooling); then one hidden dense
 *    layer of `hidden` units with the activation and a linear output of `outputDim` units `z`;
 * 4. `s(x) = μ + σ·z`, where `μ` (per dimension) and `σ` (one scalar) are the mean and overall
 *    standard deviation of the training targets, fixed before training. The loss is the MSE in
 *    the standardised space, which is the MSE of `s` against `t` divided by `σ²`.
 *
 * Everything is plain TypeScript over typed arrays. Activations are kept in float64 scratch
 * buffers, so `scoreAndGrad` on a `Float64Array` input is exact float64 backpropagation of the
 * float32 weights (the finite-difference test relies on it).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Adam } from '../util/adam.js';
import { RagarError } from '../util/errors.js';
import { readTensorBundle, writeTensorBundle } from '../util/tensorBundle.js';
import { silentProgress, type Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { PIXEL_LENGTH, PIXEL_SIZE } from '../encoders/pixels.js';
import { pearson, spearman } from './metrics.js';

export { decodePixels64 } from '../encoders/pixels.js';

/** Side of the tower's input images in pixels. */
export const TOWER_INPUT_SIZE = PIXEL_SIZE;
/** Number of values in one input image: 64·64·3 (HWC). */
export const TOWER_INPUT_LENGTH = PIXEL_LENGTH;
/** The on-disk format written by {@link ImageTower.save}. */
export const TOWER_FORMAT = 'ragar-tower-v1';
/** The file a saved tower lives in, inside its folder (a tensor bundle). */
export const TOWER_FILE = 'tower.bundle';

/** Pixels as the tower reads them: 64·64·3 values in [0, 1], HWC (row by row, RGB per pixel). */
export type TowerPixels = Float32Array | Float64Array;

/** Nonlinearity of the hidden layers. */
export type TowerActivation = 'gelu' | 'relu';

/** The tower's shape. */
export interface TowerArchitecture {
  /** Input side (always 64). */
  inputSize: number;
  /** Side after the initial average pooling; must divide 64 (e.g. 16 or 32). */
  poolTo: number;
  /** Output channels of each 3×3 stride-2 convolution (may be empty: a plain MLP). */
  convChannels: number[];
  /**
   * What the dense layers read: `flatten` = the last feature map as is (keeps the layout);
   * `gap` = the global average of every conv layer's channels, concatenated (multi-scale colour
   * and texture statistics, translation-invariant like MobileNet's own pooling; needs at least
   * one conv layer). Absent in files written before it existed: `flatten`.
   */
  head?: TowerHead;
  /** Units of the hidden dense layer. */
  hidden: number;
  /** Output dimension `d` (the ranker's dimension). */
  outputDim: number;
  activation: TowerActivation;
}

/** How the conv features reach the dense layers (see {@link TowerArchitecture.head}). */
export type TowerHead = 'flatten' | 'gap';

/** One epoch of training, as recorded in the learning curve. */
export interface TowerEpochStats {
  epoch: number;
  /** MSE of `s` against `t`, averaged over items and dimensions (target units). */
  trainMse: number;
  validMse: number;
  /**
   * Mean cosine between `s(x) − μ` and `t(x) − μ` (μ: the training-target mean). Centred,
   * because the raw vectors share a large common mean that makes raw cosines all near 1.
   */
  trainCosine: number;
  validCosine: number;
  seconds: number;
}

/** Held-out agreement, as stored in `meta.json` and returned by {@link agreement}. */
export interface TowerAgreement {
  /** Mean over users of Spearman(t(x)·v, s(x)·v) over the items. */
  spearman: number;
  /** Per-user Spearman values, in the order of the users given (NaN where undefined). */
  perUser: number[];
  /** Pearson correlation of all entries of s against t (items × dimensions). */
  pearson: number;
  /**
   * Pearson over all entries after removing each dimension's mean over the items from `s` and
   * `t` (the raw Pearson is inflated by the differing means of the dimensions).
   */
  pearsonCentered: number;
  items: number;
  users: number;
}

/** How a tower was trained (`meta.json` field `training`). */
export interface TowerTrainingInfo {
  /** Epochs run (including those after the best one, before early stopping). */
  epochs: number;
  /** Epoch (from 1) whose weights were kept. */
  bestEpoch: number;
  trainItems: number;
  validItems: number;
  seconds: number;
  secondsPerEpoch: number;
  /** Wall-clock milliseconds per training sample (forward + backward + update share). */
  msPerSample: number;
  options: Omit<TowerTrainOptions, 'progress'>;
  /** Agreement on the validation items with random Gaussian user vectors (null without them). */
  heldOut: (Omit<TowerAgreement, 'perUser'> & { userVectors: string }) | null;
}

/** The `meta.json` of a saved tower. */
export interface TowerMeta {
  format: typeof TOWER_FORMAT;
  architecture: TowerArchitecture;
  parameterCount: number;
  /** Per-dimension mean μ of the training targets. */
  targetMean: number[];
  /** Overall standard deviation σ of the training targets. */
  targetScale: number;
  seed: number;
  training: TowerTrainingInfo | null;
  weights: { file: string; dtype: 'float32'; byteOrder: 'little-endian'; length: number; sha256: string };
}

/** What {@link ImageTower.scoreAndGrad} returns. */
export interface ScoreAndGrad {
  /** `s(x)·v`. */
  score: number;
  /** `∂score/∂pixels`, same length and layout as the input (HWC). */
  grad: Float32Array;
}

interface Layout {
  /** Offsets of each conv layer's weights ([out][ky][kx][in]) and biases. */
  conv: { w: number; b: number; cin: number; cout: number; inSide: number; outSide: number }[];
  d1: { w: number; b: number; fin: number; fout: number };
  d2: { w: number; b: number; fin: number; fout: number };
  total: number;
  /** Length of the vector the dense layers read. */
  flatten: number;
  gap: boolean;
  /** For the gap head: where each conv layer's channel means start in that vector. */
  gapOffsets: number[];
}

function validateArchitecture(arch: TowerArchitecture): void {
  const problems: string[] = [];
  const isPos = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 1;
  if (arch.inputSize !== TOWER_INPUT_SIZE) problems.push(`inputSize must be ${TOWER_INPUT_SIZE}, got ${arch.inputSize}`);
  if (!isPos(arch.poolTo) || TOWER_INPUT_SIZE % arch.poolTo !== 0) {
    problems.push(`poolTo must divide ${TOWER_INPUT_SIZE} (1, 2, 4, 8, 16, 32 or 64), got ${arch.poolTo}`);
  }
  if (!Array.isArray(arch.convChannels) || !arch.convChannels.every(isPos)) {
    problems.push(`convChannels must be a list of positive integers, got ${JSON.stringify(arch.convChannels)}`);
  }
  if (!isPos(arch.hidden)) problems.push(`hidden must be a positive integer, got ${arch.hidden}`);
  if (!isPos(arch.outputDim)) problems.push(`outputDim must be a positive integer, got ${arch.outputDim}`);
  const head = arch.head ?? 'flatten';
  if (head !== 'flatten' && head !== 'gap') problems.push(`head must be flatten or gap, got ${String(arch.head)}`);
  if (head === 'gap' && Array.isArray(arch.convChannels) && arch.convChannels.length === 0) problems.push('head gap needs at least one conv layer');
  if (arch.activation !== 'gelu' && arch.activation !== 'relu') problems.push(`activation must be gelu or relu, got ${String(arch.activation)}`);
  if (problems.length) throw new RagarError(`invalid image tower architecture: ${problems.join('; ')}`, 'BAD_INPUT');
}

function computeLayout(arch: TowerArchitecture): Layout {
  let off = 0;
  let side = arch.poolTo;
  let ch = 3;
  const conv: Layout['conv'] = [];
  for (const cout of arch.convChannels) {
    const outSide = Math.ceil(side / 2);
    const w = off;
    off += cout * 9 * ch;
    const b = off;
    off += cout;
    conv.push({ w, b, cin: ch, cout, inSide: side, outSide });
    side = outSide;
    ch = cout;
  }
  const gap = (arch.head ?? 'flatten') === 'gap';
  const gapOffsets: number[] = [];
  let flatten = side * side * ch;
  if (gap) {
    flatten = 0;
    for (const c of conv) {
      gapOffsets.push(flatten);
      flatten += c.cout;
    }
  }
  const d1 = { w: off, b: off + arch.hidden * flatten, fin: flatten, fout: arch.hidden };
  off = d1.b + arch.hidden;
  const d2 = { w: off, b: off + arch.outputDim * arch.hidden, fin: arch.hidden, fout: arch.outputDim };
  off = d2.b + arch.outputDim;
  return { conv, d1, d2, total: off, flatten, gap, gapOffsets };
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** Activation in place over `z` into `a`; returns nothing. */
function activate(kind: TowerActivation, z: Float64Array, a: Float64Array): void {
  if (kind === 'relu') {
    for (let i = 0; i < z.length; i++) a[i] = z[i] > 0 ? z[i] : 0;
    return;
  }
  for (let i = 0; i < z.length; i++) {
    const x = z[i];
    a[i] = 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
  }
}

/** `g[i] *= act'(z[i])` in place. */
function activationBackward(kind: TowerActivation, z: Float64Array, g: Float64Array): void {
  if (kind === 'relu') {
    for (let i = 0; i < z.length; i++) if (!(z[i] > 0)) g[i] = 0;
    return;
  }
  for (let i = 0; i < z.length; i++) {
    const x = z[i];
    const u = GELU_C * (x + 0.044715 * x * x * x);
    const th = Math.tanh(u);
    const du = GELU_C * (1 + 3 * 0.044715 * x * x);
    g[i] *= 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * du;
  }
}

/** `Σ_k a[ai + k]·b[bi + k]` for k < n, with four accumulators (breaks the add latency chain). */
function dotAt(a: Float64Array, ai: number, b: Float64Array, bi: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < n; k += 4) {
    s0 += a[ai + k] * b[bi + k];
    s1 += a[ai + k + 1] * b[bi + k + 1];
    s2 += a[ai + k + 2] * b[bi + k + 2];
    s3 += a[ai + k + 3] * b[bi + k + 3];
  }
  for (; k < n; k++) s0 += a[ai + k] * b[bi + k];
  return s0 + s1 + (s2 + s3);
}

/** `y[yi + k] += alpha·x[xi + k]` for k < n. */
function axpyAt(y: Float64Array, yi: number, alpha: number, x: Float64Array, xi: number, n: number): void {
  for (let k = 0; k < n; k++) y[yi + k] += alpha * x[xi + k];
}

/** Copy the 3×3 (stride 2, padding 1) input patch of output (oy, ox) into `patch` ([ky][kx][c]). */
function gatherPatch(inp: Float64Array, patch: Float64Array, S: number, cin: number, oy: number, ox: number): void {
  let k = 0;
  for (let ky = 0; ky < 3; ky++) {
    const iy = 2 * oy - 1 + ky;
    for (let kx = 0; kx < 3; kx++) {
      const ix = 2 * ox - 1 + kx;
      if (iy < 0 || iy >= S || ix < 0 || ix >= S) {
        for (let c = 0; c < cin; c++) patch[k++] = 0;
      } else {
        const ib = (iy * S + ix) * cin;
        for (let c = 0; c < cin; c++) patch[k++] = inp[ib + c];
      }
    }
  }
}

/** Add a patch gradient back onto the input gradient (the transpose of {@link gatherPatch}). */
function scatterPatch(gPatch: Float64Array, gIn: Float64Array, S: number, cin: number, oy: number, ox: number): void {
  let k = 0;
  for (let ky = 0; ky < 3; ky++) {
    const iy = 2 * oy - 1 + ky;
    for (let kx = 0; kx < 3; kx++) {
      const ix = 2 * ox - 1 + kx;
      if (iy < 0 || iy >= S || ix < 0 || ix >= S) {
        k += cin;
      } else {
        const ib = (iy * S + ix) * cin;
        for (let c = 0; c < cin; c++) gIn[ib + c] += gPatch[k++];
      }
    }
  }
}

/** Per-thread scratch buffers for one forward/backward pass. */
class Workspace {
  /** Network input (pooled, mapped to [-1, 1]), P·P·3. */
  readonly input: Float64Array;
  /** Pre- and post-activation of every conv layer, then of the hidden dense layer. */
  readonly z: Float64Array[];
  readonly a: Float64Array[];
  /** Output z (standardised). */
  readonly out: Float64Array;
  /** Gradients of the same shapes (ga[i] is the gradient w.r.t. a[i]; gInput w.r.t. input). */
  readonly ga: Float64Array[];
  readonly gInput: Float64Array;
  readonly gOut: Float64Array;
  /** One 3×3 input patch ([ky][kx][c], zeros where padded) and its gradient. */
  readonly patch: Float64Array;
  readonly gPatch: Float64Array;
  /** The gap head's pooled vector and its gradient. */
  readonly flat: Float64Array;
  readonly gFlat: Float64Array;

  constructor(arch: TowerArchitecture, layout: Layout) {
    const maxK = Math.max(1, ...layout.conv.map((c) => 9 * c.cin));
    this.patch = new Float64Array(maxK);
    this.gPatch = new Float64Array(maxK);
    this.flat = new Float64Array(layout.gap ? layout.flatten : 0);
    this.gFlat = new Float64Array(layout.gap ? layout.flatten : 0);
    this.input = new Float64Array(arch.poolTo * arch.poolTo * 3);
    this.gInput = new Float64Array(this.input.length);
    const sizes = layout.conv.map((c) => c.outSide * c.outSide * c.cout);
    sizes.push(arch.hidden);
    this.z = sizes.map((n) => new Float64Array(n));
    this.a = sizes.map((n) => new Float64Array(n));
    this.ga = sizes.map((n) => new Float64Array(n));
    this.out = new Float64Array(arch.outputDim);
    this.gOut = new Float64Array(arch.outputDim);
  }
}

/**
 * A trained (or freshly initialised) image tower. Create one with {@link ImageTower.create},
 * {@link trainImageTower} or {@link ImageTower.load}.
 *
 * @example
 * const tower = await ImageTower.load('~/.ragar/models/tower');
 * const s = tower.embed(pixels);                       // Float32Array(d)
 * const { score, grad } = tower.scoreAndGrad(pixels, v); // grad: Float32Array(64*64*3)
 */
export class ImageTower {
  readonly architecture: TowerArchitecture;
  /**
   * All weights and biases, flat (layout: conv layers, hidden dense, output dense). Call
   * {@link paramsChanged} after modifying it in place.
   */
  readonly params: Float32Array;
  /** Per-dimension target mean μ. */
  readonly targetMean: Float32Array;
  /** Overall target scale σ. */
  readonly targetScale: number;
  readonly seed: number;
  /** How the tower was trained (null for an untrained one). */
  training: TowerTrainingInfo | null = null;
  private readonly layout: Layout;
  private readonly ws: Workspace;
  /** Float64 copy of `params` used by the passes; refreshed when `params` changed (see {@link paramsChanged}). */
  private weights64: Float64Array | null = null;
  /** Float64 copy with transposed matrices, see {@link wT}. */
  private weightsT: Float64Array | null = null;

  private constructor(arch: TowerArchitecture, params: Float32Array, targetMean: Float32Array, targetScale: number, seed: number) {
    this.architecture = arch;
    this.layout = computeLayout(arch);
    if (params.length !== this.layout.total) {
      throw new RagarError(`image tower weights have ${params.length} values, the architecture needs ${this.layout.total}`, 'BAD_INPUT');
    }
    if (targetMean.length !== arch.outputDim) {
      throw new RagarError(`image tower target mean has ${targetMean.length} values, expected ${arch.outputDim}`, 'BAD_INPUT');
    }
    if (!(targetScale > 0) || !Number.isFinite(targetScale)) {
      throw new RagarError(`image tower target scale must be a positive number, got ${targetScale}`, 'BAD_INPUT');
    }
    this.params = params;
    this.targetMean = targetMean;
    this.targetScale = targetScale;
    this.seed = seed;
    this.ws = new Workspace(arch, this.layout);
  }

  /**
   * A randomly initialised tower (He-normal weights, zero biases; seeded). `targetMean` and
   * `targetScale` default to 0 and 1.
   *
   * @example
   * const tower = ImageTower.create({ inputSize: 64, poolTo: 32, convChannels: [16, 32, 32], hidden: 64, outputDim: 16, activation: 'gelu' }, 1);
   */
  static create(arch: TowerArchitecture, seed: number, targetMean?: Float32Array, targetScale = 1): ImageTower {
    validateArchitecture(arch);
    const layout = computeLayout(arch);
    const params = new Float32Array(layout.total);
    const rng = new Rng(seed).fork('image-tower-init');
    const fill = (off: number, n: number, fanIn: number, gain: number): void => {
      const std = gain / Math.sqrt(fanIn);
      for (let i = 0; i < n; i++) params[off + i] = rng.normal() * std;
    };
    for (const c of layout.conv) fill(c.w, c.cout * 9 * c.cin, 9 * c.cin, Math.SQRT2);
    fill(layout.d1.w, layout.d1.fin * layout.d1.fout, layout.d1.fin, Math.SQRT2);
    fill(layout.d2.w, layout.d2.fin * layout.d2.fout, layout.d2.fin, 1);
    const mean = targetMean ? Float32Array.from(targetMean) : new Float32Array(arch.outputDim);
    return new ImageTower({ ...arch, convChannels: [...arch.convChannels] }, params, mean, targetScale, seed);
  }

  /** The float64 mirror of the weights, rebuilt after {@link paramsChanged}. */
  private w64(): Float64Array {
    if (!this.weights64) this.weights64 = Float64Array.from(this.params);
    return this.weights64;
  }

  /**
   * The weights with every matrix transposed to [in][out] rows (same offsets as `params`; biases
   * copied), for the input-gradient dot products of the backward pass.
   */
  private wT(): Float64Array {
    if (this.weightsT) return this.weightsT;
    const w = this.w64();
    const t = Float64Array.from(w);
    const transpose = (off: number, rows: number, cols: number): void => {
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[off + c * rows + r] = w[off + r * cols + c];
    };
    for (const c of this.layout.conv) transpose(c.w, c.cout, 9 * c.cin);
    transpose(this.layout.d1.w, this.layout.d1.fout, this.layout.d1.fin);
    transpose(this.layout.d2.w, this.layout.d2.fout, this.layout.d2.fin);
    this.weightsT = t;
    return t;
  }

  /** Tell the tower that `params` was modified in place (training, loading), so caches refresh. */
  paramsChanged(): void {
    this.weights64 = null;
    this.weightsT = null;
  }

  /** Output dimension d. */
  get dimension(): number {
    return this.architecture.outputDim;
  }

  /** Number of trainable values. */
  get parameterCount(): number {
    return this.params.length;
  }

  /** Throw a {@link RagarError} unless `pixels` is a 64·64·3 array. */
  static checkPixels(pixels: ArrayLike<number>, label = 'pixels'): void {
    if (!pixels || typeof pixels.length !== 'number' || pixels.length !== TOWER_INPUT_LENGTH) {
      throw new RagarError(
        `${label}: the image tower needs ${TOWER_INPUT_SIZE}×${TOWER_INPUT_SIZE}×3 = ${TOWER_INPUT_LENGTH} values (HWC, [0, 1]), got ${pixels?.length}`,
        'BAD_INPUT',
      );
    }
  }

  /**
   * Average-pool 64×64×3 pixels to the tower's `poolTo`×`poolTo`×3 network input in [-1, 1]
   * (`2·mean − 1`). Exposed so that training can pool each image once.
   */
  poolInput(pixels: TowerPixels, out: Float64Array = new Float64Array(this.architecture.poolTo ** 2 * 3)): Float64Array {
    ImageTower.checkPixels(pixels);
    const P = this.architecture.poolTo;
    const f = TOWER_INPUT_SIZE / P;
    const scale = 2 / (f * f);
    out.fill(0);
    for (let y = 0; y < TOWER_INPUT_SIZE; y++) {
      const py = (y / f) | 0;
      for (let x = 0; x < TOWER_INPUT_SIZE; x++) {
        const src = (y * TOWER_INPUT_SIZE + x) * 3;
        const dst = (py * P + ((x / f) | 0)) * 3;
        out[dst] += pixels[src];
        out[dst + 1] += pixels[src + 1];
        out[dst + 2] += pixels[src + 2];
      }
    }
    for (let i = 0; i < out.length; i++) out[i] = out[i] * scale - 1;
    return out;
  }

  /** Forward pass from the network input in `ws.input`; fills `ws.out` (standardised z). */
  private forwardNet(ws: Workspace): void {
    const p = this.w64();
    const act = this.architecture.activation;
    let inp = ws.input;
    const patch = ws.patch;
    for (let li = 0; li < this.layout.conv.length; li++) {
      const c = this.layout.conv[li];
      const z = ws.z[li];
      const { cin, cout, inSide: S, outSide: O } = c;
      const K = 9 * cin;
      for (let oy = 0; oy < O; oy++) {
        for (let ox = 0; ox < O; ox++) {
          gatherPatch(inp, patch, S, cin, oy, ox);
          const ob = (oy * O + ox) * cout;
          for (let o = 0; o < cout; o++) {
            z[ob + o] = p[c.b + o] + dotAt(p, c.w + o * K, patch, 0, K);
          }
        }
      }
      activate(act, z, ws.a[li]);
      inp = ws.a[li];
    }
    if (this.layout.gap) {
      const flat = ws.flat;
      for (let li = 0; li < this.layout.conv.length; li++) {
        const { cout, outSide: O } = this.layout.conv[li];
        const a = ws.a[li];
        const off = this.layout.gapOffsets[li];
        const n = O * O;
        for (let ch = 0; ch < cout; ch++) flat[off + ch] = 0;
        for (let q = 0; q < n; q++) for (let ch = 0; ch < cout; ch++) flat[off + ch] += a[q * cout + ch];
        for (let ch = 0; ch < cout; ch++) flat[off + ch] /= n;
      }
      inp = flat;
    }
    const h = this.layout.conv.length;
    const { d1, d2 } = this.layout;
    const z1 = ws.z[h];
    for (let j = 0; j < d1.fout; j++) {
      z1[j] = p[d1.b + j] + dotAt(p, d1.w + j * d1.fin, inp, 0, d1.fin);
    }
    activate(act, z1, ws.a[h]);
    const a1 = ws.a[h];
    for (let k = 0; k < d2.fout; k++) {
      ws.out[k] = p[d2.b + k] + dotAt(p, d2.w + k * d2.fin, a1, 0, d2.fin);
    }
  }

  /**
   * Backward pass from `ws.gOut` (gradient w.r.t. the standardised output z). Adds parameter
   * gradients into `gParams` when given; fills `ws.gInput` when `wantInput`.
   */
  private backwardNet(ws: Workspace, gParams: Float64Array | null, wantInput: boolean): void {
    const wt = this.wT();
    const act = this.architecture.activation;
    const h = this.layout.conv.length;
    const { d1, d2 } = this.layout;
    const a1 = ws.a[h];
    const g1 = ws.ga[h];
    const gOut = ws.gOut;
    if (gParams) {
      for (let k = 0; k < d2.fout; k++) {
        const gk = gOut[k];
        if (gk === 0) continue;
        gParams[d2.b + k] += gk;
        axpyAt(gParams, d2.w + k * d2.fin, gk, a1, 0, d2.fin);
      }
    }
    // Input gradients as dot products with the transposed weights ([in][out] rows).
    for (let j = 0; j < d2.fin; j++) g1[j] = dotAt(wt, d2.w + j * d2.fout, gOut, 0, d2.fout);
    activationBackward(act, ws.z[h], g1);
    const gap = this.layout.gap;
    const flatIn = gap ? ws.flat : h > 0 ? ws.a[h - 1] : ws.input;
    const gFlat = gap ? ws.gFlat : h > 0 ? ws.ga[h - 1] : ws.gInput;
    if (gParams) {
      for (let j = 0; j < d1.fout; j++) {
        const gj = g1[j];
        if (gj === 0) continue;
        gParams[d1.b + j] += gj;
        axpyAt(gParams, d1.w + j * d1.fin, gj, flatIn, 0, d1.fin);
      }
    }
    if (h > 0 || wantInput) {
      for (let i = 0; i < d1.fin; i++) gFlat[i] = dotAt(wt, d1.w + i * d1.fout, g1, 0, d1.fout);
    }
    // Initialise the conv layers' activation gradients: the gap head feeds every layer; the
    // flatten head only the last (set above), the others start at zero. Conv backward adds on.
    for (let li = 0; li < h; li++) {
      const { cout, outSide: O } = this.layout.conv[li];
      const ga = ws.ga[li];
      if (gap) {
        const off = this.layout.gapOffsets[li];
        const n = O * O;
        for (let q = 0; q < n; q++) for (let ch = 0; ch < cout; ch++) ga[q * cout + ch] = gFlat[off + ch] / n;
      } else if (li < h - 1) {
        ga.fill(0);
      }
    }
    for (let li = h - 1; li >= 0; li--) {
      const c = this.layout.conv[li];
      const gz = ws.ga[li];
      activationBackward(act, ws.z[li], gz);
      const inp = li > 0 ? ws.a[li - 1] : ws.input;
      const gIn = li > 0 ? ws.ga[li - 1] : ws.gInput;
      const needIn = li > 0 || wantInput;
      if (li === 0 && wantInput) gIn.fill(0);
      const { cin, cout, inSide: S, outSide: O } = c;
      const K = 9 * cin;
      const patch = ws.patch;
      const gPatch = ws.gPatch;
      for (let oy = 0; oy < O; oy++) {
        for (let ox = 0; ox < O; ox++) {
          const ob = (oy * O + ox) * cout;
          if (gParams) {
            gatherPatch(inp, patch, S, cin, oy, ox);
            for (let o = 0; o < cout; o++) {
              const g = gz[ob + o];
              if (g === 0) continue;
              gParams[c.b + o] += g;
              axpyAt(gParams, c.w + o * K, g, patch, 0, K);
            }
          }
          if (needIn) {
            for (let k = 0; k < K; k++) gPatch[k] = dotAt(wt, c.w + k * cout, gz, ob, cout);
            scatterPatch(gPatch, gIn, S, cin, oy, ox);
          }
        }
      }
    }
  }

  /**
   * The embedding `s(x)` of one image (64·64·3 values in [0, 1], HWC). A wrong-size input
   * throws a {@link RagarError}.
   *
   * @example
   * const s = tower.embed(await decodePixels64(png)); // Float32Array(d)
   */
  embed(pixels: TowerPixels): Float32Array {
    this.poolInput(pixels, this.ws.input);
    return this.embedPooled(this.ws.input);
  }

  /** {@link embed} from an already pooled network input (see {@link poolInput}). */
  embedPooled(input: Float64Array): Float32Array {
    const ws = this.ws;
    if (input !== ws.input) ws.input.set(input);
    this.forwardNet(ws);
    const out = new Float32Array(this.dimension);
    for (let k = 0; k < out.length; k++) out[k] = this.targetMean[k] + this.targetScale * ws.out[k];
    return out;
  }

  /** {@link embed} over a batch; one vector per image, in order. */
  embedBatch(images: readonly TowerPixels[]): Float32Array[] {
    return images.map((x, i) => {
      ImageTower.checkPixels(x, `image ${i}`);
      return this.embed(x);
    });
  }

  /**
   * `score = s(x)·v` and its exact gradient with respect to the input pixels (same length and
   * HWC layout as `pixels`). Pass a `Float64Array` for full float64 accuracy of the gradient.
   *
   * @example
   * const { score, grad } = tower.scoreAndGrad(pixels, userVector);
   * for (let i = 0; i < pixels.length; i++) pixels[i] += step * grad[i]; // ascend the score
   */
  scoreAndGrad(pixels: TowerPixels, v: ArrayLike<number>): ScoreAndGrad {
    const d = this.dimension;
    if (!v || v.length !== d) throw new RagarError(`user vector must have ${d} values, got ${v?.length}`, 'BAD_INPUT');
    const ws = this.ws;
    this.poolInput(pixels, ws.input);
    this.forwardNet(ws);
    let score = 0;
    for (let k = 0; k < d; k++) {
      score += (this.targetMean[k] + this.targetScale * ws.out[k]) * v[k];
      ws.gOut[k] = this.targetScale * v[k];
    }
    this.backwardNet(ws, null, true);
    // Un-pool: each pixel receives its block's gradient times ∂input/∂pixel = 2 / f².
    const P = this.architecture.poolTo;
    const f = TOWER_INPUT_SIZE / P;
    const scale = 2 / (f * f);
    const grad = new Float32Array(TOWER_INPUT_LENGTH);
    const gi = ws.gInput;
    for (let y = 0; y < TOWER_INPUT_SIZE; y++) {
      const py = (y / f) | 0;
      for (let x = 0; x < TOWER_INPUT_SIZE; x++) {
        const src = (py * P + ((x / f) | 0)) * 3;
        const dst = (y * TOWER_INPUT_SIZE + x) * 3;
        grad[dst] = gi[src] * scale;
        grad[dst + 1] = gi[src + 1] * scale;
        grad[dst + 2] = gi[src + 2] * scale;
      }
    }
    return { score, grad };
  }

  /**
   * {@link scoreAndGrad} over a batch of images: `vectors` holds one user vector per image, or a
   * single vector shared by all.
   *
   * @example
   * const out = tower.scoreAndGradBatch(candidates, [userVector]);
   */
  scoreAndGradBatch(images: readonly TowerPixels[], vectors: readonly ArrayLike<number>[]): ScoreAndGrad[] {
    if (vectors.length !== 1 && vectors.length !== images.length) {
      throw new RagarError(`scoreAndGradBatch needs one user vector or one per image (${images.length}), got ${vectors.length}`, 'BAD_INPUT');
    }
    return images.map((x, i) => {
      ImageTower.checkPixels(x, `image ${i}`);
      return this.scoreAndGrad(x, vectors.length === 1 ? vectors[0] : vectors[i]);
    });
  }

  /**
   * One training step's share for one sample: forward from the pooled `input`, loss against the
   * standardised target `zTarget`, gradients added to `gParams` scaled by `weight`. Returns the
   * standardised squared error (mean over dimensions) and the cosine of z with zTarget.
   * @internal
   */
  accumulate(
    input: Float64Array,
    zTarget: Float64Array,
    gParams: Float64Array,
    weight: number,
    cosineWeight: number,
  ): { mse: number; cosine: number } {
    const ws = this.ws;
    ws.input.set(input);
    this.forwardNet(ws);
    const d = this.dimension;
    const z = ws.out;
    let se = 0;
    let zz = 0;
    let tt = 0;
    let zt = 0;
    for (let k = 0; k < d; k++) {
      const e = z[k] - zTarget[k];
      se += e * e;
      zz += z[k] * z[k];
      tt += zTarget[k] * zTarget[k];
      zt += z[k] * zTarget[k];
    }
    const nz = Math.sqrt(zz);
    const nt = Math.sqrt(tt);
    const cosine = nz > 0 && nt > 0 ? zt / (nz * nt) : 0;
    for (let k = 0; k < d; k++) {
      let g = (2 * (z[k] - zTarget[k])) / d;
      if (cosineWeight > 0 && nz > 0 && nt > 0) {
        // ∂(1 − cos)/∂z = −(t/(|z||t|) − cos·z/|z|²)
        g -= cosineWeight * (zTarget[k] / (nz * nt) - (cosine * z[k]) / (nz * nz));
      }
      ws.gOut[k] = g * weight;
    }
    this.backwardNet(ws, gParams, false);
    return { mse: se / d, cosine };
  }

  /** Standardised output z for a pooled input (no gradient). @internal */
  forwardZ(input: Float64Array): Float64Array {
    this.ws.input.set(input);
    this.forwardNet(this.ws);
    return this.ws.out;
  }

  /** The metadata written to `meta.json` (without the weights' checksum filled in). */
  meta(): TowerMeta {
    return {
      format: TOWER_FORMAT,
      architecture: { ...this.architecture, convChannels: [...this.architecture.convChannels] },
      parameterCount: this.params.length,
      targetMean: Array.from(this.targetMean),
      targetScale: this.targetScale,
      seed: this.seed,
      training: this.training,
      weights: { file: 'weights.bin', dtype: 'float32', byteOrder: 'little-endian', length: this.params.length, sha256: sha256(this.weightsBuffer()) },
    };
  }

  /** The weights as little-endian float32 bytes (the content of `weights.bin`). */
  weightsBuffer(): Buffer {
    const buf = Buffer.alloc(this.params.length * 4);
    for (let i = 0; i < this.params.length; i++) buf.writeFloatLE(this.params[i], i * 4);
    return buf;
  }

  /**
   * Serialise to `{ meta, weights }` (what {@link save} writes); the inverse of
   * {@link ImageTower.fromBuffer}.
   */
  toBuffers(): { meta: TowerMeta; weights: Buffer } {
    return { meta: this.meta(), weights: this.weightsBuffer() };
  }

  /**
   * Rebuild a tower from its `meta.json` content and `weights.bin` bytes. Anything of another
   * format, size or checksum throws a {@link RagarError} (`CORRUPT`, or `VERSION` for another format).
   */
  static fromBuffer(meta: unknown, weights: Buffer | Uint8Array, label = 'image tower'): ImageTower {
    const m = meta as Partial<TowerMeta> | null;
    if (!m || typeof m !== 'object' || m.format !== TOWER_FORMAT) {
      const got = m && typeof m === 'object' ? JSON.stringify((m as { format?: unknown }).format) : typeof m;
      throw new RagarError(`${label}: not a ${TOWER_FORMAT} model (format ${got})`, 'VERSION');
    }
    if (!m.architecture || typeof m.architecture !== 'object') throw new RagarError(`${label}: meta.json has no architecture`, 'CORRUPT');
    try {
      validateArchitecture(m.architecture);
    } catch (err) {
      throw new RagarError(`${label}: ${(err as Error).message}`, 'CORRUPT', { cause: err });
    }
    const layout = computeLayout(m.architecture);
    if (weights.length !== layout.total * 4) {
      throw new RagarError(`${label}: weights.bin has ${weights.length} bytes, the architecture needs ${layout.total * 4}`, 'CORRUPT');
    }
    const buf = Buffer.from(weights.buffer, weights.byteOffset, weights.length);
    if (m.weights?.sha256 && sha256(buf) !== m.weights.sha256) {
      throw new RagarError(`${label}: weights.bin does not match the checksum in meta.json`, 'CORRUPT');
    }
    const params = new Float32Array(layout.total);
    for (let i = 0; i < params.length; i++) params[i] = buf.readFloatLE(i * 4);
    if (!Array.isArray(m.targetMean) || !m.targetMean.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new RagarError(`${label}: meta.json targetMean must be a list of numbers`, 'CORRUPT');
    }
    const tower = new ImageTower(
      { ...m.architecture, convChannels: [...m.architecture.convChannels] },
      params,
      Float32Array.from(m.targetMean),
      Number(m.targetScale),
      Number(m.seed ?? 0),
    );
    tower.training = m.training ?? null;
    return tower;
  }

  /**
   * Save as one tensor bundle, `<dir>/tower.bundle` (the metadata and the parameters), written
   * atomically; files of the older two-file layout are removed.
   *
   * @example
   * await tower.save('models/tower'); const again = await ImageTower.load('models/tower');
   */
  async save(dir: string): Promise<void> {
    writeTensorBundle(path.join(dir, TOWER_FILE), TOWER_FORMAT, this.meta(), { params: this.params });
    for (const legacy of ['weights.bin', 'meta.json']) await fs.promises.rm(path.join(dir, legacy), { force: true });
  }

  /**
   * Load a tower saved by {@link save} (or in the older two-file layout, `meta.json` +
   * `weights.bin`). A missing folder or file, or a file of another format, throws a {@link RagarError}.
   */
  static async load(dir: string): Promise<ImageTower> {
    const bundle = path.join(dir, TOWER_FILE);
    if (fs.existsSync(bundle)) {
      const { meta, tensors } = readTensorBundle<TowerMeta>(bundle, TOWER_FORMAT);
      const params = tensors.params ?? new Float32Array(0);
      return ImageTower.fromBuffer(meta, Buffer.from(params.buffer, params.byteOffset, params.byteLength), bundle);
    }
    const metaPath = path.join(dir, 'meta.json');
    let text: string;
    try {
      text = await fs.promises.readFile(metaPath, 'utf8');
    } catch (err) {
      throw new RagarError(`no image tower at ${dir} (cannot read meta.json: ${(err as Error).message})`, 'NOT_FOUND', { cause: err });
    }
    let meta: unknown;
    try {
      meta = JSON.parse(text);
    } catch (err) {
      throw new RagarError(`${metaPath}: not JSON (${(err as Error).message})`, 'CORRUPT', { cause: err });
    }
    if (!meta || typeof meta !== 'object' || (meta as { format?: unknown }).format !== TOWER_FORMAT) {
      return ImageTower.fromBuffer(meta, Buffer.alloc(0), metaPath); // throws the format error
    }
    const file = (meta as TowerMeta).weights?.file ?? 'weights.bin';
    if (path.basename(file) !== file) throw new RagarError(`${metaPath}: weights file must be a plain name, got ${file}`, 'CORRUPT');
    let weights: Buffer;
    try {
      weights = await fs.promises.readFile(path.join(dir, file));
    } catch (err) {
      throw new RagarError(`image tower at ${dir}: cannot read ${file} (${(err as Error).message})`, 'NOT_FOUND', { cause: err });
    }
    return ImageTower.fromBuffer(meta, weights, dir);
  }
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** One distillation example: an image and its teacher target `t(x) = W_imgᵀ·E_v(x)`. */
export interface TowerExample {
  /** 64·64·3 values in [0, 1], HWC. */
  pixels: Float32Array;
  /** Teacher target, length d. */
  target: Float32Array;
}

/** Options of {@link trainImageTower}. */
export interface TowerTrainOptions {
  /** Units of the hidden dense layer. */
  hidden: number;
  /** Most epochs. */
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** Side of the initial average pooling (divides 64). */
  poolTo: number;
  /** Channels of the 3×3 stride-2 convolutions (default [16, 32, 64]; [] = plain MLP). */
  convChannels?: number[];
  /** Hidden nonlinearity (default gelu). */
  activation?: TowerActivation;
  /**
   * How conv features reach the dense layers (default `gap`, which distilled MobileNetV2 best on
   * real emoji; `flatten` suits targets that depend on where things are in the image).
   */
  head?: TowerHead;
  /** L2 penalty on weights (not biases), added to the gradient (default 1e-4). */
  weightDecay?: number;
  /** Weight of an extra `1 − cos(s − μ, t − μ)` loss term (default 0). */
  cosineWeight?: number;
  /** Stop after this many epochs without a better validation MSE (default 8). */
  patience?: number;
  /**
   * Augment training inputs with random horizontal flips and shifts of up to one pooled pixel
   * (white fill), assuming the teacher is nearly invariant to them (default false).
   */
  augment?: boolean;
  /** Scale each update by a cosine schedule, from 1 in the first epoch towards 0 in the last (default true). */
  cosineDecay?: boolean;
  progress?: Progress;
}

/** Default options of {@link trainImageTower} (the values the real-image experiment chose). */
export const DEFAULT_TOWER_TRAIN: Required<Omit<TowerTrainOptions, 'progress'>> = {
  hidden: 64,
  epochs: 60,
  batchSize: 16,
  learningRate: 2e-3,
  seed: 1,
  poolTo: 32,
  convChannels: [16, 32, 64],
  activation: 'gelu',
  head: 'gap',
  weightDecay: 1e-4,
  cosineWeight: 0,
  patience: 8,
  augment: false,
  cosineDecay: true,
};

/** What {@link trainImageTower} returns. */
export interface TowerTrainResult {
  /** The tower with the best-validation weights (the last epoch's without validation data). */
  tower: ImageTower;
  curve: TowerEpochStats[];
  secondsPerEpoch: number;
  /** Training milliseconds per sample seen. */
  msPerSample: number;
  bestEpoch: number;
}

function checkExamples(items: readonly TowerExample[], what: string, d: number | null): number {
  let dim = d;
  items.forEach((it, i) => {
    ImageTower.checkPixels(it?.pixels, `${what} item ${i} pixels`);
    if (!it.target || typeof it.target.length !== 'number' || it.target.length < 1) {
      throw new RagarError(`${what} item ${i}: target must be a non-empty vector`, 'BAD_INPUT');
    }
    if (dim === null) dim = it.target.length;
    if (it.target.length !== dim) throw new RagarError(`${what} item ${i}: target has ${it.target.length} values, expected ${dim}`, 'BAD_INPUT');
    for (let k = 0; k < it.target.length; k++) {
      if (!Number.isFinite(it.target[k])) throw new RagarError(`${what} item ${i}: target has a non-finite value`, 'BAD_INPUT');
    }
  });
  return dim ?? 0;
}

/** Flip horizontally and shift by (dy, dx) pooled pixels, filling with white (+1). */
function augmentInput(src: Float64Array, dst: Float64Array, P: number, flip: boolean, dy: number, dx: number): void {
  for (let y = 0; y < P; y++) {
    const sy = y - dy;
    for (let x = 0; x < P; x++) {
      let sx = x - dx;
      const o = (y * P + x) * 3;
      if (sy < 0 || sy >= P || sx < 0 || sx >= P) {
        dst[o] = dst[o + 1] = dst[o + 2] = 1;
        continue;
      }
      if (flip) sx = P - 1 - sx;
      const i = (sy * P + sx) * 3;
      dst[o] = src[i];
      dst[o + 1] = src[i + 1];
      dst[o + 2] = src[i + 2];
    }
  }
}

/**
 * Distil an {@link ImageTower} from teacher targets: minimise the MSE between `s(x)` and `t(x)`
 * (optionally plus a centred-cosine term) with Adam on mini-batches, evaluate on `valid` after
 * every epoch, stop early after `patience` epochs without a better validation MSE and keep the
 * best weights. Records the held-out agreement on `valid` with 50 seeded random Gaussian user
 * vectors in `tower.training.heldOut`.
 *
 * @example
 * const { tower, curve } = trainImageTower(train, valid, { ...DEFAULT_TOWER_TRAIN, seed: 3 });
 */
export function trainImageTower(
  train: readonly TowerExample[],
  valid: readonly TowerExample[],
  options: TowerTrainOptions,
): TowerTrainResult {
  const o = { ...DEFAULT_TOWER_TRAIN, ...options };
  const progress = options.progress ?? silentProgress;
  const problems: string[] = [];
  const posInt = (n: number): boolean => Number.isInteger(n) && n >= 1;
  if (!posInt(o.epochs)) problems.push(`epochs must be a positive integer, got ${o.epochs}`);
  if (!posInt(o.batchSize)) problems.push(`batchSize must be a positive integer, got ${o.batchSize}`);
  if (!(o.learningRate > 0)) problems.push(`learningRate must be > 0, got ${o.learningRate}`);
  if (!(o.weightDecay >= 0)) problems.push(`weightDecay must be >= 0, got ${o.weightDecay}`);
  if (!(o.cosineWeight >= 0)) problems.push(`cosineWeight must be >= 0, got ${o.cosineWeight}`);
  if (!(Number.isInteger(o.patience) && o.patience >= 1)) problems.push(`patience must be a positive integer, got ${o.patience}`);
  if (problems.length) throw new RagarError(`trainImageTower: ${problems.join('; ')}`, 'BAD_INPUT');
  if (train.length < 2) throw new RagarError(`trainImageTower needs at least 2 training items, got ${train.length}`, 'BAD_INPUT');
  const d = checkExamples(train, 'train', null);
  checkExamples(valid, 'valid', d);

  // Target standardisation: μ per dimension, σ one scalar (keeps the dimensions' relative weight).
  const mean = new Float32Array(d);
  for (const it of train) for (let k = 0; k < d; k++) mean[k] += it.target[k] / train.length;
  let variance = 0;
  for (const it of train) for (let k = 0; k < d; k++) variance += (it.target[k] - mean[k]) ** 2;
  variance /= train.length * d;
  const scale = variance > 0 ? Math.sqrt(variance) : 1;

  const arch: TowerArchitecture = {
    inputSize: TOWER_INPUT_SIZE,
    poolTo: o.poolTo,
    convChannels: [...o.convChannels],
    head: o.head,
    hidden: o.hidden,
    outputDim: d,
    activation: o.activation,
  };
  const tower = ImageTower.create(arch, o.seed, mean, scale);
  const prep = (items: readonly TowerExample[]): { input: Float64Array; z: Float64Array }[] =>
    items.map((it) => {
      const z = new Float64Array(d);
      for (let k = 0; k < d; k++) z[k] = (it.target[k] - mean[k]) / scale;
      return { input: tower.poolInput(it.pixels), z };
    });
  const trainSet = prep(train);
  const validSet = prep(valid);

  const rng = new Rng(o.seed).fork('image-tower-train');
  const params = tower.params;
  const grad = new Float64Array(params.length);
  const gradF = new Float32Array(params.length);
  const adam = new Adam(params.length, o.learningRate);
  // Weight decay applies to weights, not biases.
  const decay = new Uint8Array(params.length).fill(1);
  const lay = computeLayout(arch);
  for (const c of lay.conv) decay.fill(0, c.b, c.b + c.cout);
  decay.fill(0, lay.d1.b, lay.d1.b + lay.d1.fout);
  decay.fill(0, lay.d2.b, lay.d2.b + lay.d2.fout);

  const P = o.poolTo;
  const aug = new Float64Array(P * P * 3);
  const order = trainSet.map((_, i) => i);
  const curve: TowerEpochStats[] = [];
  let best = { mse: Infinity, epoch: 0, params: Float32Array.from(params) };
  let trainSeconds = 0;
  let samplesSeen = 0;
  const t0 = performance.now();
  progress.start('train image tower', o.epochs);

  const evaluate = (set: { input: Float64Array; z: Float64Array }[]): { mse: number; cosine: number } => {
    if (set.length === 0) return { mse: NaN, cosine: NaN };
    let mse = 0;
    let cos = 0;
    for (const ex of set) {
      const z = tower.forwardZ(ex.input);
      let se = 0;
      let zz = 0;
      let tt = 0;
      let zt = 0;
      for (let k = 0; k < d; k++) {
        se += (z[k] - ex.z[k]) ** 2;
        zz += z[k] * z[k];
        tt += ex.z[k] * ex.z[k];
        zt += z[k] * ex.z[k];
      }
      mse += se / d;
      cos += zz > 0 && tt > 0 ? zt / Math.sqrt(zz * tt) : 0;
    }
    return { mse: (mse / set.length) * scale * scale, cosine: cos / set.length };
  };

  // Adam's step size is fixed at construction and Adam is invariant to the gradient's scale, so
  // the cosine schedule scales each update instead.
  const before = new Float32Array(params.length);
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const te = performance.now();
    rng.shuffle(order);
    const lrFactor = o.cosineDecay ? 0.5 * (1 + Math.cos((Math.PI * (epoch - 1)) / o.epochs)) : 1;
    let trainMse = 0;
    let trainCos = 0;
    for (let start = 0; start < order.length; start += o.batchSize) {
      const end = Math.min(order.length, start + o.batchSize);
      grad.fill(0);
      const w = 1 / (end - start);
      for (let b = start; b < end; b++) {
        const ex = trainSet[order[b]];
        let input = ex.input;
        if (o.augment) {
          augmentInput(ex.input, aug, P, rng.next() < 0.5, rng.int(3) - 1, rng.int(3) - 1);
          input = aug;
        }
        const r = tower.accumulate(input, ex.z, grad, w, o.cosineWeight);
        trainMse += r.mse;
        trainCos += r.cosine;
      }
      for (let i = 0; i < grad.length; i++) gradF[i] = grad[i] + (decay[i] ? o.weightDecay * params[i] : 0);
      if (lrFactor !== 1) before.set(params);
      adam.step(params, gradF);
      if (lrFactor !== 1) for (let i = 0; i < params.length; i++) params[i] = before[i] + lrFactor * (params[i] - before[i]);
      tower.paramsChanged();
      samplesSeen += end - start;
    }
    trainSeconds += (performance.now() - te) / 1000;
    const v = evaluate(validSet);
    const stats: TowerEpochStats = {
      epoch,
      trainMse: (trainMse / order.length) * scale * scale,
      validMse: v.mse,
      trainCosine: trainCos / order.length,
      validCosine: v.cosine,
      seconds: (performance.now() - te) / 1000,
    };
    curve.push(stats);
    progress.update(epoch);
    const score = validSet.length > 0 ? v.mse : -epoch; // no validation: keep the last epoch
    if (!Number.isFinite(stats.trainMse)) throw new RagarError(`image tower training diverged at epoch ${epoch} (lower the learning rate)`, 'DIVERGED');
    if (score < best.mse) best = { mse: score, epoch, params: Float32Array.from(params) };
    else if (validSet.length > 0 && epoch - best.epoch >= o.patience) break;
  }
  progress.stop();
  params.set(best.params);
  tower.paramsChanged();
  const seconds = (performance.now() - t0) / 1000;

  let heldOut: TowerTrainingInfo['heldOut'] = null;
  if (valid.length >= 2) {
    const urng = new Rng(o.seed).fork('image-tower-heldout-users');
    const users = Array.from({ length: 50 }, () => {
      const v = new Float32Array(d);
      for (let k = 0; k < d; k++) v[k] = urng.normal();
      return v;
    });
    const a = agreement(tower, valid, users);
    heldOut = {
      spearman: a.spearman,
      pearson: a.pearson,
      pearsonCentered: a.pearsonCentered,
      items: a.items,
      users: a.users,
      userVectors: 'standard normal, seeded',
    };
  }
  const recorded: Omit<TowerTrainOptions, 'progress'> = { ...o, convChannels: [...o.convChannels] };
  delete (recorded as TowerTrainOptions).progress;
  tower.training = {
    epochs: curve.length,
    bestEpoch: best.epoch,
    trainItems: train.length,
    validItems: valid.length,
    seconds,
    secondsPerEpoch: trainSeconds / curve.length,
    msPerSample: (trainSeconds * 1000) / Math.max(1, samplesSeen),
    options: recorded,
    heldOut,
  };
  return {
    tower,
    curve,
    secondsPerEpoch: trainSeconds / curve.length,
    msPerSample: (trainSeconds * 1000) / Math.max(1, samplesSeen),
    bestEpoch: best.epoch,
  };
}

function pearsonOf(x: Float64Array, y: Float64Array): number {
  return x.length < 2 ? NaN : pearson(x, y);
}

/**
 * How well the tower stands in for the teacher in ranking: for each user vector `v`, the
 * Spearman rank correlation (average ranks for ties) between `t(x)·v` and `s(x)·v` over the
 * items, averaged over users (users where it is undefined, e.g. constant scores, are left out of
 * the mean); plus the Pearson correlation of all entries of `s` against `t`, raw and with each
 * dimension's mean removed.
 *
 * @example
 * const a = agreement(tower, heldOut, userVectors); // a.spearman ≈ 1 for a perfect student
 */
export function agreement(
  tower: ImageTower,
  items: readonly { pixels: TowerPixels; target: ArrayLike<number> }[],
  users: readonly ArrayLike<number>[],
): TowerAgreement {
  const d = tower.dimension;
  items.forEach((it, i) => {
    ImageTower.checkPixels(it?.pixels, `item ${i} pixels`);
    if (!it.target || it.target.length !== d) throw new RagarError(`item ${i}: target must have ${d} values, got ${it.target?.length}`, 'BAD_INPUT');
  });
  users.forEach((v, u) => {
    if (!v || v.length !== d) throw new RagarError(`user ${u}: vector must have ${d} values, got ${v?.length}`, 'BAD_INPUT');
  });
  const n = items.length;
  const s = items.map((it) => tower.embed(it.pixels));
  const perUser = users.map((v) => {
    const ts = new Array<number>(n);
    const ss = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      let a = 0;
      let b = 0;
      for (let k = 0; k < d; k++) {
        a += items[i].target[k] * v[k];
        b += s[i][k] * v[k];
      }
      ts[i] = a;
      ss[i] = b;
    }
    return n >= 2 ? spearman(ts, ss) : NaN;
  });
  const defined = perUser.filter((x) => Number.isFinite(x));
  const sAll = new Float64Array(n * d);
  const tAll = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) {
      sAll[i * d + k] = s[i][k];
      tAll[i * d + k] = items[i].target[k];
    }
  }
  const pearson = pearsonOf(sAll, tAll);
  for (let k = 0; k < d && n > 0; k++) {
    let ms = 0;
    let mt = 0;
    for (let i = 0; i < n; i++) {
      ms += sAll[i * d + k];
      mt += tAll[i * d + k];
    }
    ms /= n;
    mt /= n;
    for (let i = 0; i < n; i++) {
      sAll[i * d + k] -= ms;
      tAll[i * d + k] -= mt;
    }
  }
  return {
    spearman: defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : NaN,
    perUser,
    pearson,
    pearsonCentered: pearsonOf(sAll, tAll),
    items: n,
    users: users.length,
  };
}
