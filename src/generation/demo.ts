import type { ImageEncoder } from '../encoders/types.js';
import type { DemoRow } from './demoPage.js';
import { generationPreference, selectCandidate, type PersonalizationSetup } from './personalize.js';
import type { GeneratorEngine } from './types.js';

/**
 * Run full RAGAR (retrieval weights, candidates chosen by ranker + semantic score) on the first
 * `count` tasks of a split and collect the rows of the demo page.
 *
 * @example
 * const rows = await demoRows(setup, engine, { image, style }, { split: 'test', count: 12, candidates: 4 });
 */
export async function demoRows(
  setup: PersonalizationSetup,
  engine: GeneratorEngine,
  encoders: { image: ImageEncoder; style: ImageEncoder },
  options: { split: string; count: number; candidates: number; seed?: number; historyShown?: number; onRow?: (done: number) => void },
): Promise<DemoRow[]> {
  const view = setup.rc.view;
  const tasks = view.tasks(options.split).filter((t) => t.targetItemId !== null);
  // one task per user, spread over the split
  const seen = new Set<number>();
  const chosen = tasks.filter((t) => (seen.has(t.userId) ? false : (seen.add(t.userId), true))).slice(0, options.count);
  const rows: DemoRow[] = [];
  for (const [i, task] of chosen.entries()) {
    const ref = view.item(task.referenceItemId);
    const refPng = view.store.images.read(ref.imageHash!);
    const { preference, generation, rankingUser } = generationPreference(setup, task.userExternalId, { kind: 'item', item: ref }, 'retrieval');
    const result = await engine.generate({ reference: { image: refPng, text: ref.text }, preference: generation, user: task.userExternalId, candidates: options.candidates, seed: (options.seed ?? 1) + 100 * i });
    const sel = await selectCandidate(setup, rankingUser, result, encoders, { imageVector: setup.rc.vectors.image.get(ref.id)!, textVector: setup.rc.vectors.text.get(ref.id) ?? null }, { useRanker: true });
    const target = view.item(task.targetItemId!);
    const history = preference.history
      .filter((h) => h.weight > 0)
      .sort((a, b) => b.weight - a.weight)
      .slice(0, options.historyShown ?? 5)
      .map((h) => {
        const it = view.item(h.item);
        return { title: h.title, style: h.style, weight: h.weight, png: it.imageHash ? view.store.images.read(it.imageHash) : null };
      });
    rows.push({
      task: task.externalId,
      user: task.userExternalId,
      reference: { title: ref.title, style: ref.style, png: refPng },
      history,
      output: { png: result.candidates[sel.chosen].png, rankerScore: sel.scores[sel.chosen].rankerScore, semanticScore: sel.scores[sel.chosen].semanticScore, candidates: result.candidates.length },
      target: target.imageHash ? { style: target.style, png: view.store.images.read(target.imageHash) } : null,
    });
    options.onRow?.(i + 1);
  }
  return rows;
}
