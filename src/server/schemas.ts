import { z } from '@hono/zod-openapi';

/**
 * The service's request and response schemas (zod): the routes validate with them and the
 * OpenAPI document is generated from them. Ids are validated here before they reach the library
 * (and never a file path: see `files.ts`).
 */

/** A dataset name. */
export const DatasetId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a dataset name: letters, digits and ._- (at most 64)').openapi({ example: 'emoji-styles' });
/** A user id of a dataset. */
export const UserId = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.:@+-]{0,127}$/, 'a user id: letters, digits and _.:@+- (at most 128)').openapi({ example: 'u001' });
/** An item id of a dataset (may contain `/`, never `..`). */
export const ItemId = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.:@+/-]{0,127}$/, 'an item id: letters, digits and _.:@+/- (at most 128)')
  .refine((s) => !s.split('/').includes('..') && !s.includes('//'), 'an item id has no ".." segment')
  .openapi({ example: '1F98A/noto' });
/** A job id. */
export const JobId = z.string().regex(/^j_[0-9a-f]{24}$/, 'a job id: j_ and 24 hex digits').openapi({ example: 'j_0123456789abcdef01234567' });

/** `POST /v1/generations` as JSON. */
export const GenerationRequest = z
  .object({
    dataset: DatasetId.optional(),
    user: UserId,
    reference: ItemId,
    candidates: z.number().int().min(1).max(16).default(4),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(1),
    weighting: z.enum(['retrieval', 'uniform', 'none']).default('retrieval'),
    engine: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/).optional().openapi({ description: 'a named engine of the server or a built-in variant (ragar, ragar-norank, l1)' }),
  })
  .strict()
  .openapi('GenerationRequest');

/** `POST /v1/generations` as multipart (an uploaded reference image with its text). */
export const GenerationUpload = z
  .object({
    image: z.any().openapi({ type: 'string', format: 'binary', description: 'PNG, JPEG or WebP (decoded, never trusted by extension)' }),
    text: z.string().min(1).max(1000),
    user: UserId,
    dataset: DatasetId.optional(),
    candidates: z.coerce.number().int().min(1).max(16).default(4),
    seed: z.coerce.number().int().min(0).max(2 ** 31 - 1).default(1),
    weighting: z.enum(['retrieval', 'uniform', 'none']).default('retrieval'),
    engine: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/).optional(),
  })
  .openapi('GenerationUpload');

/** `202` of `POST /v1/generations`. */
export const Accepted = z.object({ id: JobId, status: z.literal('queued').or(z.string()), created: z.boolean() }).openapi('Accepted');

/** A candidate of a finished job. */
export const Candidate = z
  .object({ index: z.number().int(), seed: z.number().int(), rankerScore: z.number(), semanticScore: z.number(), rankerRank: z.number().int(), semanticRank: z.number().int(), chosen: z.boolean(), image: z.string() })
  .openapi('Candidate');

/** A weighted history item (RAGAR's explanation). */
export const WeightedItem = z
  .object({ item: z.string(), title: z.string(), style: z.string().nullable(), weight: z.number(), similarity: z.number() })
  .openapi('WeightedItem');

/** A generation job. */
export const Generation = z
  .object({
    id: JobId,
    status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
    progress: z.object({ stage: z.string().optional(), done: z.number().optional(), total: z.number().optional() }),
    error: z.string().nullable(),
    attempts: z.number().int(),
    createdAt: z.number(),
    startedAt: z.number().nullable(),
    finishedAt: z.number().nullable(),
    result: z
      .object({
        image: z.string(),
        chosen: z.number().int(),
        candidates: z.array(Candidate),
        weights: z.array(WeightedItem),
        keywords: z.array(z.string()),
        warnings: z.array(z.string()),
        engine: z.record(z.string(), z.unknown()),
        timings: z.object({ runMs: z.number(), queueWaitMs: z.number().nullable() }),
      })
      .nullable(),
  })
  .openapi('Generation');

/** Paging of list routes. */
export const Paging = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** `GET /v1/datasets/{dataset}/items` query. */
export const ItemsQuery = Paging.extend({
  q: z.string().max(100).optional().openapi({ description: 'substring of the title or text' }),
  style: z.string().max(64).optional(),
  group: z.string().max(128).optional(),
});

/** `GET /v1/users/{user}/history` query. */
export const HistoryQuery = z.object({ reference: ItemId, dataset: DatasetId.optional(), weighting: z.enum(['retrieval', 'uniform']).default('retrieval') });

/** `POST /v1/study/votes`. */
export const VoteRequest = z
  .object({
    a: z.object({ job: JobId, condition: z.string().min(1).max(64) }),
    b: z.object({ job: JobId, condition: z.string().min(1).max(64) }),
    winner: z.enum(['a', 'b']),
  })
  .strict()
  .openapi('VoteRequest');

/** A problem (RFC 9457). */
export const ProblemSchema = z
  .object({ type: z.string(), title: z.string(), status: z.number().int(), detail: z.string(), code: z.string() })
  .openapi('Problem');
