import { Command } from 'commander';
import { DEFAULT_EMOJI_BUILD, buildEmojiStyles, type EmojiBuildOptions } from '../../data/emoji/build.js';
import { ALL_STYLES } from '../../data/emoji/catalog.js';
import { datasetDigest } from '../../data/digest.js';
import { datasetStats, formatStats } from '../../data/stats.js';
import { withStore } from '../context.js';
import { intOption, listOption, numberOption } from '../options.js';
import { registerFetchCommand, registerImportCommands } from './import.js';

const D = DEFAULT_EMOJI_BUILD;

/** `ragar dataset …`: build, import, fetch, inspect and delete datasets. */
export function datasetCommand(): Command {
  const dataset = new Command('dataset').description('build, import, fetch and inspect datasets in the data home');

  const build = new Command('build').description('build a benchmark dataset from packaged artwork');
  build
    .command('emoji-styles')
    .description(
      'build the emoji-styles benchmark (DESIGN §3): emoji concepts drawn by several design teams, ' +
        'rasterised to a fixed size, with simulated users whose hidden, group-dependent style taste gives the ground truth. ' +
        'The same options give the same dataset (see `ragar dataset digest`).',
    )
    .option('--dataset <name>', 'name of the dataset to write', D.name)
    .option('--users <n>', 'number of simulated users', intOption(1), D.users)
    .option('--seed <n>', 'seed of every random choice', intOption(0), D.seed)
    .option('--size <px>', 'side of the square item images', intOption(8), D.size)
    .option('--styles <list>', `comma-separated styles (known: ${ALL_STYLES.join(', ')})`, listOption, D.styles)
    .option('--concepts <n>', 'use at most n concepts, a seeded sample (0 = all drawn in every style)', intOption(0), D.maxConcepts)
    .option('--history-min <n>', 'shortest history', intOption(1), D.historyMin)
    .option('--history-max <n>', 'longest history (lengths are uniform in between)', intOption(1), D.historyMax)
    .option('--interest-concentration <a>', 'Dirichlet concentration of interests over groups (small = few favourite groups)', numberOption(1e-6), D.interestConcentration)
    .option('--override-rate <p>', 'probability that a group overrides the favourite style', numberOption(0, 1), D.overrideRate)
    .option('--noise <p>', 'share of interactions in a random style', numberOption(0, 1), D.noise)
    .option('--tasks-per-user <n>', 'reference→target tasks per user', intOption(0), D.tasksPerUser)
    .option('--valid-users <p>', 'share of users in the valid split', numberOption(0, 1), D.validUsers)
    .option('--test-users <p>', 'share of users in the test split', numberOption(0, 1), D.testUsers)
    .option('--valid-concepts <p>', 'share of concepts held out for validation (no interactions, no generator training)', numberOption(0, 1), D.validConcepts)
    .option('--test-concepts <p>', 'share of concepts held out for test (no interactions, no generator training)', numberOption(0, 1), D.testConcepts)
    .option('--force', 'replace an existing dataset of that name')
    .action(async (opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        const options: EmojiBuildOptions = {
          name: opts.dataset,
          users: opts.users,
          seed: opts.seed,
          size: opts.size,
          styles: opts.styles,
          maxConcepts: opts.concepts,
          historyMin: opts.historyMin,
          historyMax: opts.historyMax,
          interestConcentration: opts.interestConcentration,
          overrideRate: opts.overrideRate,
          noise: opts.noise,
          tasksPerUser: opts.tasksPerUser,
          validUsers: opts.validUsers,
          testUsers: opts.testUsers,
          validConcepts: opts.validConcepts,
          testConcepts: opts.testConcepts,
          replace: Boolean(opts.force),
        };
        const summary = await buildEmojiStyles(ctx.store, options, ctx.progress);
        ctx.emit(
          summary,
          `built ${summary.dataset}: ${summary.concepts} concepts × ${summary.styles.length} styles = ${summary.items} items, ` +
            `${summary.users} users, ${summary.interactions} interactions, ${summary.tasks} tasks in ${summary.seconds.toFixed(1)} s`,
        );
      }),
    );
  dataset.addCommand(build);

  dataset
    .command('stats')
    .description('counts per style, group and split, and the history length distribution')
    .option('--dataset <name>', 'dataset to describe', 'emoji-styles')
    .action(async (opts, cmd: Command) =>
      withStore(cmd, (ctx) => {
        const stats = datasetStats(ctx.store, opts.dataset);
        ctx.emit(stats, () => formatStats(stats));
      }),
    );

  dataset
    .command('list')
    .description('datasets in the data home')
    .action(async (_opts, cmd: Command) =>
      withStore(cmd, (ctx) => {
        const list = ctx.store.listDatasets().map((d) => ({ name: d.name, kind: d.kind, createdAt: d.createdAt }));
        ctx.emit({ datasets: list }, () =>
          list.length ? list.map((d) => `${d.name.padEnd(24)} ${d.kind.padEnd(14)} ${d.createdAt}`).join('\n') : `no datasets in ${ctx.store.home}`,
        );
      }),
    );

  dataset
    .command('digest')
    .description('SHA-256 of a canonical dump of the dataset (same options and seed → same digest)')
    .option('--dataset <name>', 'dataset', 'emoji-styles')
    .action(async (opts, cmd: Command) =>
      withStore(cmd, (ctx) => {
        const digest = datasetDigest(ctx.store, opts.dataset);
        ctx.emit({ dataset: opts.dataset, digest }, digest);
      }),
    );

  dataset
    .command('delete')
    .description('delete a dataset, its rows and the images no other dataset uses (images shared with other datasets stay)')
    .requiredOption('--dataset <name>', 'dataset to delete')
    .action(async (opts, cmd: Command) =>
      withStore(cmd, (ctx) => {
        const { images } = ctx.store.deleteDataset(opts.dataset);
        ctx.emit({ deleted: opts.dataset, images }, `deleted ${opts.dataset} (${images} image(s) no other dataset used removed)`);
      }),
    );

  registerImportCommands(dataset);
  registerFetchCommand(dataset);
  return dataset;
}
