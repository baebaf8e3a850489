import fs from 'node:fs';
import path from 'node:path';
import { RagarError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import { createUnet, loadUnet, type UnetConfig } from '../onnx/unet.js';
import type { OnnxNet } from '../onnx/net.js';
import { conditionFromHistory, type StyleConditioner } from './conditioning.js';
import { PIXEL_SIZE } from '../../encoders/pixels.js';
import { PLANE } from './data.js';
import { ddimStep, noisy, samplingTimes } from './schedule.js';

/** Format of `generator.json`. */
export const GENERATOR_FORMAT = 'ragar-generator-v2';

/**
 * What the built-in generator is:
 * - `diffusion`: a conditional denoiser. Input planes: the noisy image x_t (3), the reference
 *   (3), the preference's style posterior (one constant plane per style), the time t (1); output: the
 *   clean image as a residual on the reference, `x̂₀ = ref + U(·)`. Sampled with DDIM.
 * - `translator`: the same network with x_t and t fixed at zero, trained as a plain L1
 *   regressor (the baseline the issue asks for: sharp renditions must beat it).
 */
export type GeneratorObjective = 'diffusion' | 'translator';

/** The generator's definition, saved beside its weights. */
export interface GeneratorConfig {
  objective: GeneratorObjective;
  unet: UnetConfig;
  conditioner: StyleConditioner;
  /** Default DDIM steps when sampling. */
  steps: number;
  /**
   * Space-to-depth factor (1 or 2): with 2, the 64×64 input planes are folded into 4× as many
   * 32×32 planes, the U-Net runs at 32×32 and its 12 output planes unfold into the 64×64 RGB
   * output (pixel shuffle), about 4× cheaper at the same widths. Every output pixel is still
   * predicted: the output is 64×64 natively.
   */
  shuffle: 1 | 2;
  /** Default sampling strength (see `BuiltinEngineOptions.strength`); absent = 1. */
  strength?: number;
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

/** Input planes of the network for a config. */
export function inputPlanes(conditionPlanes: number): number {
  return 3 + 3 + conditionPlanes + 1;
}

/** One sample's conditioning, in model space. */
export interface GeneratorCondition {
  /** CHW reference in [−1, 1]. */
  reference: Float32Array;
  /** Style condition, one value per conditioner class (see {@link conditionFromHistory}). */
  style: Float32Array;
}

/**
 * The built-in conditional generator (a small U-Net on onnxruntime, see `../onnx/unet.ts`).
 *
 * @example
 * const gen = await BuiltinGenerator.load(dir);
 * const x0 = await gen.sample([{ reference, style }], [seed]); // CHW in [−1, 1]
 */
export class BuiltinGenerator {
  readonly config: GeneratorConfig;
  readonly net: OnnxNet;

  constructor(config: GeneratorConfig, net: OnnxNet) {
    this.config = config;
    this.net = net;
    if (config.conditioner?.kind !== 'style-posterior') throw new RagarError('generator config has no style-posterior conditioner (weights from another version)', 'BAD_INPUT');
    const expected = inputPlanes(config.conditioner.classes.length) * config.shuffle ** 2;
    if (net.inputShape[0] !== expected) throw new RagarError(`generator network reads ${net.inputShape[0]} planes, the config needs ${expected}`, 'BAD_INPUT');
  }

  /** A freshly initialised generator. */
  static create(config: Omit<GeneratorConfig, 'unet'> & { unet: Omit<UnetConfig, 'inChannels' | 'outChannels'> }): BuiltinGenerator {
    const f = config.shuffle;
    const unet: UnetConfig = { ...config.unet, inChannels: inputPlanes(config.conditioner.classes.length) * f * f, outChannels: 3 * f * f, size: PIXEL_SIZE / f };
    return new BuiltinGenerator({ ...config, unet }, createUnet(unet));
  }

  /** The style condition of a weighted history (each item's style descriptor and weight). */
  condition(history: readonly { weight: number; styleVector: ArrayLike<number> }[]): Float32Array {
    return conditionFromHistory(this.config.conditioner, history);
  }

  /** Assemble the network input for a batch (N × planes × 64 × 64). */
  assemble(noisy: readonly (Float32Array | null)[], conds: readonly GeneratorCondition[], times: readonly number[]): Float32Array {
    const planes = inputPlanes(this.config.conditioner.classes.length);
    const n = conds.length;
    const x = new Float32Array(n * planes * PLANE);
    for (let b = 0; b < n; b++) {
      const o = b * planes * PLANE;
      const xt = noisy[b];
      if (xt) x.set(xt, o);
      x.set(conds[b].reference, o + 3 * PLANE);
      const k = this.config.conditioner.classes.length;
      for (let c = 0; c < k; c++) x.fill(conds[b].style[c], o + (6 + c) * PLANE, o + (7 + c) * PLANE);
      x.fill(times[b], o + (6 + k) * PLANE, o + (7 + k) * PLANE);
    }
    return x;
  }

  /** Parameter gradients for a loss gradient `dY` on the last {@link predict}'s outputs (N×3×64×64). */
  async backward(dY: Float32Array, n: number): Promise<Float32Array> {
    return this.net.backward(spaceToDepth(dY, n, 3, PIXEL_SIZE, this.config.shuffle));
  }

  /** x̂₀ for a batch: `ref + U(input)` (CHW, model space). */
  async predict(noisy: readonly (Float32Array | null)[], conds: readonly GeneratorCondition[], times: readonly number[]): Promise<Float32Array[]> {
    const n = conds.length;
    const f = this.config.shuffle;
    const input = spaceToDepth(this.assemble(noisy, conds, times), n, inputPlanes(this.config.conditioner.classes.length), PIXEL_SIZE, f);
    const y = depthToSpace(await this.net.forward(input, n), n, 3, PIXEL_SIZE, f);
    const out: Float32Array[] = [];
    for (let b = 0; b < n; b++) {
      const r = y.slice(b * 3 * PLANE, (b + 1) * 3 * PLANE);
      const ref = conds[b].reference;
      for (let i = 0; i < r.length; i++) r[i] += ref[i];
      out.push(r);
    }
    return out;
  }

  /**
   * Generate one image per condition (CHW in model space). Diffusion: DDIM from seeded noise
   * over `steps` steps; an optional `guide` nudges each x̂₀ (e.g. along the ranker's pixel
   * gradient). Translator: one forward pass (seeds unused).
   */
  async sample(
    conds: readonly GeneratorCondition[],
    seeds: readonly number[],
    options: { steps?: number; strength?: number; guide?: (x0: Float32Array[], step: number) => void; signal?: AbortSignal; onStep?: (done: number, total: number) => void } = {},
  ): Promise<Float32Array[]> {
    if (this.config.objective === 'translator') {
      options.signal?.throwIfAborted();
      const out = await this.predict(conds.map(() => null), conds, conds.map(() => 0));
      options.onStep?.(1, 1);
      return out;
    }
    const steps = options.steps ?? this.config.steps;
    const strength = options.strength ?? 1;
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
      x0 = await this.predict(xs, conds, conds.map(() => times[s]));
      options.guide?.(x0, s);
      if (s < steps - 1) for (let b = 0; b < xs.length; b++) ddimStep(xs[b], x0[b], times[s], times[s + 1]);
      options.onStep?.(s + 1, steps);
    }
    return x0;
  }

  /** Save the weights and `generator.json` (plus extra training metadata) into `dir`. */
  async save(dir: string, extra: Record<string, unknown> = {}): Promise<void> {
    await this.net.save(dir);
    const tmp = path.join(dir, `generator.json.${process.pid}.tmp`);
    fs.writeFileSync(tmp, `${JSON.stringify({ format: GENERATOR_FORMAT, config: this.config, ...extra }, null, 2)}\n`);
    fs.renameSync(tmp, path.join(dir, 'generator.json'));
  }

  /** Load a saved generator, with clear errors for a missing folder or another format. */
  static async load(dir: string): Promise<{ generator: BuiltinGenerator; meta: Record<string, unknown> }> {
    const file = path.join(dir, 'generator.json');
    if (!fs.existsSync(file)) throw new RagarError(`no generator weights in ${dir} (generator.json missing); run \`ragar train generator\``, 'NOT_FOUND');
    let meta: Record<string, unknown>;
    try {
      meta = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new RagarError(`${file}: not valid JSON (${(err as Error).message})`, 'BAD_INPUT');
    }
    if (meta.format !== GENERATOR_FORMAT) throw new RagarError(`${file}: format ${JSON.stringify(meta.format)} is not ${GENERATOR_FORMAT} (weights from another version)`, 'BAD_INPUT');
    const config = meta.config as GeneratorConfig;
    const net = await loadUnet(dir);
    return { generator: new BuiltinGenerator(config, net), meta };
  }

  async dispose(): Promise<void> {
    await this.net.dispose();
  }
}
