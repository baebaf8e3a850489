import type { Ragar } from '../api/ragar.js';
import { warningText, type GeneratorEngineV1 } from '../generation/types.js';
import { GENERATOR_VARIANTS, type GeneratorVariant } from '../pipeline/setup.js';
import { RagarError } from '../util/errors.js';
import type { ServiceFiles } from './files.js';

/** A generation job's request as stored (JSON): the reference is an item id or an upload hash. */
export interface StoredGenerationRequest {
  dataset?: string;
  user: string;
  reference: { item: string } | { upload: string; text: string };
  candidates: number;
  seed: number;
  weighting: 'retrieval' | 'uniform' | 'none';
  engine?: string;
}

/** What a finished generation job returns (JSON; images by candidate index). */
export interface GenerationResult {
  chosen: number;
  candidates: { index: number; seed: number; rankerScore: number; semanticScore: number; rankerRank: number; semanticRank: number; chosen: boolean }[];
  weights: { item: string; title: string; style: string | null; weight: number; similarity: number }[];
  keywords: string[];
  warnings: string[];
  engine: Record<string, unknown>;
  timings: { runMs: number };
}

/** What a worker needs to run generation jobs. */
export interface GenerationWorkerContext {
  ragar: Ragar;
  files: ServiceFiles;
  /** Named engines (e.g. `mock`), tried before the library's built-in variants. */
  engines: Record<string, GeneratorEngineV1>;
  /** Engine of requests that name none. */
  defaultEngine: string;
}

/** Engine names a request may use: the named engines and the built-in variants. */
export function engineNames(ctx: Pick<GenerationWorkerContext, 'engines'>): string[] {
  return [...Object.keys(ctx.engines), ...Object.keys(GENERATOR_VARIANTS)];
}

/**
 * Run one generation job through the library ({@link Ragar.personalize}): nothing here
 * re-implements a pipeline step. Candidates are written to the service files; the result is
 * JSON-ready.
 */
export async function runGeneration(
  ctx: GenerationWorkerContext,
  jobId: string,
  req: StoredGenerationRequest,
  call: { signal?: AbortSignal; onProgress?: (p: { stage: string; done: number; total: number }) => void } = {},
): Promise<GenerationResult> {
  const t0 = performance.now();
  const name = req.engine ?? ctx.defaultEngine;
  let engine: GeneratorEngineV1 | GeneratorVariant;
  if (name in ctx.engines) engine = ctx.engines[name];
  else if (name in GENERATOR_VARIANTS) engine = name as GeneratorVariant;
  else throw new RagarError(`unknown engine ${JSON.stringify(name)} (known: ${engineNames(ctx).join(', ')})`, 'BAD_INPUT');
  const reference = 'item' in req.reference ? req.reference.item : { image: ctx.files.readUpload(req.reference.upload), text: req.reference.text };
  const out = await ctx.ragar.personalize({
    dataset: req.dataset,
    user: req.user,
    reference,
    weighting: req.weighting,
    candidates: req.candidates,
    seed: req.seed,
    engine,
    signal: call.signal,
    onProgress: call.onProgress,
  });
  await ctx.files.putCandidates(jobId, out.candidates.map((c) => c.png));
  const chosen = out.scores.findIndex((s) => s.chosen);
  return {
    chosen,
    candidates: out.scores.map((s, index) => ({ index, ...s })),
    weights: out.weights,
    keywords: out.keywords,
    warnings: out.warnings.map((w) => warningText(w)),
    engine: (out.record.engine ?? {}) as Record<string, unknown>,
    timings: { runMs: Math.round(performance.now() - t0) },
  };
}
