import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { RagarError } from '../../util/errors.js';
import type { GeneratedCandidateV1, GeneratorCallOptionsV1, GeneratorEngineV1, GeneratorResultV1, GeneratorWarningV1 } from '../types.js';
import { RemoteError, throwIfAborted } from './http.js';
import { buildPrompt, selectImagePrompts, type ImagePromptSelection, type WeightedHistoryImage } from './imagePrompts.js';
import { ServerPool } from './pool.js';

/**
 * One call of an image-prompt engine, in the shape of the engine spec v1's standard options
 * (reference, prompt, weighted history with images, strength, seed, candidates, size, signal,
 * progress); {@link RemoteGeneratorEngine} fills it from the v1 options.
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
  candidates: GeneratedCandidateV1[];
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
    const candidates: GeneratedCandidateV1[] = [];
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

/** What a remote engine returns in `providerMetadata[provider]` (see {@link remoteMetadata}). */
export interface RemoteMetadata {
  /** One record per candidate of what reached the server, in candidate order. */
  sent: SentRecord[];
  /** How the history became image prompts (kept, folded, without image). */
  selection: ImagePromptSelection;
  /** The pool's server URLs. */
  servers: string[];
}

/**
 * The record of what a remote engine sent, from a result's `providerMetadata`; null when the
 * result is not from a remote engine of that provider.
 *
 * @example
 * const meta = remoteMetadata(result, 'comfyui'); meta?.sent[0].imagePrompts;
 */
export function remoteMetadata(result: GeneratorResultV1, provider: string): RemoteMetadata | null {
  const m = result.providerMetadata?.[provider];
  return m && Array.isArray(m.sent) && typeof m.selection === 'object' ? (m as unknown as RemoteMetadata) : null;
}

/**
 * An image-prompt engine (ComfyUI, AUTOMATIC1111) as a {@link GeneratorEngineV1}: the history's
 * images (`preference.history[].image`) with their retrieval weights become the image prompts;
 * the prompt is `options.prompt`, else `buildPrompt(reference text, keywords)`; `strength` is
 * the img2img strength; `providerOptions[provider]` may carry `imagePromptScale`,
 * `negativePrompt`, `steps` and `cfg`. A `size` other than the native one is an
 * `unsupported-setting` warning (the server draws its native size). The record of what reached
 * the server (per candidate) and the image-prompt selection come back in
 * `providerMetadata[provider]` (read it with {@link remoteMetadata}).
 *
 * @example
 * const engine = createComfyEngine({ urls: ['http://127.0.0.1:8188'] });
 * const r = await engine.doGenerate({ reference, prompt: null, preference, user: 'u1', candidates: 2, seed: 1 });
 * remoteMetadata(r, 'comfyui')!.sent[0].imagePrompts;
 */
export class RemoteGeneratorEngine implements GeneratorEngineV1 {
  readonly specificationVersion = 'v1' as const;
  readonly provider: string;
  readonly modelId: string;
  /** No limit: the pool spreads any number of candidates over its servers. */
  readonly maxCandidatesPerCall = undefined;
  readonly outputSize: number;
  readonly core: ImagePromptEngine;
  constructor(core: ImagePromptEngine) {
    this.core = core;
    this.provider = core.backend.provider;
    this.modelId = core.backend.modelId;
    this.outputSize = core.backend.outputSize;
  }

  /** Generate; see {@link ImagePromptEngine.call} and the class comment. */
  async doGenerate(options: GeneratorCallOptionsV1): Promise<GeneratorResultV1> {
    const own = { ...(options.providerOptions?.[this.provider] ?? {}) };
    if ('strength' in own) throw new RagarError(`providerOptions.${this.provider}.strength: use the standard strength option`, 'BAD_INPUT');
    const v = own.imagePromptScale;
    delete own.imagePromptScale;
    if (v !== undefined && typeof v !== 'number') throw new RagarError(`providerOptions.${this.provider}.imagePromptScale must be a number, got ${JSON.stringify(v)}`, 'BAD_INPUT');
    const warnings: GeneratorWarningV1[] = [];
    if (options.size !== undefined && options.size !== this.outputSize) warnings.push({ type: 'unsupported-setting', setting: 'size', details: `${this.provider} draws ${this.outputSize}×${this.outputSize} (set size in the engine settings)` });
    const r = await this.core.call({
      reference: options.reference,
      prompt: options.prompt ?? buildPrompt(options.reference.text, options.preference.keywords),
      history: options.preference.history.map((h) => ({ item: h.item, weight: h.weight, image: h.image })),
      weighting: options.preference.weighting,
      user: options.user,
      candidates: options.candidates,
      seed: options.seed,
      strength: options.strength,
      imagePromptScale: v as number | undefined,
      options: own,
      onProgress: options.onProgress,
      abortSignal: options.abortSignal,
    });
    const metadata: RemoteMetadata = { sent: r.sent, selection: r.selection, servers: [...this.core.pool.servers] };
    return {
      candidates: r.candidates,
      warnings: [...warnings, ...r.warnings.map((message) => ({ type: 'other' as const, message }))],
      response: { provider: this.provider, modelId: this.modelId, timings: r.timings },
      providerMetadata: { [this.provider]: metadata as unknown as Record<string, unknown> },
    };
  }

  /** Nothing is held between calls (connections are per call). Safe to call twice. */
  async dispose(): Promise<void> {}
}
