import { createImageEncoder } from '../encoders/registry.js';
import type { ImageEncoder } from '../encoders/types.js';
import { trainFinishingCritic, type CriticRow, type FinishingCritic } from '../generation/builtin/finishingCritic.js';
import type { RankingContext } from '../ranking/pipeline.js';
import { RagarError } from '../util/errors.js';

/**
 * The real renditions of one split's concepts as style-critic rows: each item's cached image
 * vector, its style descriptor and its style (items without a concept, a style or vectors are
 * left out). The split's concepts only, so a critic trained on `train` never sees a valid or test
 * concept.
 *
 * @example
 * const rows = criticRows(setup.rc, 'train');
 */
export function criticRows(rc: RankingContext, split: string): CriticRow[] {
  if (!rc.style) throw new RagarError('the style critic needs style descriptors (run `ragar embed`)', 'BAD_INPUT');
  const splits = rc.view.conceptSplits();
  const rows: CriticRow[] = [];
  for (const it of rc.view.items().values()) {
    if (!it.concept || !it.style || splits.get(it.concept) !== split) continue;
    const image = rc.vectors.image.get(it.id);
    const style = rc.style.vectors.get(it.id);
    if (image && style) rows.push({ image, style, label: it.style, concept: it.concept });
  }
  return rows;
}

/**
 * Train the `critic` finishing objective's style critic for a dataset: on the train concepts'
 * real renditions (their cached image vectors and style descriptors), judging outputs with the
 * same encoders the vectors came from. Dispose the encoders when done.
 *
 * @example
 * const { critic, dispose } = await trainConceptCritic(setup.rc, classes, { seed: 1 });
 */
export async function trainConceptCritic(rc: RankingContext, classes: readonly string[], options: { seed: number; workers?: number }): Promise<{ critic: FinishingCritic; dispose: () => Promise<void> }> {
  const rows = criticRows(rc, 'train');
  const opened: ImageEncoder[] = [];
  try {
    const image = await createImageEncoder({ workers: options.workers ?? 1 });
    opened.push(image);
    const style = await createImageEncoder({ image: 'style-stats' });
    opened.push(style);
    if (image.modelId !== rc.vectors.imageModel || style.modelId !== rc.style!.model)
      throw new RagarError(`the style critic reads outputs with ${image.modelId} and ${style.modelId}, but the data home's vectors are ${rc.vectors.imageModel} and ${rc.style!.model}; embed with the default encoders (\`ragar embed\`)`, 'CONFLICT');
    const critic = trainFinishingCritic(rows, classes, { image, style }, { dataset: rc.view.dataset.name, seed: options.seed });
    return { critic, dispose: async () => void (await Promise.all(opened.map((e) => e.dispose()))) };
  } catch (err) {
    await Promise.all(opened.map((e) => e.dispose()));
    throw err;
  }
}
