import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { createImageEncoder, createTextEncoder } from '../../encoders/registry.js';
import { decodePixels64 } from '../../encoders/pixels.js';
import { evaluateGeneration, type RunSpec } from '../../evaluation/generation.js';
import { toModelSpace } from '../../generation/builtin/data.js';
import type { Finishing, FinishingOption } from '../../generation/builtin/finishing.js';
import { BuiltinGenerator } from '../../generation/builtin/model.js';
import { conditionMontage } from '../../generation/builtin/montage.js';
import { generateFor, generationPreference, personalizeItem } from '../../pipeline/personalize.js';
import { checkpointWarning, openBuiltinEngine, openGenerationSetup, resolveGeneratorDir, type GeneratorVariant } from '../../pipeline/setup.js';
import { warningText, type GeneratorEngine, type GeneratorEngineV1, type GeneratorResultV1 } from '../../generation/types.js';
import { ENGINE_CONFIG_FILE, loadEngineConfig, openRemoteEngine, REMOTE_ENGINES, type RemoteEngineName } from '../../generation/engineConfig.js';
import { loadDistilledTower } from '../../ranking/distill.js';
import { meanOverSeeds, parseSeeds } from '../../evaluation/seedMeans.js';
import { RagarError } from '../../util/errors.js';
import { withStore } from '../context.js';
import { intOption, numberOption } from '../options.js';
import { writeFileAtomicSync } from '../../util/persist.js';

/**
 * The record's `engine` block: provider and model, and for engines that report it
 * (`providerMetadata[provider]`, the remote engines) exactly what reached the server (`sent`:
 * per candidate the image prompts with their weights, prompt, strength, seed, server) and the
 * image-prompt selection; `returned` lists what came back (seed, bytes, SHA-256, the file written).
 */
function engineRecord(result: GeneratorResultV1, files: string[]): Record<string, unknown> {
  const { provider, modelId, timings } = result.response;
  return {
    provider,
    modelId,
    ...(result.providerMetadata?.[provider] ?? {}),
    returned: result.candidates.map((c, i) => ({ seed: c.seed, bytes: c.png.length, sha256: createHash('sha256').update(c.png).digest('hex'), milliseconds: c.milliseconds, file: files[i] })),
    timings,
  };
}

async function readImageFile(file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (err) {
    throw new RagarError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'BAD_INPUT');
  }
}

/** `ragar generate`: one personalised image, and `ragar generate evaluate`. */
export function generateCommand(): Command {
  const generate = new Command('generate')
    .description(
      "re-render a reference into the version a user would prefer (RAGAR): weight the user's history against the reference, " +
        'build the preference, generate candidates with the built-in generator or a ComfyUI / AUTOMATIC1111 server (the weights become image-prompt weights), choose by ranker + semantic score; ' +
        'writes the chosen image, the candidates and record.json to --out',
    )
    .option('--dataset <name>', 'dataset', 'emoji-styles')
    .option('--user <id>', 'user id')
    .option('--reference <item>', 'reference item id')
    .option('--reference-image <file>', 'or: a reference image file (any size, format or colour mode) …')
    .option('--reference-text <text>', '… with its text')
    .option('--engine <name>', 'generator engine: builtin | comfyui | a1111', 'builtin')
    .option('--comfy-url <urls>', 'ComfyUI server(s), comma-separated (several form one pool); overrides engines.comfyui.urls of the config file')
    .option('--a1111-url <urls>', 'AUTOMATIC1111 web UI(s) started with --api, comma-separated; overrides engines.a1111.urls of the config file')
    .option('--config <file>', `engine settings file (default: ./${ENGINE_CONFIG_FILE} when present)`)
    .option('--search-rounds <n>', 'comfyui/a1111: the rank-task search, N rounds varying strength, image-prompt scale and seeds, keeping what the ranker scores highest (--candidates images per call)', intOption(1))
    .option('--candidates <m>', 'candidates to generate and choose from', intOption(1), 4)
    .option('--lambda <x>', 'rank-loss weight of the generator: > 0 uses the ragar model (and ranker selection), 0 the ragar-norank model', numberOption(0, 100), 0.01)
    .option('--weights <kind>', 'history weighting: retrieval | uniform', 'retrieval')
    .option('--steps <n>', 'DDIM sampling steps (default: the model\'s)', intOption(1))
    .option('--guidance <x>', 'ranker guidance strength while sampling (0 = off; needs `ragar rank distill`)', numberOption(0, 1000), 0)
    .option('--strength <x>', "where sampling starts: 1 = pure noise, below 1 = the reference noised to that level (img2img); default: the model's", numberOption(0.01, 1))
    .option('--seed <n>', 'seed of the first candidate', intOption(0), 1)
    .option('--generator <dir>', 'generator weights folder (default: trained in the data home, else shipped)')
    .option('--out <dir>', 'output folder')
    .action(async (opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        const known = ['builtin', ...REMOTE_ENGINES];
        if (!known.includes(opts.engine)) throw new RagarError(`unknown engine ${JSON.stringify(opts.engine)} (known: ${known.join(', ')})`, 'BAD_INPUT');
        const remote = opts.engine !== 'builtin' ? (opts.engine as RemoteEngineName) : null;
        if (!remote && (opts.comfyUrl || opts.a1111Url || opts.searchRounds)) throw new RagarError('--comfy-url, --a1111-url and --search-rounds need --engine comfyui or a1111', 'USAGE');
        if (remote === 'comfyui' && opts.a1111Url) throw new RagarError('--a1111-url is for --engine a1111 (ComfyUI servers: --comfy-url)', 'USAGE');
        if (remote === 'a1111' && opts.comfyUrl) throw new RagarError('--comfy-url is for --engine comfyui (AUTOMATIC1111 servers: --a1111-url)', 'USAGE');
        if (remote && (opts.steps || opts.guidance > 0 || opts.generator)) throw new RagarError(`--steps, --guidance and --generator are built-in engine options; set ${remote}'s steps in the config file`, 'USAGE');
        if (!opts.user) throw new RagarError('--user is required', 'USAGE');
        if (!opts.out) throw new RagarError('--out DIR is required', 'USAGE');
        if (!['retrieval', 'uniform'].includes(opts.weights)) throw new RagarError(`--weights must be retrieval or uniform, got ${JSON.stringify(opts.weights)}`, 'BAD_INPUT');
        if (Boolean(opts.reference) === Boolean(opts.referenceImage)) throw new RagarError('give either --reference ITEM or --reference-image FILE --reference-text TEXT', 'USAGE');
        if (opts.referenceImage && !opts.referenceText) throw new RagarError('--reference-image needs --reference-text (what the item is)', 'USAGE');
        const started = performance.now();
        const setup = openGenerationSetup(ctx.store, opts.dataset);
        const view = setup.rc.view;
        view.user(opts.user); // unknown user → clear error before any model loads
        const useRank = opts.lambda > 0;
        const variant: GeneratorVariant = useRank ? 'ragar' : 'ragar-norank';
        const reference = opts.reference ? view.item(opts.reference) : { image: await readImageFile(opts.referenceImage), text: opts.referenceText as string, source: opts.referenceImage as string };
        const tower = opts.guidance > 0 ? (await loadDistilledTower(ctx.store.home, setup.rc)).tower : null;
        const image = await createImageEncoder({ workers: 0 });
        const style = await createImageEncoder({ image: 'style-stats' });
        const text = opts.reference ? undefined : await createTextEncoder();
        let opened: Awaited<ReturnType<typeof openBuiltinEngine>> | undefined;
        let engine: GeneratorEngineV1 | undefined;
        try {
          if (remote) {
            const configFile: string | null = opts.config ?? (fs.existsSync(ENGINE_CONFIG_FILE) ? ENGINE_CONFIG_FILE : null);
            const urls = String((remote === 'comfyui' ? opts.comfyUrl : opts.a1111Url) ?? '').split(',').map((u) => u.trim()).filter(Boolean);
            engine = openRemoteEngine(remote, configFile ? loadEngineConfig(configFile) : null, urls);
          } else {
            opened = await openBuiltinEngine(ctx.store.home, opts.dataset, variant, { tower, dir: opts.generator });
            const warning = checkpointWarning(opened.dir, opened.meta);
            if (warning) ctx.warn(warning);
            engine = opened.engine;
          }
          const loadMs = performance.now() - started;
          const { preference, result, selection: sel, search } = await personalizeItem(setup, engine, { image, style, text }, {
            user: opts.user,
            reference,
            weighting: opts.weights,
            rankerSelection: useRank,
            candidates: opts.candidates,
            seed: opts.seed,
            providerOptions: remote ? {} : { builtin: { ...(opts.steps ? { steps: opts.steps } : {}), ...(opts.strength ? { strength: opts.strength } : {}), guidance: opts.guidance } },
            ...(remote && opts.strength ? { strength: opts.strength } : {}),
            ...(opts.searchRounds ? { search: { rounds: opts.searchRounds } } : {}),
            onProgress: (e) => ctx.progress.update(e.done),
          });
          fs.mkdirSync(opts.out, { recursive: true });
          const files: string[] = [];
          result.candidates.forEach((c, i) => {
            const f = path.join(opts.out, `candidate-${i + 1}-seed${c.seed}.png`);
            writeFileAtomicSync(f, c.png);
            files.push(f);
          });
          const chosenFile = path.join(opts.out, 'chosen.png');
          writeFileAtomicSync(chosenFile, result.candidates[sel.chosen].png);
          const record = {
            user: opts.user,
            reference: 'externalId' in reference ? { item: reference.externalId, title: reference.title, style: reference.style } : { file: opts.referenceImage, text: opts.referenceText },
            engine: engineRecord(result, files),
            ...(opened
              ? {
                  generator: {
                    variant,
                    dir: opened.dir,
                    format: opened.meta.format,
                    // the fitted per-style finishing applied to the outputs (null = none)
                    finishing: finishingRecord(opened.finishing),
                  },
                }
              : {}),
            settings: {
              weights: opts.weights,
              lambda: opts.lambda,
              candidates: opts.candidates,
              seed: opts.seed,
              steps: opts.steps ?? null,
              strength: opts.strength ?? null,
              guidance: opts.guidance,
              retrieval: setup.retrieval,
              retrievalSource: setup.retrievalSource,
              selection: search ? `search: the highest ranker score over ${search.rounds} rounds` : useRank ? 'best rank sum of ranker score and semantic score' : 'semantic score',
            },
            ...(search ? { search } : {}),
            retrievalWeights: preference.history.filter((h) => h.weight > 0).map((h) => ({ item: h.item, title: h.title, style: h.style, weight: h.weight, similarity: h.similarity })),
            keywords: preference.keywords,
            candidates: sel.scores.map((s, i) => ({ file: files[i], ...s })),
            chosen: { index: sel.chosen, file: chosenFile },
            timings: { loadMs, ...result.response.timings, perCandidateMs: result.candidates[0].milliseconds },
            warnings: result.warnings.map(warningText),
          };
          writeFileAtomicSync(path.join(opts.out, 'record.json'), `${JSON.stringify(record, null, 2)}\n`);
          const top = record.retrievalWeights.slice().sort((a, b) => b.weight - a.weight).slice(0, 5);
          ctx.emit(record, () =>
            [
              `user ${opts.user}, reference ${'externalId' in reference ? reference.externalId : opts.referenceImage} (${opts.weights} weights, ${remote ? `${remote} ${result.response.modelId}` : variant})`,
              ...(search ? [`  search: ${search.rounds} rounds, ${search.calls.length} calls, ${search.images} images; best from round ${search.best.round} (strength ${search.best.strength}, image-prompt scale ${search.best.imagePromptScale})`] : []),
              `  history: ${top.map((h) => `${h.title} [${h.style}] ${h.weight.toFixed(2)}`).join('; ')}`,
              ...sel.scores.map((s, i) => `  candidate ${i + 1} seed ${s.seed}: ranker ${s.rankerScore.toFixed(3)}  semantic ${s.semanticScore.toFixed(3)}${s.chosen ? '  ← chosen' : ''}`),
              `  wrote ${chosenFile}, ${files.length} candidates and record.json; ${record.timings.perCandidateMs.toFixed(0)} ms per candidate`,
            ].join('\n'),
          );
        } finally {
          await engine?.dispose();
          await image.dispose();
          await style.dispose();
          await text?.dispose();
        }
      }),
    );

  generate
    .command('montage')
    .description(
      'a condition montage of a generator: for test-split (or --split) concepts, the reference, the output under each one-hot style condition, ' +
        'the unconditioned output and the real renditions; writes a PNG and prints the column order',
    )
    .option('--variant <name>', 'generator variant (ragar | ragar-norank | l1)', 'ragar')
    .option('--generator <dir>', 'generator weights folder (default: trained in the data home, else shipped)')
    .option('--split <name>', 'split whose concepts are drawn', 'test')
    .option('--concepts <n>', 'rows', intOption(1), 8)
    .option('--cfg <x>', "classifier-free guidance scale (default: 1; with --delivered the engine's: the fitted finishing's, else 2)", numberOption(0, 20))
    .option('--delivered', "show the outputs as the engine delivers them: sharpened and through the generator's fitted finishing (default: as the network draws them)")
    .option('--out <file>', 'PNG to write', 'montage.png')
    .action(async (_opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        const opts = cmd.optsWithGlobals();
        const setup = openGenerationSetup(ctx.store, opts.dataset);
        const view = setup.rc.view;
        const dir = resolveGeneratorDir(ctx.store.home, opts.dataset, opts.variant as GeneratorVariant, opts.generator);
        const { generator } = await BuiltinGenerator.load(dir);
        try {
          const split = view.conceptSplits();
          const byConcept = new Map<string, Map<string, string>>();
          for (const it of view.items().values()) {
            if (!it.concept || !it.style || !it.imageHash || split.get(it.concept) !== opts.split) continue;
            const m = byConcept.get(it.concept) ?? new Map<string, string>();
            m.set(it.style, it.imageHash);
            byConcept.set(it.concept, m);
          }
          const styles = generator.config.conditioner.classes;
          const concepts = [...byConcept].filter(([, m]) => styles.every((s) => m.has(s))).slice(0, opts.concepts);
          if (!concepts.length) throw new RagarError(`no ${opts.split} concept is drawn in every style`, 'BAD_INPUT');
          const rows = [];
          for (const [i, [, m]] of concepts.entries()) {
            const real = new Map<string, Float32Array>();
            for (const s of styles) real.set(s, toModelSpace(await decodePixels64(view.store.images.read(m.get(s)!))));
            rows.push({ reference: real.get(styles[i % styles.length])!, real });
          }
          const { png, columns } = await conditionMontage(generator, rows, { scale: opts.cfg, delivered: Boolean(opts.delivered) });
          fs.mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true });
          fs.writeFileSync(opts.out, png);
          ctx.emit({ file: opts.out, generator: dir, columns, concepts: concepts.map(([c]) => c) }, () => `wrote ${opts.out} (${concepts.length} rows; columns: ${columns.join(' | ')})`);
        } finally {
          await generator.dispose();
        }
      }),
    );

  generate
    .command('evaluate')
    .description(
      "evaluate the built-in generator on a split's tasks: the four runs retrieval+rank, retrieval, uniform+rank, uniform; the oracle run (the λ > 0 generator conditioned on the true target style); " +
        'the L1 translator baseline; copy-of-reference and real-target ceilings; style accuracy, concept top-1 of 10, SSIM, Fréchet distance, ranker score; seconds per image',
    )
    .option('--split <name>', 'split', 'test')
    .option('--tasks <n>', 'most tasks (0 = all)', intOption(0), 0)
    .option('--candidates <m>', 'candidates per output in the +rank runs', intOption(1), 4)
    .option('--seed <n>', 'seed', intOption(0), 1)
    .option(
      '--seeds <list>',
      'evaluate at several seeds (e.g. 1-5 or 1,2,7; each re-draws the candidates, the style judge\'s training order and the concept distractors): ' +
        'runs then holds the means over the seeds (styleConfusion: the counts summed), bySeed each seed\'s runs; instead of --seed',
    )
    .option('--speed-runs <n>', 'single-candidate generations timed for secondsPerImage', intOption(0), 20)
    .option('--steps <n>', 'DDIM sampling steps (default: the models\')', intOption(1))
    .option('--strength <x>', "sampling start (diffusion models: 1 = pure noise, below 1 = noised reference); default: the models'", numberOption(0.01, 1))
    .option('--cfg <x>', "classifier-free guidance scale (1 = plain conditional output); default: the fitted finishing's, else the engine's", numberOption(0, 20))
    .option('--cfg-jitter <x>', 'spread of the per-candidate guidance scales (0 = all at --cfg)', numberOption(0, 2))
    .option('--sharpen <sigma>', 'unsharp-mask sigma applied to the outputs (0 = none); default: the fitted finishing\'s, else the engine\'s', numberOption(0, 10))
    .option('--no-finishing', "leave the outputs as drawn and sharpened: skip the generators' fitted per-style finishing (finishing.json, `ragar train finishing`)")
    .option('--runs <names>', 'comma-separated subset of the runs (default: all): retrieval+rank, retrieval, uniform+rank, uniform, oracle, l1Regressor')
    .option('--generators <dir>', "folder with one subfolder per variant used (ragar, ragar-norank, l1), to evaluate weights trained elsewhere; default: the data home's, else the shipped weights")
    .action(async (_opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        const opts = cmd.optsWithGlobals();
        const setup = openGenerationSetup(ctx.store, opts.dataset);
        const image = await createImageEncoder();
        const style = await createImageEncoder({ image: 'style-stats' });
        const engines: GeneratorEngine[] = [];
        try {
          const open = async (variant: GeneratorVariant) => {
            const opened = await openBuiltinEngine(ctx.store.home, opts.dataset, variant, opts.generators ? { dir: path.join(opts.generators, variant) } : {});
            const warning = checkpointWarning(opened.dir, opened.meta);
            if (warning) ctx.warn(warning);
            const e = opened.engine;
            engines.push(e);
            return e;
          };
          const builtin = {
            ...(opts.steps ? { steps: opts.steps } : {}),
            ...(opts.strength ? { strength: opts.strength } : {}),
            ...(opts.cfg !== undefined ? { cfgScale: opts.cfg } : {}),
            ...(opts.cfgJitter !== undefined ? { cfgJitter: opts.cfgJitter } : {}),
            ...(opts.sharpen !== undefined ? { sharpen: opts.sharpen } : {}),
            ...(opts.finishing === false ? { finishing: false } : {}),
          };
          const providerOptions = { builtin };
          const wanted = opts.runs ? new Set(String(opts.runs).split(',').map((x) => x.trim())) : null;
          const need = (names: string[]) => !wanted || names.some((n) => wanted.has(n));
          const ragar = need(['retrieval+rank', 'uniform+rank', 'oracle']) || opts.speedRuns > 0 ? await open('ragar') : null!;
          const norank = need(['retrieval', 'uniform']) ? await open('ragar-norank') : null!;
          const l1 = need(['l1Regressor']) ? await open('l1') : null!;
          const allRuns: RunSpec[] = [
            { name: 'retrieval+rank', engine: ragar, weighting: 'retrieval', rankerSelection: true, candidates: opts.candidates, providerOptions },
            { name: 'retrieval', engine: norank, weighting: 'retrieval', rankerSelection: false, candidates: 1, providerOptions },
            { name: 'uniform+rank', engine: ragar, weighting: 'uniform', rankerSelection: true, candidates: opts.candidates, providerOptions },
            { name: 'uniform', engine: norank, weighting: 'uniform', rankerSelection: false, candidates: 1, providerOptions },
            { name: 'oracle', engine: ragar, weighting: 'retrieval', rankerSelection: true, candidates: opts.candidates, providerOptions, oracle: true },
            { name: 'l1Regressor', engine: l1, weighting: 'retrieval', rankerSelection: false, candidates: 1, providerOptions },
          ];
          const known = new Set(allRuns.map((r) => r.name));
          for (const n of wanted ?? []) if (!known.has(n)) throw new RagarError(`unknown run ${JSON.stringify(n)} (known: ${[...known].join(', ')})`, 'BAD_INPUT');
          const runs = allRuns.filter((r) => !wanted || wanted.has(r.name));
          if (opts.seeds !== undefined && cmd.getOptionValueSourceWithGlobals('seed') === 'cli') throw new RagarError('give --seed or --seeds, not both', 'USAGE');
          const seeds = opts.seeds !== undefined ? parseSeeds(String(opts.seeds)) : [opts.seed as number];
          const results: Awaited<ReturnType<typeof evaluateGeneration>>[] = [];
          for (const [i, seed] of seeds.entries()) {
            if (seeds.length > 1) ctx.note(`seed ${seed} (${i + 1} of ${seeds.length}) …`);
            results.push(await evaluateGeneration(setup, runs, { image, style }, { split: opts.split, tasks: opts.tasks, seed, progress: ctx.progress }));
          }
          const result = seeds.length > 1 ? { ...results[0], runs: meanRuns(results.map((r) => r.runs)), ceilings: meanOverSeeds(results.map((r) => r.ceilings)) } : results[0];
          // Speed: one candidate of the full model, median of --speed-runs (model already loaded).
          const times: number[] = [];
          const tasks = setup.rc.view.tasks(opts.split).filter((t) => t.targetItemId !== null);
          for (let i = 0; i < opts.speedRuns && tasks.length; i++) {
            const t = tasks[i % tasks.length];
            const ref = setup.rc.view.item(t.referenceItemId);
            const t0 = performance.now();
            const prepared = generationPreference(setup, t.userExternalId, { kind: 'item', item: ref }, 'retrieval');
            await generateFor(ragar, prepared, { image: setup.rc.view.store.images.read(ref.imageHash!), text: ref.text }, { user: t.userExternalId, candidates: 1, seed: i, providerOptions });
            times.push((performance.now() - t0) / 1000);
          }
          times.sort((a, b) => a - b);
          const { l1Regressor, ...fourRuns } = result.runs;
          const out = {
            dataset: result.dataset,
            split: result.split,
            tasks: result.tasks,
            runs: fourRuns,
            ceilings: { styleRealAccuracy: result.ceilings.styleRealAccuracy, conceptTop1Target: result.ceilings.conceptTop1Target, conceptTop1Copy: result.ceilings.conceptTop1Copy },
            baselines: { l1Regressor, copy: result.ceilings.copy },
            secondsPerImage: times.length ? times[Math.floor((times.length - 1) / 2)] : null,
            speedRuns: times.length,
            styleClassifier: result.styleClassifier,
            ...(seeds.length > 1 ? { seeds, bySeed: Object.fromEntries(results.map((r, i) => [String(seeds[i]), r.runs])) } : {}),
          };
          const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
          ctx.emit(out, () =>
            [
              `${out.dataset} ${out.split}: ${out.tasks} tasks${seeds.length > 1 ? `, means over seeds ${seeds.join(', ')}` : ''}`,
              '  run              style   concept   ssim   frechet   ranker',
              ...Object.entries({ ...fourRuns, ...(l1Regressor ? { l1Regressor } : {}), copy: result.ceilings.copy }).map(
                ([name, m]) => `  ${name.padEnd(15)} ${f(m.styleAccuracy)}   ${f(m.conceptTop1)}   ${f(m.ssim)}  ${f(m.frechet).padStart(7)}   ${f(m.userRankerScore)}`,
              ),
              '  style accuracy by target style:',
              ...Object.entries({ ...fourRuns, ...(l1Regressor ? { l1Regressor } : {}) }).map(
                ([name, m]) => `  ${name.padEnd(15)} ${Object.entries(m.styleAccuracyByTarget).map(([s, v]) => `${s} ${f(v)}`).join('  ')}`,
              ),
              ...(fourRuns.oracle
                ? [
                    '  oracle: style the classifier named, by target style (outputs):',
                    ...Object.entries(fourRuns.oracle.styleConfusion).map(
                      ([target, row]) => `  ${target.padEnd(15)} ${Object.entries(row).map(([named, count]) => `${named} ${count}`).join('  ')}`,
                    ),
                  ]
                : []),
              `  ceilings: style classifier on real held-out renditions ${f(out.ceilings.styleRealAccuracy)}; concept top-1 of the real target ${f(out.ceilings.conceptTop1Target)}, of the reference copy ${f(out.ceilings.conceptTop1Copy)}`,
              ...(seeds.length > 1
                ? [
                    '  style accuracy + concept top-1 by seed:',
                    ...Object.keys(result.runs).map((name) => `  ${name.padEnd(15)} ${results.map((r, i) => `${seeds[i]}: ${f(r.runs[name].styleAccuracy + r.runs[name].conceptTop1)}`).join('  ')}`),
                  ]
                : []),
              `  seconds per image (one candidate, median of ${out.speedRuns}): ${out.secondsPerImage === null ? 'n/a' : out.secondsPerImage.toFixed(3)}`,
            ].join('\n'),
          );
        } finally {
          for (const e of engines) await e.dispose();
          await image.dispose();
          await style.dispose();
        }
      }),
    );
  return generate;
}

/** What `record.json` says of the finishing applied to the outputs (null = none). */
function finishingRecord(finishing: Finishing | null): { sharpen: number | null; cfgScale: number | null; byStyle: Record<string, FinishingOption> } | null {
  if (!finishing) return null;
  return { sharpen: finishing.sharpen ?? null, cfgScale: finishing.cfgScale ?? null, byStyle: Object.fromEntries(finishing.classes.map((style, i) => [style, finishing.options[i]])) };
}

/** Each run's metrics averaged over seeds ({@link meanOverSeeds}), with the oracle's style confusion counts summed instead. */
function meanRuns<R extends { styleConfusion?: Record<string, Record<string, number>> }>(bySeed: readonly Record<string, R>[]): Record<string, R> {
  const means = meanOverSeeds(bySeed);
  for (const name of Object.keys(means)) {
    const counts: Record<string, Record<string, number>> = {};
    for (const runs of bySeed)
      for (const [target, row] of Object.entries(runs[name]?.styleConfusion ?? {}))
        for (const [named, n] of Object.entries(row)) (counts[target] ??= {})[named] = (counts[target][named] ?? 0) + n;
    if (means[name].styleConfusion) means[name] = { ...means[name], styleConfusion: counts };
  }
  return means;
}
