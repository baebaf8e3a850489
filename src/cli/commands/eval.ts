import fs from 'node:fs';
import { Command, Option } from 'commander';
import { ENGINE_CONFIG_FILE, loadEngineConfig, openRemoteEngine, REMOTE_ENGINES, type RemoteEngineName } from '../../generation/engineConfig.js';
import type { RemoteGeneratorEngine } from '../../generation/remote/engine.js';
import { ABLATION_PARAMETERS, DEFAULT_EVAL_METHODS, EVAL_METHOD_NAMES } from '../../evaluation/harness.js';
import { formatMetric } from '../../evaluation/report/html.js';
import type { EvalReport } from '../../evaluation/report/types.js';
import { checkEvalSelection, evaluateHome } from '../../evaluation/run.js';
import { prepareEvaluation, type PreparationSummary } from '../../pipeline/prepare.js';
import { RagarError } from '../../util/errors.js';
import { withStore } from '../context.js';
import { intOption, listOption, numberOption } from '../options.js';

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
    .option('--cfg <x>', "built-in generators: classifier-free guidance scale (1 = plain conditional output); default: the fitted finishing's, else the engine's", numberOption(0, 20))
    .option('--cfg-jitter <x>', "built-in generators: spread of the per-candidate guidance scales (0 = all at --cfg); default: the engine's", numberOption(0, 2))
    .option('--sharpen <sigma>', "built-in generators: unsharp-mask sigma of the outputs (0 = none); default: the fitted finishing's, else the engine's", numberOption(0, 10))
    .option('--engine <name>', 'generator of every generating method: builtin (the trained generators) | comfyui | a1111 (image-prompt engines; also evaluates reference-only imports such as PMG-Bench)', 'builtin')
    .option('--comfy-url <urls>', 'ComfyUI server(s), comma-separated; overrides engines.comfyui.urls of the config file')
    .option('--a1111-url <urls>', 'AUTOMATIC1111 web UI(s), comma-separated; overrides engines.a1111.urls of the config file')
    .option('--config <file>', `engine settings file (default: ./${ENGINE_CONFIG_FILE} when present)`)
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
        checkEvalSelection(opts.methods, opts.ablate);
        const clipPath: string | undefined = opts.clip ?? ctx.env.clip;
        const known = ['builtin', ...REMOTE_ENGINES];
        if (!known.includes(opts.engine)) throw new RagarError(`unknown engine ${JSON.stringify(opts.engine)} (known: ${known.join(', ')})`, 'BAD_INPUT');
        const remote = opts.engine !== 'builtin' ? (opts.engine as RemoteEngineName) : null;
        if (!remote && (opts.comfyUrl || opts.a1111Url)) throw new RagarError('--comfy-url and --a1111-url need --engine comfyui or a1111', 'USAGE');
        if ((remote === 'comfyui' && opts.a1111Url) || (remote === 'a1111' && opts.comfyUrl)) throw new RagarError(`--engine ${remote} takes ${remote === 'comfyui' ? '--comfy-url' : '--a1111-url'}`, 'USAGE');
        let external: { engine: RemoteGeneratorEngine; key: string; description: string } | undefined;
        if (remote) {
          const configFile: string | null = opts.config ?? (fs.existsSync(ENGINE_CONFIG_FILE) ? ENGINE_CONFIG_FILE : null);
          const config = configFile ? loadEngineConfig(configFile) : null;
          const urls = String((remote === 'comfyui' ? opts.comfyUrl : opts.a1111Url) ?? '').split(',').map((u) => u.trim()).filter(Boolean);
          const engine = openRemoteEngine(remote, config, urls);
          // The cache key: the engine's settings without the servers (the same model on another server gives the same images).
          const { urls: _servers, ...settings } = (config?.engines[remote] ?? {}) as Record<string, unknown>;
          external = { engine, key: JSON.stringify(settings), description: `${remote} at ${engine.core.pool.servers.join(', ')}` };
        }

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

        const controller = new AbortController();
        const onSigint = interruptHandler(controller, () => ctx.note('\ninterrupted: finishing the current task; finished results stay cached (Ctrl-C again to quit at once)'));
        process.on('SIGINT', onSigint);
        try {
          const command = ['ragar', ...process.argv.slice(2)].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ');
          const result = await evaluateHome(ctx.store, {
            dataset: opts.dataset,
            split: opts.split,
            report: opts.report,
            methods: opts.methods,
            ablate: opts.ablate,
            tasks: opts.tasks,
            ablationTasks: opts.ablationTasks,
            gridTasks: opts.gridTasks,
            candidates: opts.candidates,
            seed: opts.seed,
            resamples: opts.resamples,
            otherUsers: opts.otherUsers,
            histK: opts.histK,
            generators: opts.generators,
            lambdaModels: opts.lambdaModels,
            steps: opts.steps,
            strength: opts.strength,
            cfgScale: opts.cfg,
            cfgJitter: opts.cfgJitter,
            sharpen: opts.sharpen,
            engine: external,
            clip: clipPath,
            workers: opts.workers,
            command,
            progress: ctx.progress,
            note: ctx.note,
            signal: controller.signal,
          });
          ctx.emit({ ...result.metrics, files: result.files, prepared }, () => textSummary(result.report, result.files.html));
        } finally {
          process.off('SIGINT', onSigint);
          await external?.engine.dispose();
        }
      }),
    );
}

/** The compact stdout summary: one row per method, the main metrics, and RAGAR's intervals on style accuracy. */
function textSummary(report: EvalReport, html: string): string {
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
    ['histCs', 'H-CS'],
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
  const byTarget = report.methods.filter((m) => m.styleByTarget && Object.keys(m.styleByTarget).length);
  if (byTarget.length) {
    lines.push('style accuracy by target style:');
    for (const m of byTarget) lines.push(`  ${m.name.padEnd(width)}${Object.entries(m.styleByTarget!).map(([s, v]) => `${s} ${(100 * v).toFixed(1)}%`).join('  ')}`);
  }
  const style = report.intervals.filter((iv) => iv.metric === 'style' || iv.metric === 'rankerScore');
  if (style.length) {
    lines.push('paired bootstrap, ragar − other (95% interval):');
    for (const iv of style) {
      const m = spec.get(iv.metric)!;
      const f = (x: number) => (m.format === 'percent' ? `${(100 * x).toFixed(1)} pp` : x.toFixed(3));
      lines.push(`  ${iv.metric.padEnd(12)} vs ${iv.b.padEnd(width)} ${f(iv.diff).padStart(9)}  [${f(iv.lo)}, ${f(iv.hi)}]  p ${iv.pValue < 0.001 ? '<0.001' : iv.pValue.toFixed(3)}`);
    }
  }
  const abKey = spec.has('style') ? 'style' : 'rankerScore';
  for (const ab of report.ablations) {
    const m = spec.get(abKey)!;
    lines.push(`ablation ${ab.parameter}: ${ab.settings.map((s) => `${s.value}${s.isDefault ? '*' : ''} ${formatMetric(s.values[abKey], m)}`).join(', ')} (${abKey === 'style' ? 'style acc.' : 'ranker score'}; * = default)`);
  }
  lines.push(`report: ${html}`);
  return lines.join('\n');
}
