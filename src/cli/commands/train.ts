import { Command } from 'commander';
import path from 'node:path';
import { DEFAULT_JOINT } from '../../encoders/joint.js';
import { trainJointForDataset } from '../../encoders/trainJoint.js';
import { datasetDigest } from '../../data/digest.js';
import { loadGeneratorData } from '../../generation/builtin/data.js';
import { createBuiltinEngine } from '../../generation/builtin/engine.js';
import { createImageEncoder } from '../../encoders/registry.js';
import { describeFinishingOption, FINISHING_GUIDANCE_MULTIPLIERS, FINISHING_OPTIONS, GUIDED_FINISHING_OPTIONS, IMAGEQUANT_FINISHING_OPTIONS, paramsChecksum, saveFinishing } from '../../generation/builtin/finishing.js';
import { FINISHING_OBJECTIVES, fitFinishing, needsImageEncoder, validGuidanceMultipliers, type FinishingObjective } from '../../generation/builtin/finishingFit.js';
import { BuiltinGenerator } from '../../generation/builtin/model.js';
import { checkGeneratorTrainOptions, DEFAULT_GENERATOR_TRAIN, trainGenerator, type GeneratorTrainOptions } from '../../generation/builtin/train.js';
import { trainConceptCritic } from '../../pipeline/finishingCritic.js';
import { checkpointWarning, GENERATOR_VARIANTS, homeGeneratorDir, openGenerationSetup, resolveGeneratorDir, type GeneratorVariant } from '../../pipeline/setup.js';
import { loadDistilledTower } from '../../ranking/distill.js';
import { RagarError } from '../../util/errors.js';
import { withStore } from '../context.js';
import { intOption, listOption, numberOption } from '../options.js';

/** `ragar train …`: every model the project trains has its own command. */
export function trainCommand(): Command {
  const train = new Command('train').description('train the project\'s models (seed, split and training time are saved beside the weights)');
  train
    .command('joint')
    .description(
      'learn projections of image and text embeddings into one space (contrastive, CLIP-style) on the train split, ' +
        'so the embedded encoders give image–text scores; reports held-out image→text Recall@1/@10 against chance',
    )
    .option('--dataset <name>', 'dataset', 'emoji-styles')
    .option('--image-encoder <name>', 'image embeddings to use', 'mobilenet')
    .option('--text-encoder <name>', 'text embeddings to use', 'use')
    .option('--dimension <n>', 'joint space dimension', intOption(2), DEFAULT_JOINT.dimension)
    .option('--epochs <n>', 'epochs', intOption(1), DEFAULT_JOINT.epochs)
    .option('--batch-size <n>', 'pairs per batch (distinct texts)', intOption(2), DEFAULT_JOINT.batchSize)
    .option('--lr <x>', 'Adam learning rate', numberOption(1e-8, 10), DEFAULT_JOINT.learningRate)
    .option('--temperature <t>', 'contrastive softmax temperature', numberOption(1e-4, 10), DEFAULT_JOINT.temperature)
    .option('--seed <n>', 'seed', intOption(0), DEFAULT_JOINT.seed)
    .action(async (opts, cmd: Command) =>
      withStore(cmd, (ctx) => {
        const meta = trainJointForDataset(
          ctx.store,
          opts.dataset,
          { image: opts.imageEncoder, text: opts.textEncoder },
          {
            dimension: opts.dimension,
            epochs: opts.epochs,
            batchSize: opts.batchSize,
            learningRate: opts.lr,
            temperature: opts.temperature,
            seed: opts.seed,
            progress: ctx.progress,
          },
        );
        const h = meta.heldOut;
        ctx.emit(meta, () =>
          [
            `joint space ${meta.imageDim}+${meta.textDim} → ${meta.dimension}-d trained on ${meta.trainPairs} pairs in ${meta.trainSeconds.toFixed(1)} s (loss ${meta.losses[0].toFixed(3)} → ${meta.losses[meta.losses.length - 1].toFixed(3)}); saved to ${meta.dir}`,
            `held-out image→text over ${h.candidates} texts (${h.images} images): Recall@1 ${(100 * h.recallAt1).toFixed(1)}% (chance ${(100 * h.chanceAt1).toFixed(2)}%), Recall@10 ${(100 * h.recallAt10).toFixed(1)}% (chance ${(100 * h.chanceAt10).toFixed(2)}%)`,
          ].join('\n'),
        );
      }),
    );
  train
    .command('generator')
    .description(
      'train the built-in conditional generator on the train concepts of emoji-styles with L = L_gen + λ·L_rank ' +
        '(the rank loss goes through the distilled image tower: run `ragar rank distill` first for λ > 0); ' +
        'checkpoints every --checkpoint-every steps and resumes from them; seed, data, steps and wall time are saved in generator.json',
    )
    .option('--dataset <name>', 'dataset', 'emoji-styles')
    .option(
      '--variant <name>',
      `what to train: ${Object.keys(GENERATOR_VARIANTS).join(' | ')} (ragar: L1 + adversarial + rank loss, λ > 0; ragar-norank: the same with λ = 0; l1: the same network with L1 alone, the baseline)`,
      'ragar',
    )
    .option('--objective <name>', 'translator (one forward pass) or diffusion (DDIM denoiser)', DEFAULT_GENERATOR_TRAIN.objective)
    .option('--lambda <x>', 'weight of the rank loss (variant ragar; the others use 0)', numberOption(0, 100), DEFAULT_GENERATOR_TRAIN.lambda)
    .option('--adversarial <x>', 'weight of the PatchGAN hinge term (variants ragar and ragar-norank; l1 uses 0)', numberOption(0, 100), DEFAULT_GENERATOR_TRAIN.adversarial)
    .option('--discriminator <kind>', 'how the PatchGAN sees the condition: projection (condition planes plus a per-style projection logit per patch) or concat (condition planes only, as pix2pix)', DEFAULT_GENERATOR_TRAIN.discriminator)
    .option('--style-classifier <x>', 'weight of the auxiliary style classifier in the projection discriminator (AC-GAN; variants ragar and ragar-norank; 0 = off)', numberOption(0, 100), DEFAULT_GENERATOR_TRAIN.styleClassifier)
    .option('--fake-class', 'give the style classifier a (K+1)-th class, "generated", that the discriminator learns for the generator\'s outputs (semi-supervised GAN; off by default and for the shipped weights: measured without a clear gain)', DEFAULT_GENERATOR_TRAIN.fakeClass)
    .option('--no-residual', 'let the network draw the output itself instead of output = reference + the network\'s output (the residual output, the default and the shipped weights\' design, keeps the reference\'s drawing by construction)', DEFAULT_GENERATOR_TRAIN.residual)
    .option('--output-blur', 'blur after the pixel shuffle: a fixed [1, 2, 1]/4 filter on the network\'s unfolded output before the residual is added, against the period-2 grid of the sub-pixel planes', DEFAULT_GENERATOR_TRAIN.outputBlur)
    .option('--segment-pool', 'segment pooling: the network draws a gate plane that mixes each pixel with its mean over the reference\'s flat segment, so flat colour fields can be drawn exactly (off by default)', DEFAULT_GENERATOR_TRAIN.segmentPool)
    .option('--gradient-loss <x>', 'weight of the gradient-matching term: L1 between the output\'s and the target\'s neighbour differences, on the pixel L1 term\'s scale (pulls the output flat where the target is a flat colour field; 0 = off)', numberOption(0, 100), DEFAULT_GENERATOR_TRAIN.gradientLoss)
    .option('--reference-gradient-loss <x>', 'weight of the reference-structure term: L1 between the output\'s and the reference\'s neighbour differences (keeps the reference\'s edges, the drawing of the concept; 0 = off)', numberOption(0, 100), DEFAULT_GENERATOR_TRAIN.referenceGradientLoss)
    .option('--edge-keep-loss <x>', 'weight of the edge-keeping term: how much of each strong luminance edge of the reference the output loses (one-sided: new edges, colours and an edge\'s sign are free; 0 = off)', numberOption(0, 100), DEFAULT_GENERATOR_TRAIN.edgeKeepLoss)
    .option('--speckle-loss <x>', 'weight of the speckle term: L1 of the output\'s neighbour differences where neither the reference nor the target has an edge (forbids only the edges no drawing asks for; 0 = off)', numberOption(0, 100), DEFAULT_GENERATOR_TRAIN.speckleLoss)
    .option('--ema <decay>', 'keep an exponential moving average of the generator\'s weights with this decay (e.g. 0.999) and save it as the final weights; the raw weights stay beside them (raw.bin) for a resume (0 = off)', numberOption(0, 0.999999), DEFAULT_GENERATOR_TRAIN.ema)
    .option('--condition-dropout <x>', 'share of examples trained without a condition (for classifier-free guidance)', numberOption(0, 1), DEFAULT_GENERATOR_TRAIN.conditionDropout)
    .option('--one-hot-share <x>', 'share of examples conditioned on the target style itself', numberOption(0, 1), DEFAULT_GENERATOR_TRAIN.oneHotShare)
    .option('--threads <n>', 'onnxruntime threads per network (does not change the result)', intOption(1), DEFAULT_GENERATOR_TRAIN.threads)
    .option('--minutes <x>', 'wall-clock budget in minutes (0 = no limit: use --steps)', numberOption(0, 10_000), DEFAULT_GENERATOR_TRAIN.minutes)
    .option('--steps <n>', 'most optimiser steps (0 = no limit: use --minutes)', intOption(0), DEFAULT_GENERATOR_TRAIN.steps)
    .option('--batch-size <n>', 'examples per step', intOption(1), DEFAULT_GENERATOR_TRAIN.batchSize)
    .option('--lr <x>', 'Adam learning rate', numberOption(1e-8, 10), DEFAULT_GENERATOR_TRAIN.learningRate)
    .option('--base <n>', 'U-Net width of the first level', intOption(2), DEFAULT_GENERATOR_TRAIN.base)
    .option('--levels <n>', 'U-Net resolutions', intOption(1), DEFAULT_GENERATOR_TRAIN.levels)
    .option('--seed <n>', 'seed', intOption(0), DEFAULT_GENERATOR_TRAIN.seed)
    .option('--checkpoint-every <n>', 'steps between checkpoints', intOption(1), DEFAULT_GENERATOR_TRAIN.checkpointEvery)
    .option(
      '--init <dir>',
      'start from the weights in this generator folder (fine-tuning: same network shape; fresh discriminator and optimisers unless --init-state; the starting weights\' digest and training record are kept in generator.json). ' +
        'Fine-tuning ragar and ragar-norank from one trunk makes the λ ablation compare the rank loss alone (README, Generator: measured on valid, not shipped)',
    )
    .option('--init-state', 'with --init: also carry the discriminator and optimiser state of the checkpoint in that folder (one training wrote) instead of restarting them', false)
    .option('--out <dir>', 'where to write (default: <home>/models/<dataset>/generator/<variant>)')
    .action(async (opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        const variant = opts.variant as GeneratorVariant;
        if (!(variant in GENERATOR_VARIANTS)) throw new RagarError(`unknown variant ${JSON.stringify(variant)} (known: ${Object.keys(GENERATOR_VARIANTS).join(', ')})`, 'BAD_INPUT');
        const spec = GENERATOR_VARIANTS[variant];
        const lambda = spec.rank ? opts.lambda : 0;
        if (spec.rank && !(lambda > 0)) throw new RagarError('variant ragar trains with λ > 0; use --variant ragar-norank for λ = 0', 'BAD_INPUT');
        const objective = opts.objective as 'translator' | 'diffusion';
        if (objective !== 'translator' && objective !== 'diffusion') throw new RagarError(`--objective must be translator or diffusion, got ${JSON.stringify(opts.objective)}`, 'BAD_INPUT');
        const options: GeneratorTrainOptions = {
          ...DEFAULT_GENERATOR_TRAIN,
          objective: objective,
          lambda,
          adversarial: spec.adversarial ? opts.adversarial : 0,
          discriminator: opts.discriminator,
          styleClassifier: spec.adversarial ? opts.styleClassifier : 0,
          fakeClass: opts.fakeClass as boolean,
          residual: opts.residual as boolean,
          outputBlur: opts.outputBlur as boolean,
          segmentPool: opts.segmentPool as boolean,
          gradientLoss: opts.gradientLoss,
          referenceGradientLoss: opts.referenceGradientLoss,
          edgeKeepLoss: opts.edgeKeepLoss,
          speckleLoss: opts.speckleLoss,
          ema: opts.ema,
          conditionDropout: opts.conditionDropout,
          oneHotShare: opts.oneHotShare,
          threads: opts.threads,
          minutes: opts.minutes,
          steps: opts.steps,
          batchSize: opts.batchSize,
          learningRate: opts.lr,
          base: opts.base,
          levels: opts.levels,
          seed: opts.seed,
          checkpointEvery: opts.checkpointEvery,
          init: opts.init ? path.resolve(opts.init) : null,
          initState: opts.initState as boolean,
        };
        const dir = opts.out ?? homeGeneratorDir(ctx.store.home, opts.dataset, variant);
        checkGeneratorTrainOptions(dir, options); // before the images are decoded
        const setup = openGenerationSetup(ctx.store, opts.dataset);
        const tower = lambda > 0 ? await loadDistilledTower(ctx.store.home, setup.rc) : null;
        ctx.note('loading training images …');
        const data = await loadGeneratorData(setup.rc, setup.ranker, { progress: ctx.progress, splits: ['train'] });
        const controller = new AbortController();
        const onSigint = () => {
          ctx.note('\ninterrupted: finishing this step and saving a checkpoint …');
          controller.abort();
        };
        process.once('SIGINT', onSigint);
        try {
          const record = await trainGenerator(
            data,
            tower?.tower ?? null,
            dir,
            options,
            { progress: ctx.progress, note: ctx.note, signal: controller.signal, rankerSha256: tower ? tower.meta.rankerSha256 : null, datasetDigest: datasetDigest(ctx.store, opts.dataset) },
          );
          const last = record.lossCurve[record.lossCurve.length - 1];
          ctx.emit({ variant, dir, ...record }, () =>
            `${variant}: ${record.steps} steps (${record.samples} samples) in ${record.seconds.toFixed(0)} s, ${record.msPerSample.toFixed(1)} ms/sample; ` +
            `${record.parameters} parameters, ${(record.macsPerSample / 1e6).toFixed(0)} M multiply-adds per training image; last L1 ${last ? last.l1.toFixed(4) : 'n/a'}` +
            `${last?.dLoss != null ? `, D hinge ${last.dLoss.toFixed(3)}, G adversarial ${last.gAdv!.toFixed(3)}` : ''}; saved to ${dir}`,
          );
        } finally {
          process.off('SIGINT', onSigint);
        }
      }),
    );
  train
    .command('finishing')
    .description(
      "fit the built-in generator's per-style finishing (palette and median options, src/generation/builtin/finishing.ts) on train concepts: " +
        'for each style, the option whose finished outputs lie nearest to the real renditions of the same concepts by the objective; writes finishing.json beside the weights ' +
        '(the engine mixes the styles\' finishes by the condition; `generate evaluate --no-finishing` compares without it)',
    )
    .option('--dataset <name>', 'dataset', 'emoji-styles')
    .option('--variant <name>', `generator variant: ${Object.keys(GENERATOR_VARIANTS).join(' | ')}`, 'ragar')
    .option('--generator <dir>', 'generator weights folder; finishing.json is written there (default: the variant\'s in the data home, else the shipped one)')
    .option('--concepts <n>', 'train concepts per style', intOption(1), 100)
    .option('--cfg <x>', "classifier-free guidance scale of the outputs it finishes, saved with it as the engine's default scale while it is applied (default: the engine's)", numberOption(0, 20))
    .option('--sharpen <sigma>', "unsharp-mask sigma of the outputs it finishes, saved with it as the engine's default sharpening while it is applied (default: the engine's)", numberOption(0, 10))
    .option('--strength <x>', "sampling start of the outputs it finishes (diffusion models: 1 = pure noise); default: the model's", numberOption(0.01, 1))
    .option(
      '--objective <name>',
      "classifier: cross-entropy of the style under the generator's own style classifier (softmax over style statistics, fitted on train renditions); " +
        "critic: the same under a style critic of the evaluation judge's kind (MobileNetV2 features + style statistics) trained on the train concepts' real renditions; " +
        "judge: 2 − (style accuracy under that critic + concept top-1 among 9 distractor train concepts), the evaluation's two figures on the train outputs; " +
        "paired: style statistics, each output against its concept's real rendition; mean: a style's mean statistics against its renditions' mean; " +
        "perceptual: MobileNetV2 features, each output against its concept's real rendition (cosine); combined: paired + perceptual, each scaled by its mean over the options; " +
        'classifier is the shipped fits\' objective',
      'classifier',
    )
    .option('--family <name>', 'options to choose among: kmeans (median 3 or none × none or a k-means palette of 2–16 colours, 18 options), guided (kmeans plus a guided filter with the reference as the guide, radius 2 or 4 × ε 0.001 or 0.01, × none or a k-means palette: 54 options) or imagequant (the first family: × sharp\'s palette of 16, 4 or 2 colours, 8 options)', 'kmeans')
    .option(
      '--guidance-multipliers <list>',
      `comma-separated multipliers of the guidance scale to choose among per style (each style's outputs drawn at the scale times each; e.g. ${FINISHING_GUIDANCE_MULTIPLIERS.join(',')}); 1 = the engine's scale for every style`,
      listOption,
      ['1'],
    )
    .option('--threads <n>', 'threads of the image encoder (critic, judge, perceptual and combined objectives)', intOption(1), 1)
    .option('--seed <n>', 'seed', intOption(0), 1)
    .action(async (opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        const variant = opts.variant as GeneratorVariant;
        const dir = resolveGeneratorDir(ctx.store.home, opts.dataset, variant, opts.generator);
        const objective = opts.objective as FinishingObjective;
        if (!FINISHING_OBJECTIVES.includes(objective)) throw new RagarError(`--objective must be one of ${FINISHING_OBJECTIVES.join(', ')}, got ${JSON.stringify(opts.objective)}`, 'BAD_INPUT');
        const families: Record<string, typeof FINISHING_OPTIONS> = { kmeans: FINISHING_OPTIONS, guided: GUIDED_FINISHING_OPTIONS, imagequant: IMAGEQUANT_FINISHING_OPTIONS };
        const family = families[opts.family as string];
        if (!family) throw new RagarError(`--family must be kmeans, guided or imagequant, got ${JSON.stringify(opts.family)}`, 'BAD_INPUT');
        const guidanceMultipliers = (opts.guidanceMultipliers as string[]).map(Number);
        if (!validGuidanceMultipliers(guidanceMultipliers))
          throw new RagarError(`--guidance-multipliers must be distinct numbers above 0 and at most 4, comma-separated, got ${JSON.stringify((opts.guidanceMultipliers as string[]).join(','))}`, 'BAD_INPUT');
        const setup = openGenerationSetup(ctx.store, opts.dataset);
        ctx.note('loading training images …');
        const data = await loadGeneratorData(setup.rc, setup.ranker, { progress: ctx.progress, splits: ['train'] });
        const { generator, meta } = await BuiltinGenerator.load(dir);
        const warning = checkpointWarning(dir, meta);
        if (warning) ctx.warn(warning);
        const engine = createBuiltinEngine({ generator, modelId: variant });
        let imageEncoder: Awaited<ReturnType<typeof createImageEncoder>> | null = null;
        let critic: Awaited<ReturnType<typeof trainConceptCritic>> | null = null;
        try {
          if (needsImageEncoder(objective)) imageEncoder = await createImageEncoder({ image: 'mobilenet', workers: opts.threads });
          if (objective === 'critic' || objective === 'judge') {
            ctx.note('training the style critic on the train concepts\' real renditions …');
            critic = await trainConceptCritic(setup.rc, generator.config.conditioner.classes, { seed: opts.seed, workers: opts.threads });
          }
          const engineOptions = {
            ...(opts.cfg !== undefined ? { cfgScale: opts.cfg } : {}),
            ...(opts.sharpen !== undefined ? { sharpen: opts.sharpen } : {}),
            ...(opts.strength !== undefined ? { strength: opts.strength } : {}),
          };
          const { scores, ...finishing } = await fitFinishing(engine, data, generator.config.conditioner.classes, {
            conceptsPerStyle: opts.concepts,
            seed: opts.seed,
            objective,
            options: family,
            guidanceMultipliers,
            engineOptions,
            progress: ctx.progress,
            ...(imageEncoder ? { imageEncoder } : {}),
            ...(critic ? { critic: critic.critic } : {}),
            conditioner: generator.config.conditioner,
          });
          finishing.paramsSha256 = paramsChecksum(dir);
          finishing.fit = { ...finishing.fit, datasetDigest: datasetDigest(ctx.store, opts.dataset), dataset: opts.dataset, generator: dir, scores };
          const file = saveFinishing(dir, finishing);
          ctx.emit({ variant, file, ...finishing }, () =>
            [
              `${variant}: finishing fitted on ${String(finishing.fit!.examples)} train outputs in ${Number(finishing.fit!.seconds).toFixed(0)} s; wrote ${file}`,
              ...finishing.classes.map((style, k) => {
                const ranked = [...scores[style]].sort((a, b) => a.score - b.score);
                const asDrawn = scores[style].find((r) => r.option === 'as drawn');
                const chosen = describeFinishingOption(finishing.options[k]);
                return `  ${style.padEnd(12)} ${`${chosen} ${ranked[0].score.toFixed(3)}`.padEnd(40)} next: ${ranked.slice(1, 3).map((r) => `${r.option} ${r.score.toFixed(3)}`).join(', ')}${asDrawn && !ranked.slice(0, 3).includes(asDrawn) ? `; as drawn ${asDrawn.score.toFixed(3)}` : ''}`;
              }),
              `  (the ${objective} objective of each option, the smallest chosen; every option's figures are in finishing.json and --json)`,
            ].join('\n'),
          );
        } finally {
          await engine.dispose();
          await imageEncoder?.dispose();
          await critic?.dispose();
        }
      }),
    );
  return train;
}
