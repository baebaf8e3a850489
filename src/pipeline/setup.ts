import fs from 'node:fs';
import path from 'node:path';
import { DatasetView } from '../data/access.js';
import { loadSavedRanker, prepareRanking, type RankingContext } from '../ranking/pipeline.js';
import { defaultRetrievalFor } from '../retrieval/tuned.js';
import type { RetrievalParams } from '../retrieval/weights.js';
import type { Store } from '../store/store.js';
import { RagarError } from '../util/errors.js';
import { packageWeightsDir } from '../util/package.js';
import type { ImageTower } from '../ranking/tower.js';
import { createBuiltinEngine } from '../generation/builtin/engine.js';
import type { Finishing } from '../generation/builtin/finishing.js';
import { BuiltinGenerator } from '../generation/builtin/model.js';
import type { PersonalizationSetup } from './personalize.js';
import type { GeneratorEngineV1 } from '../generation/types.js';

/** The generator variants the project trains (and ships for emoji-styles). */
export const GENERATOR_VARIANTS = {
  /** Full RAGAR: the conditioned translator trained with L1 + adversarial + λ > 0 (rank loss through the distilled tower). */
  ragar: { objective: 'translator', rank: true, adversarial: true },
  /** The same model trained with λ = 0 (no ranker in training). */
  'ragar-norank': { objective: 'translator', rank: false, adversarial: true },
  /** Baseline: the same network trained with L1 alone (no adversarial term), λ = 0. */
  l1: { objective: 'translator', rank: false, adversarial: false },
} as const;
export type GeneratorVariant = keyof typeof GENERATOR_VARIANTS;

/**
 * The shipped weights of a variant: `<weightsRoot>/generator/<dataset>/<variant>`, where
 * `weightsRoot` defaults to the package's `weights/` folder (settings may name another).
 */
export function shippedGeneratorDir(dataset: string, variant: GeneratorVariant, weightsRoot: string = packageWeightsDir()): string {
  return path.join(weightsRoot, 'generator', dataset, variant);
}

/** `<home>/models/<dataset>/generator/<variant>`: where `ragar train generator` writes. */
export function homeGeneratorDir(home: string, dataset: string, variant: GeneratorVariant): string {
  return path.join(home, 'models', dataset, 'generator', variant);
}

/**
 * Where a variant's weights are read from: an explicit folder, else the data home's trained
 * weights, else the shipped ones (under `weightsRoot`, default the package's). Errors name every
 * place looked at.
 */
export function resolveGeneratorDir(home: string, dataset: string, variant: GeneratorVariant, explicit?: string, weightsRoot?: string): string {
  if (!(variant in GENERATOR_VARIANTS)) throw new RagarError(`unknown generator variant ${JSON.stringify(variant)} (known: ${Object.keys(GENERATOR_VARIANTS).join(', ')})`, 'BAD_INPUT');
  const candidates = explicit ? [explicit] : [homeGeneratorDir(home, dataset, variant), shippedGeneratorDir(dataset, variant, weightsRoot)];
  for (const dir of candidates) if (fs.existsSync(path.join(dir, 'generator.json'))) return dir;
  throw new RagarError(`no ${variant} generator weights for ${dataset} (looked in ${candidates.join(', ')}); run \`ragar train generator --variant ${variant}\``, 'NOT_FOUND');
}

/**
 * The warning for weights that are a training checkpoint still in progress (or stopped before it
 * finished): their `generator.json` has `training: null` until `ragar train generator` ends, so
 * fitting or evaluating them measures a snapshot, not the finished weights. Null for finished weights.
 *
 * @example
 * const warning = checkpointWarning(dir, meta); // "… is a training checkpoint …" or null
 */
export function checkpointWarning(dir: string, meta: Record<string, unknown>): string | null {
  if (meta.training !== null) return null;
  return `${dir} holds a training checkpoint, not finished weights (generator.json has no training record yet): training is still running there or was stopped; its results are a snapshot's`;
}

/**
 * Open what personalised generation needs: the dataset, its ranking context (embeddings and
 * style descriptors), the trained ranker and the retrieval defaults.
 *
 * @example
 * const setup = openGenerationSetup(store, 'emoji-styles');
 */
export function openGenerationSetup(store: Store, dataset: string, retrieval?: RetrievalParams): PersonalizationSetup & { retrievalSource: string } {
  return generationSetupFrom(prepareRanking(DatasetView.open(store, dataset)), store.home, retrieval);
}

/** {@link openGenerationSetup} for an already prepared ranking context (its vectors are not loaded again). */
export function generationSetupFrom(rc: RankingContext, home: string, retrieval?: RetrievalParams): PersonalizationSetup & { retrievalSource: string } {
  const { ranker } = loadSavedRanker(rc, home, 'ranker');
  const defaults = defaultRetrievalFor(home, rc.view.dataset.name);
  return { rc, ranker, retrieval: retrieval ?? defaults.params, retrievalSource: retrieval ? 'command line' : defaults.source };
}

/**
 * Load a variant's built-in engine from {@link resolveGeneratorDir}'s folder (an explicit `dir`,
 * else the data home's, else the shipped weights), with the distilled tower when ranker guidance
 * is wanted. The engine's `modelId` is the variant; `finishing` is the generator's fitted finishing (null = none).
 *
 * @example
 * const { engine, dir } = await openBuiltinEngine(home, 'emoji-styles', 'ragar');
 */
export async function openBuiltinEngine(
  home: string,
  dataset: string,
  variant: GeneratorVariant,
  options: { tower?: ImageTower | null; dir?: string; weightsRoot?: string } = {},
): Promise<{ engine: GeneratorEngineV1; dir: string; meta: Record<string, unknown>; finishing: Finishing | null }> {
  const dir = resolveGeneratorDir(home, dataset, variant, options.dir, options.weightsRoot);
  const { generator, meta } = await BuiltinGenerator.load(dir);
  return { engine: createBuiltinEngine({ generator, tower: options.tower ?? null, modelId: variant }), dir, meta, finishing: generator.finishing };
}
