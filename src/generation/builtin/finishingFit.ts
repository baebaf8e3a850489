import sharp from 'sharp';
import { decodePixels64 } from '../../encoders/pixels.js';
import { styleStatistics } from '../../encoders/styleStats.js';
import { RagarError } from '../../util/errors.js';
import { silentProgress, type Progress } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import type { GeneratorEngineV1 } from '../types.js';
import { toPixels, type GeneratorData } from './data.js';
import { DEFAULT_SHARPEN, modelSpaceToPng, type BuiltinEngineOptions } from './engine.js';
import { describeFinishingOption, finishPngAll, FINISHING_FORMAT, FINISHING_OPTIONS, type Finishing, type FinishingOption } from './finishing.js';

/** How {@link fitFinishing} compares style statistics (see {@link FinishingFitOptions.objective}). */
export type FinishingObjective = 'paired' | 'mean';

/** What {@link fitFinishing} is asked. */
export interface FinishingFitOptions {
  /** Train concepts drawn per style (fewer when a style has fewer). Default 100. */
  conceptsPerStyle?: number;
  seed?: number;
  /** Built-in engine options for the outputs it finishes (guidance scale, sharpening); default: the engine's defaults. */
  engineOptions?: BuiltinEngineOptions;
  /**
   * How the style statistics are compared: `paired` (default) — each finished output against the
   * real rendition of its own concept, averaged; `mean` — the mean statistics of a style's
   * finished outputs against the mean of its real renditions (a first-moment match, as style losses
   * match feature statistics rather than pixels).
   */
  objective?: FinishingObjective;
  /** The options to choose among; default {@link FINISHING_OPTIONS}. */
  options?: readonly FinishingOption[];
  progress?: Progress;
  signal?: AbortSignal;
}

/** One option's figures for one style: the style-statistics term and, for the record, pixel L1. */
export interface FinishingScore {
  option: string;
  /** The objective's standardised style-statistics distance to the real targets (smallest is chosen). */
  styleDistance: number;
  /** Mean absolute pixel difference to the real target (0–1 scale). */
  l1: number;
}

/**
 * Fit a finishing ({@link Finishing}) for a generator on train concepts by the style-statistics
 * term. For each style s: draw train concepts that have a rendition in s, take a rendition of each
 * in another style as the reference, draw the output conditioned on s (one-hot, the engine's
 * guidance and sharpening), finish it with every option, and keep the option whose outputs' style
 * statistics (`encoders/styleStats.ts`, standardised by their spread over targets and outputs) lie
 * nearest, on average, to the real rendition of the same concept in s. Pixel L1 is recorded
 * beside it but does not choose. Deterministic for a seed.
 *
 * @example
 * const finishing = await fitFinishing(engine, data, generator.config.conditioner.classes, { seed: 1 });
 */
export async function fitFinishing(engine: GeneratorEngineV1, data: GeneratorData, classes: readonly string[], options: FinishingFitOptions = {}): Promise<Finishing & { scores: Record<string, FinishingScore[]> }> {
  const perStyle = options.conceptsPerStyle ?? 100;
  if (!(Number.isInteger(perStyle) && perStyle >= 1)) throw new RagarError(`concepts per style must be an integer ≥ 1, got ${perStyle}`, 'BAD_INPUT');
  const choices = options.options ?? FINISHING_OPTIONS;
  if (!choices.length) throw new RagarError('no finishing options to choose among', 'BAD_INPUT');
  const seed = options.seed ?? 1;
  const objective = options.objective ?? 'paired';
  if (objective !== 'paired' && objective !== 'mean') throw new RagarError(`finishing objective must be paired or mean, got ${JSON.stringify(objective)}`, 'BAD_INPUT');
  const rng = new Rng(seed);
  const progress = options.progress ?? silentProgress;
  const started = performance.now();

  // Examples: (reference in another style, real target in s), train concepts only.
  const examples: { style: number; reference: Float32Array; target: Float32Array; seed: number }[] = [];
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
      examples.push({ style: k, reference: data.pixels.get(ref)!, target: data.pixels.get(r.get(style)!)!, seed: rng.int(1_000_000) });
    }
  }

  // Draw, finish with every option, and take the style statistics.
  const targetStats: number[][] = [];
  const optionStats: number[][][] = choices.map(() => []);
  const optionL1: number[][] = choices.map(() => []);
  progress.start('finishing fit: drawing and finishing train outputs', examples.length);
  for (const [n, ex] of examples.entries()) {
    options.signal?.throwIfAborted();
    const { candidates } = await engine.doGenerate({
      reference: { image: await modelSpaceToPng(ex.reference), text: '' },
      prompt: null,
      preference: { weighting: 'retrieval', history: [], keywords: [] },
      user: 'finishing-fit',
      candidates: 1,
      seed: ex.seed,
      providerOptions: { builtin: { ...options.engineOptions, oracleStyle: classes[ex.style], finishing: false } satisfies BuiltinEngineOptions },
    });
    const target = toPixels(ex.target);
    targetStats.push(styleStatistics(target));
    const finishedPngs = await finishPngAll(candidates[0].png, choices);
    for (const o of choices.keys()) {
      const finished = await decodePixels64(finishedPngs[o]);
      optionStats[o].push(styleStatistics(finished));
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
    const table = choices.map((option, o) => ({
      option: describeFinishingOption(option),
      styleDistance: objective === 'mean' ? distance(meanOf(optionStats[o]), targetMean) : rows.reduce((sum, i) => sum + distance(optionStats[o][i], targetStats[i]), 0) / rows.length,
      l1: rows.reduce((sum, i) => sum + optionL1[o][i], 0) / rows.length,
    }));
    let best = 0;
    for (let o = 1; o < table.length; o++) if (table[o].styleDistance < table[best].styleDistance) best = o;
    chosen.push(choices[best]);
    scores[style] = table;
  }
  return {
    format: FINISHING_FORMAT,
    classes: [...classes],
    options: chosen,
    sharpen: options.engineOptions?.sharpen ?? DEFAULT_SHARPEN,
    scores,
    fit: {
      objective:
        objective === 'paired'
          ? 'paired: mean standardised style-statistics distance of each finished output to the real rendition of its concept (train concepts, one-hot condition)'
          : "mean: standardised distance between the mean style statistics of a style's finished outputs and of its real renditions (train concepts, one-hot condition)",
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
