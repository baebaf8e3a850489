import { Command } from 'commander';
import { formatStats } from '../../data/stats.js';
import { runDemo } from '../../pipeline/demo.js';
import { withStore } from '../context.js';
import { intOption } from '../options.js';

/**
 * `ragar demo`: the README's main job on the embedded default data and models. Builds the
 * emoji-styles benchmark if absent, embeds its items (resumable; skipped when cached), and
 * compares retrieval weighting with equal pooling on the test split.
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'the main job on the embedded defaults: build emoji-styles (if absent), embed its items with MobileNetV2 + USE ' +
        '(cached), and report retrieval weighting vs equal pooling on the test split',
    )
    .option('--skip-embed', 'only build and print the dataset statistics')
    .option('--skip-generate', 'stop after the retrieval comparison (no ranker training, no generation)')
    .option('--tasks <n>', 'test tasks on the demo page', intOption(1), 12)
    .option('--candidates <m>', 'candidates per output (chosen by ranker + semantic score)', intOption(1), 4)
    .option('--out <dir>', 'folder of the demo page (default: <home>/demo)')
    .action(async (opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        const { built, stats, embedded, retrieval, generation, example } = await runDemo(ctx.store, {
          skipEmbed: opts.skipEmbed,
          skipGenerate: opts.skipGenerate,
          tasks: opts.tasks,
          candidates: opts.candidates,
          out: opts.out,
          progress: ctx.progress,
          note: ctx.note,
        });
        if (!embedded || !retrieval) {
          ctx.emit({ built, stats }, () => formatStats(stats));
          return;
        }
        const p = (x: number) => `${(100 * x).toFixed(1)}%`;
        ctx.emit({ built, stats, embedded, retrieval, generation }, () =>
          [
            formatStats(stats),
            '',
            `embeddings: ${embedded.image?.modelId} and ${embedded.text?.modelId} for ${stats.items} items`,
            `retrieval weighting on ${retrieval.retrieval.tasks} test tasks (settings tuned on valid): the weighted history's dominant style`,
            `is the user's true taste for the reference's group in ${p(retrieval.retrieval.styleMatch)} of tasks with retrieval weights ` +
              `(alpha ${retrieval.retrieval.params.alpha}, k ${retrieval.retrieval.params.k}, tau ${retrieval.retrieval.params.tau}) ` +
              `vs ${p(retrieval.uniform.styleMatch)} with equal pooling.`,
            ...(generation
              ? [
                  `personalised generation (shipped ${generation.variant} generator, ranker trained here): ${generation.rows} test tasks on ${generation.page}`,
                  `  ${generation.msPerCandidate.toFixed(0)} ms per candidate on average (generation and ranker + semantic scoring)`,
                ]
              : []),
            `next: ragar generate --user ${example?.user ?? 'U'} --reference ${example?.reference ?? 'ITEM'} --out out/`,
          ].join('\n'),
        );
      }),
    );
}
