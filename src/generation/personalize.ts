import type { ItemRecord } from '../data/access.js';
import type { ImageEncoder } from '../encoders/types.js';
import { dot } from '../encoders/types.js';
import { buildPreference, type UserPreference } from '../preference/build.js';
import { imageRow } from '../ranking/content.js';
import type { RankingContext } from '../ranking/pipeline.js';
import type { ContentRanker } from '../ranking/ranker.js';
import type { RankingUser } from '../ranking/types.js';
import type { ItemVectors, RetrievalParams } from '../retrieval/weights.js';
import { RagarError } from '../util/errors.js';
import type { GenerateResult, GenerationPreference, GeneratorEngine } from './types.js';

/** Everything personalised generation needs about a dataset. */
export interface PersonalizationSetup {
  rc: RankingContext;
  ranker: ContentRanker;
  /** Retrieval settings (validation-tuned defaults, or the command line's). */
  retrieval: RetrievalParams;
}

/** A reference: a dataset item, or an image file with its text (vectors computed by the caller). */
export type GenerationReference =
  | { kind: 'item'; item: ItemRecord }
  | { kind: 'file'; title: string; text: string; vectors: ItemVectors; styleVector: Float32Array | null };

/**
 * RAGAR steps 1–2 for the generator: weight the user's whole history against the reference
 * (retrieval, or uniform pooling), and turn the weights into the generator's preference — the
 * weighted mean of the history's standardised style descriptors, the keywords, and the ranker's
 * user direction for the reference's text (`R(u, x) = g_img(x)·v + c`).
 *
 * @example
 * const { generation, preference } = generationPreference(setup, 'u042', { kind: 'item', item }, 'retrieval');
 */
export function generationPreference(
  setup: PersonalizationSetup,
  user: string,
  reference: GenerationReference,
  weighting: 'retrieval' | 'uniform',
): { preference: UserPreference; generation: GenerationPreference; rankingUser: RankingUser } {
  const { rc, ranker } = setup;
  const view = rc.view;
  const record: ItemRecord =
    reference.kind === 'item'
      ? reference.item
      : { id: -1, externalId: '(file)', title: reference.title, text: reference.text, tags: [], group: null, subgroup: null, concept: null, style: null, imageHash: null };
  const preference = buildPreference(view, rc.vectors, user, record, setup.retrieval, {
    weighting,
    referenceVectors: reference.kind === 'file' ? reference.vectors : undefined,
  });
  const u = view.user(user);
  const history = view.history(u.id).map((h) => rc.data.itemIndex.get(h.itemId));
  if (history.some((i) => i === undefined)) throw new RagarError(`user ${user}: a history item is missing from the ranking data`, 'BAD_INPUT');
  const block = rc.features.style;
  let styleVector: Float32Array | null = null;
  const itemStyles: (Float32Array | null)[] = preference.history.map(() => null);
  if (block) {
    styleVector = new Float32Array(block.dim);
    preference.history.forEach((h, j) => {
      if (!h.weight) return;
      const o = history[j]! * rc.features.imageDim + block.offset;
      const s = rc.features.image.slice(o, o + block.dim);
      itemStyles[j] = s;
      for (let k = 0; k < block.dim; k++) styleVector![k] += h.weight * s[k];
    });
  }
  const rankingUser: RankingUser = { userId: u.id, externalId: u.externalId, split: null, history: history as number[], heldOut: [] };
  const textVector = reference.kind === 'item' ? rc.vectors.text.get(reference.item.id) ?? null : reference.vectors.text;
  const rankerDirection = textVector ? ranker.imageScoreParts(rankingUser, textVector) : null;
  return {
    preference,
    rankingUser,
    generation: {
      weighting,
      history: preference.history.flatMap((h, j) => (h.weight > 0 ? [{ item: h.item, weight: h.weight, style: h.style, styleVector: itemStyles[j] }] : [])),
      styleVector,
      keywords: preference.keywords.map((k) => k.keyword),
      rankerDirection,
    },
  };
}

/** Scores of one candidate. */
export interface CandidateScore {
  seed: number;
  /** The full ranker's score R(u, x) of the candidate for the user (cold: content only). */
  rankerScore: number;
  /** Cosine of the candidate's and the reference's image embeddings (keeping what the item is). */
  semanticScore: number;
  /** Ranks among the candidates (1 = best) and their sum: the selection criterion. */
  rankerRank: number;
  semanticRank: number;
  chosen: boolean;
}

/**
 * Score candidates with the full ranker (image embedding + style descriptor + the reference's
 * text) and by semantic similarity to the reference, and choose one: the best sum of the two
 * ranks among the candidates (scale-free), ties broken by the ranker score. With
 * `useRanker: false` only the semantic score decides (the λ = 0 runs without ranker selection).
 */
export async function selectCandidate(
  setup: PersonalizationSetup,
  rankingUser: RankingUser,
  result: GenerateResult,
  encoders: { image: ImageEncoder; style: ImageEncoder | null },
  reference: { imageVector: Float32Array; textVector: Float32Array | null },
  options: { useRanker: boolean },
): Promise<{ scores: CandidateScore[]; chosen: number; embeddings: Float32Array[]; styles: (Float32Array | null)[] }> {
  const pngs = result.candidates.map((c) => c.png);
  const images = await encoders.image.encode(pngs);
  const styles = encoders.style ? await encoders.style.encode(pngs) : pngs.map(() => null);
  const ranker = setup.ranker;
  const rankerScores = images.map((v, i) => ranker.scoreOne(rankingUser, -1, { image: imageRow(setup.rc.features, v, styles[i]), text: reference.textVector }));
  const semantic = images.map((v) => dot(v, reference.imageVector));
  const rankOf = (xs: number[]) => xs.map((x) => 1 + xs.filter((y) => y > x).length);
  const rr = rankOf(rankerScores);
  const sr = rankOf(semantic);
  let chosen = 0;
  const key = (i: number) => (options.useRanker ? rr[i] + sr[i] : sr[i]);
  for (let i = 1; i < images.length; i++) {
    if (key(i) < key(chosen) || (key(i) === key(chosen) && rankerScores[i] > rankerScores[chosen])) chosen = i;
  }
  return {
    chosen,
    embeddings: images,
    styles,
    scores: result.candidates.map((c, i) => ({ seed: c.seed, rankerScore: rankerScores[i], semanticScore: semantic[i], rankerRank: rr[i], semanticRank: sr[i], chosen: i === chosen })),
  };
}

/** What {@link personalizeItem} is asked. */
export interface PersonalizeItemRequest {
  /** External id of the user. */
  user: string;
  /** The reference: a dataset item with an image and cached embeddings. */
  reference: ItemRecord;
  weighting: 'retrieval' | 'uniform';
  /** Steer with the ranker (its direction reaches the engine) and choose by ranker + semantic rank sum. */
  rankerSelection: boolean;
  candidates: number;
  seed: number;
  engineOptions?: Record<string, Record<string, unknown>>;
  abortSignal?: AbortSignal;
}

/**
 * RAGAR end to end for one dataset reference: preference (steps 1–2), the engine's candidates
 * (step 3) and the chosen one (step 4). Without `rankerSelection` the ranker direction is
 * withheld from the engine and only the semantic score chooses.
 *
 * @example
 * const { result, selection } = await personalizeItem(setup, engine, { image, style }, { user: 'u042', reference: item, weighting: 'retrieval', rankerSelection: true, candidates: 4, seed: 1 });
 * result.candidates[selection.chosen].png;
 */
export async function personalizeItem(
  setup: PersonalizationSetup,
  engine: GeneratorEngine,
  encoders: { image: ImageEncoder; style: ImageEncoder | null },
  request: PersonalizeItemRequest,
): Promise<ReturnType<typeof generationPreference> & { referencePng: Buffer; result: GenerateResult; selection: Awaited<ReturnType<typeof selectCandidate>> }> {
  const { rc } = setup;
  const ref = request.reference;
  const prepared = generationPreference(setup, request.user, { kind: 'item', item: ref }, request.weighting);
  if (!request.rankerSelection) prepared.generation.rankerDirection = null;
  const referencePng = rc.view.store.images.read(ref.imageHash!);
  const result = await engine.generate({
    reference: { image: referencePng, text: ref.text },
    preference: prepared.generation,
    user: request.user,
    candidates: request.candidates,
    seed: request.seed,
    engineOptions: request.engineOptions,
    abortSignal: request.abortSignal,
  });
  const selection = await selectCandidate(setup, prepared.rankingUser, result, encoders, { imageVector: rc.vectors.image.get(ref.id)!, textVector: rc.vectors.text.get(ref.id) ?? null }, { useRanker: request.rankerSelection });
  return { ...prepared, referencePng, result, selection };
}
