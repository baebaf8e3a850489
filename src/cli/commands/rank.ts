import fs from 'node:fs';
import { Command } from 'commander';
import { DatasetView } from '../../data/access.js';
import { createImageEncoder, createTextEncoder } from '../../encoders/registry.js';
import { scoreImages } from '../../pipeline/rank.js';
import { DEFAULT_DISTILL_TOWER, distillRankerTower } from '../../ranking/distill.js';
import { DEFAULT_RANKER, evaluateRankingModels, loadSavedRanker, prepareRanking, RANKING_DEFAULTS, trainRankingModels } from '../../ranking/pipeline.js';
import { RagarError } from '../../util/errors.js';
import { withStore } from '../context.js';
import { intOption, listOption, numberOption } from '../options.js';

/** The content features a ranker reads (train and eval must name the same ones). */
function featureOptions(cmd: Command): Command {
  return cmd
    .option('--image-encoder <name>', 'image embeddings to use', 'mobilenet')
    .option('--text-encoder <name>', 'text embeddings to use', 'use')
    .option('--style-encoder <name>', 'style descriptors appended to the image embeddings (used when cached; must match training) | none', 'style-stats');
}

/** `ragar rank …`: the multimodal ranking model R(u, x) and its baselines. */
export function rankCommand(): Command {
  const rank = new Command('rank').description('the multimodal ranking model R(u, x): train, evaluate against baselines, score any image');

  featureOptions(rank.command('train'))
    .description(
      'train the ranker (content + id embeddings, reference-aware attention, BPR), the content-only variant and the BPR-MF baseline; ' +
        'leave-last-out protocol, early stopping on valid AUC; weights, seed, protocol and training time saved in <home>/models/<dataset>/rank',
    )
    .option('--dataset <name>', 'dataset', 'emoji-styles')
    .option('--models <list>', 'comma-separated: ranker, content, bprmf', listOption, ['ranker', 'content', 'bprmf'])
    .option('--holdout <n>', 'latest interactions of valid/test users held out', intOption(1), RANKING_DEFAULTS.holdout)
    .option('--epochs <n>', 'maximum epochs (ranker and content)', intOption(1), DEFAULT_RANKER.epochs)
    .option('--samples <n>', 'training triples per epoch (0 = one per interaction)', intOption(0), DEFAULT_RANKER.samplesPerEpoch)
    .option('--dimension <n>', 'embedding dimension', intOption(1), DEFAULT_RANKER.dimension)
    .option('--lr <x>', 'Adam learning rate of the content tower', numberOption(1e-8, 10), DEFAULT_RANKER.learningRate)
    .option('--sibling-negatives <p>', 'share of negatives drawn from the same concept in another style', numberOption(0, 1), DEFAULT_RANKER.siblingNegatives)
    .option('--patience <n>', 'epochs without valid improvement before stopping', intOption(1), DEFAULT_RANKER.patience)
    .option('--bprmf-epochs <n>', 'maximum BPR-MF epochs', intOption(1), 50)
    .option('--seed <n>', 'seed', intOption(0), DEFAULT_RANKER.seed)
    .action(async (opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        const unknown = (opts.models as string[]).filter((m) => !['ranker', 'content', 'bprmf'].includes(m));
        if (unknown.length) throw new RagarError(`unknown model(s) ${unknown.join(', ')} (known: ranker, content, bprmf)`, 'BAD_INPUT');
        const view = DatasetView.open(ctx.store, opts.dataset);
        const rc = prepareRanking(view, { holdout: opts.holdout, imageEncoder: opts.imageEncoder, textEncoder: opts.textEncoder, styleEncoder: opts.styleEncoder });
        const summary = await trainRankingModels(rc, ctx.store.home, {
          models: opts.models,
          ranker: {
            ...DEFAULT_RANKER,
            epochs: opts.epochs,
            samplesPerEpoch: opts.samples,
            dimension: opts.dimension,
            learningRate: opts.lr,
            siblingNegatives: opts.siblingNegatives,
            patience: opts.patience,
            seed: opts.seed,
          },
          bprmf: { epochs: opts.bprmfEpochs, seed: opts.seed, patience: opts.patience },
          progress: ctx.progress,
          note: ctx.note,
        });
        ctx.emit(summary, () => JSON.stringify(summary, null, 2));
      }),
    );

  featureOptions(rank.command('eval'))
    .description(
      'full ranking over all items for each user of the split (their held-out latest interactions, seen items excluded): Recall@10/20 and NDCG@10/20 ' +
        'for the ranker, popularity, BPR-MF and content-only; on emoji-styles also cold pairwise accuracy (true-style rendition of a held-out concept vs the other renditions)',
    )
    .option('--dataset <name>', 'dataset', 'emoji-styles')
    .option('--split <name>', 'split', 'test')
    .option('--holdout <n>', 'must match training', intOption(1), RANKING_DEFAULTS.holdout)
    .action(async (opts, cmd: Command) =>
      withStore(cmd, (ctx) => {
        const view = DatasetView.open(ctx.store, opts.dataset);
        const rc = prepareRanking(view, { holdout: opts.holdout, imageEncoder: opts.imageEncoder, textEncoder: opts.textEncoder, styleEncoder: opts.styleEncoder });
        const result = evaluateRankingModels(rc, ctx.store.home, opts.split);
        ctx.emit(result, () => {
          const models = result.models as Record<string, Record<string, number>>;
          const lines = [`${result.dataset} ${result.split}: ${models.ranker.users} users; ${result.protocol}`];
          lines.push(`  ${'model'.padEnd(12)} ${['recall@10', 'ndcg@10', 'recall@20', 'ndcg@20'].map((m) => m.padStart(10)).join(' ')}`);
          for (const [name, m] of Object.entries(models)) {
            lines.push(`  ${name.padEnd(12)} ${['recall@10', 'ndcg@10', 'recall@20', 'ndcg@20'].map((k) => m[k].toFixed(4).padStart(10)).join(' ')}`);
          }
          if (result.coldPairwiseAccuracy !== undefined) {
            lines.push(`  cold pairwise accuracy (ranker, content only): ${(result.coldPairwiseAccuracy as number).toFixed(3)} over ${result.coldPairs} pairs; content-only model ${(result.coldPairwiseAccuracyContent as number).toFixed(3)}`);
          }
          return lines.join('\n');
        });
      }),
    );

  rank
    .command('score')
    .description("score any image (seen or never seen) for a user with the trained ranker; also its rank among the dataset's items for that user")
    .option('--dataset <name>', 'dataset', 'emoji-styles')
    .requiredOption('--user <id>', 'user (external id)')
    .requiredOption('--image <file>', 'image file (any format or size; converted)')
    .option('--text <text>', 'text of the image (title, tags); improves attention and the text part of the score')
    .option('--holdout <n>', 'must match training', intOption(1), RANKING_DEFAULTS.holdout)
    .action(async (opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        let bytes: Buffer;
        try {
          bytes = fs.readFileSync(opts.image);
        } catch (err) {
          throw new RagarError(`${opts.image}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'BAD_INPUT');
        }
        const view = DatasetView.open(ctx.store, opts.dataset);
        const user = view.user(opts.user);
        const rc = prepareRanking(view, { holdout: opts.holdout });
        const { ranker, meta } = loadSavedRanker(rc, ctx.store.home, 'ranker');
        const image = await createImageEncoder({ workers: 0 });
        const style = meta.styleModel ? await createImageEncoder({ image: 'style-stats' }) : null;
        const text = opts.text ? await createTextEncoder() : undefined;
        let scored: Awaited<ReturnType<typeof scoreImages>>;
        try {
          scored = await scoreImages(rc, ranker, meta, { image, style, text }, { user: opts.user, images: [bytes], text: opts.text, names: [opts.image] });
        } finally {
          await image.dispose();
          await style?.dispose();
          await text?.dispose();
        }
        const [{ score, rankAmongItems, items, percentile }] = scored;
        const above = rankAmongItems - 1;
        const result = { user: user.externalId, image: opts.image, score, rankAmongItems, items, percentile, model: meta.format, imageModel: meta.imageModel, styleModel: meta.styleModel ?? null };
        ctx.emit(result, `user ${user.externalId}: score ${score.toFixed(4)}; would rank ${above + 1} of ${items} dataset items (top ${(100 * (above + 1) / items).toFixed(1)}%)`);
      }),
    );
  rank
    .command('distill')
    .description(
      "distil the pixel-space image tower from the trained ranker's image part (the generator's differentiable scoring path); " +
        'trained on train-concept images, early-stopped on valid concepts, agreement with the full ranker measured on held-out test-concept images; ' +
        'saved with its seed, split and training time in <home>/models/<dataset>/rank/tower',
    )
    .option('--dataset <name>', 'dataset', 'emoji-styles')
    .option('--holdout <n>', 'the ranking protocol the ranker was trained with', intOption(1), RANKING_DEFAULTS.holdout)
    .option('--epochs <n>', 'maximum tower epochs', intOption(1), DEFAULT_DISTILL_TOWER.epochs)
    .option('--patience <n>', 'epochs without a better validation MSE before stopping', intOption(1), DEFAULT_DISTILL_TOWER.patience)
    .option('--lr <x>', 'Adam learning rate', numberOption(1e-8, 10), DEFAULT_DISTILL_TOWER.learningRate)
    .option('--seed <n>', 'seed', intOption(0), DEFAULT_DISTILL_TOWER.seed)
    .action(async (opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        const view = DatasetView.open(ctx.store, opts.dataset);
        const rc = prepareRanking(view, { holdout: opts.holdout });
        const meta = await distillRankerTower(rc, ctx.store.home, {
          tower: { epochs: opts.epochs, patience: opts.patience, learningRate: opts.lr, seed: opts.seed },
          progress: ctx.progress,
          note: ctx.note,
        });
        const a = meta.agreement;
        const pct = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
        ctx.emit(
          meta,
          [
            `image tower distilled in ${meta.trainSeconds.toFixed(1)} s (${meta.msPerSample.toFixed(2)} ms/sample, best epoch ${meta.bestEpoch}); ` +
              `${meta.trainItems} train, ${meta.validItems} early-stopping, ${meta.heldOutItems} held-out images`,
            `agreement on held-out images, ${a.users} test users: Spearman full score ${a.spearmanFull.toFixed(3)}, image part ${a.spearmanImagePart.toFixed(3)}`,
            `cold pairwise accuracy: full ranker ${pct(a.coldPairwiseFull)}, tower path ${pct(a.coldPairwiseTower)}, same order ${pct(a.coldPairwiseConsistency)}`,
          ].join('\n'),
        );
      }),
    );

  return rank;
}
