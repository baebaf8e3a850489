import { RagarError } from '../../util/errors.js';
import type { GeneratorCallOptionsV1, GeneratorEngineV1, GeneratorResultV1 } from '../types.js';

/** Settings of {@link searchForRanker}. */
export interface RankSearchSettings {
  /** Rounds, ≥ 1 (round 0 is the starting point), default 3. */
  rounds?: number;
  /** Candidates (seeds) per engine call, default 2. */
  perCall?: number;
  /** Starting strength and image-prompt scale (default 0.6 and 0.8). */
  strength?: number;
  imagePromptScale?: number;
  /** First step of each parameter (halved every round), default 0.15 and 0.3. */
  strengthStep?: number;
  scaleStep?: number;
  /** Bounds: strength in [0.2, 0.95], scale in [0, 1.5] by default. */
  strengthRange?: [number, number];
  scaleRange?: [number, number];
}

/** One engine call of the search, as recorded. */
export interface RankSearchCall {
  round: number;
  strength: number;
  imagePromptScale: number;
  seeds: number[];
  scores: number[];
}

/** The result of {@link searchForRanker}: the best image and every call made. */
export interface RankSearchResult {
  best: { png: Buffer; seed: number; score: number; strength: number; imagePromptScale: number; round: number; call: number };
  /** The engine's result of the call that produced the best image. */
  bestResult: GeneratorResultV1;
  calls: RankSearchCall[];
  rounds: number;
  /** Images generated in all. */
  images: number;
}

/**
 * The rank task on a black-box engine: a few rounds of a coordinate search over img2img strength
 * and image-prompt scale (new seeds in every call), keeping the image that `score` ranks highest
 * for the user. Round 0 runs the starting point; each later round tries the best setting so far
 * moved by ± the step in each parameter (steps halve each round). Every call — its setting,
 * seeds and scores — is recorded, and the winning call's result is returned whole (with its
 * `providerMetadata`). The engine must honour the standard `strength` and take
 * `imagePromptScale` in `providerOptions[engine.provider]` (the `comfyui` and `a1111` engines do).
 *
 * @example
 * const r = await searchForRanker(engine, request, async (pngs) => ranker.scoreImages(user, pngs));
 * r.best.png; r.calls.length;
 */
export async function searchForRanker(
  engine: GeneratorEngineV1,
  request: GeneratorCallOptionsV1,
  score: (pngs: Buffer[]) => Promise<number[]>,
  settings: RankSearchSettings = {},
): Promise<RankSearchResult> {
  const rounds = settings.rounds ?? 3;
  const perCall = settings.perCall ?? 2;
  if (!Number.isInteger(rounds) || rounds < 1) throw new RagarError(`search rounds must be an integer ≥ 1, got ${rounds}`, 'BAD_INPUT');
  if (!Number.isInteger(perCall) || perCall < 1) throw new RagarError(`search candidates per call must be an integer ≥ 1, got ${perCall}`, 'BAD_INPUT');
  const [sLo, sHi] = settings.strengthRange ?? [0.2, 0.95];
  const [cLo, cHi] = settings.scaleRange ?? [0, 1.5];
  const clamp = (x: number, lo: number, hi: number) => Math.round(Math.min(hi, Math.max(lo, x)) * 1e6) / 1e6;
  let sStep = settings.strengthStep ?? 0.15;
  let cStep = settings.scaleStep ?? 0.3;
  const calls: RankSearchCall[] = [];
  let best: RankSearchResult['best'] | null = null;
  let bestResult: GeneratorResultV1 | null = null;
  let nextSeed = request.seed;
  const tried = new Set<string>();
  const run = async (round: number, strength: number, imagePromptScale: number) => {
    const key = `${strength}|${imagePromptScale}`;
    if (tried.has(key)) return;
    tried.add(key);
    const own = request.providerOptions?.[engine.provider] ?? {};
    const r = await engine.doGenerate({ ...request, seed: nextSeed, candidates: perCall, strength, providerOptions: { ...request.providerOptions, [engine.provider]: { ...own, imagePromptScale } } });
    nextSeed += perCall;
    const scores = await score(r.candidates.map((c) => c.png));
    if (scores.length !== r.candidates.length || scores.some((s) => !Number.isFinite(s))) throw new RagarError(`the search's score callback must return one finite number per image (${r.candidates.length}), got ${JSON.stringify(scores)}`, 'BAD_INPUT');
    calls.push({ round, strength, imagePromptScale, seeds: r.candidates.map((c) => c.seed), scores });
    r.candidates.forEach((c, i) => {
      if (!best || scores[i] > best.score) {
        best = { png: c.png, seed: c.seed, score: scores[i], strength, imagePromptScale, round, call: calls.length - 1 };
        bestResult = r;
      }
    });
  };
  await run(0, clamp(settings.strength ?? 0.6, sLo, sHi), clamp(settings.imagePromptScale ?? 0.8, cLo, cHi));
  for (let round = 1; round < rounds; round++) {
    const b = best!;
    for (const [s, c] of [
      [b.strength + sStep, b.imagePromptScale],
      [b.strength - sStep, b.imagePromptScale],
      [b.strength, b.imagePromptScale + cStep],
      [b.strength, b.imagePromptScale - cStep],
    ]) {
      request.abortSignal?.throwIfAborted();
      await run(round, clamp(s, sLo, sHi), clamp(c, cLo, cHi));
    }
    sStep /= 2;
    cStep /= 2;
  }
  return { best: best!, bestResult: bestResult!, calls, rounds, images: calls.reduce((n, c) => n + c.seeds.length, 0) };
}
