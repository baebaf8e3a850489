/**
 * The embedded image encoder: MobileNetV2 as shipped inside `nsfwjs@4.3.0`, features of layer
 * `flatten_1` (1280-d, L2-normalised), on `@tensorflow/tfjs` 4.22 with the wasm backend.
 *
 * Model and licence: MobileNetV2 (ImageNet-pretrained, fine-tuned by Infinite Red for nsfwjs);
 * the weights ship inside the `nsfwjs` npm package under the MIT licence (Copyright 2019 Infinite
 * Red). We use the 1280-d pooled features before the NSFW head.
 *
 * Offline loading: the model.json and its weight shard are bundled in nsfwjs as CommonJS
 * modules (`nsfwjs/models/mobilenet_v2`), decoded in memory and handed to
 * `tf.loadLayersModel(tf.io.fromMemory(...))`; the wasm binaries come from
 * `node_modules/@tensorflow/tfjs-backend-wasm/dist`. No network access. Details in
 * `mobilenetWorker.ts`.
 *
 * Pipeline: the calling thread decodes every input with sharp (any format, size or colour mode;
 * EXIF orientation applied; alpha flattened on white; converted to 8-bit sRGB), then sends the
 * RGB pixels to worker threads that each hold their own tfjs + model (tfjs wasm is
 * single-threaded in Node). Each call is cut into chunks of at most `batchSize` images, and a
 * call smaller than `workers × batchSize` is split evenly so every worker gets a share. The
 * workers apply nsfwjs' preprocessing (x / 255, bilinear resize to 224 with alignCorners).
 *
 * Workers run the `.ts` source under tsx (tests, `tsx` runs) or the compiled `.js` in `dist/`;
 * the worker path is resolved next to this module.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import type { EncodeOptions, ImageEncoder, ImageInput } from './types.js';
import {
  MOBILENET_DIMENSION,
  MOBILENET_INPUT_SIZE,
  MOBILENET_LAYER,
  MOBILENET_WORKER_MARKER,
  type MobileNetEngine,
  type MobileNetWorkerReply,
  type MobileNetWorkerRequest,
  type RgbImage,
} from './mobilenetWorker.js';
import { RagarError } from '../util/errors.js';

/** Model id of this encoder: model, source package, layer and input size. */
export const MOBILENET_MODEL_ID = `mobilenetv2-nsfwjs-4.3.0/${MOBILENET_LAYER}@${MOBILENET_INPUT_SIZE}`;

/** Options of {@link createMobileNetEncoder}. */
export interface MobileNetEncoderOptions {
  /** Worker threads, each with its own model (default 2 = both cores); 0 runs in the calling thread. */
  workers?: number;
  /** Most images per model call in one worker (default 8). */
  batchSize?: number;
}

/** The MobileNetV2 image encoder, with what it was started with. */
export interface MobileNetEncoder extends ImageEncoder {
  /** Worker threads in use (0 = in-process). */
  readonly workers: number;
  /** Most images per model call in one worker. */
  readonly batchSize: number;
  /** Milliseconds from the call of `createMobileNetEncoder` until every model was loaded. */
  readonly loadMs: number;
}

const DEFAULT_WORKERS = 2;
const DEFAULT_BATCH_SIZE = 8;

/**
 * Decode image bytes the way this encoder sees them: EXIF orientation applied, alpha flattened
 * on white, converted to 8-bit sRGB, 3 bytes per pixel at the original size (the resize to 224
 * happens in the model thread, as nsfwjs does it). `index` names the input in the error.
 *
 * @example
 * const rgb = await decodeImageRgb(pngBytes, 0); // { width, height, data: Uint8Array(w*h*3) }
 */
export async function decodeImageRgb(bytes: ImageInput, index = 0): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(bytes)
      .rotate()
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new RagarError(`unexpected decoded layout (${info.width}x${info.height}x${info.channels})`, 'BAD_IMAGE');
    }
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new RagarError(`image ${index} could not be decoded: ${reason}`, 'BAD_IMAGE', { cause: err });
  }
}

/** Runs model calls: one worker thread, or the calling thread. */
interface Runner {
  run(images: RgbImage[]): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Where the worker module lives, and how to start it (tsx for the `.ts` source). */
function workerEntry(): { url: URL; ts: boolean } {
  const here = import.meta.url;
  const ts = here.endsWith('.ts');
  return { url: new URL(`./mobilenetWorker.${ts ? 'ts' : 'js'}`, here), ts };
}

/** Start one worker with the `.ts` source registered through tsx's ESM API, or the built `.js`. */
function spawnWorker(): Worker {
  const { url, ts } = workerEntry();
  const workerData = { marker: MOBILENET_WORKER_MARKER };
  if (!ts) return new Worker(url, { workerData });
  // `execArgv: ['--import', 'tsx']` does not reach worker threads on Node 20, so register tsx
  // from a tiny bootstrap and import the .ts module after it.
  const tsxDir = path.dirname(createRequire(import.meta.url).resolve('tsx'));
  const api = pathToFileURL(path.join(tsxDir, 'esm', 'api', 'index.mjs')).href;
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}

class WorkerRunner implements Runner {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: Float32Array) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failure: Error | undefined;
  readonly ready: Promise<number>;

  constructor(readonly index: number) {
    this.worker = spawnWorker();
    this.ready = new Promise<number>((resolve, reject) => {
      this.worker.on('message', (msg: MobileNetWorkerReply) => {
        if (msg.type === 'ready') {
          this.worker.unref(); // idle workers do not keep the process alive
          resolve(msg.loadMs);
        } else if (msg.type === 'init-error') {
          const e = new Error(`MobileNet worker ${index} could not load the model: ${msg.message}`);
          this.fail(e);
          reject(e);
        } else {
          const p = this.pending.get(msg.id);
          if (!p) return;
          this.pending.delete(msg.id);
          if (this.pending.size === 0) this.worker.unref();
          if (msg.type === 'result') p.resolve(msg.vectors);
          else p.reject(new Error(`MobileNet worker ${index}: ${msg.message}`));
        }
      });
      this.worker.on('error', (err) => {
        const e = new Error(`MobileNet worker ${index} crashed: ${err.message}`, { cause: err });
        this.fail(e);
        reject(e);
      });
      this.worker.on('exit', (code) => {
        const e = new Error(`MobileNet worker ${index} exited (code ${code})`);
        this.fail(e);
        reject(e);
      });
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  run(images: RgbImage[]): Promise<Float32Array> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref(); // keep the process alive while work is pending
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'embed', id, images } satisfies MobileNetWorkerRequest);
    });
  }

  async close(): Promise<void> {
    this.fail(new Error('the MobileNet encoder was disposed'));
    await this.worker.terminate();
  }
}

class InProcessRunner implements Runner {
  private chain: Promise<unknown> = Promise.resolve();
  constructor(private readonly engine: MobileNetEngine) {}
  run(images: RgbImage[]): Promise<Float32Array> {
    const p = this.chain.then(() => this.engine.embed(images));
    this.chain = p.catch(() => undefined);
    return p;
  }
  async close(): Promise<void> {
    await this.chain;
    this.engine.dispose();
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && /abort/i.test(reason.message)) return reason;
  return new Error('the encode call was aborted', { cause: reason });
}

/**
 * Load MobileNetV2 (from nsfwjs 4.3.0, offline) in `workers` worker threads (default 2; 0 = in
 * the calling thread) and return an {@link ImageEncoder} producing 1280-d L2-normalised
 * `flatten_1` features. A corrupt input rejects with an error naming `image <index>`.
 *
 * @example
 * const enc = await createMobileNetEncoder({ workers: 2, batchSize: 16 });
 * const [v] = await enc.encode([pngBytes]); // Float32Array(1280), |v| = 1
 * await enc.dispose();
 */
export async function createMobileNetEncoder(options: MobileNetEncoderOptions = {}): Promise<MobileNetEncoder> {
  const workers = options.workers ?? DEFAULT_WORKERS;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(workers) || workers < 0) throw new RagarError(`workers must be a whole number >= 0, got ${workers}`, 'BAD_INPUT');
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RagarError(`batchSize must be a whole number >= 1, got ${batchSize}`, 'BAD_INPUT');
  const t0 = performance.now();

  let runners: Runner[];
  if (workers === 0) {
    const { loadMobileNetEngine } = await import('./mobilenetWorker.js');
    runners = [new InProcessRunner(await loadMobileNetEngine())];
  } else {
    const pool = Array.from({ length: workers }, (_, i) => new WorkerRunner(i));
    try {
      await Promise.all(pool.map((r) => r.ready));
    } catch (err) {
      await Promise.all(pool.map((r) => r.close()));
      throw err;
    }
    runners = pool;
  }
  const loadMs = performance.now() - t0;

  let disposed: Promise<void> | undefined;

  async function encode(inputs: readonly ImageInput[], options: EncodeOptions = {}): Promise<Float32Array[]> {
    const { signal, onProgress } = options;
    if (disposed) throw new RagarError('the MobileNet encoder was disposed', 'BAD_INPUT');
    if (signal?.aborted) throw abortError(signal);
    const n = inputs.length;
    if (n === 0) return [];

    const chunk = Math.min(batchSize, Math.ceil(n / runners.length));
    const out = new Array<Float32Array>(n);
    let next = 0;
    let done = 0;
    let stop = false;

    const lane = async (runner: Runner): Promise<void> => {
      while (!stop && next < n) {
        const start = next;
        const end = Math.min(n, start + chunk);
        next = end;
        const images = await Promise.all(inputs.slice(start, end).map((bytes, k) => decodeImageRgb(bytes, start + k)));
        if (stop || signal?.aborted) return;
        const vectors = await runner.run(images);
        if (stop) return;
        for (let i = start; i < end; i++) {
          const k = i - start;
          out[i] = vectors.slice(k * MOBILENET_DIMENSION, (k + 1) * MOBILENET_DIMENSION);
        }
        done += end - start;
        onProgress?.(done);
      }
    };

    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      if (!signal) return;
      onAbort = () => reject(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([
        Promise.all(
          runners.map((r) =>
            lane(r).catch((err: unknown) => {
              stop = true;
              throw err;
            }),
          ),
        ),
        aborted,
      ]);
    } finally {
      stop = true;
      if (signal && onAbort) signal.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted) throw abortError(signal);
    return out;
  }

  return {
    modelId: MOBILENET_MODEL_ID,
    dimension: MOBILENET_DIMENSION,
    modality: 'image',
    workers,
    batchSize,
    loadMs,
    encode,
    dispose() {
      disposed ??= Promise.all(runners.map((r) => r.close())).then(() => undefined);
      return disposed;
    },
  };
}
