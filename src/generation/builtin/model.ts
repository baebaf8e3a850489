import fs from 'node:fs';
import path from 'node:path';
import { RagarError } from '../../util/errors.js';
import { readJsonFile, writeFileAtomicSync } from '../../util/persist.js';
import { Rng } from '../../util/rng.js';
import { createCondUnet, loadCondUnet, type CondUnetConfig } from '../onnx/condUnet.js';
import type { SessionSettings } from '../onnx/graph.js';
import type { OnnxNet } from '../onnx/net.js';
import { conditionFromHistory, type StyleConditioner } from './conditioning.js';
import { PIXEL_SIZE } from '../../encoders/pixels.js';
import { PLANE } from './data.js';
import { ddimStep, noisy, samplingTimes } from './schedule.js';
import { loadFinishing, type Finishing } from './finishing.js';
import { flatSegments, segmentPoolBackward, segmentPoolForward, type FlatSegments, type SegmentOptions } from './segmentPool.js';

/** Format of `generator.json`. */
export const GENERATOR_FORMAT = 'ragar-generator-v3';

/**
 * What the built-in generator is (both read the reference as an input plane set and the
 * preference as a condition vector applied in every block, see `../onnx/condUnet.ts`):
 * - `translator`: one forward pass maps (reference, condition) to the output image (trained
 *   with L1, optionally an adversarial PatchGAN term and the rank term).
 * - `diffusion`: a conditional denoiser that also reads the noisy image x_t and the time t (in
 *   the condition vector) and predicts the clean image; sampled with DDIM.
 */
export type GeneratorObjective = 'diffusion' | 'translator';

/** The generator's definition, saved beside its weights. */
export interface GeneratorConfig {
  objective: GeneratorObjective;
  /** The conditioned U-Net (channel counts derived from the rest of this config). */
  net: CondUnetConfig;
  conditioner: StyleConditioner;
  /** Default DDIM steps when sampling (diffusion). */
  steps: number;
  /**
   * Space-to-depth factor (1 or 2): with 2, the 64×64 input planes are folded into 4× as many
   * 32×32 planes, the U-Net runs at 32×32 and its 12 output planes unfold into the 64×64 RGB
   * output (pixel shuffle), about 4× cheaper at the same widths. Every output pixel is still
   * predicted: the output is 64×64 natively.
   */
  shuffle: 1 | 2;
  /** Output = reference + network (true) or the network's output itself (false). */
  residual: boolean;
  /**
   * Blur after the pixel shuffle: the network's unfolded 64×64 output goes through a fixed
   * [1, 2, 1]/4 filter along each axis (edge pixels replicated) before the residual is added,
   * which removes the period-2 grid a pixel shuffle leaves (its four sub-pixel planes are separate
   * output channels); as "blur after sub-pixel convolution" (Sugawara et al., 2019). Absent = off.
   */
  outputBlur?: boolean;
  /**
   * Segment pooling (`./segmentPool.ts`): the network draws a fourth output plane, a gate that
   * mixes each pixel with the mean output over its flat segment of the reference, so flat colour
   * fields can be drawn exactly. Its value is how the reference is segmented; absent = off.
   */
  segmentPool?: SegmentOptions;
  /** Sinusoidal time features in the condition vector (diffusion; 0 for the translator). */
  timeFeatures: number;
  /** Default sampling strength (diffusion; see `BuiltinEngineOptions.strength`); absent = 1. */
  strength?: number;
}

/** Output planes the network draws per pixel: RGB, plus the segment-pooling gate when that is on. */
function outputPlanes(config: Pick<GeneratorConfig, 'segmentPool'>): number {
  return config.segmentPool ? 4 : 3;
}

/**
 * The pixel-shuffle permutation between N×C×(S·f)×(S·f) (space) and N×(C·f²)×S×S (depth),
 * channel order c, dy, dx; `fold` picks the direction.
 */
function shuffle(x: Float32Array, n: number, c: number, size: number, f: number, fold: boolean): Float32Array {
  if (f === 1) return x;
  const s = size / f;
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < size; y++)
        for (let xx = 0; xx < size; xx++) {
          const oc = (ch * f + (y % f)) * f + (xx % f);
          const spaceIndex = ((b * c + ch) * size + y) * size + xx;
          const depthIndex = ((b * c * f * f + oc) * s + Math.floor(y / f)) * s + Math.floor(xx / f);
          if (fold) out[depthIndex] = x[spaceIndex];
          else out[spaceIndex] = x[depthIndex];
        }
  return out;
}

/** Fold N×C×(S·f)×(S·f) into N×(C·f²)×S×S (channel order: c, dy, dx). */
export function spaceToDepth(x: Float32Array, n: number, c: number, size: number, f: number): Float32Array {
  return shuffle(x, n, c, size, f, true);
}

/** Inverse of {@link spaceToDepth}. */
export function depthToSpace(x: Float32Array, n: number, c: number, size: number, f: number): Float32Array {
  return shuffle(x, n, c, size, f, false);
}

/**
 * The [1, 2, 1]/4 filter along both axes of N×C×size×size planes, edge pixels replicated
 * (`adjoint`: its transpose, which carries a gradient back through the filter).
 *
 * @example
 * const smooth = blur121(y, 8, 3, 64, false);
 */
export function blur121(x: Float32Array, n: number, c: number, size: number, adjoint: boolean): Float32Array {
  const along = (src: Float32Array, stride: number, step: number): Float32Array => {
    const out = new Float32Array(src.length);
    for (let p = 0; p < n * c; p++) {
      const base = p * size * size;
      for (let a = 0; a < size; a++) {
        for (let i = 0; i < size; i++) {
          const at = (j: number) => base + a * stride + Math.min(size - 1, Math.max(0, j)) * step;
          const here = base + a * stride + i * step;
          if (adjoint) {
            out[at(i - 1)] += 0.25 * src[here];
            out[here] += 0.5 * src[here];
            out[at(i + 1)] += 0.25 * src[here];
          } else out[here] = 0.25 * src[at(i - 1)] + 0.5 * src[here] + 0.25 * src[at(i + 1)];
        }
      }
    }
    return out;
  };
  // rows then columns; the two passes act on different axes, so they commute (the adjoint's order does not matter)
  return along(along(x, size, 1), 1, size);
}

/** Image planes the network reads: the reference, plus x_t for diffusion. */
export function imagePlanes(objective: GeneratorObjective): number {
  return objective === 'diffusion' ? 6 : 3;
}

/** Length of the condition vector: the style mixture, a "condition present" flag, time features. */
export function conditionLength(classes: number, timeFeatures: number): number {
  return classes + 1 + timeFeatures;
}

/** Sinusoidal features of t ∈ [0, 1] (k/2 frequencies, sin and cos). */
function timeEmbedding(t: number, k: number, out: Float32Array, offset: number): void {
  for (let i = 0; i < k / 2; i++) {
    const f = Math.PI * 2 ** i;
    out[offset + 2 * i] = Math.sin(f * t);
    out[offset + 2 * i + 1] = Math.cos(f * t);
  }
}

/** One sample's conditioning, in model space. */
export interface GeneratorCondition {
  /** CHW reference in [−1, 1]. */
  reference: Float32Array;
  /**
   * Style condition, one value per conditioner class (see {@link conditionFromHistory}); null =
   * no condition (the learned unconditional output that classifier-free guidance extrapolates from).
   */
  style: Float32Array | null;
}

/**
 * The built-in conditional generator (a conditioned U-Net on onnxruntime, see `../onnx/condUnet.ts`).
 *
 * @example
 * const gen = (await BuiltinGenerator.load(dir)).generator;
 * const [x0] = await gen.sample([{ reference, style: gen.condition(history) }], [seed]); // CHW in [−1, 1]
 */
export class BuiltinGenerator {
  readonly config: GeneratorConfig;
  readonly net: OnnxNet;
  /**
   * The fitted per-style finishing (`./finishing.ts`) the engine applies to outputs; read from
   * the folder's `finishing.json` by {@link BuiltinGenerator.load}, null when there is none.
   */
  finishing: Finishing | null = null;
  /** What the last training forward pass's segment pooling needs for {@link backward}. */
  private pooled: { segments: FlatSegments; s: Float32Array; gate: Float32Array }[] | null = null;

  constructor(config: GeneratorConfig, net: OnnxNet) {
    this.config = config;
    this.net = net;
    if (config.conditioner?.kind !== 'style-posterior') throw new RagarError('generator config has no style-posterior conditioner (weights from another version)', 'BAD_INPUT');
    const planes = imagePlanes(config.objective) * config.shuffle ** 2;
    if (net.inputShape[0] !== planes) throw new RagarError(`generator network reads ${net.inputShape[0]} planes, the config needs ${planes}`, 'BAD_INPUT');
    const outPlanes = outputPlanes(config) * config.shuffle ** 2;
    if (net.outputShape[0] !== outPlanes) throw new RagarError(`generator network draws ${net.outputShape[0]} planes, the config needs ${outPlanes}${config.segmentPool ? ' (RGB and the segment-pooling gate)' : ''}`, 'BAD_INPUT');
    const condLength = conditionLength(config.conditioner.classes.length, config.timeFeatures);
    if (net.spec.conditions?.[0]?.channels !== condLength) throw new RagarError(`generator network reads a condition of ${net.spec.conditions?.[0]?.channels} values, the config needs ${condLength}`, 'BAD_INPUT');
  }

  /** A freshly initialised generator. */
  static create(config: Omit<GeneratorConfig, 'net'> & { net: Omit<CondUnetConfig, 'inChannels' | 'outChannels' | 'condChannels' | 'size'> }, session?: SessionSettings): BuiltinGenerator {
    const f = config.shuffle;
    const net: CondUnetConfig = {
      ...config.net,
      inChannels: imagePlanes(config.objective) * f * f,
      outChannels: outputPlanes(config) * f * f,
      condChannels: conditionLength(config.conditioner.classes.length, config.timeFeatures),
      size: PIXEL_SIZE / f,
    };
    return new BuiltinGenerator({ ...config, net }, createCondUnet(net, { session }));
  }

  /** The style condition of a weighted history (each item's style descriptor and weight). */
  condition(history: readonly { weight: number; styleVector: ArrayLike<number> }[]): Float32Array {
    return conditionFromHistory(this.config.conditioner, history);
  }

  /** The condition of a known style (one-hot; e.g. the oracle run's true target style). */
  conditionOfStyle(style: string): Float32Array {
    const k = this.config.conditioner.classes.indexOf(style);
    if (k < 0) throw new RagarError(`style "${style}" is not one the generator knows (${this.config.conditioner.classes.join(', ')})`, 'BAD_INPUT');
    const out = new Float32Array(this.config.conditioner.classes.length);
    out[k] = 1;
    return out;
  }

  /** The network's image planes (N × planes × 64 × 64, before the shuffle) and condition vectors. */
  private assemble(noisy: readonly (Float32Array | null)[], conds: readonly GeneratorCondition[], times: readonly number[]): { x: Float32Array; cond: Float32Array } {
    const planes = imagePlanes(this.config.objective);
    const k = this.config.conditioner.classes.length;
    const len = conditionLength(k, this.config.timeFeatures);
    const n = conds.length;
    const x = new Float32Array(n * planes * PLANE);
    const cond = new Float32Array(n * len);
    for (let b = 0; b < n; b++) {
      const o = b * planes * PLANE;
      if (planes === 6) {
        const xt = noisy[b];
        if (xt) x.set(xt, o);
        x.set(conds[b].reference, o + 3 * PLANE);
      } else x.set(conds[b].reference, o);
      const style = conds[b].style;
      if (style) {
        if (style.length !== k) throw new RagarError(`style condition has ${style.length} values, the generator expects ${k}`, 'BAD_INPUT');
        cond.set(style, b * len);
        cond[b * len + k] = 1;
      }
      if (this.config.timeFeatures) timeEmbedding(times[b], this.config.timeFeatures, cond, b * len + k + 1);
    }
    return { x: spaceToDepth(x, n, planes, PIXEL_SIZE, this.config.shuffle), cond };
  }

  private finish(y: Float32Array, conds: readonly GeneratorCondition[], keep = false): Float32Array[] {
    const n = conds.length;
    const planes = outputPlanes(this.config);
    const unfolded = depthToSpace(y, n, planes, PIXEL_SIZE, this.config.shuffle);
    const colour = planes === 3 ? unfolded : new Float32Array(n * 3 * PLANE);
    if (planes !== 3) for (let b = 0; b < n; b++) colour.set(unfolded.subarray(b * planes * PLANE, (b * planes + 3) * PLANE), b * 3 * PLANE);
    const space = this.config.outputBlur ? blur121(colour, n, 3, PIXEL_SIZE, false) : colour;
    const out: Float32Array[] = [];
    if (keep) this.pooled = this.config.segmentPool ? [] : null;
    // guided inference passes each reference twice (conditioned and not): segment it once
    const segmentsOf = new Map<Float32Array, FlatSegments>();
    for (let b = 0; b < n; b++) {
      const r = space.slice(b * 3 * PLANE, (b + 1) * 3 * PLANE);
      const ref = conds[b].reference;
      if (this.config.residual) {
        for (let i = 0; i < r.length; i++) r[i] += ref[i];
      }
      if (!this.config.segmentPool) {
        out.push(r);
        continue;
      }
      const gate = unfolded.slice((b * planes + 3) * PLANE, (b * planes + 4) * PLANE);
      let segments = segmentsOf.get(ref);
      if (!segments) segmentsOf.set(ref, (segments = flatSegments(ref, PIXEL_SIZE, this.config.segmentPool)));
      if (keep) this.pooled!.push({ segments, s: r, gate });
      out.push(segmentPoolForward(r, gate, segments));
    }
    return out;
  }

  /** Parameter gradients for a loss gradient `dY` on the last {@link predict}'s outputs (N×3×64×64). */
  async backward(dY: Float32Array, n: number): Promise<Float32Array> {
    const planes = outputPlanes(this.config);
    let dColour = dY;
    let dGate: Float32Array[] | null = null;
    if (this.config.segmentPool) {
      const pooled = this.pooled;
      if (!pooled || pooled.length !== n) throw new RagarError('generator backward without a matching training forward pass (segment pooling)', 'BAD_INPUT');
      dColour = new Float32Array(n * 3 * PLANE);
      dGate = [];
      for (let b = 0; b < n; b++) {
        const { segments, s, gate } = pooled[b];
        const g = segmentPoolBackward(dY.subarray(b * 3 * PLANE, (b + 1) * 3 * PLANE), s, gate, segments);
        dColour.set(g.dS, b * 3 * PLANE);
        dGate.push(g.dGate);
      }
    }
    const dSpace = this.config.outputBlur ? blur121(dColour, n, 3, PIXEL_SIZE, true) : dColour;
    let dUnfolded = dSpace;
    if (dGate) {
      dUnfolded = new Float32Array(n * planes * PLANE);
      for (let b = 0; b < n; b++) {
        dUnfolded.set(dSpace.subarray(b * 3 * PLANE, (b + 1) * 3 * PLANE), b * planes * PLANE);
        dUnfolded.set(dGate[b], (b * planes + 3) * PLANE);
      }
    }
    return this.net.backward(spaceToDepth(dUnfolded, n, planes, PIXEL_SIZE, this.config.shuffle));
  }

  /** Training forward pass: x̂ for a batch (CHW, model space); {@link backward} follows it. */
  async predict(noisy: readonly (Float32Array | null)[], conds: readonly GeneratorCondition[], times: readonly number[]): Promise<Float32Array[]> {
    const { x, cond } = this.assemble(noisy, conds, times);
    return this.finish(await this.net.forward(x, conds.length, { cond }), conds, true);
  }

  /**
   * Inference: x̂ for a batch with classifier-free guidance `scale` (one for all or one per
   * sample; 1 = the conditional output; otherwise the unconditional output is computed in the
   * same batch and extrapolated from).
   */
  async infer(noisy: readonly (Float32Array | null)[], conds: readonly GeneratorCondition[], times: readonly number[], scale: number | readonly number[]): Promise<Float32Array[]> {
    const scaleOf = (b: number): number => (typeof scale === 'number' ? scale : scale[b]);
    const guided = conds.some((c, b) => c.style && scaleOf(b) !== 1);
    const allConds = guided ? [...conds, ...conds.map((c) => ({ reference: c.reference, style: null }))] : conds;
    const { x, cond } = this.assemble(guided ? [...noisy, ...noisy] : noisy, allConds, guided ? [...times, ...times] : times);
    const y = this.finish(await this.net.predict(x, allConds.length, { cond }), allConds);
    if (!guided) return y;
    const n = conds.length;
    return y.slice(0, n).map((c, b) => {
      if (!conds[b].style) return c;
      const u = y[n + b];
      const sb = scaleOf(b);
      const out = new Float32Array(c.length);
      for (let i = 0; i < c.length; i++) out[i] = u[i] + sb * (c[i] - u[i]);
      return out;
    });
  }

  /**
   * Generate one image per condition (CHW in model space). Translator: one guided forward pass
   * (seeds unused). Diffusion: DDIM from seeded noise over `steps` steps (from the reference
   * noised to `strength` when below 1); an optional `guide` nudges each x̂₀ (e.g. along the
   * ranker's pixel gradient). `guidance` is the classifier-free guidance scale, one for all or
   * one per condition: `u + s·(c − u)` with c the conditioned and u the unconditioned prediction
   * (default 1: the plain conditional output).
   */
  async sample(
    conds: readonly GeneratorCondition[],
    seeds: readonly number[],
    options: { steps?: number; strength?: number; guidance?: number | readonly number[]; guide?: (x0: Float32Array[], step: number) => void; signal?: AbortSignal; onStep?: (done: number, total: number) => void } = {},
  ): Promise<Float32Array[]> {
    const scale = options.guidance ?? 1;
    for (const v of typeof scale === 'number' ? [scale] : scale) {
      if (!(Number.isFinite(v) && v >= 0 && v <= 20)) throw new RagarError(`guidance scale must be a number from 0 to 20, got ${v}`, 'BAD_INPUT');
    }
    if (typeof scale !== 'number' && scale.length !== conds.length) throw new RagarError(`${scale.length} guidance scales for ${conds.length} conditions`, 'BAD_INPUT');
    if (this.config.objective === 'translator') {
      options.signal?.throwIfAborted();
      const out = await this.infer(conds.map(() => null), conds, conds.map(() => 0), scale);
      options.guide?.(out, 0);
      options.onStep?.(1, 1);
      return out;
    }
    const steps = options.steps ?? this.config.steps;
    const strength = options.strength ?? this.config.strength ?? 1;
    if (!(strength > 0 && strength <= 1)) throw new RagarError(`strength must be in (0, 1], got ${strength}`, 'BAD_INPUT');
    const times = samplingTimes(steps).map((t) => t * strength);
    const xs = seeds.map((seed, b) => {
      const rng = new Rng(seed);
      const eps = Float32Array.from({ length: 3 * PLANE }, () => rng.normal());
      // strength 1: pure noise; below 1: the reference noised to that time (img2img, as SDEdit).
      return strength >= 1 ? eps : noisy(conds[b].reference, eps, strength, new Float32Array(3 * PLANE));
    });
    let x0: Float32Array[] = [];
    for (let s = 0; s < steps; s++) {
      options.signal?.throwIfAborted();
      x0 = await this.infer(xs, conds, conds.map(() => times[s]), scale);
      options.guide?.(x0, s);
      if (s < steps - 1) for (let b = 0; b < xs.length; b++) ddimStep(xs[b], x0[b], times[s], times[s + 1]);
      options.onStep?.(s + 1, steps);
    }
    return x0;
  }

  /** Save the weights and `generator.json` (plus extra training metadata) into `dir`. */
  async save(dir: string, extra: Record<string, unknown> = {}): Promise<void> {
    await this.net.save(dir);
    writeFileAtomicSync(path.join(dir, 'generator.json'), `${JSON.stringify({ format: GENERATOR_FORMAT, config: this.config, ...extra }, null, 2)}\n`);
  }

  /** Load a saved generator (and its `finishing.json`, if any), with clear errors for a missing folder or another format. */
  static async load(dir: string, session?: SessionSettings): Promise<{ generator: BuiltinGenerator; meta: Record<string, unknown> }> {
    const file = path.join(dir, 'generator.json');
    if (!fs.existsSync(file)) throw new RagarError(`no generator weights in ${dir} (generator.json missing); run \`ragar train generator\``, 'NOT_FOUND');
    const meta = readJsonFile<Record<string, unknown>>(file);
    if (meta.format !== GENERATOR_FORMAT) throw new RagarError(`${file}: format ${JSON.stringify(meta.format)} is not ${GENERATOR_FORMAT} (weights from another version)`, 'VERSION');
    const config = meta.config as GeneratorConfig;
    const net = await loadCondUnet(dir, { session });
    const generator = new BuiltinGenerator(config, net);
    generator.finishing = loadFinishing(dir, config.conditioner.classes);
    return { generator, meta };
  }

  async dispose(): Promise<void> {
    await this.net.dispose();
  }
}
