import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { DatasetView } from '../../data/access.js';
import type { ClipEncoders } from '../../encoders/clip.js';
import { createImageEncoder } from '../../encoders/registry.js';
import { jointSpaceDir } from '../../encoders/trainJoint.js';
import type { ImageEncoder } from '../../encoders/types.js';
import { ABLATION_PARAMETERS, DEFAULT_EVAL_METHODS, EVAL_METHOD_NAMES, EVAL_METHODS, perTaskCsv, runEvaluation, type AblationParameter, type EngineRole, type EvalEngine, type EvalEngines, type EvalMethodName } from '../../evaluation/harness.js';
import { formatMetric } from '../../evaluation/report/html.js';
import { metricsJson } from '../../evaluation/report/json.js';
import { writeFileAtomic, writeReport } from '../../evaluation/report/write.js';
import { prepareEvaluation, type PreparationSummary } from '../../pipeline/prepare.js';
import { openTaskInstruments } from '../../evaluation/taskMetrics.js';
import { createBuiltinEngine } from '../../generation/builtin/engine.js';
import { BuiltinGenerator } from '../../generation/builtin/model.js';
import { generationSetupFrom, resolveGeneratorDir, type GeneratorVariant } from '../../pipeline/setup.js';
import { rankerChecksum } from '../../ranking/distill.js';
import { prepareRanking } from '../../ranking/pipeline.js';
import { RagarError } from '../../util/errors.js';
import { withStore } from '../context.js';
import { intOption, listOption, numberOption } from '../options.js';

const VARIANT_OF: Record<EngineRole, GeneratorVariant> = { ragar: 'ragar', norank: 'ragar-norank', l1: 'l1' };

/** SHA-256 over a generator folder's weight files (the cache key of its results). */
function generatorChecksum(dir: string): string {
  const hash = createHash('sha256');
  for (const f of ['generator.json', 'net.json', 'params.bin']) {
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

/**
 * A SIGINT listener that aborts `controller` on the first Ctrl-C and exits on a later one. A
 * launcher (npx, tsx) may relay the same Ctrl-C a second time within moments: that one is ignored.
 */
function interruptHandler(controller: AbortController, onFirst: () => void): () => void {
  let first = 0;
  return () => {
    if (!controller.signal.aborted) {
      first = Date.now();
      onFirst();
      controller.abort();
    } else if (Date.now() - first > 1000) {
      process.exit(130);
    }
  };
}

/** `ragar eval`: the evaluation harness (report.html, metrics.json, metrics.csv). */
export function evalCommand(): Command {
  return new Command('eval')
    .description(
      'evaluate personalised generation on a split: copy of the reference, non-personalised generation, equal pooling (PMG/Pigeon), ' +
        'retrieval only, full RAGAR (retrieval + rank) and the ground truth; per-task CIS, CS, Hist-CIS/CS/SSIM/MS-SSIM, perceptual distance, ' +
        'target SSIM and cosine, style accuracy, concept top-1, ranker score/margin/rank, set-level Fréchet distance; paired bootstrap intervals; ' +
        'ablations of k, tau, alpha and lambda; writes DIR/report.html, metrics.json, metrics.csv, intervals.csv and per-task.csv. ' +
        'Resumable: results are cached in DIR/.cache, a rerun skips finished tasks',
    )
    .option('--dataset <name>', 'dataset (a benchmark with concepts, styles and target tasks)', 'emoji-styles')
    .option('--split <name>', 'split whose tasks are evaluated', 'test')
    .addOption(new Option('--methods <list>', `methods, comma-separated: ${EVAL_METHOD_NAMES.join(', ')}`).argParser(listOption).default([...DEFAULT_EVAL_METHODS], DEFAULT_EVAL_METHODS.join(',')))
    .addOption(new Option('--ablate <list>', `parameters to ablate, comma-separated: ${ABLATION_PARAMETERS.join(', ')}, or none`).argParser(listOption).default([...ABLATION_PARAMETERS], ABLATION_PARAMETERS.join(',')))
    .option('--report <dir>', 'report folder (created; its .cache keeps finished results for resuming)')
    .option('--tasks <n>', 'most tasks (0 = every task of the split)', intOption(0), 0)
    .option('--ablation-tasks <n>', 'tasks per ablation setting (the first N evaluated tasks)', intOption(0), 60)
    .option('--grid-tasks <n>', 'tasks shown in the image grid', intOption(0), 24)
    .option('--candidates <m>', 'candidates of full RAGAR, chosen by ranker + semantic rank sum', intOption(1), 4)
    .option('--seed <n>', 'seed (generation, classifier, distractors, other users, bootstrap)', intOption(0), 1)
    .option('--resamples <n>', 'bootstrap resamples', intOption(100), 2000)
    .option('--other-users <n>', 'other users of the split the ranker scores each output for', intOption(1), 20)
    .option('--hist-k <n>', 'heaviest history items (tuned retrieval weights) the Hist-* metrics compare with', intOption(1), 10)
    .option('--generators <dir>', 'folder with one subfolder per variant (ragar, ragar-norank, l1); default: the data home\'s, else the shipped weights')
    .addOption(new Option('--lambda-models <dirs>', 'further generator folders (trained with other λ) for the lambda ablation, comma-separated').argParser(listOption).default([], 'none'))
    .option('--steps <n>', "DDIM sampling steps (default: the models')", intOption(1))
    .option('--strength <x>', "sampling start (1 = pure noise, below 1 = noised reference); default: the models'", numberOption(0.01, 1))
    .option('--clip <dir>', 'local CLIP folder (Hugging Face layout): adds CLIP-based CIS, CS, Hist-CIS, Hist-CS and Fréchet (or $RAGAR_CLIP)')
    .option('--workers <n>', 'MobileNetV2 worker threads (0 = in-process)', intOption(0), 2)
    .option('--prepare', 'first do whatever is missing, as `ragar demo` does: build emoji-styles, embed it, tune retrieval on valid, train the ranker and the joint space (from a fresh clone)')
    .addHelpText(
      'after',
      '\nExamples:\n  ragar eval --prepare --report runs/eval-test          # from a fresh clone: prepares the data home first\n  ragar eval --dataset emoji-styles --split test --report runs/eval-test\n  ragar eval --methods ragar,pooling --ablate k,tau --tasks 40 --ablation-tasks 20 --report runs/quick\n',
    )
    .action(async (opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        // Everything that can be checked is checked before any work.
        if (!opts.report) throw new RagarError('--report DIR is required (the folder the report is written to)', 'USAGE');
        const methods = opts.methods as string[];
        if (!methods.length) throw new RagarError('--methods is empty', 'BAD_INPUT');
        for (const m of methods) if (!(EVAL_METHOD_NAMES as readonly string[]).includes(m)) throw new RagarError(`unknown method ${JSON.stringify(m)} in --methods (known: ${EVAL_METHOD_NAMES.join(', ')})`, 'BAD_INPUT');
        const ablateRaw = opts.ablate as string[];
        const ablate = ablateRaw.length === 1 && ablateRaw[0] === 'none' ? [] : ablateRaw;
        for (const a of ablate) if (!(ABLATION_PARAMETERS as readonly string[]).includes(a)) throw new RagarError(`unknown ablation ${JSON.stringify(a)} in --ablate (known: ${ABLATION_PARAMETERS.join(', ')}, or none)`, 'BAD_INPUT');
        if (new Set(methods).size !== methods.length) throw new RagarError('--methods names a method twice', 'BAD_INPUT');
        const clipPath: string | undefined = opts.clip ?? (process.env.RAGAR_CLIP || undefined);

        let prepared: PreparationSummary | null = null;
        if (opts.prepare) {
          const stop = new AbortController();
          const onStop = interruptHandler(stop, () => ctx.note('\ninterrupted: finishing the current batch; finished work is kept (Ctrl-C again to quit at once)'));
          process.on('SIGINT', onStop);
          try {
            prepared = await prepareEvaluation(ctx.store, opts.dataset, { progress: ctx.progress, note: ctx.note, workers: opts.workers, signal: stop.signal });
          } finally {
            process.off('SIGINT', onStop);
          }
        }

        const view = DatasetView.open(ctx.store, opts.dataset);
        const items = [...view.items().values()];
        if (!items.some((i) => i.concept && i.style) || view.conceptSplits().size === 0) {
          throw new RagarError(`dataset ${opts.dataset} has no concepts and styles (or no concept split): \`ragar eval\` needs a benchmark like emoji-styles, where each task has a target rendition of the reference's concept`, 'BAD_INPUT');
        }

        const allTasks = view.tasks();
        const splits = [...new Set(allTasks.filter((t) => t.targetItemId !== null).map((t) => t.split ?? '(none)'))];
        if (!allTasks.some((t) => t.split === opts.split && t.targetItemId !== null)) {
          throw new RagarError(`dataset ${opts.dataset} has no ${JSON.stringify(opts.split)} tasks with a target (splits with tasks: ${splits.join(', ') || 'none'})`, 'BAD_INPUT');
        }

        // Which generators are needed: resolved now (missing weights fail before anything loads), loaded below.
        const roles = new Set<EngineRole>();
        for (const m of methods) {
          const role = EVAL_METHODS[m as EvalMethodName].engine;
          if (role) roles.add(role);
        }
        if (ablate.length && opts.ablationTasks > 0) roles.add('ragar');
        if (ablate.includes('lambda') && opts.ablationTasks > 0) roles.add('norank');
        const dirs = (['ragar', 'norank', 'l1'] as const)
          .filter((r) => roles.has(r))
          .map((role) => {
            const variant = VARIANT_OF[role];
            return { role, variant, dir: resolveGeneratorDir(ctx.store.home, opts.dataset, variant, opts.generators ? path.join(opts.generators, variant) : undefined) };
          });
        for (const dir of ablate.includes('lambda') ? (opts.lambdaModels as string[]) : []) {
          if (!fs.existsSync(path.join(dir, 'generator.json'))) throw new RagarError(`--lambda-models: no generator in ${dir} (generator.json missing); train one with \`ragar train generator --lambda X --out ${dir}\``, 'NOT_FOUND');
        }
        const rc = prepareRanking(view);
        const setup = generationSetupFrom(rc, ctx.store.home);
        const instrumentsRanker = rankerChecksum(ctx.store.home, opts.dataset);
        const engines: EvalEngines = {};
        const opened: EvalEngine[] = [];
        let image: ImageEncoder | undefined;
        let style: ImageEncoder | undefined;
        let clip: ClipEncoders | undefined;
        const controller = new AbortController();
        const onSigint = interruptHandler(controller, () => ctx.note('\ninterrupted: finishing the current task; finished results stay cached (Ctrl-C again to quit at once)'));
        try {
          for (const { role, variant, dir } of dirs) {
            const e = await loadEngine(dir, variant, variant);
            opened.push(e);
            engines[role] = e;
          }
          if (ablate.includes('lambda')) {
            engines.lambdaModels = [];
            for (const dir of opts.lambdaModels as string[]) {
              const e = await loadEngine(dir, `--lambda-models ${dir}:`, null);
              opened.push(e);
              engines.lambdaModels.push(e);
            }
          }
          if (clipPath) {
            const { createClipEncoders } = await import('../../encoders/clip.js');
            clip = await createClipEncoders({ modelPath: clipPath });
          }
          const instruments = openTaskInstruments(setup, {
            split: opts.split,
            seed: opts.seed,
            jointDir: jointSpaceDir(ctx.store.home, opts.dataset),
            clip: clip ?? null,
            histK: opts.histK,
            otherUsers: opts.otherUsers,
            rankerKey: instrumentsRanker,
          });
          if (instruments.jointNote) ctx.note(`note: ${instruments.jointNote}`);
          image = await createImageEncoder({ workers: opts.workers });
          style = await createImageEncoder({ image: 'style-stats' });
          const reportDir = path.resolve(opts.report);
          fs.mkdirSync(reportDir, { recursive: true });
          const engineOptions = { ...(opts.steps ? { steps: opts.steps } : {}), ...(opts.strength ? { strength: opts.strength } : {}) };
          const command = ['ragar', ...process.argv.slice(2)].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ');
          process.on('SIGINT', onSigint);
          const run = await runEvaluation(setup, instruments, engines, { image, style }, {
            split: opts.split,
            tasks: opts.tasks,
            seed: opts.seed,
            methods: methods as EvalMethodName[],
            candidates: opts.candidates,
            ablate: ablate as AblationParameter[],
            ablationTasks: opts.ablationTasks,
            gridTasks: opts.gridTasks,
            resamples: opts.resamples,
            engineOptions,
            cacheDir: path.join(reportDir, '.cache', 'runs'),
            command,
            retrievalSource: setup.retrievalSource,
            rankerKey: instrumentsRanker,
            progress: ctx.progress,
            signal: controller.signal,
            note: ctx.note,
          });
          const written = await writeReport(reportDir, run.report, run.images, { html: { chartMetrics: ['style', 'concept', 'rankerTop1'].filter((k) => run.report.metrics.some((m) => m.key === k)) } });
          const perTaskFile = path.join(reportDir, 'per-task.csv');
          await writeFileAtomic(perTaskFile, perTaskCsv(run.perTask, run.report.metrics));
          const json = metricsJson(run.report);
          const files = { html: written.html, json: written.json, csv: written.csv, intervalsCsv: written.intervalsCsv, perTaskCsv: perTaskFile };
          ctx.emit({ ...json, files, prepared }, () => textSummary(run.report, files.html));
        } finally {
          process.off('SIGINT', onSigint);
          for (const e of opened) await e.engine.dispose();
          await image?.dispose();
          await style?.dispose();
          if (clip) await Promise.all([clip.image.dispose(), clip.text.dispose()]);
        }
      }),
    );
}

/** The compact stdout summary: one row per method, the main metrics, and RAGAR's intervals on style accuracy. */
function textSummary(report: Awaited<ReturnType<typeof runEvaluation>>['report'], html: string): string {
  const columns = [
    ['style', 'style'],
    ['concept', 'concept'],
    ['targetSsim', 'tSSIM'],
    ['perceptual', 'percept'],
    ['cis', 'CIS'],
    ['cs', 'CS'],
    ['histCis', 'H-CIS'],
    ['histSsim', 'H-SSIM'],
    ['frechet', 'FD'],
    ['rankerScore', 'R'],
    ['rankerTop1', 'R top1'],
    ['clipCis', 'CLIP-CIS'],
    ['clipHistCis', 'CLIP-HCIS'],
  ].filter(([k]) => report.metrics.some((m) => m.key === k));
  const spec = new Map(report.metrics.map((m) => [m.key, m]));
  const width = Math.max(8, ...report.methods.map((m) => m.name.length)) + 2;
  const lines = [
    `${report.dataset} ${report.split}: ${report.methods[0]?.n ?? 0} tasks`,
    `${'method'.padEnd(width)}${columns.map(([, h]) => h.padStart(9)).join('')}`,
    ...report.methods.map((m) => `${m.name.padEnd(width)}${columns.map(([k]) => formatMetric(m.values[k], spec.get(k)!).padStart(9)).join('')}`),
  ];
  const style = report.intervals.filter((iv) => iv.metric === 'style' || iv.metric === 'rankerScore');
  if (style.length) {
    lines.push('paired bootstrap, ragar − other (95% interval):');
    for (const iv of style) {
      const m = spec.get(iv.metric)!;
      const f = (x: number) => (m.format === 'percent' ? `${(100 * x).toFixed(1)} pp` : x.toFixed(3));
      lines.push(`  ${iv.metric.padEnd(12)} vs ${iv.b.padEnd(width)} ${f(iv.diff).padStart(9)}  [${f(iv.lo)}, ${f(iv.hi)}]  p ${iv.pValue < 0.001 ? '<0.001' : iv.pValue.toFixed(3)}`);
    }
  }
  for (const ab of report.ablations) {
    const m = spec.get('style')!;
    lines.push(`ablation ${ab.parameter}: ${ab.settings.map((s) => `${s.value}${s.isDefault ? '*' : ''} ${formatMetric(s.values.style, m)}`).join(', ')} (style acc.; * = default)`);
  }
  lines.push(`report: ${html}`);
  return lines.join('\n');
}
