/**
 * The embedded image encoder on onnxruntime: the same MobileNetV2 as `mobilenet.ts` (the Keras
 * model shipped in `nsfwjs@4.3.0`, features of layer `flatten_1`, 1280-d, L2-normalised), with its
 * ONNX graph built here in TypeScript from the package's own model files and run batched on
 * `onnxruntime-node`.
 *
 * Why: tfjs' wasm backend is single-threaded in Node and its convolutions are many times slower
 * than onnxruntime's on this project's 2-core CPU (DESIGN §5); the image-embedding step dominated
 * `ragar demo`. The features equal the tfjs encoder's to within float rounding (a test checks
 * max |Δ| ≤ 1e-4 on real benchmark artwork), so this encoder keeps the tfjs encoder's model id
 * and every cached vector stays valid.
 *
 * Weights: `model.min.js` (the Keras topology and weight manifest) and `group1-shard1of1.min.js`
 * (the weight shard, base64; uint8-quantised with a per-tensor `min` and `scale`) are read through
 * nsfwjs' exported entry `nsfwjs/models/mobilenet_v2`; values are dequantised exactly as tfjs
 * does (`q·scale + min`, rounded to float32). Nothing is fetched.
 *
 * Graph (built with `util/onnx.ts`): NHWC input → Transpose → the Keras layers from the topology, in order (ZeroPadding2D
 * folded into the next convolution's pads, Conv2D and DepthwiseConv2D as ONNX Conv, Keras
 * BatchNormalization as ONNX BatchNormalization — onnxruntime folds it into the convolution —,
 * ReLU(max 6) as Clip(0, 6), Add, the 7×7 AveragePooling2D as GlobalAveragePool) → Flatten =
 * `flatten_1`. Preprocessing (decode with sharp, `/255`, bilinear resize with alignCorners) is
 * the tfjs encoder's own code (`decodeImageRgb`, `preprocessRgb`).
 */
import * as ort from 'onnxruntime-node';
import { OnnxGraph, openCpuSession } from '../util/onnx.js';
import { RagarError } from '../util/errors.js';
import { decodeImageRgb, MOBILENET_MODEL_ID } from './mobilenet.js';
import { MOBILENET_DIMENSION, MOBILENET_INPUT_SIZE, MOBILENET_LAYER, preprocessRgb } from './mobilenetWorker.js';
import type { EncodeOptions, ImageEncoder, ImageInput } from './types.js';
import { l2normalize } from './types.js';

/** One dequantised weight tensor of the Keras model, in Keras layout. */
export interface KerasWeight {
  shape: number[];
  values: Float32Array;
}

interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name: string };
  inbound_nodes: [string, number, number, object][][];
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { min?: number; scale?: number; dtype: string };
}

/** The Keras topology and dequantised weights of nsfwjs' MobileNetV2, read from the package. */
export interface MobileNetKerasModel {
  layers: KerasLayer[];
  weights: Map<string, KerasWeight>;
}

/**
 * Read nsfwjs 4.3.0's MobileNetV2 (topology and weights) from the installed package, without tfjs.
 * Quantised weights are dequantised as tfjs' `decodeWeights` does.
 *
 * @example
 * const model = await readMobileNetKerasModel();
 * model.weights.get('Conv1/kernel')?.shape; // [3, 3, 3, 32]
 */
export async function readMobileNetKerasModel(): Promise<MobileNetKerasModel> {
  const { MobileNetV2Model } = await import('nsfwjs/models/mobilenet_v2');
  const json = (await MobileNetV2Model.modelJson()).default as {
    modelTopology: { model_config: { config: { layers: KerasLayer[] } } };
    weightsManifest: { weights: WeightSpec[] }[];
  };
  if (MobileNetV2Model.weightBundles.length !== 1) throw new RagarError('unexpected nsfwjs MobileNetV2 weight bundles', 'INTERNAL');
  const shard = Buffer.from((await MobileNetV2Model.weightBundles[0]()).default as string, 'base64');
  const weights = new Map<string, KerasWeight>();
  let offset = 0;
  for (const spec of json.weightsManifest.flatMap((g) => g.weights)) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const q = spec.quantization;
    let values: Float32Array;
    if (spec.dtype !== 'float32') throw new RagarError(`MobileNetV2 weight ${spec.name}: unsupported dtype ${spec.dtype}`, 'INTERNAL');
    if (!q) {
      values = new Float32Array(count);
      new Uint8Array(values.buffer).set(shard.subarray(offset, offset + count * 4));
      offset += count * 4;
    } else if (q.dtype === 'uint8' && q.min !== undefined && q.scale !== undefined) {
      const { min, scale } = q;
      values = Float32Array.from(shard.subarray(offset, offset + count), (v) => v * scale + min);
      offset += count;
    } else {
      throw new RagarError(`MobileNetV2 weight ${spec.name}: unsupported quantisation ${q.dtype}`, 'INTERNAL');
    }
    weights.set(spec.name, { shape: spec.shape, values });
  }
  if (offset !== shard.length) throw new RagarError(`MobileNetV2 weight shard has ${shard.length} bytes, the manifest describes ${offset}`, 'INTERNAL');
  return { layers: json.modelTopology.model_config.config.layers, weights };
}

/** Keras conv kernel [kh, kw, in, out] → ONNX [out, in, kh, kw]. */
function convKernel(w: KerasWeight): { values: Float32Array; dims: number[] } {
  const [kh, kw, cin, cout] = w.shape;
  const out = new Float32Array(w.values.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = w.values[((y * kw + x) * cin + i) * cout + o];
  return { values: out, dims: [cout, cin, kh, kw] };
}

/** Keras depthwise kernel [kh, kw, c, 1] → ONNX grouped conv [c, 1, kh, kw]. */
function depthwiseKernel(w: KerasWeight): { values: Float32Array; dims: number[] } {
  const [kh, kw, c, mult] = w.shape;
  if (mult !== 1) throw new RagarError(`depth multiplier ${mult} is not supported`, 'INTERNAL');
  const out = new Float32Array(w.values.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < c; i++) out[(i * kh + y) * kw + x] = w.values[(y * kw + x) * c + i];
  return { values: out, dims: [c, 1, kh, kw] };
}

/**
 * Build the ONNX graph of MobileNetV2 up to `flatten_1`: input `pixels` [n, 224, 224, 3] (NHWC,
 * values in [0, 1] as nsfwjs feeds it), output `features` [n, 1280] (not normalised).
 *
 * @example
 * const bytes = buildMobileNetGraph(await readMobileNetKerasModel());
 * const session = await openCpuSession(bytes);
 */
export function buildMobileNetGraph(model: MobileNetKerasModel): Uint8Array {
  const g = new OnnxGraph('mobilenetv2-nsfwjs-flatten_1');
  const size = MOBILENET_INPUT_SIZE;
  const weight = (name: string): KerasWeight => {
    const w = model.weights.get(name);
    if (!w) throw new RagarError(`MobileNetV2 weight ${name} is missing`, 'INTERNAL');
    return w;
  };
  const tensors = new Map<string, string>();
  /** Pads ([top, left, bottom, right]) a ZeroPadding2D layer leaves for the next convolution. */
  const pending = new Map<string, number[]>();
  const inputOf = (layer: KerasLayer, i = 0): string => {
    const src = layer.inbound_nodes[0]?.[i]?.[0];
    const t = src === undefined ? undefined : tensors.get(src);
    if (t === undefined) throw new RagarError(`MobileNetV2 layer ${layer.config.name}: unknown input ${String(src)}`, 'INTERNAL');
    return t;
  };
  let done = false;
  for (const layer of model.layers) {
    if (done) break;
    const name = layer.config.name;
    const cfg = layer.config;
    switch (layer.class_name) {
      case 'InputLayer': {
        const x = g.input('pixels', ['n', size, size, 3]);
        tensors.set(name, g.node('Transpose', [x], 'nchw', { perm: [0, 3, 1, 2] }));
        break;
      }
      case 'ZeroPadding2D': {
        const [[top, bottom], [left, right]] = cfg.padding as number[][];
        tensors.set(name, inputOf(layer));
        pending.set(name, [top, left, bottom, right]);
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const depthwise = layer.class_name === 'DepthwiseConv2D';
        const [kh, kw] = cfg.kernel_size as number[];
        const strides = cfg.strides as number[];
        if ((cfg.dilation_rate as number[]).some((d) => d !== 1) || cfg.activation !== 'linear' || cfg.use_bias) {
          throw new RagarError(`MobileNetV2 layer ${name}: unsupported convolution settings`, 'INTERNAL');
        }
        let pads = [0, 0, 0, 0];
        if (cfg.padding === 'same') {
          if (strides.some((s) => s !== 1)) throw new RagarError(`MobileNetV2 layer ${name}: 'same' padding with stride > 1`, 'INTERNAL');
          pads = [(kh - 1) >> 1, (kw - 1) >> 1, kh - 1 - ((kh - 1) >> 1), kw - 1 - ((kw - 1) >> 1)];
        }
        const src = layer.inbound_nodes[0][0][0];
        const extra = pending.get(src);
        if (extra) pads = pads.map((p, i) => p + extra[i]);
        const k = depthwise ? depthwiseKernel(weight(`${name}/depthwise_kernel`)) : convKernel(weight(`${name}/kernel`));
        const attrs = { kernel_shape: [kh, kw], strides, pads, ...(depthwise ? { group: k.dims[0] } : {}) };
        tensors.set(name, g.node('Conv', [inputOf(layer), g.float(k.values, k.dims)], name, attrs));
        break;
      }
      case 'BatchNormalization': {
        const eps = cfg.epsilon as number;
        const p = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((s) => {
          const w = weight(`${name}/${s}`);
          return g.float(w.values, w.shape);
        });
        tensors.set(name, g.node('BatchNormalization', [inputOf(layer), ...p], name, { epsilon: eps })); // 0.001: a FLOAT attribute
        break;
      }
      case 'ReLU': {
        if (cfg.max_value !== 6 || cfg.negative_slope !== 0 || cfg.threshold !== 0) {
          throw new RagarError(`MobileNetV2 layer ${name}: unsupported ReLU settings`, 'INTERNAL');
        }
        tensors.set(name, g.node('Clip', [inputOf(layer), g.float([0], []), g.float([6], [])], name));
        break;
      }
      case 'Add':
        tensors.set(name, g.node('Add', [inputOf(layer, 0), inputOf(layer, 1)], name));
        break;
      case 'AveragePooling2D': {
        const pool = cfg.pool_size as number[];
        if (pool[0] !== 7 || pool[1] !== 7) throw new RagarError(`MobileNetV2 layer ${name}: unexpected pool size`, 'INTERNAL');
        tensors.set(name, g.node('GlobalAveragePool', [inputOf(layer)], name)); // the input is 7×7
        break;
      }
      case 'Flatten':
        tensors.set(name, g.node('Flatten', [inputOf(layer)], name, { axis: 1 }));
        if (name === MOBILENET_LAYER) {
          g.output(g.node('Identity', [tensors.get(name)!], 'features'), ['n', MOBILENET_DIMENSION]);
          done = true;
        }
        break;
      default:
        throw new RagarError(`MobileNetV2 layer ${name}: unsupported layer ${layer.class_name}`, 'INTERNAL');
    }
  }
  if (!done) throw new RagarError(`MobileNetV2 has no layer ${MOBILENET_LAYER}`, 'INTERNAL');
  return g.build();
}

/** Options of {@link createMobileNetOnnxEncoder}. */
export interface MobileNetOnnxOptions {
  /** onnxruntime intra-op threads (default 2: this machine's cores). */
  threads?: number;
  /**
   * Most images per session run (default 1). Measured on the 2-core machine under load: batch 1
   * 12-14 ms per image, batch 4 17-22, batch 16 22-30 (larger batches leave the caches), so the
   * default runs one image at a time while the next images are decoded.
   */
  batchSize?: number;
}

/** The onnxruntime MobileNetV2 encoder, with what it was started with. */
export interface MobileNetOnnxEncoder extends ImageEncoder {
  readonly threads: number;
  readonly batchSize: number;
  /** Milliseconds to read the weights, build the graph and open the session. */
  readonly loadMs: number;
}

function abortError(signal: AbortSignal): RagarError {
  return new RagarError('the encode call was aborted', 'ABORTED', { cause: signal.reason });
}

/**
 * Load MobileNetV2 on onnxruntime and return an {@link ImageEncoder} producing the same 1280-d
 * L2-normalised `flatten_1` features as the tfjs encoder (same model id). Images are decoded with
 * sharp while the previous batch runs. A corrupt input rejects with an error naming `image <index>`.
 *
 * @example
 * const enc = await createMobileNetOnnxEncoder({ threads: 2 });
 * const [v] = await enc.encode([pngBytes]); // Float32Array(1280), |v| = 1
 * await enc.dispose();
 */
export async function createMobileNetOnnxEncoder(options: MobileNetOnnxOptions = {}): Promise<MobileNetOnnxEncoder> {
  const threads = options.threads ?? 2;
  const batchSize = options.batchSize ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new RagarError(`threads must be a whole number >= 1, got ${threads}`, 'BAD_INPUT');
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RagarError(`batchSize must be a whole number >= 1, got ${batchSize}`, 'BAD_INPUT');
  const t0 = performance.now();
  let session: ort.InferenceSession;
  try {
    session = await openCpuSession(buildMobileNetGraph(await readMobileNetKerasModel()), threads);
  } catch (err) {
    if (err instanceof RagarError) throw err;
    throw new RagarError(`could not load MobileNetV2 on onnxruntime: ${(err as Error).message}`, 'INTERNAL', { cause: err });
  }
  const loadMs = performance.now() - t0;
  const size = MOBILENET_INPUT_SIZE;
  const pixels = size * size * 3;
  let chain: Promise<unknown> = Promise.resolve();
  let disposed = false;

  async function prepare(inputs: readonly ImageInput[], start: number, end: number): Promise<Float32Array> {
    const images = await Promise.all(
      inputs.slice(start, end).map((bytes, k) =>
        decodeImageRgb(bytes, start + k).catch((err: unknown) => {
          throw new RagarError((err as Error).message, 'BAD_INPUT', { cause: err });
        }),
      ),
    );
    const batch = new Float32Array(images.length * pixels);
    images.forEach((img, i) => batch.set(preprocessRgb(img, size), i * pixels));
    return batch;
  }

  async function run(inputs: readonly ImageInput[], opts: EncodeOptions): Promise<Float32Array[]> {
    const { signal, onProgress } = opts;
    const n = inputs.length;
    const out: Float32Array[] = [];
    let next = n > 0 ? prepare(inputs, 0, Math.min(n, batchSize)) : undefined;
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      const batch = await next!;
      if (signal?.aborted) throw abortError(signal);
      // decode the following batch (sharp runs on libuv threads) while this one runs
      next = end < n ? prepare(inputs, end, Math.min(n, end + batchSize)) : undefined;
      next?.catch(() => undefined);
      const result = await session.run({ pixels: new ort.Tensor('float32', batch, [end - start, size, size, 3]) });
      const features = result.features.data as Float32Array;
      for (let i = 0; i < end - start; i++) out.push(l2normalize(features.slice(i * MOBILENET_DIMENSION, (i + 1) * MOBILENET_DIMENSION)));
      onProgress?.(end);
    }
    return out;
  }

  return {
    modelId: MOBILENET_MODEL_ID,
    dimension: MOBILENET_DIMENSION,
    modality: 'image',
    threads,
    batchSize,
    loadMs,
    encode(inputs, opts = {}) {
      if (disposed) return Promise.reject(new RagarError('the MobileNet encoder was disposed', 'BAD_INPUT'));
      if (opts.signal?.aborted) return Promise.reject(abortError(opts.signal));
      const p = chain.then(() => run(inputs, opts));
      chain = p.catch(() => undefined);
      return p;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await chain;
      await session.release();
    },
  };
}
