import { Command } from 'commander';
import { DEFAULT_JOINT } from '../../encoders/joint.js';
import { trainJointForDataset } from '../../encoders/trainJoint.js';
import { withStore } from '../context.js';
import { intOption, numberOption } from '../options.js';

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
  return train;
}
