import type { ItemRecord } from '../data/access.js';
import type { ImageEncoder, TextEncoder } from '../encoders/types.js';
import { dot } from '../encoders/types.js';
import { buildPreference, type UserPreference } from '../preference/build.js';
import { imageRow } from '../ranking/content.js';
import type { RankingContext } from '../ranking/pipeline.js';
import type { ContentRanker } from '../ranking/ranker.js';
import { contentRankerV1 } from '../ranking/spec.js';
import type { RankingUser } from '../ranking/types.js';
import type { ItemVectors, RetrievalParams } from '../retrieval/weights.js';
import { RagarError } from '../util/errors.js';
import type { BuiltinEngineOptions } from '../generation/builtin/engine.js';
import { searchForRanker, type RankSearchCall } from '../generation/remote/search.js';
import type { GeneratorEngineV1, GeneratorHistoryItemV1, GeneratorPreferenceV1, GeneratorResultV1 } from '../generation/types.js';

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

/** What {@link generationPreference} prepares for the engine. */
export interface PreparedGeneration {
  /** The full preference (weights, similarities, keywords): part of every record. */
  preference: UserPreference;
  /** The standard preference every engine reads (an empty history when non-personalised). */
  generation: GeneratorPreferenceV1;
  /** The prompt for engines that take text: the reference text, then the keyword preference. */
  prompt: string;
  /** The built-in engine's own options derived from the preference (`providerOptions.builtin`). */
  builtin: Pick<BuiltinEngineOptions, 'itemStyles' | 'styleVector' | 'rankerDirection'>;
  rankingUser: RankingUser;
}

/**
 * RAGAR steps 1–2 for the generator: weight the user's whole history against the reference
 * (retrieval, or uniform pooling) and turn the weights into the engine's standard preference
 * (attended items with weights, texts, styles and images; keywords), plus what the built-in engine
 * reads from its own options: each attended item's standardised style descriptor (the ranker's
 * style block), their weighted mean, and the ranker's user direction for the reference's text
 * (`R(u, x) = g_img(x)·v + c`). `weighting: 'none'` is the non-personalised request: the weights
 * are still computed for the record, but the engine gets an empty history and no keywords.
 *
 * @example
 * const { generation, builtin } = generationPreference(setup, 'u042', { kind: 'item', item }, 'retrieval');
 */
export function generationPreference(
  setup: PersonalizationSetup,
  user: string,
  reference: GenerationReference,
  weighting: 'retrieval' | 'uniform' | 'none',
): PreparedGeneration {
  const { rc, ranker } = setup;
  const view = rc.view;
  const record: ItemRecord =
    reference.kind === 'item'
      ? reference.item
      : { id: -1, externalId: '(file)', title: reference.title, text: reference.text, tags: [], group: null, subgroup: null, concept: null, style: null, imageHash: null };
  const preference = buildPreference(view, rc.vectors, user, record, setup.retrieval, {
    weighting: weighting === 'none' ? 'retrieval' : weighting,
    referenceVectors: reference.kind === 'file' ? reference.vectors : undefined,
  });
  const u = view.user(user);
  const historyIds = view.history(u.id).map((h) => h.itemId);
  const history = historyIds.map((id) => rc.data.itemIndex.get(id));
  if (history.some((i) => i === undefined)) throw new RagarError(`user ${user}: a history item is missing from the ranking data`, 'BAD_INPUT');
  const block = rc.features.style;
  let styleVector: Float32Array | null = null;
  const itemStyles: Record<string, Float32Array> = {};
  if (block) {
    styleVector = new Float32Array(block.dim);
    preference.history.forEach((h, j) => {
      if (!h.weight) return;
      const o = history[j]! * rc.features.imageDim + block.offset;
      const s = rc.features.image.slice(o, o + block.dim);
      itemStyles[h.item] = s;
      for (let k = 0; k < block.dim; k++) styleVector![k] += h.weight * s[k];
    });
  }
  const rankingUser: RankingUser = { userId: u.id, externalId: u.externalId, split: null, history: history as number[], heldOut: [] };
  const textVector = reference.kind === 'item' ? rc.vectors.text.get(reference.item.id) ?? null : reference.vectors.text;
  const rankerDirection = textVector ? ranker.imageScoreParts(rankingUser, textVector) : null;
  const keywords = preference.keywords.map((k) => k.keyword);
  const attended: GeneratorHistoryItemV1[] = preference.history.flatMap((h, j) => {
    if (!(h.weight > 0)) return [];
    const item = view.item(historyIds[j]);
    const hash = item.imageHash;
    return [{ item: h.item, weight: h.weight, text: item.text, style: h.style, image: hash ? () => view.store.images.read(hash) : null }];
  });
  const personal = weighting !== 'none';
  return {
    preference,
    rankingUser,
    generation: personal ? { weighting, history: attended, keywords } : { weighting: 'retrieval', history: [], keywords: [] },
    prompt: personal && keywords.length ? `${record.text}, ${keywords.join(', ')}` : record.text,
    builtin: personal ? { itemStyles, styleVector, rankerDirection } : { rankerDirection: null },
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
  result: GeneratorResultV1,
  encoders: { image: ImageEncoder; style: ImageEncoder | null },
  reference: { imageVector: Float32Array; textVector: Float32Array | null },
  options: { useRanker: boolean },
): Promise<{ scores: CandidateScore[]; chosen: number; embeddings: Float32Array[]; styles: (Float32Array | null)[] }> {
  const pngs = result.candidates.map((c) => c.png);
  const images = await encoders.image.encode(pngs);
  const styles = encoders.style ? await encoders.style.encode(pngs) : pngs.map(() => null);
  const ranker = setup.ranker;
  const rankerScores = await contentRankerV1(ranker).scoreCold(rankingUser, -1, images.map((v, i) => ({ image: imageRow(setup.rc.features, v, styles[i]), text: reference.textVector })));
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

/** A reference: a dataset item (with its image and cached embeddings), or an image with its text. */
export type PersonalizeReference = ItemRecord | { image: Buffer | Uint8Array; text: string; title?: string; /** Where the image came from (a file name), for error messages. */ source?: string };

/** What {@link personalizeItem} is asked. */
export interface PersonalizeItemRequest {
  /** External id of the user. */
  user: string;
  /** The reference: a dataset item, or image bytes with their text (embedded with the encoders). */
  reference: PersonalizeReference;
  /** How the history is weighted; `none` = non-personalised (the engine gets an empty history). */
  weighting: 'retrieval' | 'uniform' | 'none';
  /** Choose by the ranker + semantic rank sum (else by the semantic score only). */
  rankerSelection: boolean;
  candidates: number;
  seed: number;
  /** The standard img2img strength (engines that take it); undefined = the engine's default. */
  strength?: number;
  /** Engine options keyed by provider; the built-in engine's derived options are merged under `builtin`. */
  providerOptions?: Record<string, Record<string, unknown>>;
  abortSignal?: AbortSignal;
  onProgress?: (event: { stage: string; done: number; total: number }) => void;
  /**
   * The rank task on a black-box engine (`searchForRanker`): rounds varying strength,
   * image-prompt scale and seeds (`candidates` images per call), keeping the image the ranker
   * scores highest for the user. The engine must honour `strength` and take `imagePromptScale`
   * in its provider options (the remote engines). Undefined = one plain call.
   */
  search?: { rounds: number; strength?: number; imagePromptScale?: number };
}

/** What the search did (see {@link PersonalizeItemRequest.search}): every call with its setting, seeds and ranker scores. */
export interface PersonalizeSearchRecord {
  rounds: number;
  /** Engine calls made and images generated in all. */
  calls: RankSearchCall[];
  images: number;
  best: { seed: number; score: number; strength: number; imagePromptScale: number; round: number; call: number };
}

/** The encoders personalisation uses: image and style for selection, text for a reference given as a file. */
export interface PersonalizationEncoders {
  image: ImageEncoder;
  style: ImageEncoder | null;
  text?: TextEncoder;
}

/** A reference resolved to what the pipeline needs: its generation reference, bytes, text and vectors. */
async function resolveReference(
  setup: PersonalizationSetup,
  encoders: PersonalizationEncoders,
  ref: PersonalizeReference,
): Promise<{ reference: GenerationReference; png: Buffer; text: string; imageVector: Float32Array; textVector: Float32Array | null }> {
  const { rc } = setup;
  if ('externalId' in ref) {
    if (!ref.imageHash) throw new RagarError(`reference ${ref.externalId} has no image`, 'BAD_INPUT');
    const imageVector = rc.vectors.image.get(ref.id);
    if (!imageVector) throw new RagarError(`reference ${ref.externalId} has no cached image embedding; run \`ragar embed --dataset ${rc.view.dataset.name}\``, 'NOT_FOUND');
    return { reference: { kind: 'item', item: ref }, png: rc.view.store.images.read(ref.imageHash), text: ref.text, imageVector, textVector: rc.vectors.text.get(ref.id) ?? null };
  }
  if (!encoders.text) throw new RagarError('a reference given as an image needs a text encoder for its text', 'BAD_INPUT');
  const png = Buffer.from(ref.image);
  let imageVector: Float32Array;
  let styleVector: Float32Array | null = null;
  try {
    [imageVector] = await encoders.image.encode([png]);
    if (encoders.style) [styleVector] = await encoders.style.encode([png]);
  } catch (err) {
    throw new RagarError(`${ref.source ?? 'reference image'}: ${(err as Error).message}`, 'BAD_IMAGE', { cause: err });
  }
  const [textVector] = await encoders.text.encode([ref.text]);
  return {
    reference: { kind: 'file', title: ref.title ?? ref.text, text: ref.text, vectors: { image: imageVector, text: textVector }, styleVector },
    png,
    text: ref.text,
    imageVector,
    textVector,
  };
}

/**
 * Call an engine for a prepared preference: the standard options, and the built-in engine's
 * derived options under `builtin` beside whatever the caller set there. Requests larger than
 * the engine's `maxCandidatesPerCall` are split into several calls with consecutive seeds (their
 * `providerMetadata` arrays, e.g. the per-candidate records of what was sent, are concatenated).
 *
 * @example
 * const result = await generateFor(engine, prepared, { image: png, text: item.text }, { user: 'u042', candidates: 4, seed: 1 });
 */
export async function generateFor(
  engine: GeneratorEngineV1,
  prepared: PreparedGeneration,
  reference: { image: Buffer; text: string },
  call: { user: string; candidates: number; seed: number; strength?: number; providerOptions?: Record<string, Record<string, unknown>>; abortSignal?: AbortSignal; onProgress?: PersonalizeItemRequest['onProgress'] },
): Promise<GeneratorResultV1> {
  const providerOptions = { ...call.providerOptions, builtin: { ...call.providerOptions?.builtin, ...prepared.builtin } };
  const per = engine.maxCandidatesPerCall ?? call.candidates;
  const out: GeneratorResultV1 = { candidates: [], warnings: [], response: { provider: engine.provider, modelId: engine.modelId, timings: {} } };
  for (let done = 0; done < call.candidates || done === 0; ) {
    const n = Math.max(1, Math.min(per, call.candidates - done));
    const r = await engine.doGenerate({
      reference,
      prompt: prepared.prompt,
      preference: prepared.generation,
      user: call.user,
      candidates: n,
      seed: call.seed + done,
      ...(call.strength !== undefined ? { strength: call.strength } : {}),
      providerOptions,
      abortSignal: call.abortSignal,
      onProgress: call.onProgress,
    });
    out.candidates.push(...r.candidates);
    out.warnings.push(...r.warnings);
    if (r.providerMetadata) out.providerMetadata = mergeMetadata(out.providerMetadata, r.providerMetadata);
    out.response = { ...r.response, timings: done === 0 ? r.response.timings : sumTimings(out.response.timings, r.response.timings) };
    done += n;
  }
  return out;
}

/** Provider metadata of split calls: arrays under the same key are concatenated (per-candidate records), other values keep the first call's. */
function mergeMetadata(a: GeneratorResultV1['providerMetadata'], b: NonNullable<GeneratorResultV1['providerMetadata']>): NonNullable<GeneratorResultV1['providerMetadata']> {
  const out: NonNullable<GeneratorResultV1['providerMetadata']> = { ...a };
  for (const [provider, meta] of Object.entries(b)) {
    const prev = out[provider];
    if (!prev) {
      out[provider] = meta;
      continue;
    }
    const merged: Record<string, unknown> = { ...meta, ...prev };
    for (const [k, v] of Object.entries(meta)) if (Array.isArray(v) && Array.isArray(prev[k])) merged[k] = [...(prev[k] as unknown[]), ...v];
    out[provider] = merged;
  }
  return out;
}

function sumTimings(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/**
 * RAGAR end to end for one reference (a dataset item, or image bytes with their text): preference
 * (steps 1–2), the engine's candidates (step 3) and the chosen one (step 4). The CLI's
 * `ragar generate`, `ragar eval`, the demo and the library's `personalize` all run this.
 *
 * @example
 * const { result, selection } = await personalizeItem(setup, engine, { image, style }, { user: 'u042', reference: item, weighting: 'retrieval', rankerSelection: true, candidates: 4, seed: 1 });
 * result.candidates[selection.chosen].png;
 */
export async function personalizeItem(
  setup: PersonalizationSetup,
  engine: GeneratorEngineV1,
  encoders: PersonalizationEncoders,
  request: PersonalizeItemRequest,
): Promise<PreparedGeneration & { referencePng: Buffer; result: GeneratorResultV1; selection: Awaited<ReturnType<typeof selectCandidate>>; search: PersonalizeSearchRecord | null }> {
  const ref = await resolveReference(setup, encoders, request.reference);
  const prepared = generationPreference(setup, request.user, ref.reference, request.weighting);
  if (request.search) {
    const { best, bestResult: result, calls, images, rounds } = await searchForRanker(
      engine,
      {
        reference: { image: ref.png, text: ref.text },
        prompt: prepared.prompt,
        preference: prepared.generation,
        user: request.user,
        candidates: request.candidates,
        seed: request.seed,
        ...(request.strength !== undefined ? { strength: request.strength } : {}),
        providerOptions: { ...request.providerOptions, builtin: { ...request.providerOptions?.builtin, ...prepared.builtin } },
        abortSignal: request.abortSignal,
        onProgress: request.onProgress,
      },
      async (pngs) => {
        const images = await encoders.image.encode(pngs);
        const styles = encoders.style ? await encoders.style.encode(pngs) : pngs.map(() => null);
        return contentRankerV1(setup.ranker).scoreCold(prepared.rankingUser, -1, images.map((v, i) => ({ image: imageRow(setup.rc.features, v, styles[i]), text: ref.textVector })));
      },
      { rounds: request.search.rounds, perCall: request.candidates, strength: request.search.strength, imagePromptScale: request.search.imagePromptScale },
    );
    // The search chose by the ranker score; the scores of the winning call's candidates are kept for the record.
    const scored = await selectCandidate(setup, prepared.rankingUser, result, encoders, { imageVector: ref.imageVector, textVector: ref.textVector }, { useRanker: true });
    const chosen = result.candidates.findIndex((c) => c.seed === best.seed);
    if (chosen < 0) throw new RagarError(`search: the best seed ${best.seed} is not among its call's candidates`, 'INTERNAL');
    const selection = { ...scored, chosen, scores: scored.scores.map((sc, i) => ({ ...sc, chosen: i === chosen })) };
    const { png: _png, ...bestRecord } = best;
    return { ...prepared, referencePng: ref.png, result, selection, search: { rounds, calls, images, best: bestRecord } };
  }
  const result = await generateFor(engine, prepared, { image: ref.png, text: ref.text }, request);
  const selection = await selectCandidate(setup, prepared.rankingUser, result, encoders, { imageVector: ref.imageVector, textVector: ref.textVector }, { useRanker: request.rankerSelection });
  return { ...prepared, referencePng: ref.png, result, selection, search: null };
}
