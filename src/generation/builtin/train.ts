import fs from 'node:fs';
import path from 'node:path';
import type { ImageTower } from '../../ranking/tower.js';
import { Adam } from '../../util/adam.js';
import { RagarError } from '../../util/errors.js';
import { silentProgress, type Progress } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { fitStyleConditioner } from './conditioning.js';
import { PLANE, syntheticPreference, toPixels, type GeneratorData } from './data.js';
import { BuiltinGenerator, type GeneratorCondition, type GeneratorObjective } from './model.js';
import { noisy } from './schedule.js';

/** Options of {@link trainGenerator} (CLI flags of `ragar train generator`). */
export interface GeneratorTrainOptions {
  objective: GeneratorObjective;
  /** Weight λ of the rank loss `L_rank = −s(x̂₀)·v / σ` (0 = no ranker in training). */
  lambda: number;
  /** Wall-clock budget in minutes (training stops at the first of budget and steps). */
  minutes: number;
  /** Most optimiser steps (0 = no limit: the time budget decides). */
  steps: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** U-Net base width and levels. */
  base: number;
  levels: number;
  /** Space-to-depth factor of the U-Net (2: runs at 32×32, see `GeneratorConfig.shuffle`). */
  shuffle: 1 | 2;
  /** Attended history items per synthetic training preference, and their share in the target style. */
  historyK: number;
  purity: number;
  /** DDIM steps recorded as the sampling default. */
  samplingSteps: number;
  /** Save a checkpoint every this many steps (and at the end). */
  checkpointEvery: number;
}

/** Documented defaults (README, `--help`). */
export const DEFAULT_GENERATOR_TRAIN: GeneratorTrainOptions = {
  objective: 'diffusion',
  lambda: 0.01,
  minutes: 30,
  steps: 0,
  batchSize: 8,
  learningRate: 3e-4,
  seed: 1,
  base: 32,
  levels: 3,
  shuffle: 2,
  historyK: 5,
  purity: 0.85,
  samplingSteps: 8,
  checkpointEvery: 100,
};

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
  macsPerSample: number;
  /** Mean L1 (model space) per 50 steps, and the mean rank score term. */
  lossCurve: { step: number; l1: number; rank: number | null }[];
  /** Standard deviation of tower scores used to scale the rank loss. */
  rankScale: number | null;
  /** SHA-256 of the ranker whose distilled tower gave the rank loss (null for λ = 0). */
  rankerSha256: string | null;
  resumedFrom: number;
  startedAt: string;
  finishedAt: string;
}

const STATE_FILE = 'train-state.json';

/**
 * Train the built-in generator on the train concepts of an emoji-styles-like dataset with
 * `L = L_gen + λ·L_rank` (DESIGN §2 step 4): `L_gen` is the L1 distance of the predicted clean
 * image to the target rendition (for diffusion, at a random noise level), `L_rank` is minus the
 * distilled tower's score of the prediction for the synthetic user's ranker direction,
 * normalised by the scores' standard deviation; its pixel gradient comes from
 * {@link ImageTower.scoreAndGrad}. Each example: a train concept, a reference rendition, a target
 * rendition in another style, and a synthetic attended history that prefers the target's style.
 * Checkpoints (weights, optimiser, step) go to `dir` every `checkpointEvery` steps; an existing
 * checkpoint there with the same options is resumed.
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
  if (!(o.batchSize >= 1 && Number.isInteger(o.batchSize))) throw new RagarError(`batch size must be a positive integer, got ${o.batchSize}`, 'BAD_INPUT');
  if (!(o.minutes > 0) && !(o.steps > 0)) throw new RagarError('give a time budget (minutes) or a number of steps', 'BAD_INPUT');
  const progress = hooks.progress ?? silentProgress;
  const note = hooks.note ?? (() => {});
  const train = data.items.filter((it) => it.split === 'train' && data.pixels.has(it.index));
  const groupOf = new Map(train.map((it) => [it.concept, it.group]));
  const concepts = [...new Set(train.map((it) => it.concept))].filter((c) => (data.renditions.get(c)?.size ?? 0) >= 2);
  if (!concepts.length) throw new RagarError('no train concept has two renditions: nothing to learn a restyling from', 'BAD_INPUT');

  fs.mkdirSync(dir, { recursive: true });
  const optionsKey = JSON.stringify(o, Object.keys(o).filter((k) => !['minutes', 'steps', 'checkpointEvery'].includes(k)).sort());
  const stateFile = path.join(dir, STATE_FILE);
  let generator: BuiltinGenerator;
  let step = 0;
  let resumedFrom = 0;
  let elapsedBefore = 0;
  const lossCurve: GeneratorTrainingRecord['lossCurve'] = [];
  const opt = { current: null as Adam | null };
  if (fs.existsSync(stateFile)) {
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { optionsKey: string; step: number; seconds: number; lossCurve: GeneratorTrainingRecord['lossCurve'] };
    if (state.optionsKey !== optionsKey) throw new RagarError(`${dir} holds a checkpoint trained with other options; pass another --out or delete it`, 'CONFLICT');
    generator = (await BuiltinGenerator.load(dir)).generator;
    const adam = new Adam(generator.net.paramCount, o.learningRate);
    const buf = fs.readFileSync(path.join(dir, 'optimizer.bin'));
    const f = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const n = generator.net.paramCount;
    adam.restore({ t: state.step, m: f.subarray(0, n), v: f.subarray(n, 2 * n) });
    opt.current = adam;
    step = resumedFrom = state.step;
    elapsedBefore = state.seconds;
    lossCurve.push(...state.lossCurve);
    note(`resuming from step ${step} (${elapsedBefore.toFixed(0)} s already trained)`);
  } else {
    const conditioner = fitStyleConditioner(train.map((it) => data.styleOf(it.index)), train.map((it) => it.style), o.seed);
    generator = BuiltinGenerator.create({
      objective: o.objective,
      conditioner,
      steps: o.samplingSteps,
      shuffle: o.shuffle,
      unet: { base: o.base, levels: o.levels, seed: o.seed },
    });
  }
  const adam = opt.current ?? new Adam(generator.net.paramCount, o.learningRate);
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
  let windowL1 = 0;
  let windowRank = 0;
  let windowN = 0;
  const saveCheckpoint = async () => {
    const seconds = elapsedBefore + (Date.now() - started) / 1000;
    await generator.save(dir, { training: null });
    const st = adam.state();
    const tmp = path.join(dir, `optimizer.bin.${process.pid}.tmp`);
    const both = new Float32Array(st.m.length * 2);
    both.set(st.m, 0);
    both.set(st.v, st.m.length);
    fs.writeFileSync(tmp, Buffer.from(both.buffer));
    fs.renameSync(tmp, path.join(dir, 'optimizer.bin'));
    fs.writeFileSync(stateFile, `${JSON.stringify({ optionsKey, step, seconds, lossCurve })}\n`);
  };
  const totalForBar = Number.isFinite(maxSteps) ? maxSteps : Math.round(budgetMs / 1000);
  progress.start(Number.isFinite(maxSteps) ? 'generator steps' : 'generator training (seconds)', totalForBar);
  while (step < maxSteps && Date.now() - started < budgetMs) {
    if (hooks.signal?.aborted) {
      progress.stop();
      await saveCheckpoint();
      await generator.dispose();
      throw new RagarError(`interrupted at step ${step}: checkpoint saved in ${dir}; run the same command again to resume`, 'INTERRUPTED');
    }
    const rng = new Rng(o.seed * 1_000_003 + step);
    const conds: GeneratorCondition[] = [];
    const targets: Float32Array[] = [];
    const xts: (Float32Array | null)[] = [];
    const times: number[] = [];
    const vs: Float32Array[] = [];
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
      conds.push({ reference: data.pixels.get(r.get(sr)!)!, style: generator.condition(pref.history.map((h) => ({ weight: 1, styleVector: data.styleOf(h) }))) });
      targets.push(target);
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
    const dY = new Float32Array(B * 3 * PLANE);
    const n = 3 * PLANE;
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
    step++;
    windowL1 += l1;
    windowRank += rankTerm ?? 0;
    windowN++;
    if (!Number.isFinite(l1) || l1 > 50) {
      progress.stop();
      await generator.dispose();
      throw new RagarError(`generator training diverged at step ${step} (L1 ${l1}); lower --lr (now ${o.learningRate})${o.lambda > 0 ? ' or --lambda' : ''}`, 'DIVERGED');
    }
    if (step % 50 === 0) {
      lossCurve.push({ step, l1: windowL1 / windowN, rank: rankTerm === null ? null : windowRank / windowN });
      windowL1 = windowRank = windowN = 0;
    }
    if (step % o.checkpointEvery === 0) await saveCheckpoint();
    progress.update(Number.isFinite(maxSteps) ? step - resumedFrom : Math.min(totalForBar, Math.round((Date.now() - started) / 1000)));
  }
  progress.stop();
  await saveCheckpoint();
  const seconds = elapsedBefore + (Date.now() - started) / 1000;
  const record: GeneratorTrainingRecord = {
    dataset: data.view.dataset.name,
    datasetDigest: hooks.datasetDigest ?? null,
    data: 'train concepts only (valid/test concepts never seen); reference and target: two renditions of one concept; preference: a synthetic attended history of same-group train concepts',
    options: o,
    steps: step,
    samples: step * B,
    seconds,
    msPerSample: (seconds * 1000) / Math.max(1, step * B),
    parameters: generator.net.paramCount,
    macsPerSample: generator.net.macsPerSample,
    lossCurve,
    rankScale,
    rankerSha256: hooks.rankerSha256 ?? null,
    resumedFrom,
    startedAt,
    finishedAt: new Date().toISOString(),
  };
  await generator.save(dir, { training: record });
  await generator.dispose();
  return record;
}
