import { Command } from 'commander';
import { DatasetView } from '../../data/access.js';
import { DEFAULT_EMOJI_BUILD, buildEmojiStyles } from '../../data/emoji/build.js';
import { datasetStats, formatStats } from '../../data/stats.js';
import { embedDataset } from '../../encoders/embed.js';
import { createImageEncoder, createTextEncoder } from '../../encoders/registry.js';
import { evaluateEmojiRetrieval } from '../../retrieval/evaluate.js';
import { saveTunedFromEvaluation } from '../../retrieval/tuned.js';
import { loadDatasetVectors } from '../../retrieval/vectors.js';
import { demoGeneration } from '../../pipeline/demo.js';
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
        const name = DEFAULT_EMOJI_BUILD.name;
        let built = null;
        if (!ctx.store.findDataset(name)) {
          ctx.note(`building ${name} with default settings into ${ctx.store.home} …`);
          built = await buildEmojiStyles(ctx.store, DEFAULT_EMOJI_BUILD, ctx.progress);
          ctx.note(`built in ${built.seconds.toFixed(1)} s`);
        } else {
          ctx.note(`${name} already built in ${ctx.store.home}`);
        }
        const stats = datasetStats(ctx.store, name);
        if (opts.skipEmbed) {
          ctx.emit({ built, stats }, () => formatStats(stats));
          return;
        }
        ctx.note('embedding items (MobileNetV2 images, USE texts; cached vectors are reused) …');
        const text = await createTextEncoder();
        const image = await createImageEncoder();
        const styleEncoder = await createImageEncoder({ image: 'style-stats' });
        let embedded;
        try {
          embedded = await embedDataset(ctx.store, name, { text, image, progress: ctx.progress });
          embedded.style = (await embedDataset(ctx.store, name, { image: styleEncoder, progress: ctx.progress })).image;
        } finally {
          await image.dispose();
          await text.dispose();
          await styleEncoder.dispose();
        }
        const view = DatasetView.open(ctx.store, name);
        const vectors = loadDatasetVectors(view, { image: 'mobilenet', text: 'use' });
        const retrieval = evaluateEmojiRetrieval(view, vectors, 'test');
        saveTunedFromEvaluation(ctx.store.home, name, retrieval.retrieval.params, 'styleMatch', retrieval.retrieval.validStyleMatch, vectors);
        const p = (x: number) => `${(100 * x).toFixed(1)}%`;
        const example = view.tasks('test')[0];
        const generation = opts.skipGenerate ? null : await demoGeneration(ctx.store, name, { tasks: opts.tasks, candidates: opts.candidates, out: opts.out, progress: ctx.progress, note: ctx.note });
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
            `next: ragar generate --user ${example?.userExternalId ?? 'U'} --reference ${example ? view.item(example.referenceItemId).externalId : 'ITEM'} --out out/`,
          ].join('\n'),
        );
      }),
    );
}
