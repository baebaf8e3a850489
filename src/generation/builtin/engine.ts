import sharp from 'sharp';
import { decodePixels64, PIXEL_SIZE } from '../../encoders/pixels.js';
import type { ImageTower } from '../../ranking/tower.js';
import { RagarError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import type { GeneratorCallOptionsV1, GeneratorEngineV1, GeneratorResultV1, GeneratorWarningV1 } from '../types.js';
import { PLANE, toModelSpace, toPixels } from './data.js';
import { applyFinishing, finishingGuidances, finishingNeedsReference, type Finishing } from './finishing.js';
import { BuiltinGenerator } from './model.js';

/** Options of the built-in engine under `providerOptions.builtin`. */
export interface BuiltinEngineOptions {
  /** DDIM steps (default: the model's). */
  steps?: number;
  /**
   * Ranker guidance while sampling: after each step x̂₀ moves `guidance` × the distilled tower's
   * pixel gradient of the user's score (0 = off, the default; needs `rankerDirection` and a tower).
   */
  guidance?: number;
  /**
   * Where sampling starts when the standard `strength` option is not given (1 = pure noise, below
   * 1 = the reference noised to that level). Default: the model's, else {@link DEFAULT_SAMPLING_STRENGTH}.
   */
  strength?: number;
  /**
   * The standardised style descriptor of each history item (the ranker's style block), by item
   * id: the generator is conditioned on the weighted mean of their style posteriors. Needed for
   * a personalised request (a non-empty history).
   */
  itemStyles?: Readonly<Record<string, Float32Array>>;
  /**
   * The weighted mean descriptor: used instead of `itemStyles` when some attended item lacks its
   * descriptor (a reference from a file with a history of imported items).
   */
  styleVector?: Float32Array | null;
  /**
   * The ranker's user direction for this reference, `R(u, x) = g_img(x)·v + c`
   * (`ContentRanker.imageScoreParts`): what ranker guidance steers towards. Null = none.
   */
  rankerDirection?: { v: Float32Array; constant: number } | null;
  /**
   * Classifier-free guidance scale (1 = the plain conditional output, above 1 = a stronger push
   * toward the preference). Default {@link DEFAULT_CFG_SCALE} (chosen on the valid split), or the
   * scale the generator's finishing was fitted at while that is applied.
   */
  cfgScale?: number;
  /**
   * Spread of the per-candidate guidance scales: candidate i uses `cfgScale·exp(cfgJitter·z_i)`
   * with z_i a standard normal drawn from its seed, so a translator (one forward pass, no noise)
   * still gives seed-dependent candidates that differ in how far they move toward the
   * preference, and ranker selection chooses among them. Default 0.25; 0 = every candidate at
   * `cfgScale` (translator candidates are then identical).
   */
  cfgJitter?: number;
  /**
   * Condition on this style instead of the preference (the oracle run of the evaluation: what a
   * perfect preference would give; the true target style).
   */
  oracleStyle?: string;
  /**
   * Unsharp mask applied to each output before encoding: the Gaussian sigma (in pixels of the
   * 64×64 output) of sharp's `sharpen` on the lightness channel; 0 = none. Default
   * {@link DEFAULT_SHARPEN}, or the sigma the generator's finishing was fitted on while that is applied.
   */
  sharpen?: number;
  /**
   * Apply the generator's fitted per-style finishing (`./finishing.ts`: palette and median
   * options mixed by the condition's style weights) after sharpening, when its folder has a
   * `finishing.json`. Default true; false = the outputs as drawn and sharpened.
   */
  finishing?: boolean;
}

/**
 * Default sampling strength when neither the request nor the model names one: chosen on the
 * valid split (40 tasks: 0.6 beat 1.0 on concept top-1, SSIM and Fréchet at equal style accuracy).
 */
export const DEFAULT_SAMPLING_STRENGTH = 0.6;

/** Most candidates one call of the built-in engine draws (one sampling batch). */
export const MAX_CANDIDATES = 64;

/**
 * Default classifier-free guidance scale of the built-in engine (see
 * {@link BuiltinEngineOptions.cfgScale}). Chosen on the valid split before any test run: the
 * λ = 0 generator, retrieval weights, 60 valid tasks (`ragar generate evaluate --split valid
 * --tasks 60 --runs retrieval --cfg S`), the scale with the best style accuracy + concept top-1:
 * S = 1: 0.183 + 0.333; 2: 0.283 + 0.250; 3: 0.200 + 0.300; 4: 0.233 + 0.267. Chosen again for
 * the projection-discriminator weights (all 84 valid tasks, with {@link DEFAULT_SHARPEN}): 2.
 */
export const DEFAULT_CFG_SCALE = 2;

/**
 * Default unsharp-mask sigma of the built-in engine's outputs (see
 * {@link BuiltinEngineOptions.sharpen}). Chosen on the valid split with the guidance scale, before
 * any test run: the λ = 0 generator of the projection-discriminator weights, retrieval weights, all
 * 84 valid tasks (`ragar generate evaluate --split valid --runs retrieval --cfg S --sharpen σ`),
 * best style accuracy + concept top-1: S = 2 with σ = 0: 0.357 + 0.238; 0.5: 0.357 + 0.310;
 * 1: 0.321 + 0.298 (S = 1 and 3 lower at every σ; best 0.345 + 0.262 and 0.357 + 0.274).
 */
export const DEFAULT_SHARPEN = 0.5;

/** Default spread of per-candidate guidance scales (see {@link BuiltinEngineOptions.cfgJitter}). */
export const DEFAULT_CFG_JITTER = 0.25;

/**
 * The guidance scale and sharpening the engine draws at when a request names neither: those the
 * finishing was fitted at while it is applied (null = none), else the engine's defaults.
 *
 * @example
 * const { cfgScale, sharpen } = drawingDefaults(generator.finishing); // e.g. { cfgScale: 2, sharpen: 0.5 }
 */
export function drawingDefaults(finishing: Finishing | null): { cfgScale: number; sharpen: number } {
  return { cfgScale: finishing?.cfgScale ?? DEFAULT_CFG_SCALE, sharpen: finishing?.sharpen ?? DEFAULT_SHARPEN };
}

/**
 * Encode CHW model-space pixels as a 64×64 RGB PNG, optionally through an unsharp mask of
 * Gaussian sigma `sharpen` (sharp's `sharpen`, lightness channel; 0 = none).
 *
 * @example
 * const png = await modelSpaceToPng(x0);
 */
export async function modelSpaceToPng(chw: Float32Array, sharpen = 0): Promise<Buffer> {
  const hwc = toPixels(chw);
  const bytes = Buffer.alloc(hwc.length);
  for (let i = 0; i < hwc.length; i++) bytes[i] = Math.round(hwc[i] * 255);
  const img = sharp(bytes, { raw: { width: PIXEL_SIZE, height: PIXEL_SIZE, channels: 3 } });
  return (sharpen > 0 ? img.sharpen({ sigma: sharpen }) : img).png().toBuffer();
}

/**
 * The built-in engine: the project's own conditional generator (trained by `ragar train
 * generator`), conditioned on the reference image and the style posterior of the attended history
 * (from `providerOptions.builtin.itemStyles`), with optional ranker guidance through the distilled
 * image tower. A preference with an empty history (non-personalised) conditions on an even mix of
 * every style.
 *
 * @example
 * const engine = createBuiltinEngine({ generator: (await BuiltinGenerator.load(dir)).generator, tower, modelId: 'ragar' });
 * const { candidates } = await engine.doGenerate(options);
 */
export function createBuiltinEngine(options: { generator: BuiltinGenerator; tower?: ImageTower | null; modelId?: string }): GeneratorEngineV1 {
  const { generator } = options;
  const tower = options.tower ?? null;
  let disposed = false;
  const provider = 'builtin';
  const modelId = options.modelId ?? 'builtin';
  return {
    specificationVersion: 'v1',
    provider,
    modelId,
    maxCandidatesPerCall: MAX_CANDIDATES,
    outputSize: PIXEL_SIZE,
    async doGenerate(request: GeneratorCallOptionsV1): Promise<GeneratorResultV1> {
      if (disposed) throw new RagarError('the built-in engine was disposed', 'BAD_INPUT');
      const started = performance.now();
      request.abortSignal?.throwIfAborted();
      const m = request.candidates;
      if (!(Number.isInteger(m) && m >= 1 && m <= MAX_CANDIDATES)) throw new RagarError(`candidates must be an integer from 1 to ${MAX_CANDIDATES}, got ${m}`, 'BAD_INPUT');
      if (!Number.isInteger(request.seed)) throw new RagarError(`seed must be an integer, got ${request.seed}`, 'BAD_INPUT');
      const own = (request.providerOptions?.[provider] ?? {}) as BuiltinEngineOptions;
      const warnings: GeneratorWarningV1[] = [];
      if (request.size !== undefined && request.size !== PIXEL_SIZE) warnings.push({ type: 'unsupported-setting', setting: 'size', details: `the built-in generator draws ${PIXEL_SIZE}×${PIXEL_SIZE}` });
      const steps = own.steps ?? generator.config.steps;
      if (!(Number.isInteger(steps) && steps >= 1 && steps <= 1000)) throw new RagarError(`builtin.steps must be an integer from 1 to 1000, got ${steps}`, 'BAD_INPUT');
      const guidance = own.guidance ?? 0;
      if (!(Number.isFinite(guidance) && guidance >= 0)) throw new RagarError(`builtin.guidance must be a number ≥ 0, got ${guidance}`, 'BAD_INPUT');
      const weighted = request.preference.history.filter((h) => h.weight > 0);
      let history: { weight: number; styleVector: Float32Array }[] | null = null;
      if (weighted.length) {
        // Each attended item's style posterior, weighted; the mean descriptor only when items lack theirs.
        const styles = own.itemStyles ?? {};
        if (weighted.every((h) => styles[h.item])) history = weighted.map((h) => ({ weight: h.weight, styleVector: styles[h.item] }));
        else if (own.styleVector) history = [{ weight: 1, styleVector: own.styleVector }];
        else if (!own.oracleStyle) throw new RagarError("the built-in engine needs builtin.itemStyles (the history items' style descriptors) or builtin.styleVector (the dataset has none: run `ragar embed`)", 'BAD_INPUT');
      }
      let reference: Float32Array;
      try {
        reference = toModelSpace(await decodePixels64(request.reference.image));
      } catch (err) {
        throw new RagarError(`reference image: ${(err as Error).message}`, 'BAD_IMAGE', { cause: err });
      }
      const preprocess = performance.now() - started;
      const classes = generator.config.conditioner.classes.length;
      // Non-personalised (empty history): an even mix of every style; the oracle: the true target style.
      const cond = { reference, style: own.oracleStyle ? generator.conditionOfStyle(own.oracleStyle) : history ? generator.condition(history) : new Float32Array(classes).fill(1 / classes) };
      const direction = own.rankerDirection ?? null;
      let guide: ((x0: Float32Array[]) => void) | undefined;
      if (guidance > 0) {
        if (!tower || !direction) warnings.push({ type: 'other', message: 'ranker guidance needs the distilled tower and builtin.rankerDirection; sampled without it' });
        else {
          guide = (x0s) => {
            for (const x0 of x0s) {
              const { grad } = tower.scoreAndGrad(toPixels(x0), direction.v);
              // p = (x + 1)/2 ⇒ ∂s/∂x = ½·∂s/∂p; step in model space.
              for (let p = 0; p < PLANE; p++) for (let c = 0; c < 3; c++) x0[c * PLANE + p] += guidance * 0.5 * grad[p * 3 + c];
            }
          };
        }
      }
      const seeds = Array.from({ length: m }, (_, i) => request.seed + i);
      const finishing = own.finishing === false ? null : generator.finishing;
      const defaults = drawingDefaults(finishing);
      const cfgScale = own.cfgScale ?? defaults.cfgScale;
      const cfgJitter = own.cfgJitter ?? DEFAULT_CFG_JITTER;
      if (!(Number.isFinite(cfgScale) && cfgScale >= 0 && cfgScale <= 20)) throw new RagarError(`builtin.cfgScale must be a number from 0 to 20, got ${cfgScale}`, 'BAD_INPUT');
      if (!(Number.isFinite(cfgJitter) && cfgJitter >= 0 && cfgJitter <= 2)) throw new RagarError(`builtin.cfgJitter must be a number from 0 to 2, got ${cfgJitter}`, 'BAD_INPUT');
      const sharpen = own.sharpen ?? defaults.sharpen;
      if (!(Number.isFinite(sharpen) && sharpen >= 0 && sharpen <= 10)) throw new RagarError(`builtin.sharpen must be a number from 0 to 10, got ${sharpen}`, 'BAD_INPUT');
      const scales = seeds.map((seed) => Math.min(20, cfgScale * Math.exp(cfgJitter * new Rng(seed * 7 + 11).normal())));
      const sampleStart = performance.now();
      // A finishing may draw some styles at another guidance (a multiplier per style): one pass per multiplier the condition needs.
      const multipliers = finishing ? finishingGuidances(finishing, cond.style) : [1];
      const drawnAt = new Map<number, Buffer[]>();
      for (const g of multipliers) {
        const x0s = await generator.sample(
          seeds.map(() => cond),
          seeds,
          {
            steps,
            strength: request.strength ?? own.strength ?? generator.config.strength ?? DEFAULT_SAMPLING_STRENGTH,
            guidance: scales.map((scale) => Math.min(20, scale * g)),
            guide,
            signal: request.abortSignal,
            onStep: (done, total) => request.onProgress?.({ stage: 'sampling', done, total }),
          },
        );
        drawnAt.set(g, await Promise.all(x0s.map((x) => modelSpaceToPng(x, sharpen))));
      }
      // The reference as the model read it (64×64), for the options guided by it.
      const referencePng = finishing && finishingNeedsReference(finishing) ? await modelSpaceToPng(reference) : undefined;
      const pngs = finishing ? await Promise.all(seeds.map((_, i) => applyFinishing((g) => drawnAt.get(g)![i], cond.style, finishing, referencePng))) : drawnAt.get(1)!;
      const perCandidate = (performance.now() - sampleStart) / m;
      return {
        candidates: pngs.map((png, i) => ({ png, seed: seeds[i], milliseconds: perCandidate })),
        warnings,
        response: { provider, modelId, timings: { total: performance.now() - started, preprocess, sampling: perCandidate * m } },
      };
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await generator.dispose();
    },
  };
}
