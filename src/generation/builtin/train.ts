import fs from 'node:fs';
import path from 'node:path';
import type { ImageTower } from '../../ranking/tower.js';
import { Adam } from '../../util/adam.js';
import { RagarError } from '../../util/errors.js';
import { readJsonFile, writeFileAtomicSync } from '../../util/persist.js';
import { silentProgress, type Progress } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { fitStyleConditioner } from './conditioning.js';
import { PLANE, syntheticPreference, toPixels, type GeneratorData } from './data.js';
import { PIXEL_SIZE } from '../../encoders/pixels.js';
import type { OnnxNet } from '../onnx/net.js';
import { createPatchDiscriminator, loadPatchDiscriminator } from '../onnx/patchgan.js';
import { BuiltinGenerator, type GeneratorCondition, type GeneratorConfig, type GeneratorObjective } from './model.js';
import { FINISHING_FILE, paramsChecksum } from './finishing.js';
import { measureConditionResponse, type ConditionResponse } from './response.js';
import { noisy } from './schedule.js';
import { DiscriminatorHeads } from './discriminatorHeads.js';
import { DEFAULT_SEGMENT_OPTIONS } from './segmentPool.js';
import { addEdgeKeepL1, addGradientL1, addSpeckleL1 } from './gradientLoss.js';

/** Options of {@link trainGenerator} (CLI flags of `ragar train generator`). */
export interface GeneratorTrainOptions {
  objective: GeneratorObjective;
  /** Weight λ of the rank loss `L_rank = −s(x̂)·v / σ` (0 = no ranker in training). */
  lambda: number;
  /** Weight of the adversarial (PatchGAN, hinge) term against the L1 term (0 = L1 only). */
  adversarial: number;
  /**
   * How the discriminator is told the condition: `concat` (constant condition planes beside the
   * image, as pix2pix) or `projection` (the planes and, per patch, a learned logit per style mixed
   * by the condition, as a projection discriminator; with an auxiliary style classifier).
   */
  discriminator: 'concat' | 'projection';
  /**
   * Weight of the auxiliary style-classification term (AC-GAN): the projection discriminator also
   * learns to name the style of real target renditions, and the generator is pushed to make its
   * conditioned outputs named as the target style (0 = off; needs `projection`).
   */
  styleClassifier: number;
  /**
   * The style classifier has a (K+1)-th class, "generated", that the discriminator learns for the
   * generator's outputs (semi-supervised GAN); without it (the default, as the shipped weights) a
   * K-way classifier trained on real renditions only is soon satisfied by the generator's outputs.
   * Measured at 90 minutes: no clear gain (README, Generator).
   */
  fakeClass: boolean;
  /** Wall-clock budget in minutes (training stops at the first of budget and steps). */
  minutes: number;
  /** Most optimiser steps (0 = no limit: the time budget decides). */
  steps: number;
  batchSize: number;
  learningRate: number;
  /** Adam step size of the discriminator (β₁ = 0.5, as pix2pix). */
  discriminatorLearningRate: number;
  seed: number;
  /** U-Net base width and levels. */
  base: number;
  levels: number;
  /** Space-to-depth factor of the U-Net (2: runs at 32×32, see `GeneratorConfig.shuffle`). */
  shuffle: 1 | 2;
  /**
   * Output = reference + network (true, the default and the shipped weights: the reference's
   * drawing is kept by construction) or the network's own output (false). Measured: README, Generator.
   */
  residual: boolean;
  /**
   * Blur after the pixel shuffle (see `GeneratorConfig.outputBlur`): a fixed [1, 2, 1]/4 filter on
   * the network's unfolded output, against the period-2 grid of the sub-pixel planes.
   */
  outputBlur: boolean;
  /**
   * Segment pooling (see `GeneratorConfig.segmentPool` and `./segmentPool.ts`): a fourth output
   * plane gates each pixel toward its mean over the reference's flat segment, so the network can
   * draw exact flat colour fields. The reference is segmented with `DEFAULT_SEGMENT_OPTIONS`.
   */
  segmentPool: boolean;
  /**
   * Weight of the gradient-matching term (see {@link addGradientL1}): the L1 distance between the
   * output's and the target's neighbour differences, on the scale of the pixel L1 term (0 = off).
   */
  gradientLoss: number;
  /**
   * Weight of the reference-structure term: the same neighbour-difference L1 as `gradientLoss`, but
   * against the reference rendition instead of the target (keeps the reference's edges, the drawing
   * of the concept, while the pixel and adversarial terms restyle it; 0 = off).
   */
  referenceGradientLoss: number;
  /**
   * Weight of the edge-keeping term (see {@link addEdgeKeepL1}): how much of each strong luminance
   * edge of the reference the output loses (one-sided: new edges, colours and an edge's sign are
   * free; 0 = off).
   */
  edgeKeepLoss: number;
  /**
   * Weight of the speckle term (see {@link addSpeckleL1}): the L1 of the output's neighbour
   * differences where neither the reference nor the target has an edge (0 = off).
   */
  speckleLoss: number;
  /**
   * Decay of an exponential moving average of the generator's weights, updated after every step
   * and saved as the final weights (0 = off: the last step's weights). The raw weights stay in the
   * checkpoint (`raw.bin` once training ends) so that a resume continues from them.
   */
  ema: number;
  /** Attended history items per synthetic training preference, and their share in the target style. */
  historyK: number;
  purity: number;
  /** Share of examples trained with no condition (classifier-free guidance needs it). */
  conditionDropout: number;
  /** Share of examples conditioned on the target style itself (one-hot), as a perfect preference would. */
  oneHotShare: number;
  /** DDIM steps recorded as the sampling default (diffusion). */
  samplingSteps: number;
  /** Save a checkpoint every this many steps (and at the end). */
  checkpointEvery: number;
  /** onnxruntime threads per network (not part of the result: excluded from the resume check). */
  threads: number;
  /**
   * Start from the weights in this generator folder instead of a fresh network (fine-tuning; null =
   * from scratch). The network's shape and conditioner come from that folder; the discriminator and
   * both optimisers start fresh unless `initState`. Used to train λ > 0 and λ = 0 from one shared trunk, so that the
   * rank-task ablation compares the rank loss and not two training trajectories.
   */
  init: string | null;
  /**
   * With `init`: also carry the discriminator and both optimisers' state from the checkpoint in that
   * folder (it must hold one: `train-state.json`, `optimizer.bin`, and with the adversarial term
   * `discriminator/` and `optimizer-d.bin`), instead of restarting them.
   */
  initState: boolean;
}

/** Documented defaults (README, `--help`). */
export const DEFAULT_GENERATOR_TRAIN: GeneratorTrainOptions = {
  objective: 'translator',
  lambda: 0.01,
  adversarial: 0.02,
  discriminator: 'projection',
  styleClassifier: 0.05,
  fakeClass: false,
  minutes: 30,
  steps: 0,
  batchSize: 8,
  learningRate: 3e-4,
  discriminatorLearningRate: 2e-4,
  seed: 1,
  base: 32,
  levels: 3,
  shuffle: 2,
  residual: true,
  outputBlur: false,
  segmentPool: false,
  gradientLoss: 0,
  referenceGradientLoss: 0,
  edgeKeepLoss: 0,
  speckleLoss: 0,
  ema: 0,
  historyK: 5,
  purity: 0.85,
  conditionDropout: 0.1,
  oneHotShare: 0.2,
  samplingSteps: 8,
  checkpointEvery: 100,
  threads: 2,
  init: null,
  initState: false,
};

/** One point of the loss curve: means over 50 steps. */
export interface LossPoint {
  step: number;
  l1: number;
  /** Mean gradient-matching loss (absent without the term). */
  grad?: number;
  /** Mean reference-structure loss (absent without the term). */
  refGrad?: number;
  /** Mean edge-keeping loss (absent without the term). */
  edge?: number;
  /** Mean speckle loss (absent without the term). */
  speckle?: number;
  /** Mean rank score term (null without the rank loss). */
  rank: number | null;
  /** Discriminator hinge loss and generator adversarial loss (null without the adversarial term). */
  dLoss: number | null;
  gAdv: number | null;
  /** Auxiliary style classifier: its cross-entropy on real targets and on conditioned outputs (absent without it). */
  dStyle?: number | null;
  gStyle?: number | null;
  /** With the fake class: the classifier's cross-entropy of "generated" on the generator's outputs. */
  dFake?: number | null;
}

/** What {@link trainGenerator} returns (also written to `generator.json`). */
export interface GeneratorTrainingRecord {
  dataset: string;
  datasetDigest: string | null;
  data: string;
  options: GeneratorTrainOptions;
  steps: number;
  samples: number;
  seconds: number;
  msPerSample: number;
  parameters: number;
  discriminatorParameters: number | null;
  macsPerSample: number;
  lossCurve: LossPoint[];
  /** Standard deviation of tower scores used to scale the rank loss. */
  rankScale: number | null;
  /** SHA-256 of the ranker whose distilled tower gave the rank loss (null for λ = 0). */
  rankerSha256: string | null;
  resumedFrom: number;
  startedAt: string;
  finishedAt: string;
  /** Measured at the end on train concepts: how much the output moves between one-hot style conditions (see `response.ts`). */
  conditionResponse: ConditionResponse;
  /**
   * With `options.init`: the weights this run started from (SHA-256 of their `params.bin`) and their
   * own training record, so the whole budget (theirs plus this run's) stays on record.
   */
  initFrom?: InitRecord;
}

const STATE_FILE = 'train-state.json';
/** The weight average of a checkpoint (with `ema`), and the raw weights once training has ended and params.bin holds the average. */
const EMA_FILE = 'ema.bin';
const RAW_FILE = 'raw.bin';

/** Luminance step (model space, range 2) above which a reference edge counts for the edge-keeping term. */
const EDGE_THRESHOLD = 0.2;

/** Per-channel step (model space, range 2) up to which a neighbour pair counts as flat for the speckle term. */
const SPECKLE_THRESHOLD = 0.1;

/** Options that do not change the result and may differ on resume. */
const RUN_ONLY = ['minutes', 'steps', 'checkpointEvery', 'threads'];

/** Options added after checkpoints were written, with the value that means "as before they existed". */
const ADDED_LATER: Partial<Record<keyof GeneratorTrainOptions, unknown>> = { outputBlur: false, segmentPool: false, gradientLoss: 0, referenceGradientLoss: 0, edgeKeepLoss: 0, speckleLoss: 0, ema: 0, init: null, initState: false };

/**
 * The key a checkpoint's options must match to be resumed: every option that changes the result,
 * sorted; an option added later is left out while it has its "off" value, so that checkpoints
 * written before it existed still resume.
 *
 * @example
 * trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, threads: 1 }) === trainingOptionsKey(DEFAULT_GENERATOR_TRAIN); // true
 */
export function trainingOptionsKey(o: GeneratorTrainOptions): string {
  const keys = (Object.keys(o) as (keyof GeneratorTrainOptions)[]).filter((k) => !RUN_ONLY.includes(k) && !(k in ADDED_LATER && o[k] === ADDED_LATER[k]));
  return JSON.stringify(o, keys.sort());
}

/** Fill the discriminator's input: image, reference, then one constant plane per condition value. */
function discriminatorInput(images: readonly Float32Array[], refs: readonly Float32Array[], conds: readonly Float32Array[], condLength: number, out: Float32Array): Float32Array {
  const planes = 6 + condLength;
  images.forEach((img, b) => {
    const o = b * planes * PLANE;
    out.set(img, o);
    out.set(refs[b], o + 3 * PLANE);
    for (let c = 0; c < condLength; c++) out.fill(conds[b][c], o + (6 + c) * PLANE, o + (7 + c) * PLANE);
  });
  return out;
}

/** How the discriminator's output maps become losses under these options (`classes` styles). */
function discriminatorHeads(o: GeneratorTrainOptions, classes: number): DiscriminatorHeads {
  return new DiscriminatorHeads(o.discriminator === 'projection', classes, o.styleClassifier > 0, o.styleClassifier > 0 && o.fakeClass);
}

function saveFloats(file: string, parts: readonly Float32Array[]): void {
  const total = parts.reduce((a, p) => a + p.length, 0);
  const all = new Float32Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  writeFileAtomicSync(file, new Uint8Array(all.buffer));
}

/** What a fine-tuning run records of the weights it started from. */
export interface InitRecord {
  dir: string;
  /** SHA-256 of their `params.bin`. */
  paramsSha256: string;
  /** Their own training record (null for an unfinished checkpoint). */
  training: unknown;
  /** With `initState`: the step of their checkpoint whose discriminator and optimiser state were carried over. */
  stateStep?: number;
}

/** Shape options that must agree between a run and the weights it starts from (`init`). */
const INIT_SHAPE = ['objective', 'base', 'levels', 'shuffle', 'residual', 'outputBlur', 'segmentPool'] as const;

/**
 * What a fine-tuning run records of the weights it starts from (`init`): their folder, the SHA-256
 * of their `params.bin` and their own training record. Refuses a folder without weights or whose
 * network shape differs from the options.
 */
function initRecord(dir: string, o: GeneratorTrainOptions): InitRecord {
  const file = path.join(dir, 'generator.json');
  if (!fs.existsSync(file)) throw new RagarError(`no generator weights to start from in ${dir} (generator.json missing)`, 'NOT_FOUND');
  const meta = readJsonFile<{ config?: GeneratorConfig; training?: unknown }>(file);
  const c = meta.config;
  if (!c?.net) throw new RagarError(`${file}: no network configuration`, 'BAD_INPUT');
  const theirs: Record<(typeof INIT_SHAPE)[number], unknown> = {
    objective: c.objective,
    base: c.net.base,
    levels: c.net.levels,
    shuffle: c.shuffle,
    residual: c.residual,
    outputBlur: c.outputBlur ?? false,
    segmentPool: !!c.segmentPool,
  };
  const differ = INIT_SHAPE.filter((k) => theirs[k] !== o[k]);
  if (differ.length) throw new RagarError(`${dir}: the weights to start from differ from the options in ${differ.map((k) => `${k} (${JSON.stringify(theirs[k])} there, ${JSON.stringify(o[k])} asked)`).join(', ')}`, 'BAD_INPUT');
  const record: InitRecord = { dir, paramsSha256: paramsChecksum(dir), training: meta.training ?? null };
  if (o.initState) {
    const needed = [STATE_FILE, 'optimizer.bin', ...(o.adversarial > 0 ? ['discriminator', 'optimizer-d.bin'] : [])];
    const missing = needed.filter((f) => !fs.existsSync(path.join(dir, f)));
    if (missing.length) throw new RagarError(`${dir} holds no training checkpoint to carry the optimiser state from (missing ${missing.join(', ')}); start without carrying it (no --init-state) or from a folder that training wrote`, 'NOT_FOUND');
    const stateFile = path.join(dir, STATE_FILE);
    const state = readJsonFile<{ step?: unknown }>(stateFile);
    if (!(typeof state.step === 'number' && Number.isInteger(state.step) && state.step > 0)) throw new RagarError(`${stateFile}: no step count`, 'BAD_INPUT');
    record.stateStep = state.step;
  }
  return record;
}

/** The generator's optimiser and, with the adversarial term, the discriminator and its optimiser. */
interface TrainingOptimisers {
  adam: Adam;
  disc: OnnxNet | null;
  adamD: Adam | null;
}

/** A fresh optimiser (and a fresh discriminator, seeded `seed + 1`, with its own). */
function freshOptimisers(generator: BuiltinGenerator, o: GeneratorTrainOptions, session: { threads: number }): TrainingOptimisers {
  const adam = new Adam(generator.net.paramCount, o.learningRate);
  if (!(o.adversarial > 0)) return { adam, disc: null, adamD: null };
  const k = generator.config.conditioner.classes.length;
  const disc = createPatchDiscriminator({ inChannels: 6 + k + 1, size: PIXEL_SIZE, width: 16, seed: o.seed + 1, outChannels: discriminatorHeads(o, k).outputs }, { session });
  return { adam, disc, adamD: new Adam(disc.paramCount, o.discriminatorLearningRate, 0.5) };
}

/**
 * The optimisers (and discriminator) of the checkpoint in `folder` at `step` (a resume, or a
 * fine-tune that carries them); a discriminator with other heads than the options need is refused.
 */
async function restoreOptimisers(folder: string, step: number, generator: BuiltinGenerator, o: GeneratorTrainOptions, session: { threads: number }): Promise<TrainingOptimisers> {
  const adam = restoreAdam(path.join(folder, 'optimizer.bin'), generator.net.paramCount, o.learningRate, step);
  if (!(o.adversarial > 0)) return { adam, disc: null, adamD: null };
  const disc = await loadPatchDiscriminator(path.join(folder, 'discriminator'), { session });
  const outputs = discriminatorHeads(o, generator.config.conditioner.classes.length).outputs;
  if (disc.outputShape[0] !== outputs) {
    await disc.dispose();
    await generator.dispose();
    throw new RagarError(`${folder}: its discriminator has ${disc.outputShape[0]} output maps, these options need ${outputs} (another --discriminator, --style-classifier or --fake-class)`, 'BAD_INPUT');
  }
  return { adam, disc, adamD: restoreAdam(path.join(folder, 'optimizer-d.bin'), disc.paramCount, o.discriminatorLearningRate, step, 0.5) };
}

/** Read `size` floats written by {@link saveFloats}. */
function loadFloats(file: string, size: number): Float32Array {
  const buf = fs.readFileSync(file);
  if (buf.byteLength !== 4 * size) throw new RagarError(`${file}: ${buf.byteLength / 4} values, expected ${size}`, 'BAD_INPUT');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function restoreAdam(file: string, size: number, lr: number, step: number, beta1 = 0.9): Adam {
  const buf = fs.readFileSync(file);
  const f = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (f.length !== 2 * size) throw new RagarError(`${file}: optimiser state of ${f.length} values, expected ${2 * size}`, 'BAD_INPUT');
  const adam = new Adam(size, lr, beta1);
  adam.restore({ t: step, m: f.subarray(0, size), v: f.subarray(size, 2 * size) });
  return adam;
}

/**
 * Check generator training options, and with `init` the weights to start from (their network shape
 * and, with `initState`, the checkpoint there), without loading any data: `ragar train generator`
 * calls it before it decodes the training images, {@link trainGenerator} again. Returns what the run
 * records of the starting weights (null without `init`); throws a `RagarError` naming the problem.
 *
 * @example
 * checkGeneratorTrainOptions(outDir, { ...DEFAULT_GENERATOR_TRAIN, init: trunkDir, initState: true });
 */
export function checkGeneratorTrainOptions(dir: string, o: GeneratorTrainOptions): InitRecord | null {
  if (!(o.batchSize >= 1 && Number.isInteger(o.batchSize))) throw new RagarError(`batch size must be a positive integer, got ${o.batchSize}`, 'BAD_INPUT');
  if (!(o.minutes > 0) && !(o.steps > 0)) throw new RagarError('give a time budget (minutes) or a number of steps', 'BAD_INPUT');
  if (!(o.adversarial >= 0)) throw new RagarError(`the adversarial weight must be ≥ 0, got ${o.adversarial}`, 'BAD_INPUT');
  if (o.discriminator !== 'concat' && o.discriminator !== 'projection') throw new RagarError(`the discriminator must be concat or projection, got ${JSON.stringify(o.discriminator)}`, 'BAD_INPUT');
  if (!(o.gradientLoss >= 0)) throw new RagarError(`the gradient-matching weight must be ≥ 0, got ${o.gradientLoss}`, 'BAD_INPUT');
  if (!(o.edgeKeepLoss >= 0)) throw new RagarError(`the edge-keeping weight must be ≥ 0, got ${o.edgeKeepLoss}`, 'BAD_INPUT');
  if (!(o.ema >= 0 && o.ema < 1)) throw new RagarError(`the weight-average decay must be in [0, 1), got ${o.ema}`, 'BAD_INPUT');
  if (!(o.speckleLoss >= 0)) throw new RagarError(`the speckle weight must be ≥ 0, got ${o.speckleLoss}`, 'BAD_INPUT');
  if (!(o.referenceGradientLoss >= 0)) throw new RagarError(`the reference-structure weight must be ≥ 0, got ${o.referenceGradientLoss}`, 'BAD_INPUT');
  if (!(o.styleClassifier >= 0)) throw new RagarError(`the style-classifier weight must be ≥ 0, got ${o.styleClassifier}`, 'BAD_INPUT');
  for (const flag of ['fakeClass', 'residual', 'outputBlur', 'segmentPool'] as const) {
    if (typeof o[flag] !== 'boolean') throw new RagarError(`${flag} must be true or false, got ${JSON.stringify(o[flag])}`, 'BAD_INPUT');
  }
  if (o.styleClassifier > 0 && !(o.adversarial > 0 && o.discriminator === 'projection')) throw new RagarError('the auxiliary style classifier lives in the projection discriminator: it needs --adversarial > 0 and --discriminator projection (or --style-classifier 0)', 'BAD_INPUT');
  if (!(o.conditionDropout >= 0 && o.oneHotShare >= 0 && o.conditionDropout + o.oneHotShare <= 1)) throw new RagarError('condition dropout and one-hot share must be ≥ 0 and sum to at most 1', 'BAD_INPUT');
  if (o.initState && !o.init) throw new RagarError('carrying the optimiser state needs the weights to start from (init)', 'BAD_INPUT');
  if (o.init && path.resolve(o.init) === path.resolve(dir)) throw new RagarError(`the weights to start from (${o.init}) are the folder being trained: write to another folder`, 'BAD_INPUT');
  return o.init ? initRecord(o.init, o) : null;
}

/**
 * Train the built-in generator on the train concepts of an emoji-styles-like dataset with
 * `L = L1 + g·L_grad + a·L_adv + λ·L_rank` (DESIGN §2 step 4): L1 to the target rendition (for
 * diffusion, of the clean-image prediction at a random noise level); `L_grad` (`gradientLoss = g`,
 * off by default) the L1 between the output's and the target's neighbour differences (and, off by default, the same
 * against the reference, `referenceGradientLoss`, the one-sided edge-keeping term, `edgeKeepLoss`, and the speckle term, `speckleLoss`); `L_adv` the hinge loss of a PatchGAN
 * discriminator that sees the image, the reference and the condition (real: target renditions;
 * `a = 0` turns it off) — with `discriminator: 'projection'` each patch's logit also gets a learned
 * per-style logit mixed by the condition, and with `styleClassifier > 0` the discriminator learns
 * to name the style of real targets while the generator is pushed to make its conditioned outputs
 * named as the target style (AC-GAN; with `fakeClass` the classifier also names the generator's
 * outputs "generated", a (K+1)-th class; see {@link DiscriminatorHeads}); `L_rank` minus the distilled tower's score of the output for the
 * synthetic user's ranker direction, normalised by the scores' standard deviation (pixel gradient
 * from {@link ImageTower.scoreAndGrad}). Each example: a train concept, a reference rendition, a
 * target rendition in another style, and a condition: the style mixture of a synthetic attended
 * history that prefers the target's style, or (share `oneHotShare`) the target style itself, or
 * (share `conditionDropout`) none, so that classifier-free guidance can extrapolate at sampling.
 * Checkpoints (weights, discriminator, optimisers, step) go to `dir` every `checkpointEvery`
 * steps; an existing checkpoint there with the same options is resumed. With `init`, training starts from the weights
 * in that folder (fine-tuning) instead of a fresh network.
 *
 * @example
 * const record = await trainGenerator(data, tower, dir, { ...DEFAULT_GENERATOR_TRAIN, minutes: 5 });
 */
export async function trainGenerator(
  data: GeneratorData,
  tower: ImageTower | null,
  dir: string,
  options: GeneratorTrainOptions,
  hooks: { progress?: Progress; note?: (line: string) => void; signal?: AbortSignal; rankerSha256?: string | null; datasetDigest?: string | null } = {},
): Promise<GeneratorTrainingRecord> {
  const o = options;
  if (o.lambda > 0 && !tower) throw new RagarError('λ > 0 needs the distilled image tower: run `ragar rank distill` first', 'BAD_INPUT');
  const initFrom = checkGeneratorTrainOptions(dir, o);
  const progress = hooks.progress ?? silentProgress;
  const note = hooks.note ?? (() => {});
  const train = data.items.filter((it) => it.split === 'train' && data.pixels.has(it.index));
  const groupOf = new Map(train.map((it) => [it.concept, it.group]));
  const concepts = [...new Set(train.map((it) => it.concept))].filter((c) => (data.renditions.get(c)?.size ?? 0) >= 2);
  if (!concepts.length) throw new RagarError('no train concept has two renditions: nothing to learn a restyling from', 'BAD_INPUT');

  fs.mkdirSync(dir, { recursive: true });
  // A finishing is fitted on one set of weights' outputs: training changes them.
  const finishingFile = path.join(dir, FINISHING_FILE);
  if (fs.existsSync(finishingFile)) {
    fs.rmSync(finishingFile);
    note(`removed ${finishingFile}: it was fitted for the weights this training changes; refit it afterwards with \`ragar train finishing --generator ${dir}\``);
  }
  const optionsKey = trainingOptionsKey(o);
  const stateFile = path.join(dir, STATE_FILE);
  const discDir = path.join(dir, 'discriminator');
  const session = { threads: o.threads };
  let generator: BuiltinGenerator;
  let step = 0;
  let resumedFrom = 0;
  let elapsedBefore = 0;
  const lossCurve: LossPoint[] = [];
  let optimisers: TrainingOptimisers;
  if (fs.existsSync(stateFile)) {
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { optionsKey: string; step: number; seconds: number; lossCurve: LossPoint[] };
    if (state.optionsKey !== optionsKey) throw new RagarError(`${dir} holds a checkpoint trained with other options; pass another --out or delete it`, 'CONFLICT');
    generator = (await BuiltinGenerator.load(dir, session)).generator;
    optimisers = await restoreOptimisers(dir, state.step, generator, o, session);
    step = resumedFrom = state.step;
    elapsedBefore = state.seconds;
    lossCurve.push(...state.lossCurve);
    note(`resuming from step ${step} (${elapsedBefore.toFixed(0)} s already trained)`);
  } else if (o.init) {
    generator = (await BuiltinGenerator.load(o.init, session)).generator;
    const t = initFrom?.stateStep;
    optimisers = t !== undefined ? await restoreOptimisers(o.init, t, generator, o, session) : freshOptimisers(generator, o, session);
    const what = t !== undefined ? `with the discriminator and optimiser state of its step ${t}` : o.adversarial > 0 ? 'fresh discriminator and optimisers' : 'a fresh optimiser';
    note(`starting from the weights in ${o.init} (${what})`);
  } else {
    const conditioner = fitStyleConditioner(train.map((it) => data.styleOf(it.index)), train.map((it) => it.style), o.seed);
    generator = BuiltinGenerator.create(
      {
        objective: o.objective,
        conditioner,
        steps: o.samplingSteps,
        shuffle: o.shuffle,
        residual: o.residual,
        ...(o.outputBlur ? { outputBlur: true } : {}),
        ...(o.segmentPool ? { segmentPool: { ...DEFAULT_SEGMENT_OPTIONS } } : {}),
        timeFeatures: o.objective === 'diffusion' ? 16 : 0,
        net: { base: o.base, levels: o.levels, seed: o.seed },
      },
      session,
    );
    optimisers = freshOptimisers(generator, o, session);
  }
  const { adam, disc, adamD } = optimisers;
  // the weight average starts from the weights training starts from (a resume: the checkpoint's average, and its raw weights)
  const emaFile = path.join(dir, EMA_FILE);
  const rawFile = path.join(dir, RAW_FILE);
  let ema: Float32Array | null = null;
  if (resumedFrom > 0 && fs.existsSync(rawFile)) generator.net.params.set(loadFloats(rawFile, generator.net.paramCount));
  if (o.ema > 0) ema = resumedFrom > 0 && fs.existsSync(emaFile) ? loadFloats(emaFile, generator.net.paramCount) : generator.net.params.slice();
  const classes = generator.config.conditioner.classes;
  const condLength = classes.length + 1;
  const B = o.batchSize;
  await generator.net.ready(B);

  // Scale of the rank term: the spread of tower scores over real renditions and synthetic users.
  const scaleRng = new Rng(o.seed * 7919 + 1);
  let rankScale: number | null = null;
  if (tower && o.lambda > 0) {
    const scores: number[] = [];
    for (let i = 0; i < 200; i++) {
      const it = train[scaleRng.int(train.length)];
      const pref = syntheticPreference(data, it.concept, it.group, data.styles[scaleRng.int(data.styles.length)], scaleRng, o.historyK, o.purity);
      const e = tower.embed(toPixels(data.pixels.get(it.index)!));
      let s = 0;
      for (let k = 0; k < e.length; k++) s += e[k] * pref.v[k];
      scores.push(s);
    }
    const m = scores.reduce((a, b) => a + b, 0) / scores.length;
    rankScale = Math.sqrt(scores.reduce((a, b) => a + (b - m) ** 2, 0) / scores.length) || 1;
  }

  const budgetMs = o.minutes > 0 ? o.minutes * 60_000 - elapsedBefore * 1000 : Infinity;
  const maxSteps = o.steps > 0 ? o.steps : Infinity;
  const started = Date.now();
  const startedAt = new Date().toISOString();
  const win = { l1: 0, grad: 0, refGrad: 0, edge: 0, speckle: 0, rank: 0, d: 0, g: 0, ds: 0, gs: 0, df: 0, n: 0 };
  const saveCheckpoint = async () => {
    const seconds = elapsedBefore + (Date.now() - started) / 1000;
    await generator.save(dir, { training: null });
    fs.rmSync(rawFile, { force: true }); // params.bin holds the raw weights again
    if (ema) saveFloats(emaFile, [ema]);
    const st = adam.state();
    saveFloats(path.join(dir, 'optimizer.bin'), [st.m, st.v]);
    if (disc && adamD) {
      await disc.save(discDir);
      const sd = adamD.state();
      saveFloats(path.join(dir, 'optimizer-d.bin'), [sd.m, sd.v]);
    }
    writeFileAtomicSync(stateFile, `${JSON.stringify({ optionsKey, step, seconds, lossCurve })}\n`);
  };
  const dPlanes = 6 + condLength;
  const heads = discriminatorHeads(o, classes.length);
  const dReal = new Float32Array(2 * B * dPlanes * PLANE);
  const dFake = new Float32Array(B * dPlanes * PLANE);
  const totalForBar = Number.isFinite(maxSteps) ? maxSteps : Math.round(budgetMs / 1000);
  progress.start(Number.isFinite(maxSteps) ? 'generator steps' : 'generator training (seconds)', totalForBar);
  while (step < maxSteps && Date.now() - started < budgetMs) {
    if (hooks.signal?.aborted) {
      progress.stop();
      await saveCheckpoint();
      await generator.dispose();
      await disc?.dispose();
      throw new RagarError(`interrupted at step ${step}: checkpoint saved in ${dir}; run the same command again to resume`, 'ABORTED');
    }
    const rng = new Rng(o.seed * 1_000_003 + step);
    const conds: GeneratorCondition[] = [];
    const condVectors: Float32Array[] = [];
    const targets: Float32Array[] = [];
    const xts: (Float32Array | null)[] = [];
    const times: number[] = [];
    const vs: Float32Array[] = [];
    const targetClass: number[] = [];
    for (let b = 0; b < B; b++) {
      const c = concepts[rng.int(concepts.length)];
      const r = data.renditions.get(c)!;
      const styles = [...r.keys()];
      const st = styles[rng.int(styles.length)];
      let sr = styles[rng.int(styles.length)];
      for (let tries = 0; tries < 10 && sr === st; tries++) sr = styles[rng.int(styles.length)];
      const target = data.pixels.get(r.get(st)!)!;
      const group = groupOf.get(c)!;
      const pref = syntheticPreference(data, c, group, st, rng, o.historyK, o.purity);
      const u = rng.next();
      const style = u < o.conditionDropout ? null : u < o.conditionDropout + o.oneHotShare ? generator.conditionOfStyle(st) : generator.condition(pref.history.map((h) => ({ weight: 1, styleVector: data.styleOf(h) })));
      const reference = data.pixels.get(r.get(sr)!)!;
      conds.push({ reference, style });
      const cv = new Float32Array(condLength);
      if (style) {
        cv.set(style);
        cv[classes.length] = 1;
      }
      condVectors.push(cv);
      targets.push(target);
      targetClass.push(classes.indexOf(st));
      vs.push(pref.v);
      if (o.objective === 'diffusion') {
        const t = 0.02 + 0.98 * rng.next();
        const eps = Float32Array.from({ length: 3 * PLANE }, () => rng.normal());
        xts.push(noisy(target, eps, t, new Float32Array(3 * PLANE)));
        times.push(t);
      } else {
        xts.push(null);
        times.push(0);
      }
    }
    const pred = await generator.predict(xts, conds, times);
    const n = 3 * PLANE;
    const dY = new Float32Array(B * n);
    let l1 = 0;
    for (let b = 0; b < B; b++) {
      const p = pred[b];
      const t = targets[b];
      for (let i = 0; i < n; i++) {
        const diff = p[i] - t[i];
        l1 += Math.abs(diff);
        dY[b * n + i] = (diff > 0 ? 1 : diff < 0 ? -1 : 0) / (n * B);
      }
    }
    l1 /= n * B;
    let gradTerm = 0;
    if (o.gradientLoss > 0) {
      for (let b = 0; b < B; b++) gradTerm += addGradientL1(pred[b], targets[b], 3, PIXEL_SIZE, dY, b * n, o.gradientLoss, B) / B;
    }
    let refGradTerm = 0;
    if (o.referenceGradientLoss > 0) {
      for (let b = 0; b < B; b++) refGradTerm += addGradientL1(pred[b], conds[b].reference, 3, PIXEL_SIZE, dY, b * n, o.referenceGradientLoss, B) / B;
    }
    let edgeTerm = 0;
    if (o.edgeKeepLoss > 0) {
      for (let b = 0; b < B; b++) edgeTerm += addEdgeKeepL1(pred[b], conds[b].reference, PIXEL_SIZE, dY, b * n, o.edgeKeepLoss, B, EDGE_THRESHOLD) / B;
    }
    let speckleTerm = 0;
    if (o.speckleLoss > 0) {
      for (let b = 0; b < B; b++) speckleTerm += addSpeckleL1(pred[b], conds[b].reference, targets[b], 3, PIXEL_SIZE, dY, b * n, o.speckleLoss, B, SPECKLE_THRESHOLD) / B;
    }
    let dLoss: number | null = null;
    let gAdv: number | null = null;
    let dStyle: number | null = null;
    let gStyle: number | null = null;
    let dFakeCe: number | null = null;
    if (disc && adamD) {
      // discriminator step on [generated; real]: hinge loss on the patch logits, plus (auxiliary
      // classifier) the cross-entropy of the style named for the real targets
      const refs = conds.map((c) => c.reference);
      discriminatorInput([...pred, ...targets], [...refs, ...refs], [...condVectors, ...condVectors], condLength, dReal);
      const raw = await disc.forward(dReal, 2 * B);
      const patches = raw.length / (2 * B * heads.outputs);
      const per = 1 / (B * patches);
      const dRaw = new Float32Array(raw.length);
      dLoss = 0;
      for (let s2 = 0; s2 < 2 * B; s2++) {
        const fake = s2 < B;
        const cv = condVectors[s2 % B];
        for (let q = 0; q < patches; q++) {
          const logit = heads.patchLogit(raw, s2, q, patches, cv);
          const margin = fake ? 1 + logit : 1 - logit;
          if (margin > 0) {
            dLoss += margin * per;
            heads.spreadPatchGrad(dRaw, s2, q, patches, cv, fake ? per : -per);
          }
        }
      }
      if (o.styleClassifier > 0) {
        dStyle = 0;
        for (let b = 0; b < B; b++) dStyle += heads.styleCrossEntropy(raw, B + b, patches, targetClass[b], dRaw, 1 / B) / B;
        if (heads.fakeClass) {
          dFakeCe = 0;
          for (let b = 0; b < B; b++) dFakeCe += heads.styleCrossEntropy(raw, b, patches, heads.fakeIndex, dRaw, 1 / B) / B;
        }
      }
      adamD.step(disc.params, await disc.backward(dRaw));
      // generator's adversarial gradient through the updated discriminator: −mean D(fake), plus the
      // auxiliary classifier's cross-entropy of the target style for conditioned outputs
      discriminatorInput(pred, refs, condVectors, condLength, dFake);
      const fl = await disc.forward(dFake, B);
      const dFl = new Float32Array(fl.length);
      gAdv = 0;
      for (let b = 0; b < B; b++) {
        for (let q = 0; q < patches; q++) {
          gAdv -= heads.patchLogit(fl, b, q, patches, condVectors[b]) * per;
          heads.spreadPatchGrad(dFl, b, q, patches, condVectors[b], -per);
        }
      }
      if (o.styleClassifier > 0) {
        gStyle = 0;
        const conditioned = conds.filter((c) => c.style).length;
        for (let b = 0; b < B; b++) {
          if (!conds[b].style) continue;
          // scaled so that the term's weight relative to the adversarial term is styleClassifier / adversarial
          gStyle += heads.styleCrossEntropy(fl, b, patches, targetClass[b], dFl, o.styleClassifier / o.adversarial / B) / conditioned;
        }
      }
      const { dx } = await disc.backwardWithInput(dFl);
      for (let b = 0; b < B; b++) {
        const o2 = b * dPlanes * PLANE;
        for (let i = 0; i < n; i++) dY[b * n + i] += o.adversarial * dx[o2 + i];
      }
    }
    let rankTerm: number | null = null;
    if (tower && o.lambda > 0 && rankScale) {
      rankTerm = 0;
      for (let b = 0; b < B; b++) {
        const p0 = pred[b];
        const px = toPixels(p0);
        const { score, grad } = tower.scoreAndGrad(px, vs[b]);
        rankTerm += score / rankScale / B;
        // L_rank = −λ·s/σ per sample, averaged over the batch; pixels p = (x + 1)/2 (clamp ignored).
        // The clamp to [0, 1] passes no gradient where the prediction is outside [−1, 1].
        const coef = (-o.lambda / rankScale / B) * 0.5;
        for (let pIdx = 0; pIdx < PLANE; pIdx++) {
          for (let c = 0; c < 3; c++) {
            const j = c * PLANE + pIdx;
            if (p0[j] > -1 && p0[j] < 1) dY[b * n + j] += coef * grad[pIdx * 3 + c];
          }
        }
      }
    }
    const grads = await generator.backward(dY, B);
    adam.step(generator.net.params, grads);
    if (ema) {
      const p = generator.net.params;
      const d = o.ema;
      for (let i = 0; i < p.length; i++) ema[i] = d * ema[i] + (1 - d) * p[i];
    }
    step++;
    win.l1 += l1;
    win.grad += gradTerm;
    win.refGrad += refGradTerm;
    win.edge += edgeTerm;
    win.speckle += speckleTerm;
    win.rank += rankTerm ?? 0;
    win.d += dLoss ?? 0;
    win.g += gAdv ?? 0;
    win.ds += dStyle ?? 0;
    win.gs += gStyle ?? 0;
    win.df += dFakeCe ?? 0;
    win.n++;
    if (!Number.isFinite(l1) || l1 > 50) {
      progress.stop();
      await generator.dispose();
      await disc?.dispose();
      throw new RagarError(`generator training diverged at step ${step} (L1 ${l1}); lower --lr (now ${o.learningRate})${o.lambda > 0 ? ' or --lambda' : ''}`, 'DIVERGED');
    }
    if (step % 50 === 0) {
      lossCurve.push({
        step,
        l1: win.l1 / win.n,
        ...(o.gradientLoss > 0 ? { grad: win.grad / win.n } : {}),
        ...(o.referenceGradientLoss > 0 ? { refGrad: win.refGrad / win.n } : {}),
        ...(o.edgeKeepLoss > 0 ? { edge: win.edge / win.n } : {}),
        ...(o.speckleLoss > 0 ? { speckle: win.speckle / win.n } : {}),
        rank: rankTerm === null ? null : win.rank / win.n,
        dLoss: dLoss === null ? null : win.d / win.n,
        gAdv: gAdv === null ? null : win.g / win.n,
        ...(o.styleClassifier > 0 && dStyle !== null ? { dStyle: win.ds / win.n, gStyle: win.gs / win.n } : {}),
        ...(dFakeCe !== null ? { dFake: win.df / win.n } : {}),
      });
      win.l1 = win.grad = win.refGrad = win.edge = win.speckle = win.rank = win.d = win.g = win.ds = win.gs = win.df = win.n = 0;
    }
    if (step % o.checkpointEvery === 0) await saveCheckpoint();
    progress.update(Number.isFinite(maxSteps) ? step - resumedFrom : Math.min(totalForBar, Math.round((Date.now() - started) / 1000)));
  }
  progress.stop();
  await saveCheckpoint();
  if (ema) {
    // the final weights are the average; the raw ones stay beside them for a resume
    saveFloats(rawFile, [generator.net.params]);
    generator.net.params.set(ema);
  }
  const seconds = elapsedBefore + (Date.now() - started) / 1000;
  const responseConcepts = concepts
    .filter((c) => data.renditions.get(c)!.size === data.styles.length)
    .slice(0, 24)
    .map((c) => {
      const r = data.renditions.get(c)!;
      const renditions = data.styles.map((s) => data.pixels.get(r.get(s)!)!);
      return { reference: renditions[0], renditions };
    });
  const conditionResponse = await measureConditionResponse(generator, responseConcepts);
  note(`condition response: outputs for different styles differ by ${conditionResponse.outputSpread.toFixed(4)} per pixel, real renditions by ${conditionResponse.realSpread.toFixed(4)}`);
  const record: GeneratorTrainingRecord = {
    dataset: data.view.dataset.name,
    datasetDigest: hooks.datasetDigest ?? null,
    data: 'train concepts only (valid/test concepts never seen); reference and target: two renditions of one concept; condition: the style mixture of a synthetic attended history of same-group train concepts, the target style (one-hot) or none',
    options: o,
    steps: step,
    samples: step * B,
    seconds,
    msPerSample: (seconds * 1000) / Math.max(1, step * B),
    parameters: generator.net.paramCount,
    discriminatorParameters: disc?.paramCount ?? null,
    macsPerSample: generator.net.macsPerSample + (disc ? 3 * disc.macsPerSample : 0),
    lossCurve,
    rankScale,
    rankerSha256: hooks.rankerSha256 ?? null,
    resumedFrom,
    startedAt,
    finishedAt: new Date().toISOString(),
    conditionResponse,
    ...(initFrom ? { initFrom } : {}),
  };
  await generator.save(dir, { training: record });
  await generator.dispose();
  await disc?.dispose();
  return record;
}
