import { OpenAPIHono, createRoute, z, type RouteConfig } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { streamSSE } from 'hono/streaming';
import type { Ragar } from '../api/ragar.js';
import { ApiKeys, StudyVotes } from '../store/service.js';
import type { Store } from '../store/store.js';
import type { ServiceFiles } from './files.js';
import type { GenerationResult, StoredGenerationRequest } from './generation.js';
import { Metrics, RateLimiter } from './metrics.js';
import { HttpProblem, problemResponse } from './problem.js';
import { TERMINAL, type JobQueue, type JobView } from './queue.js';
import {
  Accepted,
  DatasetId,
  Generation,
  GenerationRequest,
  GenerationUpload,
  HistoryQuery,
  ItemId,
  ItemsQuery,
  JobId,
  Paging,
  ProblemSchema,
  UserId,
  VoteRequest,
} from './schemas.js';
import { summarizeVotes } from './study.js';
import { decodeUpload, type UploadLimits } from './uploads.js';
import { appPage, referencePage, studyPage } from './webApp.js';

/** What {@link createServiceApp} serves. */
export interface ServiceAppOptions {
  ragar: Ragar;
  /** A connection to the data home's store (API keys, study votes). */
  store: Store;
  queue: JobQueue;
  files: ServiceFiles;
  /** Engine names requests may use (shown in the docs and the web app). */
  engines: string[];
  /** Require an API key on `/v1` (default true). */
  auth: boolean;
  /** Requests a minute per API key (or per client address without auth). */
  rateLimit: number;
  uploads: UploadLimits;
  /** Origins allowed by CORS; none (the default) means CORS is off. */
  corsOrigins?: string[];
  log?: (line: string) => void;
}

type Env = { Variables: { client: string; route: string } };

const PROBLEM = { 'application/problem+json': { schema: ProblemSchema } };
const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, { description: 'a problem', content: PROBLEM }]));

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : what}: ${i.message}`).join('; ');
    throw new HttpProblem(400, `invalid ${what}: ${issues}`, 'BAD_INPUT');
  }
  return r.data;
}

function mediaType(c: Context): string {
  return (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * The service as a Hono app: the `/v1` API (zod-validated, OpenAPI at `/openapi.json`, a
 * reference page at `/docs`), `/healthz`, `/metrics`, the web app (`/`) and the study page
 * (`/study`). A thin shell: every answer comes from the library ({@link Ragar}) or the job queue.
 */
export function createServiceApp(o: ServiceAppOptions): OpenAPIHono<Env> {
  const app = new OpenAPIHono<Env>();
  const log = o.log ?? (() => {});
  const keys = new ApiKeys(o.store);
  const votes = new StudyVotes(o.store);
  const metrics = new Metrics();
  const limiter = new RateLimiter(o.rateLimit);

  app.onError((err, c) => problemResponse(c, err, log));
  app.notFound((c) => problemResponse(c, new HttpProblem(404, `no route ${c.req.method} ${c.req.path}`, 'NOT_FOUND')));
  app.use('*', async (c, next) => {
    await next();
    metrics.request(c.req.method, c.get('route') ?? (c.res.status === 404 ? '(unmatched)' : c.req.routePath), c.res.status);
    c.res.headers.set('x-content-type-options', 'nosniff');
  });
  if (o.corsOrigins?.length) app.use('/v1/*', cors({ origin: o.corsOrigins }));
  app.use('/v1/*', async (c, next) => {
    let client = `addr:${c.req.header('x-forwarded-for') ? 'proxied' : 'local'}`;
    if (o.auth) {
      const m = (c.req.header('authorization') ?? '').match(/^Bearer ([A-Za-z0-9_-]{8,200})$/);
      if (!m) throw new HttpProblem(401, 'an API key is required: Authorization: Bearer KEY (create one with `ragar keys create`)', 'UNAUTHORIZED', { 'www-authenticate': 'Bearer' });
      const key = keys.verify(m[1]);
      if (!key) throw new HttpProblem(401, 'unknown or revoked API key', 'UNAUTHORIZED', { 'www-authenticate': 'Bearer' });
      client = key.id;
    }
    const wait = limiter.take(client);
    if (wait > 0) throw new HttpProblem(429, `rate limit of ${o.rateLimit} requests a minute reached; retry in ${wait} s`, 'BUSY', { 'retry-after': String(wait) });
    c.set('client', client);
    await next();
  });
  const uploadLimit = bodyLimit({
    maxSize: o.uploads.maxBytes,
    onError: () => {
      throw new HttpProblem(413, `request body over the limit of ${o.uploads.maxBytes} bytes`, 'TOO_LARGE', { connection: 'close' });
    },
  });
  const jsonLimit = bodyLimit({
    maxSize: 64 * 1024,
    onError: () => {
      throw new HttpProblem(413, 'request body over the limit of 65536 bytes', 'TOO_LARGE', { connection: 'close' });
    },
  });

  /** Register `route` in the OpenAPI document and mount `handler` (validation is in the handler, with the same schemas). */
  const route = (config: RouteConfig, ...handlers: ((c: Context<Env>, next: () => Promise<void>) => Promise<Response | void> | Response | void)[]) => {
    app.openAPIRegistry.registerPath(config);
    const honoPath = config.path.replace(/\{(\w+)\}/g, ':$1');
    const tag = async (c: Context<Env>, next: () => Promise<void>) => {
      c.set('route', config.path);
      await next();
    };
    app.on(config.method.toUpperCase(), honoPath, tag as never, ...(handlers as never[]));
  };
  const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
  const security = o.auth ? [{ bearer: [] }] : [];

  const jobOut = (j: JobView) => {
    const r = j.result as unknown as GenerationResult | null;
    const url = (i: number) => `/v1/generations/${j.id}/candidates/${i}`;
    return {
      ...j,
      result: r && {
        image: url(r.chosen),
        chosen: r.chosen,
        candidates: r.candidates.map((cd) => ({ ...cd, image: url(cd.index) })),
        weights: r.weights,
        keywords: r.keywords,
        warnings: r.warnings,
        engine: r.engine,
        timings: { runMs: r.timings.runMs, queueWaitMs: j.startedAt === null ? null : j.startedAt - j.createdAt },
      },
    };
  };
  const getJob = async (id: string) => {
    const job = await o.queue.get(parse(JobId, id, 'job id'));
    if (!job) throw new HttpProblem(404, `no generation ${id}`, 'NOT_FOUND');
    return job;
  };

  route(
    createRoute({ method: 'get', path: '/healthz', summary: 'Liveness and queue depth', responses: { 200: json(z.object({ status: z.literal('ok'), queue: z.object({ queued: z.number(), running: z.number() }) }), 'ok') } }),
    async (c) => c.json({ status: 'ok', queue: await o.queue.depth() }),
  );
  route(createRoute({ method: 'get', path: '/metrics', summary: 'Prometheus metrics', responses: { 200: { description: 'exposition text' } } }), async (c) => {
    metrics.jobDurations(o.queue.takeDurations());
    return c.text(metrics.render(await o.queue.depth()), 200, { 'content-type': 'text/plain; version=0.0.4' });
  });

  route(
    createRoute({ method: 'get', path: '/v1/datasets', summary: 'Datasets of the data home', security, responses: { 200: json(z.object({ datasets: z.array(z.object({ name: z.string(), kind: z.string(), createdAt: z.string(), license: z.string().nullable() })) }), 'datasets'), ...problems(401, 429) } }),
    (c) => c.json({ datasets: o.ragar.datasets().map((d) => ({ name: d.name, kind: d.kind, createdAt: d.createdAt, license: d.license })) }),
  );
  route(
    createRoute({
      method: 'get',
      path: '/v1/datasets/{dataset}/users',
      summary: 'Users of a dataset (paged)',
      security,
      request: { params: z.object({ dataset: DatasetId }), query: Paging.extend({ split: z.string().max(32).optional() }) },
      responses: { 200: json(z.object({ total: z.number(), offset: z.number(), limit: z.number(), users: z.array(z.object({ id: z.string(), split: z.string().nullable() })) }), 'users'), ...problems(400, 401, 404, 429) },
    }),
    (c) => {
      const dataset = parse(DatasetId, c.req.param('dataset'), 'dataset');
      const q = parse(Paging.extend({ split: z.string().max(32).optional() }), c.req.query(), 'query');
      const all = o.ragar.users({ dataset }).filter((u) => !q.split || u.split === q.split);
      return c.json({ total: all.length, offset: q.offset, limit: q.limit, users: all.slice(q.offset, q.offset + q.limit).map((u) => ({ id: u.externalId, split: u.split })) });
    },
  );
  const ItemOut = z.object({ id: z.string(), title: z.string(), text: z.string(), tags: z.array(z.string()), group: z.string().nullable(), style: z.string().nullable(), concept: z.string().nullable(), image: z.string().nullable() });
  route(
    createRoute({
      method: 'get',
      path: '/v1/datasets/{dataset}/items',
      summary: 'Items of a dataset (paged, filtered by text, style, group)',
      security,
      request: { params: z.object({ dataset: DatasetId }), query: ItemsQuery },
      responses: { 200: json(z.object({ total: z.number(), offset: z.number(), limit: z.number(), items: z.array(ItemOut) }), 'items'), ...problems(400, 401, 404, 429) },
    }),
    (c) => {
      const dataset = parse(DatasetId, c.req.param('dataset'), 'dataset');
      const q = parse(ItemsQuery, c.req.query(), 'query');
      const needle = q.q?.toLowerCase();
      const all = o.ragar
        .items({ dataset })
        .filter((i) => (!q.style || i.style === q.style) && (!q.group || i.group === q.group) && (!needle || `${i.title} ${i.text}`.toLowerCase().includes(needle)));
      const items = all.slice(q.offset, q.offset + q.limit).map((i) => ({
        id: i.externalId,
        title: i.title,
        text: i.text,
        tags: i.tags,
        group: i.group,
        style: i.style,
        concept: i.concept,
        image: i.imageHash ? `/v1/datasets/${dataset}/image?item=${encodeURIComponent(i.externalId)}` : null,
      }));
      return c.json({ total: all.length, offset: q.offset, limit: q.limit, items });
    },
  );
  route(
    createRoute({
      method: 'get',
      path: '/v1/datasets/{dataset}/image',
      summary: "An item's image (PNG)",
      security,
      request: { params: z.object({ dataset: DatasetId }), query: z.object({ item: ItemId }) },
      responses: { 200: { description: 'PNG', content: { 'image/png': { schema: z.any() } } }, ...problems(400, 401, 404, 429) },
    }),
    (c) => {
      const dataset = parse(DatasetId, c.req.param('dataset'), 'dataset');
      const { item } = parse(z.object({ item: ItemId }), c.req.query(), 'query');
      return c.body(new Uint8Array(o.ragar.itemImage({ dataset, item })), 200, { 'content-type': 'image/png', 'cache-control': 'max-age=3600' });
    },
  );
  route(
    createRoute({
      method: 'get',
      path: '/v1/users/{user}/history',
      summary: "The user's history weighted against a reference (RAGAR's explanation)",
      security,
      request: { params: z.object({ user: UserId }), query: HistoryQuery },
      responses: { 200: json(z.object({ user: z.string(), reference: z.record(z.string(), z.unknown()), weighting: z.string(), params: z.record(z.string(), z.unknown()), history: z.array(z.record(z.string(), z.unknown())), keywords: z.array(z.object({ keyword: z.string(), score: z.number() })) }), 'weighted history'), ...problems(400, 401, 404, 429) },
    }),
    async (c) => {
      const user = parse(UserId, c.req.param('user'), 'user');
      const q = parse(HistoryQuery, c.req.query(), 'query');
      const p = await o.ragar.retrieve({ user, reference: q.reference, dataset: q.dataset, weighting: q.weighting });
      return c.json({ user: p.user, reference: p.reference, weighting: p.weighting, params: p.params, history: p.history, keywords: p.keywords.map((k) => ({ keyword: k.keyword, score: k.score })) });
    },
  );

  route(
    createRoute({
      method: 'post',
      path: '/v1/generations',
      summary: 'Queue a personalised generation (202 with the job id)',
      security,
      request: {
        headers: z.object({ 'idempotency-key': z.string().max(200).optional() }),
        body: { content: { 'application/json': { schema: GenerationRequest }, 'multipart/form-data': { schema: GenerationUpload } } },
      },
      responses: { 202: json(Accepted, 'accepted (or the earlier job of this Idempotency-Key, created: false)'), ...problems(400, 401, 404, 413, 415, 429) },
    }),
    uploadLimit,
    async (c) => {
      const idem = c.req.header('idempotency-key') ?? null;
      if (idem !== null && !/^[\x21-\x7e]{1,200}$/.test(idem)) throw new HttpProblem(400, 'Idempotency-Key must be 1-200 visible ASCII characters', 'BAD_INPUT');
      let request: StoredGenerationRequest;
      const type = mediaType(c);
      if (type === 'application/json') {
        let body: unknown;
        try {
          body = await c.req.json();
        } catch {
          throw new HttpProblem(400, 'the body is not valid JSON', 'BAD_INPUT');
        }
        const r = parse(GenerationRequest, body, 'generation request');
        request = { dataset: r.dataset, user: r.user, reference: { item: r.reference }, candidates: r.candidates, seed: r.seed, weighting: r.weighting, engine: r.engine };
      } else if (type === 'multipart/form-data') {
        const form = await c.req.parseBody();
        const r = parse(GenerationUpload, form, 'generation upload');
        const png = await decodeUpload(form.image, o.uploads);
        request = { dataset: r.dataset, user: r.user, reference: { upload: await o.files.putUpload(png), text: r.text }, candidates: r.candidates, seed: r.seed, weighting: r.weighting, engine: r.engine };
      } else throw new HttpProblem(415, `POST /v1/generations takes application/json or multipart/form-data, not ${JSON.stringify(type || '(none)')}`, 'BAD_INPUT');
      if (request.engine !== undefined && !o.engines.includes(request.engine)) throw new HttpProblem(400, `unknown engine ${JSON.stringify(request.engine)} (known: ${o.engines.join(', ')})`, 'BAD_INPUT');
      // Fail fast on unknown dataset or user (the library's NOT_FOUND): a job is accepted only when it can run.
      const users = o.ragar.users({ dataset: request.dataset });
      if (!users.some((u) => u.externalId === request.user)) throw new HttpProblem(404, `no user ${JSON.stringify(request.user)} in dataset ${request.dataset ?? o.ragar.settings.dataset}`, 'NOT_FOUND');
      if ('item' in request.reference) {
        const item = request.reference.item;
        if (!o.ragar.items({ dataset: request.dataset }).some((i) => i.externalId === item)) throw new HttpProblem(404, `no item ${JSON.stringify(item)} in dataset ${request.dataset ?? o.ragar.settings.dataset}`, 'NOT_FOUND');
      }
      const { job, created } = await o.queue.submit(request, { owner: c.get('client'), idempotencyKey: idem });
      return c.json({ id: job.id, status: job.status, created }, 202, { location: `/v1/generations/${job.id}` });
    },
  );
  route(
    createRoute({ method: 'get', path: '/v1/generations/{id}', summary: 'A generation: status, progress, result', security, request: { params: z.object({ id: JobId }) }, responses: { 200: json(Generation, 'the job'), ...problems(400, 401, 404, 429) } }),
    async (c) => c.json(jobOut(await getJob((c.req.param('id') ?? '')))),
  );
  route(
    createRoute({ method: 'delete', path: '/v1/generations/{id}', summary: 'Cancel a queued or running generation', security, request: { params: z.object({ id: JobId }) }, responses: { 200: json(Generation, 'the job afterwards'), ...problems(400, 401, 404, 429) } }),
    async (c) => {
      await getJob((c.req.param('id') ?? ''));
      const job = await o.queue.cancel((c.req.param('id') ?? ''));
      return c.json(jobOut(job!));
    },
  );
  route(
    createRoute({
      method: 'get',
      path: '/v1/generations/{id}/events',
      summary: 'Server-sent events: the job on every change until it ends (event = status)',
      security,
      request: { params: z.object({ id: JobId }) },
      responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: z.string() } } }, ...problems(400, 401, 404, 429) },
    }),
    async (c) => {
      const id = (await getJob((c.req.param('id') ?? ''))).id;
      return streamSSE(c, async (stream) => {
        const pending: JobView[] = [];
        let notify: (() => void) | null = null;
        let closed = false;
        const off = o.queue.subscribe(id, (j) => {
          pending.push(j);
          notify?.();
        });
        stream.onAbort(() => {
          closed = true;
          notify?.();
        });
        try {
          const first = await o.queue.get(id);
          if (first) pending.unshift(first);
          let n = 0;
          while (!closed) {
            while (pending.length) {
              const j = pending.shift()!;
              await stream.writeSSE({ event: j.status, data: JSON.stringify(jobOut(j)), id: String(n++) });
              if (TERMINAL.includes(j.status)) return;
            }
            await new Promise<void>((resolve) => {
              notify = resolve;
              setTimeout(resolve, 15_000).unref();
            });
            notify = null;
            if (!pending.length && !closed) await stream.writeSSE({ event: 'ping', data: '{}' });
          }
        } finally {
          off();
        }
      });
    },
  );
  route(
    createRoute({
      method: 'get',
      path: '/v1/generations/{id}/candidates/{index}',
      summary: 'A candidate image of a finished generation (PNG)',
      security,
      request: { params: z.object({ id: JobId, index: z.coerce.number().int().min(0).max(63) }) },
      responses: { 200: { description: 'PNG', content: { 'image/png': { schema: z.any() } } }, ...problems(400, 401, 404, 429) },
    }),
    async (c) => {
      const job = await getJob((c.req.param('id') ?? ''));
      const index = parse(z.coerce.number().int().min(0).max(63), c.req.param('index'), 'candidate index');
      if (job.status !== 'succeeded') throw new HttpProblem(404, `generation ${job.id} is ${job.status}, it has no images`, 'NOT_FOUND');
      return c.body(new Uint8Array(o.files.readCandidate(job.id, index)), 200, { 'content-type': 'image/png', 'cache-control': 'max-age=86400, immutable' });
    },
  );

  route(
    createRoute({
      method: 'post',
      path: '/v1/rank',
      summary: "Score uploaded images for a user with the trained ranker",
      security,
      request: { body: { content: { 'multipart/form-data': { schema: z.object({ user: UserId, dataset: DatasetId.optional(), text: z.string().max(1000).optional(), image: z.any().openapi({ type: 'string', format: 'binary', description: '1-8 files' }) }) } } } },
      responses: { 200: json(z.object({ user: z.string(), scores: z.array(z.object({ score: z.number(), rankAmongItems: z.number(), items: z.number(), percentile: z.number() })) }), 'scores'), ...problems(400, 401, 404, 413, 415, 429) },
    }),
    uploadLimit,
    async (c) => {
      if (mediaType(c) !== 'multipart/form-data') throw new HttpProblem(415, 'POST /v1/rank takes multipart/form-data with one or more "image" files', 'BAD_INPUT');
      const form = await c.req.parseBody({ all: true });
      const r = parse(z.object({ user: UserId, dataset: DatasetId.optional(), text: z.string().max(1000).optional() }), { user: form.user, dataset: form.dataset, text: form.text }, 'rank request');
      const files = ([] as unknown[]).concat(form.image ?? []);
      if (files.length < 1 || files.length > 8) throw new HttpProblem(400, `send 1 to 8 "image" files, got ${files.length}`, 'BAD_INPUT');
      const images = [];
      for (const f of files) images.push(await decodeUpload(f, o.uploads));
      const scores = await o.ragar.rank({ user: r.user, dataset: r.dataset, images, text: r.text });
      return c.json({ user: r.user, scores });
    },
  );

  route(
    createRoute({ method: 'post', path: '/v1/study/votes', summary: 'Store a study vote: which of two outputs fits the user better', security, request: { body: { content: { 'application/json': { schema: VoteRequest } } } }, responses: { 201: json(z.object({ id: z.number() }), 'stored'), ...problems(400, 401, 404, 409, 415, 429) } }),
    jsonLimit,
    async (c) => {
      if (mediaType(c) !== 'application/json') throw new HttpProblem(415, 'POST /v1/study/votes takes application/json', 'BAD_INPUT');
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw new HttpProblem(400, 'the body is not valid JSON', 'BAD_INPUT');
      }
      const v = parse(VoteRequest, body, 'vote');
      const [a, b] = [await getJob(v.a.job), await getJob(v.b.job)];
      if (a.status !== 'succeeded' || b.status !== 'succeeded') throw new HttpProblem(409, 'both generations must have succeeded before a vote', 'CONFLICT');
      const [ra, rb] = [(await o.queue.getRequest(a.id)) ?? null, (await o.queue.getRequest(b.id)) ?? null];
      if (!ra || !rb || ra.user !== rb.user || JSON.stringify(ra.reference) !== JSON.stringify(rb.reference) || (ra.dataset ?? '') !== (rb.dataset ?? '')) throw new HttpProblem(409, 'the two generations must be for the same user, reference and dataset', 'CONFLICT');
      const id = votes.add({
        dataset: ra.dataset ?? o.ragar.settings.dataset,
        user: ra.user,
        reference: 'item' in ra.reference ? ra.reference.item : `upload:${ra.reference.upload}`,
        conditionA: v.a.condition,
        conditionB: v.b.condition,
        jobA: a.id,
        jobB: b.id,
        winner: v.winner,
        voter: c.get('client'),
      });
      return c.json({ id }, 201);
    },
  );
  route(
    createRoute({ method: 'get', path: '/v1/study/summary', summary: 'Study votes summarised: win rate per comparison with a 95% Wilson interval', security, responses: { 200: json(z.object({ comparisons: z.array(z.record(z.string(), z.unknown())) }), 'summary'), ...problems(401, 429) } }),
    (c) => c.json({ comparisons: summarizeVotes(votes.list()) }),
  );

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'an API key from `ragar keys create`' });
  const document = () => app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'ragar service', version: '1', description: 'Personalised image generation guided by recommendation (RAGAR), as a service.' } });
  app.get('/openapi.json', (c) => c.json(document()));
  app.get('/docs', (c) => c.html(referencePage(document() as never)));
  app.get('/', (c) => c.html(appPage({ auth: o.auth, engines: o.engines, dataset: o.ragar.settings.dataset })));
  app.get('/study', (c) => c.html(studyPage({ auth: o.auth, dataset: o.ragar.settings.dataset })));
  return app;
}

