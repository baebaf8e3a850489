/**
 * The evaluation harness behind `ragar eval` (DESIGN §4): runs every compared method on the
 * tasks of a split, scores each output per task (`taskMetrics.ts`), computes set-level Fréchet
 * distances, paired bootstrap intervals of full RAGAR against each other method, one-parameter
 * ablations of the retrieval settings and of the generator's rank-loss weight λ, and assembles the
 * `EvalReport` that `writeReport` renders (tables, ablation charts, image grid, notes).
 *
 * Methods (their names are the keys of `metrics.json`):
 * - `copy`: the reference itself; `target`: the held-out ground truth (upper bound);
 * - `non-personalised`: the λ = 0 generator conditioned on an even mix of styles;
 * - `pooling`: the λ = 0 generator on the whole history with equal weights (PMG/Pigeon);
 * - `retrieval`: the λ = 0 generator on the retrieval-weighted history;
 * - `ragar`: the λ > 0 generator on the retrieval-weighted history, best of M candidates by the
 *   ranker + semantic rank sum (full RAGAR);
 * - `l1` (optional): the same network trained as a plain L1 translator.
 *
 * Resumable: every (configuration, task) result is cached under `<report>/.cache/runs/<key>/`
 * (`evalCache.ts`), where the key hashes the configuration's settings, the generator weights'
 * checksum, the dataset fingerprint and the seed; a rerun skips finished tasks, a changed setting
 * gets a new key, and scores computed with other instruments are recomputed from the cached
 * output without generating again. An ablation setting equal to the default is the main `ragar`
 * configuration and so reuses its results.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { TaskRecord } from '../data/access.js';
import type { ImageEncoder } from '../encoders/types.js';
import { personalizeItem, type PersonalizationSetup } from '../pipeline/personalize.js';
import type { GeneratorEngine } from '../generation/types.js';
import { validateRetrievalParams, type RetrievalParams } from '../retrieval/weights.js';
import { RagarError } from '../util/errors.js';
import { silentProgress, type Progress } from '../util/progress.js';
import { pairedBootstrap } from './bootstrap.js';
import { RunCache, safeName, type CachedResult } from './evalCache.js';
import type { AblationResult, EvalReport, IntervalResult, MethodResult, MetricSpec, TaskRow } from './report/types.js';
import {
  clipOutputVector,
  clipTargetVectors,
  prepareEvalTasks,
  scoreTaskOutput,
  setFrechet,
  SET_LEVEL_METRICS,
  taskMetricSpecs,
  type EvalTask,
  type OutputToScore,
  type TaskInstruments,
} from './taskMetrics.js';

/** Every method `ragar eval --methods` accepts, in display order. */
export const EVAL_METHOD_NAMES = ['copy', 'non-personalised', 'pooling', 'retrieval', 'ragar', 'lambda0', 'oracle', 'l1', 'target'] as const;
/** A method name (a key of `metrics.json`'s `methods`). */
export type EvalMethodName = (typeof EVAL_METHOD_NAMES)[number];
/** The methods run when `--methods` is not given. */
export const DEFAULT_EVAL_METHODS: readonly EvalMethodName[] = ['copy', 'non-personalised', 'pooling', 'retrieval', 'ragar', 'lambda0', 'oracle', 'target'];
/** Parameters `--ablate` accepts. */
export const ABLATION_PARAMETERS = ['k', 'tau', 'lambda', 'alpha'] as const;
/** An ablated parameter. */
export type AblationParameter = (typeof ABLATION_PARAMETERS)[number];

/** Which trained generator a method runs on. */
export type EngineRole = 'ragar' | 'norank' | 'l1';

/** What each method is (labels and descriptions of the report, the generator it needs). */
export const EVAL_METHODS: Record<EvalMethodName, { label: string; description: string; engine: EngineRole | null }> = {
  copy: { label: 'copy of the reference', description: 'the reference image unchanged: no personalisation (a floor for personalisation, a ceiling for semantics)', engine: null },
  'non-personalised': {
    label: 'non-personalised',
    description: 'the λ = 0 generator conditioned on an even mix of all styles (no history, no ranker), one candidate',
    engine: 'norank',
  },
  pooling: { label: 'equal pooling (PMG/Pigeon)', description: 'the λ = 0 generator conditioned on the whole history with equal weights, one candidate, no ranker', engine: 'norank' },
  retrieval: { label: 'retrieval only', description: 'the λ = 0 generator conditioned on the retrieval-weighted history, one candidate, no ranker', engine: 'norank' },
  ragar: {
    label: 'RAGAR (retrieval + rank)',
    description: 'the λ > 0 generator (rank loss in training) on the retrieval-weighted history; the best of M candidates by ranker + semantic rank sum',
    engine: 'ragar',
  },
  lambda0: {
    label: 'RAGAR with λ = 0',
    description: 'full RAGAR with the λ = 0 generator (no rank loss in training): retrieval-weighted history, the best of M candidates by ranker + semantic rank sum — the rank-task ablation at full size',
    engine: 'norank',
  },
  oracle: {
    label: 'oracle (true target style)',
    description: "the λ > 0 generator conditioned on the task's true target style instead of the preference (what a perfect preference would give); the best of M candidates as in RAGAR",
    engine: 'ragar',
  },
  l1: { label: 'L1 translator', description: 'baseline: the same network trained as a plain L1 translator, retrieval-weighted history, one candidate', engine: 'l1' },
  target: { label: 'ground truth (upper bound)', description: "the held-out rendition of the concept in the user's taste", engine: null },
};

/**
 * The methods on an engine given from outside (`ragar eval --engine comfyui|a1111`): every
 * generating method runs on that one engine; the ground truth, the oracle and the L1 translator
 * need the built-in generators or a held-out target and are not among them.
 */
export const EXTERNAL_ENGINE_METHODS: readonly EvalMethodName[] = ['copy', 'non-personalised', 'pooling', 'retrieval', 'ragar'];

/** Descriptions of the methods on an external image-prompt engine (the report's method table). */
const EXTERNAL_DESCRIPTIONS: Partial<Record<EvalMethodName, string>> = {
  'non-personalised': 'the engine with no image prompts and the reference text as prompt (empty history), one candidate',
  pooling: "the engine with the whole history as image prompts at equal weights (PMG-Bench's IP-Adapter baseline), one candidate, no ranker",
  retrieval: 'the engine with the retrieval weights as image-prompt weights, one candidate, no ranker',
  ragar: 'the engine with the retrieval weights as image-prompt weights; the best of M candidates by ranker + semantic rank sum (full RAGAR)',
};

/** A method's description for the report (the external engine's wording when one is used). */
function describe(m: EvalMethodName, external: boolean, candidates: number): string {
  return ((external && EXTERNAL_DESCRIPTIONS[m]) || EVAL_METHODS[m].description).replace('M candidates', `${candidates} candidates`);
}

/** Metrics compared with paired bootstrap intervals (where available). */
export const INTERVAL_METRICS: readonly string[] = ['style', 'concept', 'targetSsim', 'perceptual', 'cis', 'cs', 'histCis', 'histCs', 'histSsim', 'rankerScore', 'rankerMargin', 'clipCis', 'clipHistCis'];

/** Bumped when cached generation results change meaning. */
export const EVAL_CACHE_VERSION = 1;

/** A loaded generator with what identifies its weights. */
export interface EvalEngine {
  engine: GeneratorEngine;
  /** SHA-256 of the weight files (part of the cache key). */
  checksum: string;
  /** Folder the weights were read from. */
  dir: string;
  /** The rank-loss weight λ it was trained with (NaN for an external engine). */
  lambda: number;
  /** True for an engine given from outside (a remote engine): it runs every generating method. */
  external?: boolean;
}

/** The generators an evaluation may use: by role, plus extra λ models for the λ ablation. */
export interface EvalEngines {
  ragar?: EvalEngine;
  norank?: EvalEngine;
  l1?: EvalEngine;
  /** Further generators (`--lambda-models`) for the λ ablation. */
  lambdaModels?: EvalEngine[];
}

/** Options of {@link runEvaluation}. */
export interface EvaluationOptions {
  split: string;
  /** Most tasks (0 = all tasks of the split with a target). */
  tasks: number;
  seed: number;
  methods: readonly EvalMethodName[];
  /** Candidates of the `ragar` method (and of the ablations). */
  candidates: number;
  ablate: readonly AblationParameter[];
  /** Tasks of each ablation setting (the first N evaluated tasks). */
  ablationTasks: number;
  /** Tasks shown in the image grid. */
  gridTasks: number;
  /** Bootstrap resamples. */
  resamples: number;
  /** Options of the built-in engine passed to every generation (`steps`, `strength`, …). */
  engineOptions?: Record<string, unknown>;
  /** The standard img2img strength of every generation (external engines); undefined = the engine's. */
  strength?: number;
  /** Root of the result cache (`<report>/.cache/runs`). */
  cacheDir: string;
  /** The command line, for the report. */
  command: string;
  /** Where the retrieval settings came from, for the notes. */
  retrievalSource?: string;
  /** Identity of the ranker weights (part of the cache key of ranker-selected runs). */
  rankerKey: string;
  progress?: Progress;
  signal?: AbortSignal;
  note?: (line: string) => void;
}

/** One concrete generation configuration (a method, or an ablation setting of `ragar`). */
interface RunConfig {
  /** Display name, e.g. `ragar` or `ragar k=3`. */
  name: string;
  kind: 'copy' | 'target' | 'generate';
  engine?: EvalEngine;
  weighting: 'retrieval' | 'uniform';
  unpersonalized: boolean;
  /** Condition on the task's true target style (the oracle run). */
  oracle: boolean;
  rankerSelection: boolean;
  candidates: number;
  retrieval: RetrievalParams;
}

/** Per-(configuration, task) results of a run, by task external id. */
type Results = Map<string, CachedResult>;

/** What {@link runEvaluation} returns. */
export interface EvaluationRun {
  report: EvalReport;
  /** Image bytes of the report, keyed by their report-relative path. */
  images: Map<string, Uint8Array>;
  /** Per-task scores of the main methods, for `per-task.csv`. */
  perTask: { method: string; task: string; user: string; scores: Record<string, number> }[];
  /** How many results were generated, rescored or taken from the cache. */
  counts: { generated: number; rescored: number; cached: number; copied: number };
}

const tauText = (tau: number) => (Number.isFinite(tau) ? String(tau) : '∞');
const kText = (k: number | null) => (k === null ? 'all' : String(k));

function jsonParams(p: RetrievalParams): Record<string, unknown> {
  return { alpha: p.alpha, k: p.k, tau: Number.isFinite(p.tau) ? p.tau : 'inf' };
}

function mean(xs: readonly number[]): number {
  const f = xs.filter((x) => Number.isFinite(x));
  return f.length ? f.reduce((a, b) => a + b, 0) / f.length : NaN;
}

/** Style accuracy per target style: style → mean of the per-task style hits of that style's tasks. */
function styleByTarget(results: Results, list: readonly EvalTask[]): Record<string, number> {
  const by = new Map<string, number[]>();
  for (const t of list) {
    const s = t.target?.style;
    const hit = results.get(t.task.externalId)?.metrics.style;
    if (!s || hit === undefined) continue;
    const xs = by.get(s) ?? [];
    xs.push(hit);
    by.set(s, xs);
  }
  return Object.fromEntries([...by].sort(([a], [b]) => a.localeCompare(b)).map(([s, xs]) => [s, mean(xs)]));
}

/** The engine a role needs, or a clear error. */
function needEngine(engines: EvalEngines, role: EngineRole, why: string): EvalEngine {
  const e = engines[role];
  if (!e) throw new RagarError(`${why} needs the ${role === 'norank' ? 'ragar-norank' : role} generator, which was not loaded`, 'BAD_INPUT');
  return e;
}

/** The run configuration of a main method. */
function methodConfig(name: EvalMethodName, engines: EvalEngines, setup: PersonalizationSetup, candidates: number): RunConfig {
  const base = { name, weighting: 'retrieval' as const, unpersonalized: false, oracle: false, rankerSelection: false, candidates: 1, retrieval: setup.retrieval };
  switch (name) {
    case 'copy':
      return { ...base, kind: 'copy' };
    case 'target':
      return { ...base, kind: 'target' };
    case 'non-personalised':
      return { ...base, kind: 'generate', engine: needEngine(engines, 'norank', name), unpersonalized: true };
    case 'pooling':
      return { ...base, kind: 'generate', engine: needEngine(engines, 'norank', name), weighting: 'uniform' };
    case 'retrieval':
      return { ...base, kind: 'generate', engine: needEngine(engines, 'norank', name) };
    case 'ragar':
      return { ...base, kind: 'generate', engine: needEngine(engines, 'ragar', name), rankerSelection: true, candidates };
    case 'lambda0':
      return { ...base, kind: 'generate', engine: needEngine(engines, 'norank', name), rankerSelection: true, candidates };
    case 'oracle':
      return { ...base, kind: 'generate', engine: needEngine(engines, 'ragar', name), oracle: true, rankerSelection: true, candidates };
    case 'l1':
      return { ...base, kind: 'generate', engine: needEngine(engines, 'l1', name) };
  }
}

/** Sorted unique numbers with `extra` added (null sorts last). */
function grid<T extends number | null>(values: readonly T[], extra: T): T[] {
  const all = [...values];
  if (!all.some((v) => v === extra)) all.push(extra);
  return all.sort((a, b) => (a === null ? 1 : b === null ? -1 : (a as number) - (b as number)));
}

/** The settings of one ablation: `ragar` with one parameter changed (the default marked). */
function ablationSettings(parameter: AblationParameter, base: RunConfig, engines: EvalEngines): { value: string; isDefault: boolean; config: RunConfig }[] {
  const p = base.retrieval;
  const withParams = (q: RetrievalParams, value: string) => {
    validateRetrievalParams(q);
    return { ...base, name: `ragar ${parameter}=${value}`, retrieval: q };
  };
  switch (parameter) {
    case 'k':
      return grid<number | null>([1, 3, 5, 10, null], p.k).map((k) => ({ value: kText(k), isDefault: k === p.k, config: withParams({ ...p, k }, kText(k)) }));
    case 'tau':
      return grid([0.01, 0.03, 0.1, Infinity], p.tau).map((tau) => ({ value: tauText(tau), isDefault: tau === p.tau, config: withParams({ ...p, tau }, tauText(tau)) }));
    case 'alpha':
      return grid([0, 0.5, 1], p.alpha).map((alpha) => ({ value: String(alpha), isDefault: alpha === p.alpha, config: withParams({ ...p, alpha }, String(alpha)) }));
    case 'lambda': {
      const list = [engines.norank, engines.ragar, ...(engines.lambdaModels ?? [])].filter((e): e is EvalEngine => e !== undefined);
      const seen = new Map<string, number>();
      const out: { value: string; isDefault: boolean; config: RunConfig }[] = [];
      for (const e of list.sort((a, b) => a.lambda - b.lambda)) {
        if (out.some((s) => s.config.engine!.checksum === e.checksum)) continue;
        let value = String(e.lambda);
        const n = seen.get(value) ?? 0;
        seen.set(value, n + 1);
        if (n > 0) value = `${value} (${path.basename(e.dir)})`;
        out.push({ value, isDefault: e === base.engine, config: { ...base, name: `ragar lambda=${value}`, engine: e } });
      }
      return out;
    }
  }
}

/**
 * Run the evaluation: every method of `options.methods` on the split's tasks, the ablations on
 * the first `ablationTasks` tasks, the intervals, and the report with its image grid. Finished
 * results are cached (see the module comment); `options.signal` stops between tasks (and inside
 * an engine call) leaving the cache consistent, with a `RagarError` (`ABORTED`).
 *
 * @throws RagarError for an unknown method or parameter, a missing generator, a split without
 * tasks, or when aborted.
 * @example
 * const run = await runEvaluation(setup, instruments, engines, { image, style }, { split: 'test', tasks: 0, … });
 * await writeReport('out', run.report, run.images);
 */
export async function runEvaluation(
  setup: PersonalizationSetup,
  instruments: TaskInstruments,
  engines: EvalEngines,
  encoders: { image: ImageEncoder; style: ImageEncoder },
  options: EvaluationOptions,
): Promise<EvaluationRun> {
  const started = performance.now();
  const { rc } = setup;
  const view = rc.view;
  const progress = options.progress ?? silentProgress;
  const note = options.note ?? (() => {});
  for (const m of options.methods) if (!(EVAL_METHOD_NAMES as readonly string[]).includes(m)) throw new RagarError(`unknown method ${JSON.stringify(m)} (known: ${EVAL_METHOD_NAMES.join(', ')})`, 'BAD_INPUT');
  for (const a of options.ablate) if (!(ABLATION_PARAMETERS as readonly string[]).includes(a)) throw new RagarError(`unknown ablation ${JSON.stringify(a)} (known: ${ABLATION_PARAMETERS.join(', ')})`, 'BAD_INPUT');
  if (!(Number.isInteger(options.candidates) && options.candidates >= 1)) throw new RagarError(`candidates must be a positive integer, got ${options.candidates}`, 'BAD_INPUT');

  // A reference-only benchmark (no ground-truth gallery) evaluates every task of the split.
  const groundTruth = instruments.gallery !== null;
  let records: TaskRecord[] = view.tasks(options.split).filter((t) => !groundTruth || t.targetItemId !== null);
  if (!records.length) throw new RagarError(`no ${options.split} tasks${groundTruth ? ' with a target' : ''} in ${view.dataset.name}`, 'BAD_INPUT');
  const external = Object.values(engines).some((e) => !Array.isArray(e) && e?.external);
  if (!groundTruth) {
    for (const m of options.methods) if (!EXTERNAL_ENGINE_METHODS.includes(m)) throw new RagarError(`method ${m} needs a benchmark with ground truth (a held-out target, styles): ${view.dataset.name} has references only; methods here: ${EXTERNAL_ENGINE_METHODS.join(', ')}`, 'BAD_INPUT');
  }
  if (options.tasks > 0) records = records.slice(0, options.tasks);
  const tasks = prepareEvalTasks(instruments, records);
  const ablationTasks = tasks.slice(0, Math.max(0, Math.min(options.ablationTasks, tasks.length)));

  const methods = EVAL_METHOD_NAMES.filter((m) => options.methods.includes(m));
  const mainConfigs = methods.map((m) => methodConfig(m, engines, setup, options.candidates));
  const ablations: { parameter: AblationParameter; settings: { value: string; isDefault: boolean; config: RunConfig }[] }[] = [];
  if (ablationTasks.length > 0 && options.ablate.length > 0) {
    const ragarBase = methodConfig('ragar', engines, setup, options.candidates);
    for (const parameter of options.ablate) ablations.push({ parameter, settings: ablationSettings(parameter, ragarBase, engines) });
  }

  const engineOptions = options.engineOptions ?? {};
  const configKey = (c: RunConfig): string => {
    const personal = !c.unpersonalized;
    return createHash('sha256')
      .update(
        JSON.stringify({
          v: EVAL_CACHE_VERSION,
          fingerprint: rc.fingerprint,
          imageModel: rc.vectors.imageModel,
          styleModel: rc.style?.model ?? null,
          seed: options.seed,
          engine: c.engine!.checksum,
          weighting: personal ? c.weighting : 'none',
          unpersonalized: c.unpersonalized,
          ...(c.oracle ? { oracle: true } : {}),
          retrieval: personal && c.weighting === 'retrieval' ? jsonParams(c.retrieval) : null,
          rankerSelection: c.rankerSelection,
          ranker: c.rankerSelection ? options.rankerKey : null,
          candidates: c.candidates,
          engineOptions,
          strength: options.strength ?? null,
        }),
      )
      .digest('hex')
      .slice(0, 20);
  };

  const total = mainConfigs.length * tasks.length + ablations.reduce((s, a) => s + a.settings.length, 0) * ablationTasks.length;
  const counts = { generated: 0, rescored: 0, cached: 0, copied: 0 };
  const memo = new Map<string, { results: Results; cache: RunCache | null }>();
  const seconds = new Map<string, number[]>();
  let done = 0;
  progress.start('evaluating', total);

  const score = async (t: EvalTask, out: OutputToScore): Promise<{ metrics: Record<string, number>; clipImage: Float32Array | null }> => {
    const clipImage = await clipOutputVector(instruments, out);
    return { metrics: await scoreTaskOutput(instruments, t, { ...out, clipImage }), clipImage };
  };

  const checkAbort = () => {
    if (options.signal?.aborted) {
      throw new RagarError(`interrupted after ${done} of ${total} (method, task) results; finished results are cached in ${options.cacheDir}: run the same command again to resume`, 'ABORTED');
    }
  };

  const run = async (config: RunConfig, list: readonly EvalTask[]): Promise<{ results: Results; cache: RunCache | null }> => {
    const key = config.kind === 'generate' ? configKey(config) : config.kind;
    let entry = memo.get(key);
    if (!entry) {
      const cache =
        config.kind === 'generate'
          ? RunCache.open(options.cacheDir, key, {
              method: config.name,
              generator: { dir: config.engine!.dir, sha256: config.engine!.checksum, lambda: config.engine!.lambda },
              weighting: config.unpersonalized ? 'unpersonalized' : config.weighting,
              ...(config.oracle ? { oracle: true } : {}),
              retrieval: jsonParams(config.retrieval),
              rankerSelection: config.rankerSelection,
              candidates: config.candidates,
              engineOptions,
              seed: options.seed,
              dataset: view.dataset.name,
            })
          : null;
      entry = { results: new Map(), cache };
      memo.set(key, entry);
    }
    const { results, cache } = entry;
    for (const t of list) {
      const id = t.task.externalId;
      if (results.has(id)) {
        progress.update(++done);
        continue;
      }
      checkAbort();
      if (config.kind !== 'generate') {
        const item = config.kind === 'copy' ? t.reference : t.target;
        if (!item) throw new RagarError(`task ${id} has no target to show`, 'BAD_INPUT');
        const png = view.store.images.read(item.imageHash!);
        const image = rc.vectors.image.get(item.id)!;
        const style = rc.style?.vectors.get(item.id) ?? null;
        const s = await score(t, { png, image, style });
        results.set(id, { task: id, metricsKey: instruments.key, metrics: s.metrics, image, style, clipImage: s.clipImage, seconds: 0 });
        counts.copied++;
        progress.update(++done);
        continue;
      }
      const hit = cache!.get(id);
      if (hit && hit.metricsKey === instruments.key) {
        results.set(id, hit);
        counts.cached++;
      } else if (hit) {
        const png = cache!.readImage(id);
        const s = await score(t, { png, image: hit.image, style: hit.style, clipImage: hit.clipImage });
        const updated: CachedResult = { ...hit, metricsKey: instruments.key, metrics: s.metrics, clipImage: s.clipImage };
        await cache!.put(updated, null);
        results.set(id, updated);
        counts.rescored++;
      } else {
        const t0 = performance.now();
        const setupFor: PersonalizationSetup = { ...setup, retrieval: config.retrieval };
        const { result, selection: sel } = await personalizeItem(setupFor, config.engine!.engine, encoders, {
          user: t.task.userExternalId,
          reference: t.reference,
          weighting: config.unpersonalized ? 'none' : config.weighting,
          rankerSelection: config.rankerSelection,
          candidates: config.candidates,
          seed: t.seed,
          ...(options.strength !== undefined ? { strength: options.strength } : {}),
          providerOptions: { [config.engine!.engine.provider]: { ...engineOptions, ...(config.oracle ? { oracleStyle: t.target?.style ?? null } : {}) } },
          abortSignal: options.signal,
        });
        const secs = (performance.now() - t0) / 1000;
        const chosen = result.candidates[sel.chosen];
        const image = sel.embeddings[sel.chosen];
        const style = sel.styles[sel.chosen];
        const s = await score(t, { png: chosen.png, image, style });
        const record: CachedResult = {
          task: id,
          metricsKey: instruments.key,
          metrics: s.metrics,
          image,
          style,
          clipImage: s.clipImage,
          seconds: secs,
          selection: { chosen: sel.chosen, candidates: sel.scores.map((c) => ({ seed: c.seed, rankerScore: c.rankerScore, semanticScore: c.semanticScore })) },
        };
        await cache!.put(record, chosen.png);
        results.set(id, record);
        counts.generated++;
      }
      progress.update(++done);
    }
    return entry;
  };

  const mainResults = new Map<string, { results: Results; cache: RunCache | null }>();
  try {
    for (const c of mainConfigs) mainResults.set(c.name, await run(c, tasks));
    for (const ab of ablations) for (const s of ab.settings) await run(s.config, ablationTasks);
  } catch (err) {
    // An engine stopped by the signal throws its own AbortError: report it as an interruption.
    if (options.signal?.aborted && !(err instanceof RagarError && err.code === 'ABORTED')) checkAbort();
    throw err;
  } finally {
    progress.stop();
  }
  for (const [name, { results }] of mainResults) seconds.set(name, [...results.values()].map((r) => r.seconds));

  // Aggregation.
  const specs: MetricSpec[] = taskMetricSpecs(instruments);
  const targetImages = (list: readonly EvalTask[]) => list.map((t) => rc.vectors.image.get(t.target!.id)!);
  const clipTargets = instruments.clip ? await clipTargetVectors(instruments, tasks) : [];
  const aggregate = (results: Results, list: readonly EvalTask[]): Record<string, number> => {
    const rows = list.map((t) => results.get(t.task.externalId)!);
    const values: Record<string, number> = {};
    for (const m of specs) {
      if (SET_LEVEL_METRICS.includes(m.key)) continue;
      values[m.key] = mean(rows.map((r) => r.metrics[m.key] ?? NaN));
    }
    if (!groundTruth) return values;
    values.frechet = setFrechet(
      rows.map((r) => r.image),
      targetImages(list),
    );
    if (instruments.clip) {
      const outs = rows.map((r) => r.clipImage);
      values.clipFrechet = outs.every((v): v is Float32Array => v !== null) ? setFrechet(outs, clipTargets.slice(0, list.length)) : NaN;
    }
    return values;
  };
  const methodResults: MethodResult[] = methods.map((m) => ({
    name: m,
    label: EVAL_METHODS[m].label,
    description: describe(m, external, options.candidates),
    values: aggregate(mainResults.get(m)!.results, tasks),
    n: tasks.length,
    ...(specs.some((x) => x.key === 'style') ? { styleByTarget: styleByTarget(mainResults.get(m)!.results, tasks) } : {}),
  }));

  // Paired bootstrap intervals: ragar against each other method (the ground truth excepted).
  const intervals: IntervalResult[] = [];
  const level = 0.95;
  if (methods.includes('ragar')) {
    const ours = mainResults.get('ragar')!.results;
    for (const other of methods) {
      if (other === 'ragar' || other === 'target') continue;
      const theirs = mainResults.get(other)!.results;
      for (const metric of INTERVAL_METRICS) {
        if (!specs.some((s) => s.key === metric)) continue;
        const a = tasks.map((t) => ours.get(t.task.externalId)!.metrics[metric] ?? NaN);
        const b = tasks.map((t) => theirs.get(t.task.externalId)!.metrics[metric] ?? NaN);
        if (!a.some(Number.isFinite) || !b.some(Number.isFinite) || !a.some((x, i) => Number.isFinite(x) && Number.isFinite(b[i]))) continue;
        const r = pairedBootstrap(a, b, { resamples: options.resamples, seed: options.seed, level, skipNaN: true });
        intervals.push({ metric, a: 'ragar', b: other, meanA: r.meanA, meanB: r.meanB, diff: r.diff, lo: r.lo, hi: r.hi, level: r.level, n: r.n, pValue: r.pValue });
      }
    }
  }

  // Ablations.
  const ablationResults: AblationResult[] = ablations.map((ab) => ({
    parameter: ab.parameter,
    settings: ab.settings.map((s) => {
      const key = configKey(s.config);
      return { value: s.value, ...(s.isDefault ? { isDefault: true } : {}), values: aggregate(memo.get(key)!.results, ablationTasks), n: ablationTasks.length };
    }),
  }));

  // Image grid.
  const images = new Map<string, Uint8Array>();
  const grid: TaskRow[] = [];
  for (const t of tasks.slice(0, Math.max(0, options.gridTasks))) {
    const id = safeName(t.task.externalId);
    const ref = `images/${id}-ref.png`;
    images.set(ref, view.store.images.read(t.reference.imageHash!));
    const history = t.history.slice(0, 5).map((h, j) => {
      const file = `images/${id}-h${j + 1}.png`;
      if (h.item.imageHash) images.set(file, view.store.images.read(h.item.imageHash));
      return { file, caption: `${h.item.title} [${h.item.style ?? '?'}]`, weight: h.retrievalWeight };
    });
    const outputs: TaskRow['outputs'] = {};
    for (const c of mainConfigs) {
      if (c.kind !== 'generate') continue;
      const { results, cache } = mainResults.get(c.name)!;
      const r = results.get(t.task.externalId);
      if (!r || !cache) continue;
      const file = `images/${id}-${c.name}.png`;
      images.set(file, cache.readImage(t.task.externalId));
      const rank = `R ${Number.isFinite(r.metrics.rankerScore) ? r.metrics.rankerScore.toFixed(2) : '–'}`;
      outputs[c.name] = { file, caption: groundTruth ? `style ${r.metrics.style === 1 ? '✓' : '✗'} · ${rank}` : `CIS ${Number.isFinite(r.metrics.cis) ? r.metrics.cis.toFixed(1) : '–'} · ${rank}` };
    }
    const target = t.target ? `images/${id}-target.png` : null;
    if (target) images.set(target, view.store.images.read(t.target!.imageHash!));
    grid.push({
      id: t.task.externalId,
      user: t.task.userExternalId,
      reference: { file: ref, caption: `${t.reference.title} [${t.reference.style ?? '?'}]` },
      history: history.filter((h) => images.has(h.file)),
      outputs,
      target: target ? { file: target, caption: `target [${t.target!.style ?? '?'}]` } : null,
    });
  }

  const perTask = methods.flatMap((m) =>
    tasks.map((t) => ({ method: m, task: t.task.externalId, user: t.task.userExternalId, scores: mainResults.get(m)!.results.get(t.task.externalId)!.metrics })),
  );
  const wall = (performance.now() - started) / 1000;
  const secondsPerTask = Object.fromEntries([...seconds].filter(([m]) => EVAL_METHODS[m as EvalMethodName].engine).map(([m, xs]) => [m, mean(xs)]));
  const r = setup.retrieval;
  const notes: string[] = [
    `Methods: ${methods.map((m) => `${m} = ${describe(m, external, options.candidates)}`).join('; ')}.`,
    ...(external ? [`Engine: ${[...new Set(Object.values(engines).filter((e): e is EvalEngine => !Array.isArray(e) && e !== undefined).map((e) => `${e.engine.provider} ${e.engine.modelId} (${e.dir})`))].join(', ')}; every generating method runs on it, the history's retrieval (or equal) weights as image-prompt weights.`] : []),
    ...(groundTruth ? [] : [`${view.dataset.name} has references only (no held-out target drawn in the user's style): the ground-truth metrics (style accuracy, concept top-1, target SSIM/cosine, perceptual and Fréchet distances) do not apply; semantics are measured against the reference, personalisation against the user's history and by the ranker.`]),
    `Every generating method uses the same per-task seed; retrieval weights use α = ${r.alpha}, k = ${kText(r.k)}, τ = ${tauText(r.tau)} (${options.retrievalSource ?? 'setup'}).`,
    `Hist-* metrics compare the output with the user's history weighted by these retrieval weights (the heaviest ${instruments.histK} items, renormalised), the same yardstick for every method and ablation setting; the PMG/Pigeon protocol's plain mean over the whole history would reward looking like history items about unrelated groups, which the benchmark's group-dependent taste makes misleading.`,
    'The perceptual distance is 1 − cosine of the standardised style-statistics descriptors (colour, shading, gradient and outline statistics): a stand-in for VGG-LPIPS, which is not available offline.',
    ...(instruments.gallery
      ? [
          `Style accuracy uses a style classifier trained on renditions of concepts outside the ${options.split} split; on the real held-out renditions it is right ${(100 * instruments.gallery.classifier.realAccuracy).toFixed(1)}% of the time (the ceiling the ground-truth row shows). Concept top-1: the true concept among 10 drawn in the target style (chance 10%).`,
        ]
      : []),
    `Ranker rows score each output with the trained ranker's cold path (MobileNetV2 + style statistics + the reference's text) for its own user and for ${instruments.otherUsers} other ${options.split} users (a fixed seeded sample).`,
    ...(instruments.jointNote ? [instruments.jointNote] : []),
    instruments.clip ? `CLIP metrics use ${instruments.clip.encoders.spaceId}; ${instruments.clip.source}.` : 'CLIP-based CIS/CS/Hist-CIS/Hist-CS are reported when a local CLIP folder is configured (--clip DIR or $RAGAR_CLIP).',
    ...(intervals.length ? [`Intervals: paired bootstrap over tasks (${options.resamples} resamples, seed ${options.seed}, 95% percentile intervals) of RAGAR against each other method.`] : ['No intervals: the ragar method was not evaluated.']),
    ...(ablationResults.length
      ? [
          `Ablations: full RAGAR on the first ${ablationTasks.length} tasks with one parameter changed from the tuned setting (k: history items kept, τ: softmax temperature, α: image vs text similarity, λ: the generator's rank-loss weight, one trained model per value); the setting marked default is the main ragar run.`,
        ]
      : []),
    `Results: ${counts.generated} generated, ${counts.cached} from the cache, ${counts.rescored} rescored from cached outputs, ${counts.copied} copies/targets; seconds per task (generation + selection): ${Object.entries(secondsPerTask)
      .map(([m, s]) => `${m} ${Number.isFinite(s) ? s.toFixed(2) : '–'}`)
      .join(', ')}; wall time ${wall.toFixed(0)} s.`,
  ];
  note(`evaluated ${tasks.length} tasks × ${methods.length} methods and ${ablationResults.reduce((s, a) => s + a.settings.length, 0)} ablation settings × ${ablationTasks.length} tasks in ${wall.toFixed(0)} s`);

  const generators = Object.fromEntries(
    (['ragar', 'norank', 'l1'] as const).filter((k) => engines[k]).map((k) => [k === 'norank' ? 'ragar-norank' : k, { dir: engines[k]!.dir, sha256: engines[k]!.checksum.slice(0, 16), lambda: engines[k]!.lambda }]),
  );
  const report: EvalReport = {
    title: `RAGAR evaluation: ${view.dataset.name}, ${options.split} split`,
    dataset: view.dataset.name,
    split: options.split,
    createdAt: new Date().toISOString(),
    command: options.command,
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
      wallSeconds: Math.round(wall),
      tasks: tasks.length,
      ablationTasks: ablationTasks.length,
    },
    metrics: specs,
    methods: methodResults,
    intervals,
    ablations: ablationResults,
    tasks: grid,
    notes,
    extra: {
      retrieval: { ...jsonParams(setup.retrieval), source: options.retrievalSource ?? null },
      candidates: options.candidates,
      seed: options.seed,
      generators,
      engineOptions,
      secondsPerTask,
      counts,
      styleClassifier: instruments.gallery
        ? {
            realAccuracy: instruments.gallery.classifier.realAccuracy,
            trainItems: instruments.gallery.classifier.trainItems,
            trainAccuracy: instruments.gallery.classifier.trainAccuracy,
            features: instruments.gallery.classifier.features,
          }
        : null,
      strength: options.strength ?? null,
      otherUsers: instruments.otherUsers,
      histK: instruments.histK,
      joint: instruments.joint ? 'available' : instruments.jointNote,
      clip: instruments.clip ? instruments.clip.encoders.spaceId : null,
      taskIds: tasks.map((t) => t.task.externalId),
    },
  };
  return { report, images, perTask, counts };
}

/**
 * `per-task.csv`: one row per (method, task) with every per-task score (empty = not available).
 *
 * @example
 * fs.writeFileSync('per-task.csv', perTaskCsv(run.perTask, run.report.metrics));
 */
export function perTaskCsv(rows: EvaluationRun['perTask'], specs: readonly MetricSpec[]): string {
  const keys = specs.map((s) => s.key).filter((k) => !SET_LEVEL_METRICS.includes(k));
  const cell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = [['method', 'task', 'user', ...keys].join(',')];
  for (const r of rows) lines.push([cell(r.method), cell(r.task), cell(r.user), ...keys.map((k) => (Number.isFinite(r.scores[k]) ? String(r.scores[k]) : ''))].join(','));
  return `${lines.join('\n')}\n`;
}
