/**
 * The MobileNetV2 feature extractor that runs inside each image-encoder worker thread (and, with
 * `workers: 0`, in the calling thread).
 *
 * Model: MobileNetV2 (Sandler et al. 2018, ImageNet-pretrained, fine-tuned by Infinite Red as the
 * NSFW classifier of `nsfwjs@4.3.0`), a Keras layers model at input 224×224. We read the
 * activations of its layer `flatten_1`: the 7×7 average pool of the last 1280-channel block,
 * i.e. MobileNetV2's usual global image feature, before the NSFW head (dense_1…dense_3).
 * Licence: the weights ship inside the `nsfwjs` npm package, MIT (Copyright 2019 Infinite Red,
 * see node_modules/nsfwjs/LICENSE).
 *
 * Offline loading: `nsfwjs` bundles the model as two CommonJS files,
 * `dist/models/mobilenet_v2/model.min.js` (the model.json object) and
 * `group1-shard1of1.min.js` (the weight shard as one base64 string), reachable through its
 * exported entry `nsfwjs/models/mobilenet_v2` (`MobileNetV2Model.modelJson()` /
 * `.weightBundles[0]()`). We decode them into tfjs model artifacts and call
 * `tf.loadLayersModel(tf.io.fromMemory(...))`, exactly what nsfwjs' own `JSONHandler` does, so
 * nothing is fetched. The wasm backend's binaries are taken from
 * `node_modules/@tensorflow/tfjs-backend-wasm/dist/` via `setWasmPaths`.
 *
 * Preprocessing follows `NSFWJS.infer`: RGB pixels as float / 255 (range [0, 1]), then
 * `tf.image.resizeBilinear(…, [224, 224], alignCorners = true)` when the image is not already
 * 224×224, reimplemented in {@link preprocessRgb} with the kernel's formula (equal to tfjs within
 * float rounding; tested). Decoding (and flattening alpha on white) happens in `mobilenet.ts`
 * with sharp.
 *
 * The tfjs wasm backend is single-threaded in Node, so parallelism comes from several worker
 * threads, each with its own tfjs and model copy (about 15 MB each).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { l2normalize } from './types.js';
import { RagarError } from '../util/errors.js';

/** Side length of the square model input. */
export const MOBILENET_INPUT_SIZE = 224;
/** The layer whose activations are the image feature. */
export const MOBILENET_LAYER = 'flatten_1';
/** Length of the feature vector of {@link MOBILENET_LAYER}. */
export const MOBILENET_DIMENSION = 1280;
/** Marker in `workerData` that makes this module start serving as a worker. */
export const MOBILENET_WORKER_MARKER = 'ragar-mobilenet-worker';

/** Decoded pixels of one image: `width × height × 3` bytes, RGB, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A loaded MobileNetV2 feature extractor. */
export interface MobileNetEngine {
  /** Milliseconds spent importing tfjs, starting the wasm backend, loading and warming the model. */
  readonly loadMs: number;
  /** L2-normalised features of the images, concatenated (`images.length × 1280`). */
  embed(images: readonly RgbImage[]): Promise<Float32Array>;
  /** Free the model's tensors. */
  dispose(): void;
}

/** Messages a worker receives. */
export type MobileNetWorkerRequest = { type: 'embed'; id: number; images: RgbImage[] };

/** Messages a worker sends. */
export type MobileNetWorkerReply =
  | { type: 'ready'; loadMs: number }
  | { type: 'init-error'; message: string }
  | { type: 'result'; id: number; vectors: Float32Array }
  | { type: 'error'; id: number; message: string };

/**
 * Import tfjs with the wasm backend (binaries from node_modules, nothing fetched), load the
 * MobileNetV2 bundled in nsfwjs and cut it at `flatten_1`.
 *
 * @example
 * const engine = await loadMobileNetEngine();
 * const v = await engine.embed([{ width: 1, height: 1, data: new Uint8Array([255, 0, 0]) }]);
 * // v.length === 1280
 */
export async function loadMobileNetEngine(): Promise<MobileNetEngine> {
  const t0 = performance.now();
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const require = createRequire(import.meta.url);
  const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  wasm.setWasmPaths(wasmDir + path.sep);
  if (!(await tf.setBackend('wasm'))) throw new RagarError('could not start the tfjs wasm backend', 'INTERNAL');
  await tf.ready();

  const { MobileNetV2Model } = await import('nsfwjs/models/mobilenet_v2');
  const modelJson = (await MobileNetV2Model.modelJson()).default as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: import('@tensorflow/tfjs').io.WeightsManifestEntry[] }[];
  };
  if (MobileNetV2Model.weightBundles.length !== 1) throw new RagarError('unexpected nsfwjs MobileNetV2 weight bundles', 'INTERNAL');
  const shard = (await MobileNetV2Model.weightBundles[0]()).default as string;
  const bytes = Buffer.from(shard, 'base64');
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const weightSpecs = modelJson.weightsManifest.flatMap((g) => g.weights);
  const full = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData }));
  const model = tf.model({ inputs: full.inputs, outputs: full.getLayer(MOBILENET_LAYER).output });

  const size = MOBILENET_INPUT_SIZE;
  const warm = tf.tidy(() => model.predict(tf.zeros([1, size, size, 3])) as import('@tensorflow/tfjs').Tensor);
  await warm.data();
  warm.dispose();
  const loadMs = performance.now() - t0;

  return {
    loadMs,
    async embed(images) {
      if (images.length === 0) return new Float32Array(0);
      const pixels = size * size * 3;
      const batch = new Float32Array(images.length * pixels);
      images.forEach((img, i) => batch.set(preprocessRgb(img, size), i * pixels));
      const out = tf.tidy(() => model.predict(tf.tensor4d(batch, [images.length, size, size, 3])) as import('@tensorflow/tfjs').Tensor);
      const data = (await out.data()) as Float32Array;
      out.dispose();
      const vectors = new Float32Array(data);
      for (let i = 0; i < images.length; i++) {
        l2normalize(vectors.subarray(i * MOBILENET_DIMENSION, (i + 1) * MOBILENET_DIMENSION));
      }
      return vectors;
    },
    dispose() {
      full.dispose();
    },
  };
}

/**
 * nsfwjs' preprocessing of one image, in plain JS: pixels / 255, then the tfjs bilinear resize
 * with `alignCorners = true` (same formula as the tfjs kernels) to `size × size`. Only the
 * sampled pixels are touched, so a large photo costs no more than a small one, unlike building
 * its full float tensor. Returns `size × size × 3` floats in [0, 1].
 *
 * @example
 * preprocessRgb({ width: 2, height: 1, data: new Uint8Array([0, 0, 0, 255, 255, 255]) }, 3)
 * // row: [0,0,0, 0.5,0.5,0.5, 1,1,1] three times
 */
export function preprocessRgb(img: RgbImage, size = MOBILENET_INPUT_SIZE): Float32Array {
  const { width, height, data } = img;
  if (!(width > 0 && height > 0) || data.length !== width * height * 3) throw new RagarError('RGB buffer has the wrong length', 'BAD_INPUT');
  const out = new Float32Array(size * size * 3);
  if (width === size && height === size) {
    for (let i = 0; i < out.length; i++) out[i] = data[i] / 255;
    return out;
  }
  // float32 like the tfjs wasm kernel: the source positions depend on the rounding of the ratio
  const f32 = Math.fround;
  const rowRatio = f32(size > 1 ? (height - 1) / (size - 1) : height / size);
  const colRatio = f32(size > 1 ? (width - 1) / (size - 1) : width / size);
  const colFloor = new Int32Array(size);
  const colCeil = new Int32Array(size);
  const colFrac = new Float32Array(size);
  for (let c = 0; c < size; c++) {
    const f = f32(colRatio * c);
    colFloor[c] = Math.max(0, Math.floor(f)) * 3;
    colCeil[c] = Math.min(width - 1, Math.ceil(f)) * 3;
    colFrac[c] = f32(f - Math.max(0, Math.floor(f)));
  }
  const stride = width * 3;
  let o = 0;
  for (let r = 0; r < size; r++) {
    const f = f32(rowRatio * r);
    const r0 = Math.max(0, Math.floor(f));
    const rowFrac = f32(f - r0);
    const top = r0 * stride;
    const bot = Math.min(height - 1, Math.ceil(f)) * stride;
    for (let c = 0; c < size; c++) {
      const cf = colFrac[c];
      for (let d = 0; d < 3; d++) {
        const tl = data[top + colFloor[c] + d] / 255;
        const tr = data[top + colCeil[c] + d] / 255;
        const bl = data[bot + colFloor[c] + d] / 255;
        const br = data[bot + colCeil[c] + d] / 255;
        const t = tl + (tr - tl) * cf;
        const b = bl + (br - bl) * cf;
        out[o++] = t + (b - t) * rowFrac;
      }
    }
  }
  return out;
}

/** Serve embed requests on `parentPort`, one at a time, after loading the model. */
async function serve(): Promise<void> {
  const port = parentPort!;
  let engine: MobileNetEngine;
  try {
    engine = await loadMobileNetEngine();
  } catch (err) {
    port.postMessage({ type: 'init-error', message: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies MobileNetWorkerReply);
    return;
  }
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (msg: MobileNetWorkerRequest) => {
    if (msg?.type !== 'embed') return;
    chain = chain.then(async () => {
      try {
        const vectors = await engine.embed(msg.images);
        port.postMessage({ type: 'result', id: msg.id, vectors } satisfies MobileNetWorkerReply, [vectors.buffer as ArrayBuffer]);
      } catch (err) {
        port.postMessage({ type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) } satisfies MobileNetWorkerReply);
      }
    });
  });
  port.postMessage({ type: 'ready', loadMs: engine.loadMs } satisfies MobileNetWorkerReply);
}

if (!isMainThread && parentPort && (workerData as { marker?: string } | undefined)?.marker === MOBILENET_WORKER_MARKER) {
  void serve();
}
