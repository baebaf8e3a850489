import { Command } from 'commander';
import { DEFAULT_EMOJI_BUILD, buildEmojiStyles } from '../../data/emoji/build.js';
import { datasetStats, formatStats } from '../../data/stats.js';
import { withStore } from '../context.js';

/**
 * `ragar demo`: the README's main job. Builds the emoji-styles benchmark with its defaults if
 * the data home has none, then prints its statistics.
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('prepare the embedded default (build emoji-styles if absent) and print its statistics')
    .action(async (_opts, cmd: Command) =>
      withStore(cmd, async (ctx) => {
        let built = null;
        if (!ctx.store.findDataset(DEFAULT_EMOJI_BUILD.name)) {
          ctx.note(`building ${DEFAULT_EMOJI_BUILD.name} with default settings into ${ctx.store.home} …`);
          built = await buildEmojiStyles(ctx.store, DEFAULT_EMOJI_BUILD, ctx.progress);
          ctx.note(`built in ${built.seconds.toFixed(1)} s`);
        } else {
          ctx.note(`${DEFAULT_EMOJI_BUILD.name} already built in ${ctx.store.home}; showing its statistics`);
        }
        const stats = datasetStats(ctx.store, DEFAULT_EMOJI_BUILD.name);
        ctx.emit({ built, stats }, () => formatStats(stats));
      }),
    );
}
