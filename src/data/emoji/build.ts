import type { Store } from '../../store/store.js';
import { RagarError } from '../../util/errors.js';
import { silentProgress, type Progress } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { ALL_STYLES, loadEmojiCatalog, STYLE_SOURCES, type EmojiConcept } from './catalog.js';
import { mapConcurrent, rasterizeArtwork } from './rasterize.js';
import { DEFAULT_SIMULATION, simulateUsers, validateSimulation, type SimulationParams } from './simulate.js';

/** Options of the emoji-styles builder; see {@link DEFAULT_EMOJI_BUILD}. */
export interface EmojiBuildOptions extends SimulationParams {
  /** Dataset name. */
  name: string;
  /** Side of the square item images in pixels. */
  size: number;
  /** Styles to include. */
  styles: string[];
  /** Use at most this many concepts (0 = all), a seeded sample. */
  maxConcepts: number;
  /** Replace an existing dataset of the same name. */
  replace?: boolean;
}

/** Defaults, as documented in the README and `--help`. */
export const DEFAULT_EMOJI_BUILD: EmojiBuildOptions = {
  ...DEFAULT_SIMULATION,
  name: 'emoji-styles',
  size: 64,
  // fluent-color is available but off by default: at 64 px it is nearly indistinguishable from
  // fluent-3d (the same shading baked into vectors), which would blur the style ground truth.
  styles: ['openmoji', 'noto', 'twemoji', 'fluent-flat', 'fluent-3d'],
  maxConcepts: 0,
};

/** What a build produced. */
export interface EmojiBuildSummary {
  dataset: string;
  concepts: number;
  styles: string[];
  items: number;
  users: number;
  interactions: number;
  tasks: number;
  seconds: number;
}

/** Select the concepts a build uses: those drawn in every chosen style (deterministic for the options). */
export function selectConcepts(options: EmojiBuildOptions): EmojiConcept[] {
  // Every concept must be drawn in every chosen style, so each user's taste has a target.
  let concepts = loadEmojiCatalog(options.styles).filter((c) => options.styles.every((s) => c.files[s]));
  concepts.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (options.maxConcepts > 0 && concepts.length > options.maxConcepts) {
    const rng = new Rng(options.seed).fork('concept-sample');
    concepts = rng.shuffle(concepts).slice(0, options.maxConcepts);
    concepts.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
  if (concepts.length === 0) throw new RagarError('no emoji concept matches the chosen styles', 'BAD_INPUT');
  return concepts;
}

/** External id of the item drawing `concept` in `style`. */
export function emojiItemId(concept: string, style: string): string {
  return `${concept}/${style}`;
}

/**
 * Build the emoji-styles benchmark (DESIGN §3) into `store`: rasterise every (concept, style),
 * simulate users, write interactions, tasks with ground-truth targets and splits. Atomic: a
 * failure leaves the store unchanged. Deterministic: the same options give the same dataset
 * digest.
 *
 * @example
 * await buildEmojiStyles(store, { ...DEFAULT_EMOJI_BUILD, users: 50, maxConcepts: 100 });
 */
export async function buildEmojiStyles(
  store: Store,
  options: EmojiBuildOptions,
  progress: Progress = silentProgress,
): Promise<EmojiBuildSummary> {
  const started = Date.now();
  const problems = validateSimulation(options);
  if (!Number.isInteger(options.size) || options.size < 8 || options.size > 1024) {
    problems.push(`size must be an integer in [8, 1024], got ${options.size}`);
  }
  const unknown = options.styles.filter((s) => !ALL_STYLES.includes(s));
  if (unknown.length) problems.push(`unknown styles ${unknown.join(', ')} (known: ${ALL_STYLES.join(', ')})`);
  if (new Set(options.styles).size !== options.styles.length) problems.push('styles are repeated');
  if (options.styles.length < 2) problems.push('at least two styles are needed');
  if (problems.length) throw new RagarError(`invalid build options: ${problems.join('; ')}`, 'BAD_INPUT');
  if (!options.replace && store.findDataset(options.name)) {
    throw new RagarError(`dataset ${JSON.stringify(options.name)} already exists; pass --force to rebuild it`, 'CONFLICT');
  }

  const concepts = selectConcepts(options);
  const sim = simulateUsers(concepts, options.styles, options);
  const jobs = concepts.flatMap((c) =>
    options.styles.map((style) => ({ concept: c, style, file: c.files[style] })),
  );
  progress.start('rasterising', jobs.length);
  const pngs = await mapConcurrent(jobs, 6, (job) => rasterizeArtwork(job.file, options.size), (n) => progress.update(n));
  progress.stop();

  const { replace: _replace, ...recorded } = options;
  const licenses = STYLE_SOURCES.filter((s) => options.styles.includes(s.name)).map(
    (s) => `${s.name}: ${s.license} (npm ${s.package})`,
  );
  let interactions = 0;
  let tasks = 0;
  await store.writeDataset(
    {
      name: options.name,
      kind: 'emoji-styles',
      params: { ...recorded, builder: 'ragar emoji-styles v1' },
      license: licenses.join('; '),
      source: 'npm packages: ' + [...new Set(STYLE_SOURCES.filter((s) => options.styles.includes(s.name)).map((s) => s.package))].join(', '),
    },
    async (w) => {
      progress.start('writing items', jobs.length);
      for (let i = 0; i < jobs.length; i++) {
        const { concept: c, style } = jobs[i];
        const imageHash = await w.putPng(pngs[i]);
        w.addItem({
          externalId: emojiItemId(c.key, style),
          title: c.name,
          text: `${c.name} (${c.subgroup.replace(/-/g, ' ')}): ${c.tags.join(', ')}`,
          tags: c.tags,
          group: c.group,
          subgroup: c.subgroup,
          concept: c.key,
          style,
          attributes: { emoji: c.emoji, source: STYLE_SOURCES.find((s) => s.name === style)!.package },
          imageHash,
        });
        if (i % 200 === 0) progress.update(i);
      }
      progress.stop();
      for (const [key, split] of [...sim.conceptSplit].sort()) w.setSplit('concept', key, split);
      progress.start('writing users', sim.users.length);
      sim.users.forEach((u, i) => {
        w.addUser(u.id, { truth: u.taste });
        w.setSplit('user', u.id, u.split);
        for (const h of u.history) {
          w.addInteraction(u.id, emojiItemId(h.concept, h.style), h.ts, null);
          interactions++;
        }
        u.tasks.forEach((t, ti) => {
          w.addTask({
            externalId: `${u.id}/t${ti}`,
            user: u.id,
            reference: emojiItemId(t.concept, t.referenceStyle),
            target: emojiItemId(t.concept, t.targetStyle),
            split: u.split,
            attributes: { group: t.group, referenceStyle: t.referenceStyle, targetStyle: t.targetStyle },
          });
          tasks++;
        });
        progress.update(i + 1);
      });
      progress.stop();
    },
    { replace: options.replace },
  );
  return {
    dataset: options.name,
    concepts: concepts.length,
    styles: options.styles,
    items: jobs.length,
    users: sim.users.length,
    interactions,
    tasks,
    seconds: (Date.now() - started) / 1000,
  };
}
