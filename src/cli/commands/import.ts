import { Command } from 'commander';
import { fetchMovieLensDebian } from '../../data/fetch/movielensDebian.js';
import { IMPORT_DEFAULTS, type ImportOptions, type ImportSummary } from '../../data/importers/common.js';
import { defaultJsonlName, importJsonl } from '../../data/importers/jsonl.js';
import { importMovieLens } from '../../data/importers/movielens.js';
import { importPmgBench } from '../../data/importers/pmgBench.js';
import { importPog } from '../../data/importers/pog.js';
import { importSer30k } from '../../data/importers/ser30k.js';
import type { Store } from '../../store/store.js';
import { withStore, type CommandContext } from '../context.js';
import { intOption, listOption, numberOption } from '../options.js';

interface CommonFlags {
  dataset?: string;
  force?: boolean;
  skipBad?: boolean;
  imageSize: number;
  seed: number;
  validUsers: number;
  testUsers: number;
  encoding?: string;
}

function withCommonFlags(cmd: Command, defaultName: string): Command {
  return cmd
    .option('--dataset <name>', `name of the dataset to write (default: ${defaultName})`)
    .option('--force', 'replace an existing dataset of that name')
    .option('--skip-bad', 'skip malformed rows, missing or corrupt images and unknown ids, and report how many (default: stop at the first)')
    .option('--image-size <px>', 'side of the stored square images', intOption(8), IMPORT_DEFAULTS.imageSize)
    .option('--seed <n>', 'seed of the user split', intOption(0), IMPORT_DEFAULTS.seed)
    .option('--valid-users <p>', 'share of users in the valid split', numberOption(0, 1), IMPORT_DEFAULTS.validUsers)
    .option('--test-users <p>', 'share of users in the test split', numberOption(0, 1), IMPORT_DEFAULTS.testUsers)
    .option('--encoding <name>', 'character encoding of the text files, e.g. latin1, windows-1252, gbk (default: UTF-8; bytes that are not UTF-8 stop the import naming file:line)');
}

function importOptions(flags: CommonFlags, name: string, ctx: CommandContext): ImportOptions {
  return {
    name,
    replace: Boolean(flags.force),
    skipBad: Boolean(flags.skipBad),
    imageSize: flags.imageSize,
    seed: flags.seed,
    validUsers: flags.validUsers,
    testUsers: flags.testUsers,
    encoding: flags.encoding,
    progress: ctx.progress,
  };
}

function report(ctx: CommandContext, summary: ImportSummary): void {
  for (const w of summary.warnings) ctx.note(`warning: ${w}`);
  ctx.emit(summary, () => {
    const lines = [
      `imported ${summary.dataset} (${summary.kind}): ${summary.users} users, ${summary.items} items ` +
        `(${summary.images} images), ${summary.interactions} interactions, ${summary.tasks} tasks in ${summary.seconds.toFixed(1)} s`,
    ];
    if (summary.skipped) {
      lines.push(`skipped ${summary.skipped} bad row(s), e.g.:`);
      for (const e of summary.skippedExamples) lines.push(`  ${e}`);
    }
    return lines.join('\n');
  });
}

/** `--images DIR` of the importers whose files name image paths. */
function imagesRootOption(c: Command): Command {
  return c.option(
    '--images <dir>',
    'local folder in which image paths that do not exist as written (absolute paths from another machine) are found by their tail; the summary says which prefix was dropped',
  );
}

type Runner = (store: Store, input: string, flags: CommonFlags & Record<string, unknown>, ctx: CommandContext) => Promise<ImportSummary>;

/** `ragar dataset import <format> <path>` for every supported format. */
export function registerImportCommands(dataset: Command): void {
  const imp = new Command('import').description(
    'import a dataset from files; one transaction: a bad row stops it and leaves the store as it was (or use --skip-bad)',
  );
  const add = (name: string, arg: string, description: string, defaultName: string, run: Runner, extra?: (c: Command) => Command) => {
    let cmd = withCommonFlags(new Command(name).argument(arg).description(description), defaultName);
    if (extra) cmd = extra(cmd);
    cmd.action(async (input: string, flags: CommonFlags & Record<string, unknown>, command: Command) =>
      withStore(command, async (ctx) => report(ctx, await run(ctx.store, input, flags, ctx))),
    );
    imp.addCommand(cmd);
  };

  add(
    'movielens',
    '<dir>',
    'MovieLens: ratings.csv + movies.csv (ml-latest-small, ml-25m) or ratings.dat + movies.dat [+ users.dat] (ml-1m, latin-1 read automatically), optional posters folder of <movieId>.jpg|png|webp',
    'movielens',
    (store, dir, f, ctx) =>
      importMovieLens(store, dir, { ...importOptions(f, f.dataset ?? 'movielens', ctx), posters: f.posters as string | undefined }),
    (c) => c.option('--posters <dir>', 'folder of posters named <movieId>.<ext> (default: <dir>/posters if present)'),
  );
  add(
    'pog',
    '<dir>',
    'POG (iFashion): user_data.txt, item_data.txt [, outfit_data.txt] and an images folder of <item_id>.jpg|png',
    'pog',
    (store, dir, f, ctx) => importPog(store, dir, { ...importOptions(f, f.dataset ?? 'pog', ctx), images: f.images as string | undefined }),
    (c) =>
      c.option(
        '--images <dir>',
        'folder of <item_id>.jpg|png|webp images (default: <dir>/images; without it the import is text-only; items missing from it are kept text-only and counted)',
      ),
  );
  add(
    'ser30k',
    '<dir>',
    'SER-30K: Images/<topic>/<file> and Annotations/ (all_annos.json or image-level/{train,val,test}.json); each sticker theme stands in for a user',
    'ser30k',
    (store, dir, f, ctx) =>
      importSer30k(store, dir, {
        ...importOptions(f, f.dataset ?? 'ser30k', ctx),
        users: (f.users as 'topics' | 'none' | undefined) ?? 'topics',
        emotionNames: f.emotionNames as string[] | undefined,
      }),
    (c) =>
      c
        .option('--users <mode>', '"topics": each theme is a proxy user whose history is its stickers; "none": items only', 'topics')
        .option('--emotion-names <list>', 'seven comma-separated names for labels 1..7 (default: from the annotation categories, else emotion-1..7)', listOption),
  );
  add(
    'pmg-bench',
    '<file>',
    'PMG-Bench samples (JSON array or JSONL): user_id, history_item_ids, history_items_info[{item_id, caption, image_path}], target_item_id, target_item_info, user_style; also the SER layout (history_topic, target_caption, target_image_path)',
    'pmg-bench',
    (store, file, f, ctx) =>
      importPmgBench(store, file, { ...importOptions(f, f.dataset ?? 'pmg-bench', ctx), images: f.images as string | undefined }),
    imagesRootOption,
  );
  add(
    'jsonl',
    '<file>',
    'the generic format: one JSON object per line, "type" item | interaction | task | user (see src/data/importers/jsonl.ts)',
    'the file name',
    (store, file, f, ctx) =>
      importJsonl(store, file, { ...importOptions(f, f.dataset ?? defaultJsonlName(file), ctx), images: f.images as string | undefined }),
    imagesRootOption,
  );
  dataset.addCommand(imp);
}

/** `ragar dataset fetch movielens-debian`. */
export function registerFetchCommand(dataset: Command): void {
  const fetch = new Command('fetch').description('fetch a public dataset that a reachable package repository ships');
  fetch
    .command('movielens-debian')
    .description(
      "MovieLens ml-latest-small (100,004 ratings, 671 users, 9,066 movies) from Debian's r-cran-dslabs: " +
        'apt-get download + dpkg-deb -x into a temporary folder, the R lazy-load database parsed in TypeScript. ' +
        'Nothing is installed; GroupLens terms: the data stays in the data home and is never committed.',
    )
    .option('--dataset <name>', 'name of the dataset to write', 'movielens')
    .option('--deb <file>', 'use this r-cran-dslabs .deb instead of downloading it')
    .option('--force', 'replace an existing dataset of that name')
    .option('--seed <n>', 'seed of the user split', intOption(0), IMPORT_DEFAULTS.seed)
    .option('--valid-users <p>', 'share of users in the valid split', numberOption(0, 1), IMPORT_DEFAULTS.validUsers)
    .option('--test-users <p>', 'share of users in the test split', numberOption(0, 1), IMPORT_DEFAULTS.testUsers)
    .action(async (f, command: Command) =>
      withStore(command, async (ctx) => {
        const summary = await fetchMovieLensDebian(ctx.store, {
          name: f.dataset,
          deb: f.deb,
          replace: Boolean(f.force),
          seed: f.seed,
          validUsers: f.validUsers,
          testUsers: f.testUsers,
          progress: ctx.progress,
        });
        ctx.emit(
          summary,
          `fetched ${summary.dataset} from ${summary.debian}: ${summary.users} users, ${summary.items} movies, ${summary.interactions} ratings in ${summary.seconds.toFixed(1)} s`,
        );
      }),
    );
  dataset.addCommand(fetch);
}
