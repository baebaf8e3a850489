import { Command } from 'commander';
import { embedDataset } from '../../encoders/embed.js';
import { createImageEncoder, createTextEncoder, DEFAULT_ENCODERS, IMAGE_ENCODERS, TEXT_ENCODERS } from '../../encoders/registry.js';
import type { ImageEncoder, TextEncoder } from '../../encoders/types.js';
import { withStore } from '../context.js';
import { intOption } from '../options.js';

/** `ragar embed`: compute and cache every item's image and text embeddings. */
export function embedCommand(): Command {
  return new Command('embed')
    .description(
      'compute and cache the image and text embeddings of every item of a dataset: batched, both cores, ' +
        'resumable (finished batches are kept; a second run does nothing)',
    )
    .option('--dataset <name>', 'dataset', 'emoji-styles')
    .option('--image-encoder <name>', `image encoder: ${IMAGE_ENCODERS.join(' | ')} | none`, DEFAULT_ENCODERS.image)
    .option(
      '--style-encoder <name>',
      'second image descriptor for the ranker: style-stats (colour, shading and outline statistics, ~3 ms/image) | none',
      DEFAULT_ENCODERS.style,
    )
    .option('--text-encoder <name>', `text encoder: ${TEXT_ENCODERS.join(' | ')} | none`, DEFAULT_ENCODERS.text)
    .option('--clip <dir>', 'local CLIP folder (Hugging Face layout) for the clip encoders (or $RAGAR_CLIP)')
    .option('--batch-size <n>', 'inputs per encoder call (and per saved batch)', intOption(1), 32)
    .option('--workers <n>', 'image encoder threads: onnxruntime intra-op threads (0 = 2), or mobilenet-tfjs worker threads (0 = in-process)', intOption(0), 2)
    .option('--rebuild', "drop this dataset's cached vectors of these encoders first")
    .action(async (opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        ctx.store.getDataset(opts.dataset);
        const controller = new AbortController();
        const onSigint = () => {
          ctx.note('\ninterrupted: finishing the current batch; finished batches are saved');
          controller.abort();
        };
        process.once('SIGINT', onSigint);
        let image: ImageEncoder | undefined;
        let text: TextEncoder | undefined;
        let style: ImageEncoder | undefined;
        try {
          const choice = { image: opts.imageEncoder, text: opts.textEncoder, clipPath: opts.clip ?? ctx.env.clip, workers: opts.workers };
          if (opts.textEncoder !== 'none') text = await createTextEncoder(choice);
          if (opts.imageEncoder !== 'none') image = await createImageEncoder(choice);
          const summary = await embedDataset(ctx.store, opts.dataset, {
            image,
            text,
            batchSize: opts.batchSize,
            rebuild: Boolean(opts.rebuild),
            progress: ctx.progress,
            signal: controller.signal,
          });
          if (image && opts.styleEncoder !== 'none') {
            style = await createImageEncoder({ image: opts.styleEncoder });
            summary.style = (
              await embedDataset(ctx.store, opts.dataset, {
                image: style,
                batchSize: opts.batchSize,
                rebuild: Boolean(opts.rebuild),
                progress: ctx.progress,
                signal: controller.signal,
              })
            ).image;
          }
          ctx.emit(summary, () =>
            (['text', 'image', 'style'] as const)
              .filter((f) => summary[f])
              .map((f) => {
                const s = summary[f]!;
                const rate = s.encoded && s.seconds ? ` (${(s.encoded / s.seconds).toFixed(1)} inputs/s)` : '';
                return `${f}: ${s.modelId} (${s.dimension}-d): ${s.computed} new, ${s.cached} already cached, ${s.encoded} inputs encoded in ${s.seconds.toFixed(1)} s${rate}`;
              })
              .join('\n'),
          );
        } finally {
          process.off('SIGINT', onSigint);
          await image?.dispose();
          await text?.dispose();
          await style?.dispose();
        }
      }),
    );
}
