import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { PIXEL_SIZE } from '../../encoders/pixels.js';
import { RagarError } from '../../util/errors.js';
import { readJsonFile, writeFileAtomicSync } from '../../util/persist.js';
import { guidedFilter, isGuidedFilterSettings, type GuidedFilterSettings } from './guidedFilter.js';
import { kmeansQuantise } from './kmeansPalette.js';

/**
 * Finishing: the last stage of the built-in generator, a rendering step fitted per style.
 *
 * The network's outputs are smooth: a pixel loss gives a conditional mean, and even under an
 * adversarial term they carry almost no exactly flat colour fields, which the flat styles
 * (Fluent flat, Twemoji) are made of (README, Generator: "The outputs have no flat areas"). A
 * finishing option snaps the output to a few colours (a palette without dither: flat fields
 * with hard edges; k-means, any size from 2 to 16) and/or takes a 3×3 median (removes speckle),
 * optionally after a guided filter with the reference as the guide (`./guidedFilter.ts`; the
 * `guided` family, measured and not shipped).
 * Which option suits which style is not hand-picked: `ragar train finishing` fits it on train
 * concepts (`./finishingFit.ts`): per style, the option whose finished outputs score best by the
 * fit's objective (the generator's own style classifier naming them as the style, or their style
 * statistics or image features against the real renditions of the same concepts). At sampling,
 * each style's finished image is mixed by the condition's style weights, so a mixed preference
 * gets a mixed finish and a
 * confident one gets its style's finish exactly.
 *
 * Saved as `finishing.json` beside the generator's weights; absent = no finishing.
 */
export const FINISHING_FORMAT = 'ragar-finishing-v1';

/** Colour quantisers of the finishing. */
export type FinishingQuantiser = 'imagequant' | 'kmeans';

/** One way to finish an output. */
export interface FinishingOption {
  /** Side of the median filter (1 = none, 3 = 3×3). */
  median: 1 | 3;
  /** Palette size of the colour quantisation without dither; 0 = none. */
  colours: number;
  /**
   * How the palette is made: `kmeans` (`./kmeansPalette.ts`; any size from 2 to 16) or
   * `imagequant` (sharp's PNG palette, libimagequant; only 2, 4 and 16, since sharp quantises to
   * 2^bit-depth colours). Absent = `imagequant`, as in the finishings fitted before k-means existed.
   */
  quantiser?: FinishingQuantiser;
  /**
   * Multiplier of the engine's classifier-free guidance scale for this style's draw (absent = 1):
   * the style is drawn with `cfgScale·guidance` before it is finished. Fitted like the rest
   * (`ragar train finishing --guidance-multipliers`).
   */
  guidance?: number;
  /**
   * A guided filter with the reference image as the guide (`./guidedFilter.ts`), applied first:
   * removes what the network draws inside the reference's flat regions (speckle, stray edges) and
   * keeps the reference's contours. Absent = none. Needs the reference at finishing time.
   */
  guided?: GuidedFilterSettings;
}

/** Whether `g` is a usable guidance multiplier: a number above 0 and at most 4. */
export const isGuidanceMultiplier = (g: unknown): g is number => typeof g === 'number' && g > 0 && g <= 4;

/** Guidance multipliers `ragar train finishing --guidance-multipliers` offers when asked for per-style guidance. */
export const FINISHING_GUIDANCE_MULTIPLIERS: readonly number[] = [0.5, 1, 1.5];

/** Palette sizes the k-means quantiser is offered in {@link FINISHING_OPTIONS}. */
export const KMEANS_PALETTE_SIZES: readonly number[] = [16, 12, 8, 6, 5, 4, 3, 2];

/**
 * Every option `ragar train finishing` chooses among by default (the first is "leave as drawn"):
 * a 3×3 median or none, times no palette or a k-means palette of {@link KMEANS_PALETTE_SIZES}.
 */
export const FINISHING_OPTIONS: readonly FinishingOption[] = ([1, 3] as const).flatMap((median) => [
  { median, colours: 0 },
  ...KMEANS_PALETTE_SIZES.map((colours) => ({ median, colours, quantiser: 'kmeans' as const })),
]);

/**
 * The options of the first finishing family (before k-means palettes): a 3×3 median or none,
 * times sharp's palette of 16, 4 or 2 colours or none (`ragar train finishing --family imagequant`).
 */
export const IMAGEQUANT_FINISHING_OPTIONS: readonly FinishingOption[] = ([1, 3] as const).flatMap((median) => [0, 16, 4, 2].map((colours) => ({ median, colours })));

/** Guided-filter settings {@link GUIDED_FINISHING_OPTIONS} offers: radius 2 or 4 × ε 10⁻³ or 10⁻² (0–1 scale). */
export const GUIDED_FILTER_SETTINGS: readonly GuidedFilterSettings[] = [2, 4].flatMap((radius) => [1e-3, 1e-2].map((epsilon) => ({ radius, epsilon })));

/**
 * The reference-guided family (`ragar train finishing --family guided`): every option of
 * {@link FINISHING_OPTIONS}, plus a guided filter of {@link GUIDED_FILTER_SETTINGS} (no median)
 * times no palette or a k-means palette of {@link KMEANS_PALETTE_SIZES} (54 options).
 */
export const GUIDED_FINISHING_OPTIONS: readonly FinishingOption[] = [
  ...FINISHING_OPTIONS,
  ...GUIDED_FILTER_SETTINGS.flatMap((guided) => [
    { median: 1 as const, colours: 0, guided: { ...guided } },
    ...KMEANS_PALETTE_SIZES.map((colours) => ({ median: 1 as const, colours, quantiser: 'kmeans' as const, guided: { ...guided } })),
  ]),
];

/** Whether a finishing needs the reference image (one of its options is guided by it). */
export const finishingNeedsReference = (finishing: Finishing): boolean => finishing.options.some((o) => o.guided !== undefined);

/** A fitted finishing: one option per conditioner class, and the record of its fit. */
export interface Finishing {
  format: typeof FINISHING_FORMAT;
  /** Conditioner classes (style labels), in the generator's order. */
  classes: string[];
  /** The option of each class (same order as `classes`). */
  options: FinishingOption[];
  /**
   * Unsharp-mask sigma of the outputs it was fitted on: the engine's default sharpening while this
   * finishing is applied (absent = the engine's own default).
   */
  sharpen?: number;
  /**
   * Classifier-free guidance scale of the outputs it was fitted on: the engine's default scale while
   * this finishing is applied (absent = the engine's own default). A finishing's options are chosen
   * on outputs drawn at one scale, so the engine draws at that scale unless told otherwise.
   */
  cfgScale?: number;
  /**
   * SHA-256 of the `params.bin` it was fitted for: a finishing is refused beside other weights
   * (retrained or resumed ones), since its options were chosen on their outputs.
   */
  paramsSha256?: string;
  /** How it was fitted (seed, data digest, concepts, objective per option, wall time). */
  fit?: Record<string, unknown>;
}

/**
 * SHA-256 of a generator folder's `params.bin` (what {@link Finishing.paramsSha256} records).
 *
 * @example
 * finishing.paramsSha256 = paramsChecksum(dir);
 */
export function paramsChecksum(dir: string): string {
  const file = path.join(dir, 'params.bin');
  if (!fs.existsSync(file)) throw new RagarError(`no generator weights in ${dir} (params.bin missing)`, 'NOT_FOUND');
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** A short name of an option, e.g. `median 3 + 4 colours`, `median 3 + 5 colours (k-means)` or `guided r2 ε0.001 + 6 colours (k-means)`. */
export function describeFinishingOption(o: FinishingOption): string {
  const palette = o.colours ? `${o.colours} colours${o.quantiser === 'kmeans' ? ' (k-means)' : ''}` : '';
  const guided = o.guided ? `guided r${o.guided.radius} ε${o.guided.epsilon}` : '';
  const parts = [guided, o.median > 1 ? `median ${o.median}` : '', palette].filter(Boolean);
  const finish = parts.length ? parts.join(' + ') : 'as drawn';
  return guidanceOf(o) !== 1 ? `guidance ×${guidanceOf(o)}, ${finish}` : finish;
}

/** The guidance multiplier of an option (1 when absent). */
export const guidanceOf = (o: FinishingOption): number => o.guidance ?? 1;

/**
 * The guidance multipliers a condition needs drawn: those of the styles it weighs (only the top
 * style's when it weighs at least 0.999, as {@link applyFinishing} then uses that style's finish
 * alone). Sorted, distinct.
 *
 * @example
 * for (const g of finishingGuidances(finishing, cond.style)) drawn.set(g, await draw(cfgScale * g));
 */
export function finishingGuidances(finishing: Finishing, weights: ArrayLike<number>): number[] {
  const { top, total } = weightSummary(weights, finishing.classes.length);
  if (weights[top] / total >= 0.999) return [guidanceOf(finishing.options[top])];
  const set = new Set<number>();
  for (let c = 0; c < weights.length; c++) if (weights[c] > 0) set.add(guidanceOf(finishing.options[c]));
  return [...set].sort((a, b) => a - b);
}

function weightSummary(weights: ArrayLike<number>, classes: number): { top: number; total: number } {
  if (weights.length !== classes) throw new RagarError(`finishing has ${classes} classes, the condition ${weights.length} weights`, 'BAD_INPUT');
  let total = 0;
  let top = 0;
  for (let c = 0; c < weights.length; c++) {
    if (!(weights[c] >= 0)) throw new RagarError(`condition weights must be ≥ 0, got ${weights[c]}`, 'BAD_INPUT');
    total += weights[c];
    if (weights[c] > weights[top]) top = c;
  }
  if (!(total > 0)) throw new RagarError('the condition has no positive weight to finish by', 'BAD_INPUT');
  return { top, total };
}

function checkOption(o: unknown, where: string): FinishingOption {
  const v = o as Partial<FinishingOption> | null;
  const bad = (why: string) => new RagarError(`${where}: ${why}, got ${JSON.stringify(o)}`, 'BAD_INPUT');
  if (!v || typeof v !== 'object' || (v.median !== 1 && v.median !== 3)) throw bad('a finishing option needs median 1 or 3');
  if (v.quantiser !== undefined && v.quantiser !== 'imagequant' && v.quantiser !== 'kmeans') throw bad('quantiser must be imagequant or kmeans');
  if (v.quantiser === 'kmeans') {
    if (!(v.colours === 0 || (Number.isInteger(v.colours) && (v.colours as number) >= 2 && (v.colours as number) <= 16))) throw bad('a k-means palette needs colours 0 or 2 to 16');
  } else if (![0, 2, 4, 16].includes(v.colours as number)) throw bad('an imagequant palette needs colours 0, 2, 4 or 16');
  if (v.guidance !== undefined && !isGuidanceMultiplier(v.guidance)) throw bad('guidance must be a multiplier above 0 and at most 4');
  if (v.guided !== undefined && !isGuidedFilterSettings(v.guided)) throw bad('guided needs an integer radius from 1 to 16 and epsilon in (0, 1]');
  return {
    median: v.median,
    colours: v.colours as number,
    ...(v.quantiser !== undefined ? { quantiser: v.quantiser } : {}),
    ...(v.guidance !== undefined ? { guidance: v.guidance } : {}),
    ...(v.guided !== undefined ? { guided: { radius: v.guided.radius, epsilon: v.guided.epsilon } } : {}),
  };
}

/** Identity of an option (options with equal keys finish identically). */
const optionKey = (o: FinishingOption) => `${guidanceOf(o)}/${guidedKey(o)}/${o.median}/${o.colours}/${o.colours ? (o.quantiser ?? 'imagequant') : ''}`;
const guidedKey = (o: FinishingOption) => (o.guided ? `${o.guided.radius}:${o.guided.epsilon}` : '');

async function quantise(png: Buffer, option: FinishingOption): Promise<Buffer> {
  if (option.quantiser !== 'kmeans') return sharp(png).png({ palette: true, colours: option.colours, dither: 0 }).toBuffer();
  const quantised = kmeansQuantise(await rawRgb(png), option.colours);
  return sharp(quantised, { raw: { width: PIXEL_SIZE, height: PIXEL_SIZE, channels: 3 } }).png().toBuffer();
}

/**
 * Finish one 64×64 RGB PNG with one option (deterministic): the guided filter (with `reference`,
 * a 64×64 PNG, as the guide), then the median, then the palette, each where the option asks.
 *
 * @example
 * const flat = await finishPng(png, { median: 1, colours: 4 });
 * const clean = await finishPng(png, { median: 1, colours: 0, guided: { radius: 2, epsilon: 1e-3 } }, referencePng);
 */
export async function finishPng(png: Buffer, option: FinishingOption, reference?: Buffer): Promise<Buffer> {
  let out = option.guided ? await guide(png, option.guided, reference) : png;
  if (option.median > 1) out = await sharp(out).median(option.median).png().toBuffer();
  if (option.colours) out = await quantise(out, option);
  return out;
}

async function guide(png: Buffer, settings: GuidedFilterSettings, reference: Buffer | undefined): Promise<Buffer> {
  if (!reference) throw new RagarError('this finishing option is guided by the reference image, and none was given', 'BAD_INPUT');
  const filtered = guidedFilter(await rawRgb(png), await rawRgb(reference), PIXEL_SIZE, PIXEL_SIZE, settings);
  return sharp(filtered, { raw: { width: PIXEL_SIZE, height: PIXEL_SIZE, channels: 3 } }).png().toBuffer();
}

/**
 * Finish one PNG with several options at once; options with the same guided filter and median
 * share one pass of them. Same images as {@link finishPng} per option.
 *
 * @example
 * const [asDrawn, flat] = await finishPngAll(png, [{ median: 1, colours: 0 }, { median: 3, colours: 16 }]);
 */
export async function finishPngAll(png: Buffer, options: readonly FinishingOption[], reference?: Buffer): Promise<Buffer[]> {
  const prefixes = new Map<string, Promise<Buffer>>();
  const prefixOf = (o: FinishingOption) => {
    const key = `${guidedKey(o)}/${o.median}`;
    let m = prefixes.get(key);
    if (!m) prefixes.set(key, (m = finishPng(png, { median: o.median, colours: 0, ...(o.guided ? { guided: o.guided } : {}) }, reference)));
    return m;
  };
  return Promise.all(options.map(async (o) => finishPng(await prefixOf(o), { median: 1, colours: o.colours, ...(o.quantiser ? { quantiser: o.quantiser } : {}) })));
}

async function rawRgb(png: Buffer): Promise<Buffer> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== PIXEL_SIZE || info.height !== PIXEL_SIZE || info.channels !== 3) throw new RagarError(`finishing needs a ${PIXEL_SIZE}×${PIXEL_SIZE} RGB image, got ${info.width}×${info.height}×${info.channels}`, 'BAD_IMAGE');
  return data;
}

/**
 * Finish an output under a style condition: each class's finished image, mixed by the
 * condition's weights (`Σ w_s·finish_s(x_s) / Σ w_s`, per 8-bit channel value), where `x_s` is
 * the output drawn with that class's guidance multiplier (`drawn(g)`; a single PNG when every
 * multiplier is 1). A condition whose largest weight is at least 0.999 gets that class's finish
 * exactly. `reference` (the 64×64 reference PNG) is needed when an option is guided by it
 * ({@link finishingNeedsReference}).
 *
 * @example
 * const png = await applyFinishing(drawn, generator.conditionOfStyle('twemoji'), finishing);
 * const mixed = await applyFinishing((g) => drawnAt.get(g)!, cond.style, finishing, referencePng);
 */
export async function applyFinishing(drawn: Buffer | ((guidance: number) => Buffer), weights: ArrayLike<number>, finishing: Finishing, reference?: Buffer): Promise<Buffer> {
  const { top, total } = weightSummary(weights, finishing.classes.length);
  const at = (g: number): Buffer => {
    if (Buffer.isBuffer(drawn)) {
      if (g !== 1) throw new RagarError(`the finishing draws a style at guidance ×${g}: pass the outputs drawn at each multiplier`, 'BAD_INPUT');
      return drawn;
    }
    const png = drawn(g);
    if (!Buffer.isBuffer(png)) throw new RagarError(`no output drawn at guidance ×${g}`, 'BAD_INPUT');
    return png;
  };
  if (weights[top] / total >= 0.999) return finishPng(at(guidanceOf(finishing.options[top])), finishing.options[top], reference);
  // Each distinct option once, however many classes share it.
  const byOption = new Map<string, { option: FinishingOption; weight: number }>();
  for (let c = 0; c < weights.length; c++) {
    if (!(weights[c] > 0)) continue;
    const o = finishing.options[c];
    const key = optionKey(o);
    const entry = byOption.get(key);
    if (entry) entry.weight += weights[c];
    else byOption.set(key, { option: o, weight: weights[c] });
  }
  const acc = new Float32Array(PIXEL_SIZE * PIXEL_SIZE * 3);
  const mixed = [...byOption.values()];
  const byGuidance = new Map<number, { option: FinishingOption; weight: number }[]>();
  for (const m of mixed) {
    const group = byGuidance.get(guidanceOf(m.option));
    if (group) group.push(m);
    else byGuidance.set(guidanceOf(m.option), [m]);
  }
  for (const [g, group] of byGuidance) {
    const finished = await finishPngAll(at(g), group.map((m) => m.option), reference);
    for (const [k, { weight }] of group.entries()) {
      const px = await rawRgb(finished[k]);
      for (let i = 0; i < acc.length; i++) acc[i] += (weight / total) * px[i];
    }
  }
  const out = Buffer.alloc(acc.length);
  for (let i = 0; i < acc.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(acc[i])));
  return sharp(out, { raw: { width: PIXEL_SIZE, height: PIXEL_SIZE, channels: 3 } }).png().toBuffer();
}

/** File name of a fitted finishing inside a generator folder. */
export const FINISHING_FILE = 'finishing.json';

/**
 * Read a generator folder's `finishing.json` (null when there is none), checked against the
 * generator's conditioner classes.
 *
 * @example
 * const finishing = loadFinishing(dir, generator.config.conditioner.classes);
 */
export function loadFinishing(dir: string, classes: readonly string[]): Finishing | null {
  const file = path.join(dir, FINISHING_FILE);
  if (!fs.existsSync(file)) return null;
  const raw = readJsonFile<Partial<Finishing>>(file);
  if (raw.format !== FINISHING_FORMAT) throw new RagarError(`${file}: format ${JSON.stringify(raw.format)} is not ${FINISHING_FORMAT}`, 'VERSION');
  if (!Array.isArray(raw.classes) || raw.classes.length !== classes.length || raw.classes.some((c, i) => c !== classes[i]))
    throw new RagarError(`${file}: fitted for styles ${JSON.stringify(raw.classes)}, the generator's are ${JSON.stringify(classes)}; refit with \`ragar train finishing\``, 'BAD_INPUT');
  if (!Array.isArray(raw.options) || raw.options.length !== classes.length) throw new RagarError(`${file}: needs one option per style (${classes.length})`, 'BAD_INPUT');
  if (raw.sharpen !== undefined && !(typeof raw.sharpen === 'number' && raw.sharpen >= 0 && raw.sharpen <= 10)) throw new RagarError(`${file}: sharpen must be a number from 0 to 10, got ${JSON.stringify(raw.sharpen)}`, 'BAD_INPUT');
  if (raw.cfgScale !== undefined && !(typeof raw.cfgScale === 'number' && raw.cfgScale >= 0 && raw.cfgScale <= 20)) throw new RagarError(`${file}: cfgScale must be a number from 0 to 20, got ${JSON.stringify(raw.cfgScale)}`, 'BAD_INPUT');
  const options = raw.options.map((o, i) => checkOption(o, `${file} (${classes[i]})`));
  if (raw.paramsSha256 !== undefined && raw.paramsSha256 !== paramsChecksum(dir))
    throw new RagarError(`${file} was fitted for other weights than the ${path.join(dir, 'params.bin')} beside it (retrained or resumed since); refit it with \`ragar train finishing --generator ${dir}\` or delete it`, 'CONFLICT');
  return {
    format: FINISHING_FORMAT,
    classes: [...raw.classes],
    options,
    ...(raw.sharpen !== undefined ? { sharpen: raw.sharpen } : {}),
    ...(raw.cfgScale !== undefined ? { cfgScale: raw.cfgScale } : {}),
    ...(raw.paramsSha256 !== undefined ? { paramsSha256: raw.paramsSha256 } : {}),
    fit: raw.fit,
  };
}

/** Write a finishing into a generator folder (atomically). */
export function saveFinishing(dir: string, finishing: Finishing): string {
  const file = path.join(dir, FINISHING_FILE);
  writeFileAtomicSync(file, `${JSON.stringify(finishing, null, 2)}\n`);
  return file;
}
