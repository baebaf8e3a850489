import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { RagarError } from '../../util/errors.js';
import type { GenerateRequest, GenerateResult, GeneratedCandidate, GeneratorEngine } from '../types.js';
import { RemoteError, throwIfAborted } from './http.js';
import { buildPrompt, selectImagePrompts, type ImagePromptSelection, type WeightedHistoryImage } from './imagePrompts.js';
import { ServerPool } from './pool.js';

/**
 * One call of an image-prompt engine, in the shape of the engine spec v1's standard options
 * (reference, prompt, weighted history with images, strength, seed, candidates, size, signal,
 * progress), so that the v1 adapter is a field-by-field copy.
 */
export interface ImagePromptCall {
  reference: { image: Buffer | Uint8Array; text: string };
  /** The text prompt (reference text + keyword preference, see `buildPrompt`). */
  prompt: string;
  /** Weighted history items with their images (retrieval or uniform weights). */
  history: readonly WeightedHistoryImage[];
  weighting: 'retrieval' | 'uniform';
  user: string;
  candidates: number;
  /** Seed of the first candidate; candidate i uses `seed + i`. */
  seed: number;
  /** img2img strength (ComfyUI `denoise`, A1111 `denoising_strength`), 0 < s ≤ 1; undefined = the engine's. */
  strength?: number;
  /** Overall image-prompt strength; undefined = the engine's. */
  imagePromptScale?: number;
  /** Provider options of this call (the engine's own bag). */
  options?: Record<string, unknown>;
  onProgress?: (event: { stage: string; done: number; total: number }) => void;
  abortSignal?: AbortSignal;
}

/** An image as sent: its digest and size in bytes (and the server's name for it, if uploaded). */
export interface SentImage {
  sha256: string;
  bytes: number;
  /** The name the server gave the upload (ComfyUI), or null when the image was sent inline. */
  name: string | null;
}

/**
 * What reached the server for one candidate, read back from the request body that was sent
 * (never from what was meant to be sent).
 */
export interface SentRecord {
  server: string;
  seed: number;
  prompt: string;
  negativePrompt: string;
  strength: number;
  imagePromptScale: number;
  /** The image prompts with the weight each carried on the wire. */
  imagePrompts: { item: string; retrievalWeight: number; weight: number; image: SentImage }[];
  reference: SentImage;
  /** Server-side id of the job (ComfyUI prompt id), when there is one. */
  jobId: string | null;
  /** Unreachable servers this job was moved away from. */
  failedOver: string[];
  milliseconds: number;
}

/** The result of an image-prompt engine call: candidates plus the record of what was sent. */
export interface ImagePromptResult {
  candidates: GeneratedCandidate[];
  /** One record per candidate, in candidate order. */
  sent: SentRecord[];
  /** How the history became image prompts (kept, folded, without image). */
  selection: ImagePromptSelection;
  warnings: string[];
  timings: Record<string, number>;
}

/** A prepared image: PNG bytes and their digest. */
export interface PreparedImage {
  png: Buffer;
  sha256: string;
}

/** One candidate's job, handed to a backend. */
export interface RemoteJob {
  index: number;
  seed: number;
  prompt: string;
  strength: number;
  imagePromptScale: number;
  reference: PreparedImage;
  imagePrompts: { item: string; retrievalWeight: number; share: number; image: PreparedImage }[];
  options: Record<string, unknown>;
  onProgress: (done: number, total: number) => void;
}

/** What a backend returns for one job. */
export interface RemoteJobResult {
  png: Buffer;
  sent: Omit<SentRecord, 'failedOver' | 'milliseconds' | 'server'>;
  warnings: string[];
}

/** A server API (ComfyUI, A1111) behind {@link ImagePromptEngine}. */
export interface RemoteBackend {
  readonly provider: string;
  readonly modelId: string;
  /** Side of the square images it produces (the reference is resized to it). */
  readonly outputSize: number;
  /** Most image prompts one job may carry (e.g. ControlNet's unit count); the rest is folded. */
  imagePromptLimit(server: string, signal: AbortSignal | undefined): Promise<number>;
  /** The defaults of strength and image-prompt scale. */
  readonly defaults: { strength: number; imagePromptScale: number };
  /** Names of the provider options a call may carry (others are an error). */
  readonly callOptions: readonly string[];
  /** Run one candidate on one server. */
  runJob(server: string, job: RemoteJob, signal: AbortSignal): Promise<RemoteJobResult>;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function preparePng(bytes: Buffer | Uint8Array, what: string, size: number | null): Promise<PreparedImage> {
  let png: Buffer;
  try {
    let s = sharp(Buffer.from(bytes)).flatten({ background: '#ffffff' });
    if (size !== null) s = s.resize(size, size, { fit: 'contain', background: '#ffffff' });
    png = await s.removeAlpha().png().toBuffer();
  } catch (e) {
    throw new RagarError(`${what}: not a decodable image (${e instanceof Error ? e.message : String(e)})`, 'BAD_IMAGE', { cause: e });
  }
  return { png, sha256: sha256(png) };
}

function checkUnit(name: string, v: number | undefined, lo: number, hi: number, loOpen: boolean): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v > hi || v < lo || (loOpen && v === lo)) {
    throw new RagarError(`${name} must be a number in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${String(v)}`, 'BAD_INPUT');
  }
}

/**
 * RAGAR on an image-prompt engine: the reference becomes the img2img init image (resized to the
 * engine's size), the retrieval weights become per-image image-prompt weights (see
 * `selectImagePrompts`), one job per candidate (seed `seed + i`) runs over the server pool, and
 * the record of each job is read back from what was sent. Backends speak one server API.
 *
 * @example
 * const engine = new ImagePromptEngine(new ComfyBackend(settings), ['http://127.0.0.1:8188']);
 * const r = await engine.call({ reference, prompt, history, weighting: 'retrieval', user: 'u1', candidates: 2, seed: 1 });
 */
export class ImagePromptEngine {
  readonly backend: RemoteBackend;
  readonly pool: ServerPool;
  /** Most image prompts per job asked for by the settings (the server may allow fewer). */
  readonly maxImagePrompts: number;
  constructor(backend: RemoteBackend, servers: readonly string[], settings: { concurrencyPerServer?: number; maxImagePrompts?: number } = {}) {
    this.backend = backend;
    this.pool = new ServerPool(servers, settings.concurrencyPerServer ?? 1);
    this.maxImagePrompts = settings.maxImagePrompts ?? 8;
    if (!Number.isInteger(this.maxImagePrompts) || this.maxImagePrompts < 1) throw new RagarError(`maxImagePrompts must be an integer ≥ 1, got ${this.maxImagePrompts}`, 'BAD_INPUT');
  }

  /**
   * Generate `call.candidates` images.
   *
   * @example
   * const { candidates, sent } = await engine.call(call);
   */
  async call(call: ImagePromptCall): Promise<ImagePromptResult> {
    const t0 = performance.now();
    throwIfAborted(call.abortSignal);
    if (!Number.isInteger(call.candidates) || call.candidates < 1) throw new RagarError(`candidates must be an integer ≥ 1, got ${call.candidates}`, 'BAD_INPUT');
    if (!Number.isInteger(call.seed) || call.seed < 0 || call.seed + call.candidates > 2 ** 32) throw new RagarError(`seed must be an integer in [0, 2^32 - candidates], got ${call.seed}`, 'BAD_INPUT');
    checkUnit('strength', call.strength, 0, 1, true);
    checkUnit('imagePromptScale', call.imagePromptScale, 0, 2, false);
    const options = call.options ?? {};
    for (const k of Object.keys(options)) {
      if (!this.backend.callOptions.includes(k)) throw new RagarError(`unknown ${this.backend.provider} option "${k}" (known: ${this.backend.callOptions.join(', ')})`, 'BAD_INPUT');
    }
    const reference = await preparePng(call.reference.image, 'reference image', this.backend.outputSize);
    // Servers that cannot be reached do not limit the call (the pool moves their jobs elsewhere).
    const settled = await Promise.allSettled(this.pool.servers.map((s) => this.backend.imagePromptLimit(s, call.abortSignal)));
    const failed = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    const fatal = failed.find((e) => !(e instanceof RemoteError && e.code === 'UNREACHABLE'));
    if (fatal !== undefined) throw fatal;
    if (failed.length === settled.length) throw failed[0];
    const limits = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const limit = Math.min(this.maxImagePrompts, ...limits);
    const warnings: string[] = [];
    const selection = limit >= 1 ? selectImagePrompts(call.history, limit) : { prompts: [], folded: call.history.filter((h) => h.weight > 0).map((h) => ({ item: h.item, retrievalWeight: h.weight })), withoutImage: [] };
    if (selection.folded.length) warnings.push(`${selection.folded.length} weighted history item(s) beyond the limit of ${limit} image prompts were folded into the others by weight: ${selection.folded.map((f) => f.item).join(', ')}`);
    if (selection.withoutImage.length) warnings.push(`history item(s) without an image were left out of the image prompts: ${selection.withoutImage.join(', ')}`);
    const imagePrompts = await Promise.all(
      selection.prompts.map(async (p) => {
        const h = call.history.find((x) => x.item === p.item)!;
        let bytes: Buffer | Uint8Array;
        try {
          bytes = await h.image!();
        } catch (e) {
          throw new RagarError(`history item ${p.item}: its image could not be read (${e instanceof Error ? e.message : String(e)})`, e instanceof RagarError ? e.code : 'NOT_FOUND', { cause: e });
        }
        return { ...p, image: await preparePng(bytes, `history item ${p.item}`, null) };
      }),
    );
    const strength = call.strength ?? this.backend.defaults.strength;
    const imagePromptScale = call.imagePromptScale ?? this.backend.defaults.imagePromptScale;
    const tPrep = performance.now();
    let finished = 0;
    const report = call.onProgress ?? (() => {});
    report({ stage: 'queue', done: 0, total: call.candidates });
    const jobs: RemoteJob[] = Array.from({ length: call.candidates }, (_, index) => ({
      index,
      seed: call.seed + index,
      prompt: call.prompt,
      strength,
      imagePromptScale,
      reference,
      imagePrompts,
      options,
      onProgress: (done, total) => report({ stage: 'sampling', done, total }),
    }));
    const outcomes = await this.pool.run(
      jobs,
      async (server, job, signal) => {
        const t = performance.now();
        const r = await this.backend.runJob(server, job, signal);
        finished++;
        report({ stage: 'candidates', done: finished, total: call.candidates });
        return { ...r, milliseconds: performance.now() - t };
      },
      call.abortSignal,
    );
    const candidates: GeneratedCandidate[] = [];
    const sent: SentRecord[] = [];
    outcomes.forEach((o, i) => {
      candidates.push({ png: o.result.png, seed: jobs[i].seed, milliseconds: o.result.milliseconds });
      sent.push({ ...o.result.sent, server: o.server, failedOver: o.failedOver, milliseconds: o.result.milliseconds });
      for (const w of o.result.warnings) if (!warnings.includes(w)) warnings.push(w);
      if (o.failedOver.length) warnings.push(`candidate ${i} moved to ${o.server} after ${o.failedOver.join(', ')} could not be reached`);
    });
    return { candidates, sent, selection, warnings, timings: { total: performance.now() - t0, preprocess: tPrep - t0 } };
  }
}

/** Where the current-interface adapter finds a history item's image (the v1 spec carries it). */
export type HistoryImageResolver = (item: string) => Buffer | Uint8Array | null | Promise<Buffer | Uint8Array | null>;

/**
 * The adapter from the current engine interface (`GeneratorEngine`, `types.ts`) to an
 * {@link ImagePromptEngine}: the prompt is `buildPrompt(reference text, keywords)`; history
 * images come from `historyImage` (the current preference names items only); strength and
 * image-prompt scale come from `engineOptions[name]`. The result carries `sent`, the record of
 * what reached the server. Switching to `GeneratorEngineV1` replaces this class only.
 *
 * @example
 * const engine = new RemoteGeneratorEngine('comfyui', core, (item) => store.images.read(hashOf(item)));
 * const r = await engine.generate(request); r.sent[0].imagePrompts;
 */
export class RemoteGeneratorEngine implements GeneratorEngine {
  readonly name: string;
  readonly outputSize: number;
  readonly core: ImagePromptEngine;
  private readonly historyImage: HistoryImageResolver | null;
  constructor(name: string, core: ImagePromptEngine, historyImage: HistoryImageResolver | null) {
    this.name = name;
    this.core = core;
    this.outputSize = core.backend.outputSize;
    this.historyImage = historyImage;
  }

  /** Generate with the current interface; see {@link ImagePromptEngine.call}. */
  async generate(request: GenerateRequest): Promise<GenerateResult & { sent: SentRecord[]; selection: ImagePromptSelection }> {
    const own = { ...(request.engineOptions?.[this.name] ?? {}) };
    const take = (k: string): number | undefined => {
      const v = own[k];
      delete own[k];
      if (v !== undefined && typeof v !== 'number') throw new RagarError(`engineOptions.${this.name}.${k} must be a number, got ${JSON.stringify(v)}`, 'BAD_INPUT');
      return v as number | undefined;
    };
    const strength = take('strength');
    const imagePromptScale = take('imagePromptScale');
    const resolver = this.historyImage;
    const warnings: string[] = [];
    if (!resolver && request.preference.history.some((h) => h.weight > 0)) warnings.push('no history image resolver: the request was sent without image prompts');
    const r = await this.core.call({
      reference: request.reference,
      prompt: buildPrompt(request.reference.text, request.preference.keywords),
      history: request.preference.history.map((h) => ({
        item: h.item,
        weight: h.weight,
        image: resolver
          ? async () => {
              const b = await resolver(h.item);
              if (!b) throw new RagarError(`no image for history item ${h.item}`, 'NOT_FOUND');
              return b;
            }
          : null,
      })),
      weighting: request.preference.weighting,
      user: request.user,
      candidates: request.candidates,
      seed: request.seed,
      strength,
      imagePromptScale,
      options: own,
      onProgress: request.onProgress,
      abortSignal: request.abortSignal,
    });
    return { engine: this.name, candidates: r.candidates, timings: r.timings, warnings: [...warnings, ...r.warnings], sent: r.sent, selection: r.selection };
  }

  /** Nothing is held between calls (connections are per call). Safe to call twice. */
  async dispose(): Promise<void> {}
}
