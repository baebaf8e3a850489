import sharp from 'sharp';
import { decodePixels64 } from '../../encoders/pixels.js';
import { styleStatistics } from '../../encoders/styleStats.js';
import { RagarError } from '../../util/errors.js';
import { silentProgress, type Progress } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { dot, l2normalize, type ImageEncoder } from '../../encoders/types.js';
import type { GeneratorEngineV1 } from '../types.js';
import { stylePosterior, type StyleConditioner } from './conditioning.js';
import { toPixels, type GeneratorData } from './data.js';
import { DEFAULT_CFG_SCALE, DEFAULT_SHARPEN, modelSpaceToPng, type BuiltinEngineOptions } from './engine.js';
import { conceptRecognised, type FinishingCritic } from './finishingCritic.js';
import { describeFinishingOption, finishPngAll, FINISHING_FORMAT, FINISHING_OPTIONS, isGuidanceMultiplier, type Finishing, type FinishingOption } from './finishing.js';

/** How {@link fitFinishing} compares finished outputs with real renditions (see {@link FinishingFitOptions.objective}). */
export type FinishingObjective = 'classifier' | 'critic' | 'judge' | 'paired' | 'mean' | 'perceptual' | 'combined';

/** Every {@link FinishingObjective}, in the order `--help` lists them. */
export const FINISHING_OBJECTIVES: readonly FinishingObjective[] = ['classifier', 'critic', 'judge', 'paired', 'mean', 'perceptual', 'combined'];

/** Whether an objective compares image features (and so needs {@link FinishingFitOptions.imageEncoder}). */
export const needsImageEncoder = (objective: FinishingObjective): boolean => objective === 'perceptual' || objective === 'combined';

/**
 * Whether a list of guidance multipliers can be offered to {@link fitFinishing}: not empty, each
 * above 0 and at most 4, none twice.
 */
export function validGuidanceMultipliers(multipliers: readonly number[]): boolean {
  return multipliers.length > 0 && multipliers.every(isGuidanceMultiplier) && new Set(multipliers).size === multipliers.length;
}

/** What {@link fitFinishing} is asked. */
export interface FinishingFitOptions {
  /** Train concepts drawn per style (fewer when a style has fewer). Default 100. */
  conceptsPerStyle?: number;
  seed?: number;
  /** Built-in engine options for the outputs it finishes (guidance scale, sharpening); default: the engine's defaults. */
  engineOptions?: BuiltinEngineOptions;
  /**
   * What an option is scored by (smallest wins): `classifier` (default; needs `conditioner`) —
   * see below; `paired` — the style statistics of each finished output against the real rendition
   * of its own concept, standardised distance, averaged; `mean` — the mean statistics of a style's
   * finished outputs against the mean of its real renditions (a first-moment match, as style losses
   * match feature statistics rather than pixels); `perceptual` — each finished output's image
   * features (`imageEncoder`, e.g. MobileNetV2) against its concept's real rendition's, as cosine
   * distance, averaged (a perceptual term: what a network sees rather than hand-made statistics);
   * `combined` — the paired style-statistics distance plus the perceptual distance, each divided
   * by its mean over the options of that style so that both weigh alike; `classifier` — the
   * cross-entropy of the style under the generator's own style classifier (`conditioner`, the
   * softmax over style statistics fitted on train renditions that reads the history), averaged over
   * the finished outputs (as an auxiliary-classifier GAN asks its outputs to be named as their
   * class); no real rendition is compared; `critic` — the same cross-entropy under a style critic
   * (`critic`: a classifier over image features and style statistics trained on the train
   * concepts' real renditions, `./finishingCritic.ts`) instead of the generator's own classifier;
   * `judge` — the evaluation's two figures on the train outputs, as the choice of the shipped cell
   * weighs them: 2 − (style accuracy under the critic + concept top-1 among 9 distractor train
   * concepts drawn in the same style, by the critic's image features), so a finish that makes the
   * style but loses the concept does not win.
   */
  objective?: FinishingObjective;
  /** The generator's style classifier, for the `classifier` objective (its classes must be `classes`). */
  conditioner?: StyleConditioner;
  /** The style critic of the `critic` and `judge` objectives (its classes must be `classes`). */
  critic?: FinishingCritic;
  /** Image encoder of the `perceptual` and `combined` objectives (L2-normalised vectors). */
  imageEncoder?: ImageEncoder;
  /**
   * Guidance multipliers to choose among per style, each output drawn at the engine's guidance
   * scale times each (see {@link FinishingOption.guidance}); default `[1]` (the engine's scale for
   * every style). E.g. `FINISHING_GUIDANCE_MULTIPLIERS` (`./finishing.ts`).
   */
  guidanceMultipliers?: readonly number[];
  /** The finishes to choose among (for each multiplier); default {@link FINISHING_OPTIONS}. */
  options?: readonly FinishingOption[];
  progress?: Progress;
  signal?: AbortSignal;
}

/** One option's figures for one style: the objective (smallest is chosen), its terms and, for the record, pixel L1. */
export interface FinishingScore {
  option: string;
  /** The objective's value (smallest is chosen). */
  score: number;
  /** Standardised style-statistics distance to the real targets (paired, or of the means for `mean`). */
  styleDistance: number;
  /** Mean cosine distance of the image features to the real targets' (perceptual and combined objectives). */
  perceptualDistance?: number;
  /** Mean cross-entropy of the style under the generator's style classifier (classifier objective) or the critic (critic and judge objectives). */
  crossEntropy?: number;
  /** Share of outputs the critic names as the style (judge objective). */
  styleAccuracy?: number;
  /** Share of outputs recognised as their concept among 9 distractors (judge objective). */
  conceptTop1?: number;
  /** Mean absolute pixel difference to the real target (0–1 scale). */
  l1: number;
}

/**
 * Fit a finishing ({@link Finishing}) for a generator on train concepts. For each style s: draw
 * train concepts that have a rendition in s, take a rendition of each in another style as the
 * reference, draw the output conditioned on s (one-hot, the engine's guidance and sharpening),
 * finish it with every option, and keep the option that scores best by the objective
 * ({@link FinishingFitOptions.objective}): by default (`classifier`) the one the generator's own
 * style classifier (the conditioner: a softmax over style statistics fitted on train renditions)
 * names s with the least cross-entropy on average; with `paired` the one whose outputs' style
 * statistics (`encoders/styleStats.ts`, standardised by their spread over targets and outputs) lie
 * nearest, on average, to the real rendition of the same concept in s. Pixel L1 is recorded beside it
 * but does not choose. Deterministic for a seed (and the image encoder, for the objectives that
 * use one).
 *
 * @example
 * const { conditioner } = generator.config;
 * const finishing = await fitFinishing(engine, data, conditioner.classes, { seed: 1, conditioner });
 */
export async function fitFinishing(engine: GeneratorEngineV1, data: GeneratorData, classes: readonly string[], options: FinishingFitOptions = {}): Promise<Finishing & { scores: Record<string, FinishingScore[]> }> {
  const perStyle = options.conceptsPerStyle ?? 100;
  if (!(Number.isInteger(perStyle) && perStyle >= 1)) throw new RagarError(`concepts per style must be an integer ≥ 1, got ${perStyle}`, 'BAD_INPUT');
  const finishes = options.options ?? FINISHING_OPTIONS;
  if (!finishes.length) throw new RagarError('no finishing options to choose among', 'BAD_INPUT');
  const multipliers = options.guidanceMultipliers ?? [1];
  if (!validGuidanceMultipliers(multipliers))
    throw new RagarError(`guidance multipliers must be distinct numbers above 0 and at most 4, got ${JSON.stringify(multipliers)}`, 'BAD_INPUT');
  const baseScale = options.engineOptions?.cfgScale ?? DEFAULT_CFG_SCALE;
  // Every (guidance multiplier, finish) pair; multiplier 1 is left implicit.
  const choices: FinishingOption[] = multipliers.flatMap((g) => finishes.map((o) => (g === 1 ? { ...o } : { ...o, guidance: g })));
  const seed = options.seed ?? 1;
  const objective = options.objective ?? 'classifier';
  if (!FINISHING_OBJECTIVES.includes(objective)) throw new RagarError(`finishing objective must be one of ${FINISHING_OBJECTIVES.join(', ')}, got ${JSON.stringify(objective)}`, 'BAD_INPUT');
  const encoder = options.imageEncoder;
  if (needsImageEncoder(objective) && !encoder) throw new RagarError(`the ${objective} finishing objective needs an image encoder`, 'BAD_INPUT');
  const conditioner = options.conditioner;
  if (objective === 'classifier' && (!conditioner || conditioner.classes.join('\u0000') !== classes.join('\u0000')))
    throw new RagarError(`the classifier finishing objective needs the generator's style classifier over the styles ${JSON.stringify(classes)}`, 'BAD_INPUT');
  const critic = options.critic;
  if ((objective === 'critic' || objective === 'judge') && (!critic || critic.classes.join('\u0000') !== classes.join('\u0000')))
    throw new RagarError(`the ${objective} finishing objective needs a style critic over the styles ${JSON.stringify(classes)}`, 'BAD_INPUT');
  const rng = new Rng(seed);
  const progress = options.progress ?? silentProgress;
  const started = performance.now();

  // Examples: (reference in another style, real target in s), train concepts only.
  const examples: { style: number; concept: string; reference: Float32Array; target: Float32Array; seed: number }[] = [];
  const concepts = [...data.renditions.keys()].sort();
  for (const [k, style] of classes.entries()) {
    const pool = concepts.filter((c) => {
      const r = data.renditions.get(c)!;
      const t = r.get(style);
      return t !== undefined && data.pixels.has(t) && [...r].some(([s, i]) => s !== style && data.pixels.has(i));
    });
    if (!pool.length) throw new RagarError(`no train concept has a rendition in style ${style} and in another style: cannot fit its finishing`, 'BAD_INPUT');
    for (const c of rng.shuffle(pool).slice(0, perStyle)) {
      const r = data.renditions.get(c)!;
      const others = [...r].filter(([s, i]) => s !== style && data.pixels.has(i)).sort((a, b) => a[0].localeCompare(b[0]));
      const [, ref] = others[rng.int(others.length)];
      examples.push({ style: k, concept: c, reference: data.pixels.get(ref)!, target: data.pixels.get(r.get(style)!)!, seed: rng.int(1_000_000) });
    }
  }

  // Draw, finish with every option, and take the style statistics.
  const targetStats: number[][] = [];
  const optionStats: number[][][] = choices.map(() => []);
  const optionL1: number[][] = choices.map(() => []);
  const optionPerceptual: number[][] = choices.map(() => []);
  const optionCrossEntropy: number[][] = choices.map(() => []);
  const optionStyleHit: number[][] = choices.map(() => []);
  const optionConceptHit: number[][] = choices.map(() => []);
  // The judge's distractor concepts: a stream of their own, so the examples are those of every objective.
  const distractorRng = rng.fork('judge distractors');
  progress.start('finishing fit: drawing and finishing train outputs', examples.length);
  for (const [n, ex] of examples.entries()) {
    options.signal?.throwIfAborted();
    const target = toPixels(ex.target);
    targetStats.push(styleStatistics(target));
    const reference = { image: await modelSpaceToPng(ex.reference), text: '' };
    const finishedPngs: Buffer[] = [];
    for (const g of multipliers) {
      const { candidates } = await engine.doGenerate({
        reference,
        prompt: null,
        preference: { weighting: 'retrieval', history: [], keywords: [] },
        user: 'finishing-fit',
        candidates: 1,
        seed: ex.seed,
        providerOptions: { builtin: { ...options.engineOptions, cfgScale: Math.min(20, baseScale * g), oracleStyle: classes[ex.style], finishing: false } satisfies BuiltinEngineOptions },
      });
      finishedPngs.push(...(await finishPngAll(candidates[0].png, finishes, reference.image)));
    }
    if (encoder && needsImageEncoder(objective)) {
      const [targetVector, ...vectors] = await encoder.encode([await modelSpaceToPng(ex.target), ...finishedPngs], { signal: options.signal });
      // Encoders return L2-normalised vectors (the ImageEncoder contract): cosine = dot product.
      for (const o of choices.keys()) optionPerceptual[o].push(1 - dot(vectors[o], targetVector));
    }
    if (objective === 'critic' || objective === 'judge') {
      const { images, probabilities } = await critic!.judge(finishedPngs, options.signal);
      for (const o of choices.keys()) optionCrossEntropy[o].push(-Math.log(Math.max(1e-12, probabilities[o][ex.style])));
      if (objective === 'judge') {
        const inStyle = critic!.gallery.get(classes[ex.style]);
        const truth = inStyle?.get(ex.concept);
        if (!inStyle || !truth) throw new RagarError(`the style critic's gallery has no ${classes[ex.style]} rendition of ${ex.concept}`, 'BAD_INPUT');
        const pool = [...inStyle.keys()].filter((c) => c !== ex.concept).sort();
        if (pool.length < 9) throw new RagarError(`the concept test needs 9 distractor concepts in ${classes[ex.style]}, the critic's gallery has ${pool.length}`, 'BAD_INPUT');
        const distractors = distractorRng.shuffle(pool).slice(0, 9).map((c) => inStyle.get(c)!);
        for (const o of choices.keys()) {
          optionStyleHit[o].push(probabilities[o].indexOf(Math.max(...probabilities[o])) === ex.style ? 1 : 0);
          optionConceptHit[o].push(conceptRecognised(images[o], truth, distractors) ? 1 : 0);
        }
      }
    }
    for (const o of choices.keys()) {
      const finished = await decodePixels64(finishedPngs[o]);
      const stats = styleStatistics(finished);
      optionStats[o].push(stats);
      if (objective === 'classifier') optionCrossEntropy[o].push(-Math.log(Math.max(1e-12, stylePosterior(conditioner!, l2normalize(Float32Array.from(stats)))[ex.style])));
      let l1 = 0;
      for (let i = 0; i < finished.length; i++) l1 += Math.abs(finished[i] - target[i]);
      optionL1[o].push(l1 / finished.length);
    }
    progress.update(n + 1);
  }
  progress.stop();

  // Standardise each statistic by its spread over everything compared (the real targets and every
  // option's outputs, pooled), so a statistic that is constant in the targets but not in the
  // outputs cannot dominate; constant ones drop out.
  const dim = targetStats[0].length;
  const pooled = [targetStats, ...optionStats].flat();
  const mean = new Float64Array(dim);
  const std = new Float64Array(dim);
  for (const s of pooled) for (let j = 0; j < dim; j++) mean[j] += s[j] / pooled.length;
  for (const s of pooled) for (let j = 0; j < dim; j++) std[j] += (s[j] - mean[j]) ** 2 / pooled.length;
  for (let j = 0; j < dim; j++) std[j] = Math.sqrt(std[j]);
  const distance = (a: number[], b: number[]) => {
    let d = 0;
    for (let j = 0; j < dim; j++) if (std[j] > 1e-9) d += ((a[j] - b[j]) / std[j]) ** 2;
    return Math.sqrt(d);
  };

  const chosen: FinishingOption[] = [];
  const scores: Record<string, FinishingScore[]> = {};
  for (const [k, style] of classes.entries()) {
    const rows = examples.flatMap((ex, i) => (ex.style === k ? [i] : []));
    const meanOf = (list: number[][]) => {
      const m = new Array<number>(dim).fill(0);
      for (const i of rows) for (let j = 0; j < dim; j++) m[j] += list[i][j] / rows.length;
      return m;
    };
    const targetMean = meanOf(targetStats);
    const avg = (f: (i: number) => number) => rows.reduce((sum, i) => sum + f(i), 0) / rows.length;
    const styleDistances = choices.map((_, o) => (objective === 'mean' ? distance(meanOf(optionStats[o]), targetMean) : avg((i) => distance(optionStats[o][i], targetStats[i]))));
    const perceptual = needsImageEncoder(objective) ? choices.map((_, o) => avg((i) => optionPerceptual[o][i])) : null;
    const meanOver = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length || 1;
    const crossEntropy = objective === 'classifier' || objective === 'critic' || objective === 'judge' ? choices.map((_, o) => avg((i) => optionCrossEntropy[o][i])) : null;
    const judged = objective === 'judge' ? choices.map((_, o) => ({ styleAccuracy: avg((i) => optionStyleHit[o][i]), conceptTop1: avg((i) => optionConceptHit[o][i]) })) : null;
    const score = (o: number) =>
      objective === 'judge'
        ? 2 - judged![o].styleAccuracy - judged![o].conceptTop1
        : objective === 'perceptual'
          ? perceptual![o]
          : objective === 'combined'
            ? styleDistances[o] / meanOver(styleDistances) + perceptual![o] / meanOver(perceptual!)
            : objective === 'classifier' || objective === 'critic'
              ? crossEntropy![o]
              : styleDistances[o];
    const table: FinishingScore[] = choices.map((option, o) => ({
      option: describeFinishingOption(option),
      score: score(o),
      styleDistance: styleDistances[o],
      ...(perceptual ? { perceptualDistance: perceptual[o] } : {}),
      ...(crossEntropy ? { crossEntropy: crossEntropy[o] } : {}),
      ...(judged ? judged[o] : {}),
      l1: avg((i) => optionL1[o][i]),
    }));
    let best = 0;
    for (let o = 1; o < table.length; o++) if (table[o].score < table[best].score) best = o;
    chosen.push(choices[best]);
    scores[style] = table;
  }
  return {
    format: FINISHING_FORMAT,
    classes: [...classes],
    options: chosen,
    sharpen: options.engineOptions?.sharpen ?? DEFAULT_SHARPEN,
    cfgScale: baseScale,
    scores,
    fit: {
      objective: OBJECTIVE_DESCRIPTIONS[objective],
      ...(encoder && needsImageEncoder(objective) ? { imageModel: encoder.modelId } : {}),
      ...(critic && objective === 'critic' ? { critic: critic.record } : {}),
      options: choices.map(describeFinishingOption),
      guidanceMultipliers: [...multipliers],
      guidanceScale: baseScale,
      seed,
      conceptsPerStyle: perStyle,
      examples: examples.length,
      engineOptions: options.engineOptions ?? {},
      // The palette and median come from these libraries (sharp is pinned exactly in package.json).
      libraries: { sharp: sharp.versions.sharp, vips: sharp.versions.vips, imagequant: sharp.versions.imagequant },
      seconds: (performance.now() - started) / 1000,
    },
  };
}

const OBJECTIVE_DESCRIPTIONS: Record<FinishingObjective, string> = {
  paired: 'paired: mean standardised style-statistics distance of each finished output to the real rendition of its concept (train concepts, one-hot condition)',
  mean: "mean: standardised distance between the mean style statistics of a style's finished outputs and of its real renditions (train concepts, one-hot condition)",
  perceptual: 'perceptual: mean cosine distance between the image features of each finished output and of the real rendition of its concept (train concepts, one-hot condition)',
  classifier:
    "classifier: mean cross-entropy of the conditioned style under the generator's own style classifier (softmax over style statistics, fitted on train renditions) of each finished output (train concepts, one-hot condition)",
  judge:
    "judge: 2 − (style accuracy + concept top-1) of the finished outputs: the style named by a style critic (softmax over image features and style statistics trained on the train concepts' real renditions), the concept recognised among 9 distractor train concepts in the same style by the critic's image features (train concepts, one-hot condition)",
  critic:
    'critic: mean cross-entropy of the conditioned style under a style critic (softmax over image features and style statistics, the evaluation judge\'s kind, trained on the train concepts\' real renditions) of each finished output (train concepts, one-hot condition)',
  combined:
    'combined: the paired style-statistics distance plus the perceptual (image-feature cosine) distance to the real rendition of the same concept, each divided by its mean over the options of the style (train concepts, one-hot condition)',
};
