/**
 * `ragar eval` as a library call: check the request, load the generators it needs, open the
 * instruments, run the harness (`harness.ts`) and write the report folder. The CLI command and
 * the public API's `evaluate` are thin callers of {@link evaluateHome}.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DatasetView } from '../data/access.js';
import type { ClipEncoders } from '../encoders/clip.js';
import { createImageEncoder } from '../encoders/registry.js';
import { jointSpaceDir } from '../encoders/trainJoint.js';
import type { ImageEncoder } from '../encoders/types.js';
import type { GeneratorEngineV1 } from '../generation/types.js';
import { createBuiltinEngine } from '../generation/builtin/engine.js';
import { BuiltinGenerator } from '../generation/builtin/model.js';
import { generationSetupFrom, resolveGeneratorDir, type GeneratorVariant } from '../pipeline/setup.js';
import { rankerChecksum } from '../ranking/distill.js';
import { prepareRanking } from '../ranking/pipeline.js';
import type { Store } from '../store/store.js';
import { writeFileAtomic } from '../util/persist.js';
import { RagarError } from '../util/errors.js';
import { silentProgress, type Progress } from '../util/progress.js';
import {
  ABLATION_PARAMETERS,
  DEFAULT_EVAL_METHODS,
  EVAL_METHOD_NAMES,
  EVAL_METHODS,
  EXTERNAL_ENGINE_METHODS,
  perTaskCsv,
  runEvaluation,
  type AblationParameter,
  type EngineRole,
  type EvalEngine,
  type EvalEngines,
  type EvalMethodName,
} from './harness.js';
import { metricsJson } from './report/json.js';
import type { EvalReport } from './report/types.js';
import { writeReport } from './report/write.js';
import { openTaskInstruments } from './taskMetrics.js';

const VARIANT_OF: Record<EngineRole, GeneratorVariant> = { ragar: 'ragar', norank: 'ragar-norank', l1: 'l1' };

/** SHA-256 over a generator folder's weight files and fitted finishing (the cache key of its results). */
export function generatorChecksum(dir: string): string {
  const hash = createHash('sha256');
  for (const f of ['generator.json', 'net.json', 'params.bin', 'finishing.json']) {
    const file = path.join(dir, f);
    hash.update(`${f}\n`);
    if (fs.existsSync(file)) hash.update(fs.readFileSync(file));
  }
  return hash.digest('hex');
}

/** Load one generator folder as an evaluation engine, with errors that say how to get weights. */
async function loadEngine(dir: string, what: string, variant: GeneratorVariant | null): Promise<EvalEngine> {
  let loaded: Awaited<ReturnType<typeof BuiltinGenerator.load>>;
  try {
    loaded = await BuiltinGenerator.load(dir);
  } catch (err) {
    const how = variant ? `retrain it with \`ragar train generator --variant ${variant}\` (it writes to the data home, which takes precedence over the shipped weights)` : 'pass a folder written by `ragar train generator`';
    throw new RagarError(`${what} generator in ${dir} cannot be used: ${(err as Error).message}; ${how}`, 'BAD_INPUT', { cause: err });
  }
  const training = loaded.meta.training as { options?: { lambda?: unknown } } | undefined;
  const raw = training?.options?.lambda;
  const lambda = typeof raw === 'number' ? raw : variant === 'ragar' ? NaN : 0;
  return { engine: createBuiltinEngine({ generator: loaded.generator, tower: null, modelId: variant ?? path.basename(dir) }), checksum: generatorChecksum(dir), dir, lambda };
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** What {@link evaluateHome} is asked (the `ragar eval` options). */
export interface EvaluateHomeOptions {
  dataset: string;
  split: string;
  /** Report folder (created); its `.cache` keeps finished results for resuming. */
  report: string;
  methods?: readonly string[];
  /** Parameters to ablate (empty = none). */
  ablate?: readonly string[];
  /** Most tasks (0 = every task of the split with a target). */
  tasks?: number;
  ablationTasks?: number;
  gridTasks?: number;
  candidates?: number;
  seed?: number;
  resamples?: number;
  otherUsers?: number;
  histK?: number;
  /** Folder with one subfolder per variant; default: the data home's, else the shipped weights. */
  generators?: string;
  /** Further generator folders for the λ ablation. */
  lambdaModels?: readonly string[];
  /** Built-in engine options for every generation (`strength` also for an external engine). */
  steps?: number;
  strength?: number;
  /** Built-in engine: classifier-free guidance scale (default: the models'). */
  cfgScale?: number;
  /** Built-in engine: spread of the per-candidate guidance scales (default: the engine's). */
  cfgJitter?: number;
  /** Built-in engine: unsharp-mask sigma of the outputs (default: the fitted finishing's, else the engine's). */
  sharpen?: number;
  /**
   * An engine for every generating method instead of the built-in generators (a ComfyUI or
   * AUTOMATIC1111 engine): `key` identifies its settings in the result cache (results of another
   * key are generated again), `description` names it in the report (e.g. its servers). With it,
   * a reference-only dataset (PMG-Bench, POG, SER-30K, MovieLens imports) can be evaluated.
   * The caller disposes of it.
   */
  engine?: { engine: GeneratorEngineV1; key: string; description: string };
  /** Local CLIP folder: adds the CLIP-based metrics. */
  clip?: string;
  /** Root of the shipped weights (`weights/`); default: the package's. */
  weightsRoot?: string;
  /** MobileNetV2 worker threads (0 = in-process). */
  workers?: number;
  /** The command line, for the report. */
  command?: string;
  progress?: Progress;
  note?: (line: string) => void;
  signal?: AbortSignal;
}

/** The defaults of {@link EvaluateHomeOptions} (those of `ragar eval`). */
export const EVALUATE_DEFAULTS: Required<Pick<EvaluateHomeOptions, 'methods' | 'ablate' | 'tasks' | 'ablationTasks' | 'gridTasks' | 'candidates' | 'seed' | 'resamples' | 'otherUsers' | 'histK' | 'workers'>> = {
  methods: DEFAULT_EVAL_METHODS,
  ablate: ABLATION_PARAMETERS,
  tasks: 0,
  ablationTasks: 60,
  gridTasks: 24,
  candidates: 4,
  seed: 1,
  resamples: 2000,
  otherUsers: 20,
  histK: 10,
  workers: 2,
};

/** What {@link evaluateHome} returns: the report, `metrics.json`'s content and the files written. */
export interface EvaluateHomeResult {
  report: EvalReport;
  metrics: ReturnType<typeof metricsJson>;
  files: { html: string; json: string; csv: string; intervalsCsv: string; perTaskCsv: string };
}

/**
 * Check the methods and ablations asked for (callers run it before any preparation, so a typo
 * fails at once). `['none']` as ablations means none.
 *
 * @throws RagarError (`BAD_INPUT`) for an empty or repeated method list, an unknown method or ablation.
 * @example
 * checkEvalSelection(['ragar', 'pooling'], ['none']); // { methods: ['ragar', 'pooling'], ablate: [] }
 */
export function checkEvalSelection(methodsIn: readonly string[], ablateIn: readonly string[]): { methods: EvalMethodName[]; ablate: AblationParameter[] } {
  const methods = [...methodsIn];
  if (!methods.length) throw new RagarError('--methods is empty', 'BAD_INPUT');
  for (const m of methods) if (!(EVAL_METHOD_NAMES as readonly string[]).includes(m)) throw new RagarError(`unknown method ${JSON.stringify(m)} in --methods (known: ${EVAL_METHOD_NAMES.join(', ')})`, 'BAD_INPUT');
  const ablate = ablateIn.length === 1 && ablateIn[0] === 'none' ? [] : [...ablateIn];
  for (const a of ablate) if (!(ABLATION_PARAMETERS as readonly string[]).includes(a)) throw new RagarError(`unknown ablation ${JSON.stringify(a)} in --ablate (known: ${ABLATION_PARAMETERS.join(', ')}, or none)`, 'BAD_INPUT');
  if (new Set(methods).size !== methods.length) throw new RagarError('--methods names a method twice', 'BAD_INPUT');
  return { methods: methods as EvalMethodName[], ablate: ablate as AblationParameter[] };
}

/**
 * Run the evaluation harness on a data home and write the report folder (report.html,
 * metrics.json, metrics.csv, intervals.csv, per-task.csv). Everything that can be checked is
 * checked before any model loads.
 *
 * @throws RagarError for an unknown method or ablation, a dataset without concepts and styles, a
 * split without target tasks, missing generator weights, or an interruption (`ABORTED`).
 * @example
 * const { metrics, files } = await evaluateHome(store, { dataset: 'emoji-styles', split: 'test', report: 'runs/eval' });
 */
export async function evaluateHome(store: Store, options: EvaluateHomeOptions): Promise<EvaluateHomeResult> {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...EVALUATE_DEFAULTS, ...given } as EvaluateHomeOptions & typeof EVALUATE_DEFAULTS;
  const note = o.note ?? (() => {});
  const external = o.engine ?? null;
  const selection = checkEvalSelection(o.methods, o.ablate);
  let { methods, ablate } = selection;
  const lambdaModels = [...(o.lambdaModels ?? [])];
  if (external) {
    // The defaults become what an external engine can run; an explicit choice it cannot is an error.
    if (sameList(methods, DEFAULT_EVAL_METHODS)) methods = methods.filter((m) => EXTERNAL_ENGINE_METHODS.includes(m));
    if (sameList(ablate, ABLATION_PARAMETERS)) ablate = ablate.filter((a) => a !== 'lambda');
    const bad = methods.filter((m) => !EXTERNAL_ENGINE_METHODS.includes(m));
    if (bad.length) throw new RagarError(`--methods ${bad.join(', ')}: not with --engine ${external.engine.provider} (the ground truth, the oracle and the L1 translator need the built-in generators; methods: ${EXTERNAL_ENGINE_METHODS.join(', ')})`, 'BAD_INPUT');
    if (ablate.includes('lambda')) throw new RagarError(`--ablate lambda compares built-in generators trained with different λ; not with --engine ${external.engine.provider} (ablate k, tau, alpha)`, 'BAD_INPUT');
    if (o.steps || o.generators || lambdaModels.length || o.cfgScale !== undefined || o.cfgJitter !== undefined || o.sharpen !== undefined)
      throw new RagarError(`--steps, --cfg, --cfg-jitter, --sharpen, --generators and --lambda-models are built-in generator options; not with --engine ${external.engine.provider}`, 'USAGE');
  }

  const view = DatasetView.open(store, o.dataset);
  const items = [...view.items().values()];
  const groundTruth = items.some((i) => i.concept && i.style) && view.conceptSplits().size > 0;
  if (!groundTruth && !external) {
    throw new RagarError(
      `dataset ${o.dataset} has no concepts and styles (or no concept split): the built-in generators are for benchmarks like emoji-styles, where each task has a target rendition of the reference's concept; ` +
        'evaluate a reference-only dataset (PMG-Bench, POG, SER-30K, MovieLens imports) on an image-prompt engine: --engine comfyui --comfy-url URL (or a1111 --a1111-url URL)',
      'BAD_INPUT',
    );
  }
  const allTasks = view.tasks();
  const usable = (t: (typeof allTasks)[number]) => !groundTruth || t.targetItemId !== null;
  const splits = [...new Set(allTasks.filter(usable).map((t) => t.split ?? '(none)'))];
  if (!allTasks.some((t) => t.split === o.split && usable(t))) {
    throw new RagarError(`dataset ${o.dataset} has no ${JSON.stringify(o.split)} tasks${groundTruth ? ' with a target' : ''} (splits with tasks: ${splits.join(', ') || 'none'})`, 'BAD_INPUT');
  }

  // Which generators are needed: resolved now (missing weights fail before anything loads), loaded below.
  const roles = new Set<EngineRole>();
  for (const m of external ? [] : methods) {
    const role = EVAL_METHODS[m as EvalMethodName].engine;
    if (role) roles.add(role);
  }
  if (ablate.length && o.ablationTasks > 0 && !external) roles.add('ragar');
  if (ablate.includes('lambda') && o.ablationTasks > 0 && !external) roles.add('norank');
  const dirs = (['ragar', 'norank', 'l1'] as const)
    .filter((r) => roles.has(r))
    .map((role) => {
      const variant = VARIANT_OF[role];
      return { role, variant, dir: resolveGeneratorDir(store.home, o.dataset, variant, o.generators ? path.join(o.generators, variant) : undefined, o.weightsRoot) };
    });
  for (const dir of ablate.includes('lambda') ? lambdaModels : []) {
    if (!fs.existsSync(path.join(dir, 'generator.json'))) throw new RagarError(`--lambda-models: no generator in ${dir} (generator.json missing); train one with \`ragar train generator --lambda X --out ${dir}\``, 'NOT_FOUND');
  }
  const rc = prepareRanking(view);
  // Without a trained ranker this fails with NOT_FOUND saying to run `ragar rank train --dataset D`.
  const setup = generationSetupFrom(rc, store.home);
  const rankerKey = rankerChecksum(store.home, o.dataset);
  const engines: EvalEngines = {};
  const opened: EvalEngine[] = [];
  let image: ImageEncoder | undefined;
  let style: ImageEncoder | undefined;
  let clip: ClipEncoders | undefined;
  try {
    if (external) {
      const e: EvalEngine = { engine: external.engine, checksum: createHash('sha256').update(`${external.engine.provider}\n${external.engine.modelId}\n${external.key}`).digest('hex'), dir: external.description, lambda: NaN, external: true };
      engines.ragar = e;
      engines.norank = e;
    }
    for (const { role, variant, dir } of dirs) {
      const e = await loadEngine(dir, variant, variant);
      opened.push(e);
      engines[role] = e;
    }
    if (ablate.includes('lambda')) {
      engines.lambdaModels = [];
      for (const dir of lambdaModels) {
        const e = await loadEngine(dir, `--lambda-models ${dir}:`, null);
        opened.push(e);
        engines.lambdaModels.push(e);
      }
    }
    if (o.clip) {
      const { createClipEncoders } = await import('../encoders/clip.js');
      clip = await createClipEncoders({ modelPath: o.clip });
    }
    const instruments = openTaskInstruments(setup, {
      split: o.split,
      seed: o.seed,
      jointDir: jointSpaceDir(store.home, o.dataset),
      clip: clip ?? null,
      histK: o.histK,
      otherUsers: o.otherUsers,
      rankerKey,
    });
    if (instruments.jointNote) note(`note: ${instruments.jointNote}`);
    image = await createImageEncoder({ workers: o.workers });
    style = await createImageEncoder({ image: 'style-stats' });
    const reportDir = path.resolve(o.report);
    fs.mkdirSync(reportDir, { recursive: true });
    const engineOptions = external
      ? {}
      : {
          ...(o.steps ? { steps: o.steps } : {}),
          ...(o.strength ? { strength: o.strength } : {}),
          ...(o.cfgScale !== undefined ? { cfgScale: o.cfgScale } : {}),
          ...(o.cfgJitter !== undefined ? { cfgJitter: o.cfgJitter } : {}),
          ...(o.sharpen !== undefined ? { sharpen: o.sharpen } : {}),
        };
    const run = await runEvaluation(setup, instruments, engines, { image, style }, {
      split: o.split,
      tasks: o.tasks,
      seed: o.seed,
      methods,
      candidates: o.candidates,
      ablate,
      ablationTasks: o.ablationTasks,
      gridTasks: o.gridTasks,
      resamples: o.resamples,
      engineOptions,
      strength: external ? o.strength : undefined,
      cacheDir: path.join(reportDir, '.cache', 'runs'),
      command: o.command ?? 'evaluateHome()',
      retrievalSource: setup.retrievalSource,
      rankerKey,
      progress: o.progress ?? silentProgress,
      signal: o.signal,
      note,
    });
    const written = await writeReport(reportDir, run.report, run.images, { html: { chartMetrics: (groundTruth ? ['style', 'concept', 'rankerTop1'] : ['cis', 'histCis', 'rankerScore']).filter((k) => run.report.metrics.some((m) => m.key === k)) } });
    const perTaskFile = path.join(reportDir, 'per-task.csv');
    await writeFileAtomic(perTaskFile, perTaskCsv(run.perTask, run.report.metrics));
    return {
      report: run.report,
      metrics: metricsJson(run.report),
      files: { html: written.html, json: written.json, csv: written.csv, intervalsCsv: written.intervalsCsv, perTaskCsv: perTaskFile },
    };
  } finally {
    for (const e of opened) await e.engine.dispose();
    await image?.dispose();
    await style?.dispose();
    if (clip) await Promise.all([clip.image.dispose(), clip.text.dispose()]);
  }
}
