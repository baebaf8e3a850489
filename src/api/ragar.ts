import { DatasetView, type ItemRecord, type UserRecord } from '../data/access.js';
import { createImageEncoder, createTextEncoder } from '../encoders/registry.js';
import type { ImageEncoder, TextEncoder } from '../encoders/types.js';
import { loadDatasetVectors } from '../encoders/vectors.js';
import { evaluateHome, type EvaluateHomeOptions, type EvaluateHomeResult } from '../evaluation/run.js';
import type { GeneratorEngineV1, GeneratorWarningV1 } from '../generation/types.js';
import { buildPreference, type UserPreference } from '../preference/build.js';
import { personalizeItem, type CandidateScore } from '../pipeline/personalize.js';
import { prepareEvaluation, type PreparationSummary } from '../pipeline/prepare.js';
import { scoreImages, type ImageScore } from '../pipeline/rank.js';
import { generationSetupFrom, openBuiltinEngine, GENERATOR_VARIANTS, type GeneratorVariant } from '../pipeline/setup.js';
import { loadSavedRanker, prepareRanking } from '../ranking/pipeline.js';
import { defaultRetrievalFor } from '../retrieval/tuned.js';
import type { RetrievalParams } from '../retrieval/weights.js';
import type { DatasetInfo } from '../store/store.js';
import { Store } from '../store/store.js';
import { RagarError } from '../util/errors.js';
import { resolveSettings, type RagarSettings, type ResolvedSettings } from './settings.js';

/** A reference: an item id of the dataset, or image bytes with their text. */
export type ReferenceInput = string | { image: Buffer | Uint8Array; text: string; title?: string };

/** What {@link Ragar.retrieve} is asked. */
export interface RetrieveRequest {
  user: string;
  reference: ReferenceInput;
  /** `retrieval` (default) or `uniform` (equal pooling). */
  weighting?: 'retrieval' | 'uniform';
  /** Retrieval settings; default: the dataset's validation-tuned ones. */
  params?: RetrievalParams;
  dataset?: string;
}

/** What {@link Ragar.rank} is asked. */
export interface RankRequest {
  user: string;
  /** Images to score (PNG/JPEG/WebP bytes; never-seen images are fine). */
  images: readonly (Buffer | Uint8Array)[];
  /** Their text (title, tags), if any. */
  text?: string;
  dataset?: string;
}

/** What {@link Ragar.personalize} is asked. */
export interface PersonalizeRequest {
  user: string;
  reference: ReferenceInput;
  /** `retrieval` (default), `uniform`, or `none` (non-personalised). */
  weighting?: 'retrieval' | 'uniform' | 'none';
  /** Candidates to generate and choose from (default 4). */
  candidates?: number;
  /**
   * The engine: any {@link GeneratorEngineV1}, or a built-in variant name (default `ragar`). An
   * engine passed in stays the caller's to dispose.
   */
  engine?: GeneratorEngineV1 | GeneratorVariant;
  /** Choose by ranker + semantic rank sum (default true), else by semantic score only. */
  rankerSelection?: boolean;
  /** Seed of the first candidate (default 1). */
  seed?: number;
  /** img2img strength for engines that take it (the remote engines); default: the engine's. */
  strength?: number;
  /** The rank-task search over strength, image-prompt scale and seeds (remote engines; see `searchForRanker`). */
  search?: { rounds: number };
  /** Engine options keyed by provider, over the settings' defaults. */
  providerOptions?: Record<string, Record<string, unknown>>;
  dataset?: string;
  signal?: AbortSignal;
  onProgress?: (event: { stage: string; done: number; total: number }) => void;
}

/** What {@link Ragar.personalize} returns. */
export interface PersonalizeOutcome {
  /** The chosen image (PNG). */
  image: Buffer;
  /** Every candidate with its seed. */
  candidates: { png: Buffer; seed: number }[];
  /** Ranker and semantic scores of every candidate; `chosen` marks the pick. */
  scores: CandidateScore[];
  /** The retrieval weights of the history (explainability) and the keyword preference. */
  weights: { item: string; title: string; style: string | null; weight: number; similarity: number }[];
  keywords: string[];
  warnings: GeneratorWarningV1[];
  /** A JSON-ready record of the call (settings, weights, scores, engine, timings). */
  record: Record<string, unknown>;
}

/** The library's entry point: see {@link createRagar}. */
export interface Ragar {
  readonly settings: ResolvedSettings;
  /** Datasets of the data home. */
  datasets(): DatasetInfo[];
  /** Users of a dataset. */
  users(options?: { dataset?: string }): UserRecord[];
  /** Items of a dataset. */
  items(options?: { dataset?: string }): ItemRecord[];
  /** The stored image (PNG) of a dataset item; NOT_FOUND when the item has none. */
  itemImage(options: { item: string; dataset?: string }): Buffer;
  /** RAGAR steps 1–2: the history's retrieval weights against a reference, and the preference. */
  retrieve(request: RetrieveRequest): Promise<UserPreference>;
  /** Score images for a user with the trained ranker. */
  rank(request: RankRequest): Promise<ImageScore[]>;
  /** RAGAR end to end: preference, candidates from the engine, the ranker's choice. */
  personalize(request: PersonalizeRequest): Promise<PersonalizeOutcome>;
  /** Do what `evaluate` needs and is missing (build, embed, tune, train the ranker and joint space). */
  prepare(options?: { dataset?: string; signal?: AbortSignal }): Promise<PreparationSummary>;
  /** The evaluation harness (`ragar eval`): writes the report folder and returns its metrics. */
  evaluate(options: Omit<EvaluateHomeOptions, 'dataset' | 'clip' | 'weightsRoot' | 'workers' | 'progress' | 'note'> & { dataset?: string }): Promise<EvaluateHomeResult>;
  /** Release models, encoders and the store. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Open ragar on a data home with one explicit settings object. Models load on first use and stay
 * loaded until {@link Ragar.close}.
 *
 * @example
 * const ragar = createRagar({ home: '.ragar' });
 * const out = await ragar.personalize({ user: 'u001', reference: '1F98A/noto' });
 * fs.writeFileSync('out.png', out.image);
 * await ragar.close();
 */
export function createRagar(settings: RagarSettings): Ragar {
  const s = resolveSettings(settings);
  const store = Store.open(s.home);
  const setups = new Map<string, ReturnType<typeof generationSetupFrom>>();
  const engines = new Map<string, GeneratorEngineV1>();
  const encoders: { image?: Promise<ImageEncoder>; style?: Promise<ImageEncoder>; text?: Promise<TextEncoder> } = {};
  let closed = false;

  const open = () => {
    if (closed) throw new RagarError('this ragar instance was closed', 'BAD_INPUT');
    return store;
  };
  const view = (dataset?: string) => DatasetView.open(open(), dataset ?? s.dataset);
  const setupFor = (dataset?: string) => {
    const name = dataset ?? s.dataset;
    let setup = setups.get(name);
    if (!setup) {
      setup = generationSetupFrom(prepareRanking(view(name)), s.home);
      setups.set(name, setup);
    }
    return setup;
  };
  const image = () => (encoders.image ??= createImageEncoder({ workers: s.workers }));
  const style = () => (encoders.style ??= createImageEncoder({ image: 'style-stats' }));
  const text = () => (encoders.text ??= createTextEncoder());
  const engineFor = async (dataset: string, variant: GeneratorVariant): Promise<GeneratorEngineV1> => {
    if (!(variant in GENERATOR_VARIANTS)) throw new RagarError(`unknown generator variant ${JSON.stringify(variant)} (known: ${Object.keys(GENERATOR_VARIANTS).join(', ')})`, 'BAD_INPUT');
    const key = `${dataset}/${variant}`;
    let engine = engines.get(key);
    if (!engine) {
      engine = (await openBuiltinEngine(s.home, dataset, variant, { weightsRoot: s.models.weights })).engine;
      engines.set(key, engine);
    }
    return engine;
  };

  return {
    settings: s,
    datasets: () => open().listDatasets(),
    users: (o = {}) => [...view(o.dataset).users().values()],
    items: (o = {}) => [...view(o.dataset).items().values()],
    itemImage(o) {
      const item = view(o.dataset).item(o.item);
      if (!item.imageHash) throw new RagarError(`item ${JSON.stringify(o.item)} has no image`, 'NOT_FOUND');
      return open().images.read(item.imageHash);
    },

    async retrieve(request) {
      const v = view(request.dataset);
      const vectors = loadDatasetVectors(v, { image: 'mobilenet', text: 'use', optionalImage: true });
      const params = request.params ?? defaultRetrievalFor(s.home, v.dataset.name).params;
      if (typeof request.reference === 'string') return buildPreference(v, vectors, request.user, request.reference, params, { weighting: request.weighting });
      const ref = request.reference;
      const [[imageVector], [textVector]] = await Promise.all([(await image()).encode([ref.image]), (await text()).encode([ref.text])]);
      const record: ItemRecord = { id: -1, externalId: '(image)', title: ref.title ?? ref.text, text: ref.text, tags: [], group: null, subgroup: null, concept: null, style: null, imageHash: null };
      return buildPreference(v, vectors, request.user, record, params, { weighting: request.weighting, referenceVectors: { image: imageVector, text: textVector } });
    },

    async rank(request) {
      const setup = setupFor(request.dataset);
      const { meta } = loadSavedRanker(setup.rc, s.home, 'ranker');
      return scoreImages(setup.rc, setup.ranker, meta, { image: await image(), style: meta.styleModel ? await style() : null, text: request.text ? await text() : undefined }, { user: request.user, images: request.images, text: request.text });
    },

    async personalize(request) {
      const setup = setupFor(request.dataset);
      const dataset = setup.rc.view.dataset.name;
      const engine = typeof request.engine === 'object' ? request.engine : await engineFor(dataset, request.engine ?? 'ragar');
      const reference = typeof request.reference === 'string' ? setup.rc.view.item(request.reference) : request.reference;
      const providerOptions = { ...s.engineOptions };
      for (const [k, v] of Object.entries(request.providerOptions ?? {})) providerOptions[k] = { ...providerOptions[k], ...v };
      const weighting = request.weighting ?? 'retrieval';
      const rankerSelection = request.rankerSelection ?? true;
      const candidates = request.candidates ?? 4;
      const seed = request.seed ?? 1;
      const out = await personalizeItem(setup, engine, { image: await image(), style: await style(), text: typeof request.reference === 'string' ? undefined : await text() }, {
        user: request.user,
        reference,
        weighting,
        rankerSelection,
        candidates,
        seed,
        ...(request.strength !== undefined ? { strength: request.strength } : {}),
        ...(request.search ? { search: request.search } : {}),
        providerOptions,
        abortSignal: request.signal,
        onProgress: request.onProgress,
      });
      const weights = out.preference.history.filter((h) => h.weight > 0).map((h) => ({ item: h.item, title: h.title, style: h.style, weight: h.weight, similarity: h.similarity }));
      const keywords = out.preference.keywords.map((k) => k.keyword);
      return {
        image: out.result.candidates[out.selection.chosen].png,
        candidates: out.result.candidates.map((c) => ({ png: c.png, seed: c.seed })),
        scores: out.selection.scores,
        weights,
        keywords,
        warnings: out.result.warnings,
        record: {
          user: request.user,
          reference: 'externalId' in reference ? { item: reference.externalId, title: reference.title, style: reference.style } : { text: reference.text },
          dataset,
          // provider, model and timings; for the remote engines also exactly what reached the server (sent, selection, servers)
          engine: { ...out.result.response, ...(out.result.providerMetadata?.[out.result.response.provider] ?? {}) },
          ...(out.search ? { search: out.search } : {}),
          settings: { weighting, rankerSelection, candidates, seed, retrieval: setup.retrieval, retrievalSource: setup.retrievalSource },
          retrievalWeights: weights,
          keywords,
          candidates: out.selection.scores,
          chosen: out.selection.chosen,
        },
      };
    },

    prepare: (o = {}) => prepareEvaluation(open(), o.dataset ?? s.dataset, { progress: s.progress, note: s.note, workers: s.workers, signal: o.signal }),

    evaluate: (o) =>
      evaluateHome(open(), { ...o, dataset: o.dataset ?? s.dataset, clip: s.models.clip ?? undefined, weightsRoot: s.models.weights, workers: s.workers, progress: s.progress, note: s.note }),

    async close() {
      if (closed) return;
      closed = true;
      for (const e of engines.values()) await e.dispose();
      for (const p of Object.values(encoders)) await (await p).dispose();
      store.close();
    },
  };
}
