/**
 * CLIP (and SigLIP) image and text encoders from a LOCAL model folder, run through
 * `@huggingface/transformers` (transformers.js v4) on `onnxruntime-node`. Nothing is ever
 * downloaded: remote loading is switched off (`env.allowRemoteModels = false`, process-wide) and
 * every file is read by absolute path with `local_files_only`.
 *
 * ## Pointing it at a real CLIP
 *
 * Any transformers.js ("Xenova"-style) ONNX export works, e.g. `Xenova/clip-vit-base-patch32`.
 * Download it on a machine that can reach the Hugging Face hub and copy the folder over:
 *
 * ```sh
 * # elsewhere (git-lfs or `huggingface-cli download Xenova/clip-vit-base-patch32 --local-dir clip-vit-base-patch32`)
 * git clone https://huggingface.co/Xenova/clip-vit-base-patch32
 * # then, on this machine
 * ragar ... --image-encoder clip --text-encoder clip --clip /models/clip-vit-base-patch32   # or RAGAR_CLIP=...
 * ```
 *
 * The folder must hold (the files transformers.js reads):
 *
 * ```
 * config.json                  model_type "clip" (or "siglip"); projection_dim gives the dimension
 * preprocessor_config.json     CLIPImageProcessor (resize, centre crop, mean/std)   image side
 * tokenizer.json               fast-tokenizer file                                  text side
 * tokenizer_config.json        model_max_length, special tokens                     text side
 * onnx/vision_model.onnx       pixel_values → image_embeds                          image side
 * onnx/text_model.onnx         input_ids (+ attention_mask) → text_embeds           text side
 * ```
 *
 * With `quantized: true` the 8-bit files `onnx/vision_model_quantized.onnx` and
 * `onnx/text_model_quantized.onnx` are used instead (transformers.js v4 picks the file from the
 * `dtype` option: `fp32` → `onnx/<name>.onnx`, `q8` → `onnx/<name>_quantized.onnx`; this module
 * always passes the dtype explicitly, so a `transformers.js_config.dtype` in config.json does not
 * change which file is read). Only the files of the side you load need to be present.
 * SigLIP exports (`Xenova/siglip-base-patch16-224`) load through the same route: model_type
 * "siglip", output `pooler_output`, texts padded to `model_max_length` as SigLIP was trained.
 *
 * Images: any format sharp decodes (PNG, JPEG, WebP, GIF, AVIF, TIFF, grey, 16-bit, with alpha);
 * EXIF orientation is applied and transparency is flattened onto white before the model's own
 * preprocessing. Texts: tokenised with padding and truncation to the model's `model_max_length`
 * (77 for CLIP); a truncated text keeps its end-of-text token, on which CLIP pools.
 *
 * `modelId` is `<model_type>:<folder name>:<sha256(config.json), 12 hex>[:q8]/image|text`, so two
 * different models (or the 8-bit and full variants) never share embedding-cache entries. The two
 * sides get different ids because the embedding cache records one modality per model id; they
 * share `spaceId` (the id without `/image|text`), which says that their vectors are comparable.
 *
 * ## Licences
 *
 * Model weights are not part of this project and come with their own licence, which travels with
 * the model folder (read its README / model card). OpenAI's CLIP ViT-B/32 weights (and the
 * `Xenova/clip-vit-base-patch32` ONNX conversion of them) are released under the MIT licence;
 * SigLIP weights are Apache-2.0. transformers.js is Apache-2.0, onnxruntime MIT.
 *
 * @example
 * const { image, text } = await createClipEncoders({ modelPath: '/models/clip-vit-base-patch32' });
 * const [vImg] = await image.encode([pngBytes]);          // Float32Array(512), |v| = 1
 * const [vTxt] = await text.encode(['a grinning face']);  // same space: dot(vImg, vTxt) is the cosine
 * await Promise.all([image.dispose(), text.dispose()]);
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { NotFoundError, RagarError } from '../util/errors.js';
import { l2normalize, type EncodeOptions, type ImageEncoder, type ImageInput, type Modality, type TextEncoder } from './types.js';

/** Options of the CLIP loaders. */
export interface ClipOptions {
  /** Folder of the model in the Hugging Face layout (see the module comment); made absolute. */
  modelPath: string;
  /** Use the 8-bit `onnx/*_quantized.onnx` files (dtype `q8`) instead of the fp32 ones. */
  quantized?: boolean;
  /** Execution device; only the CPU is supported. */
  device?: 'cpu';
  /** Inputs per model run (default 16 images, 64 texts); `onProgress` fires after each run. */
  batchSize?: number;
}

/** The model families that load through this route. */
export type ClipModelType = 'clip' | 'siglip';

/** What {@link inspectClipFolder} found out about a model folder. */
export interface ClipFolderInfo {
  /** Absolute path of the folder. */
  path: string;
  modelType: ClipModelType;
  /** Id of the shared vector space: `<model_type>:<folder name>:<config hash>[:q8]`. */
  spaceId: string;
  /** sha256 of config.json, first 12 hex digits. */
  configHash: string;
  /** Output length of the image and the text side. */
  dimensions: { image: number; text: number };
  /** The parsed config.json. */
  config: Record<string, unknown>;
}

/** An image encoder of a CLIP-like model, with the id of the space it shares with the text side. */
export interface ClipImageEncoder extends ImageEncoder {
  readonly spaceId: string;
}

/** A text encoder of a CLIP-like model, with the id of the space it shares with the image side. */
export interface ClipTextEncoder extends TextEncoder {
  readonly spaceId: string;
}

/** Both sides of one model. */
export interface ClipEncoders {
  image: ClipImageEncoder;
  text: ClipTextEncoder;
  /** Same as `image.spaceId` and `text.spaceId`. */
  spaceId: string;
}

// ---------------------------------------------------------------------------------------------
// The slice of transformers.js this module uses, typed structurally (its own .d.ts types are
// generated from JSDoc and mostly `any`).

type HF = typeof import('@huggingface/transformers');

interface HfTensor {
  dims: number[];
  data: ArrayLike<number | bigint> & { [i: number]: number | bigint };
}

interface HfModel {
  (inputs: Record<string, unknown>): Promise<Record<string, HfTensor | undefined>>;
  dispose(): Promise<unknown>;
}

interface HfTokenizer {
  (texts: string[], options: Record<string, unknown>): Record<string, HfTensor>;
  encode(text: string): number[];
  eos_token_id: number | undefined | null;
  model_max_length: number;
}

interface HfProcessor {
  (images: unknown[]): Promise<{ pixel_values: HfTensor }>;
}

let hfPromise: Promise<HF> | undefined;

/** Import transformers.js once (lazily: it loads onnxruntime) and switch remote loading off. */
function transformers(): Promise<HF> {
  hfPromise ??= import('@huggingface/transformers').then((hf) => {
    hf.env.allowRemoteModels = false;
    hf.env.allowLocalModels = true;
    return hf;
  });
  return hfPromise;
}

// ---------------------------------------------------------------------------------------------
// Folder checks

const SIDE_FILES = {
  image: ['preprocessor_config.json'],
  text: ['tokenizer.json', 'tokenizer_config.json'],
} as const;

const ONNX_NAME = { image: 'vision_model', text: 'text_model' } as const;

function onnxFile(modality: Modality, quantized: boolean): string {
  return `onnx/${ONNX_NAME[modality]}${quantized ? '_quantized' : ''}.onnx`;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

function message(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0];
}

async function readJson(dir: string, name: string): Promise<{ raw: Buffer; value: Record<string, unknown> }> {
  const file = path.join(dir, name);
  const raw = await readFile(file);
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new RagarError(`${file} is not valid JSON: ${message(e)}`, 'BAD_INPUT', { cause: e });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RagarError(`${file} is not a JSON object`, 'BAD_INPUT');
  }
  return { raw, value: value as Record<string, unknown> };
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

function subConfig(config: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = config[key];
  return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
}

/**
 * Check a model folder without loading any model: it exists, holds the files the requested sides
 * need, and its config.json describes a CLIP or SigLIP. Throws a {@link NotFoundError} naming the
 * folder and every missing file, or a {@link RagarError} for a folder that is not a CLIP.
 *
 * @example
 * const info = await inspectClipFolder('/models/clip-vit-base-patch32');
 * info.spaceId;            // 'clip:clip-vit-base-patch32:3c0b1f9e2a4d'
 * info.dimensions.image;   // 512
 */
export async function inspectClipFolder(
  modelPath: string,
  options: { quantized?: boolean; sides?: readonly Modality[] } = {},
): Promise<ClipFolderInfo> {
  if (typeof modelPath !== 'string' || modelPath.trim() === '') {
    throw new RagarError('the CLIP encoder needs a model folder (modelPath)', 'BAD_INPUT');
  }
  const dir = path.resolve(modelPath);
  const quantized = options.quantized ?? false;
  const sides = options.sides ?? (['image', 'text'] as const);
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch {
    throw new NotFoundError(`CLIP model folder not found: ${dir}`);
  }
  if (!isDir) throw new NotFoundError(`CLIP model path is not a folder: ${dir}`);

  const wanted = ['config.json', ...sides.flatMap((s) => [...SIDE_FILES[s], onnxFile(s, quantized)])];
  const missing: string[] = [];
  for (const f of wanted) if (!(await isFile(path.join(dir, f)))) missing.push(f);
  if (missing.length > 0) {
    let hint = '';
    const other = sides.map((s) => onnxFile(s, !quantized));
    const missingOnnx = missing.filter((f) => f.startsWith('onnx/'));
    if (missingOnnx.length > 0 && (await Promise.all(other.map((f) => isFile(path.join(dir, f))))).every(Boolean)) {
      hint = quantized
        ? ' (only the fp32 ONNX files are there: drop the quantized option)'
        : ' (only the 8-bit *_quantized.onnx files are there: pass quantized: true / use the quantized option)';
    }
    throw new NotFoundError(
      `CLIP model folder ${dir} is incomplete: missing ${missing.join(', ')}${hint}. ` +
        `A Hugging Face ONNX export of CLIP (e.g. Xenova/clip-vit-base-patch32) has config.json, ` +
        `preprocessor_config.json, tokenizer.json, tokenizer_config.json and onnx/vision_model.onnx, onnx/text_model.onnx`,
    );
  }

  const { raw, value: config } = await readJson(dir, 'config.json');
  const modelType = config.model_type;
  if (modelType !== 'clip' && modelType !== 'siglip') {
    throw new RagarError(
      `${path.join(dir, 'config.json')}: model_type ${JSON.stringify(modelType ?? null)} is not a CLIP model ` +
        `(expected "clip" or "siglip"; is ${dir} the right folder?)`,
      'BAD_INPUT',
    );
  }
  const configHash = createHash('sha256').update(raw).digest('hex').slice(0, 12);
  const spaceId = `${modelType}:${path.basename(dir)}:${configHash}${quantized ? ':q8' : ''}`;
  const dimensions =
    modelType === 'clip'
      ? { image: positiveInt(config.projection_dim) ?? 512, text: positiveInt(config.projection_dim) ?? 512 }
      : {
          image: positiveInt(subConfig(config, 'vision_config').hidden_size) ?? 768,
          text: positiveInt(subConfig(config, 'text_config').hidden_size) ?? 768,
        };
  return { path: dir, modelType, spaceId, configHash, dimensions, config };
}

// ---------------------------------------------------------------------------------------------
// Encoders

function abortError(signal: AbortSignal): Error {
  const e = new Error('CLIP encoding aborted', { cause: signal.reason });
  e.name = 'AbortError';
  return e;
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

function modelOptions(options: ClipOptions): Record<string, unknown> {
  if (options.device !== undefined && options.device !== 'cpu') {
    throw new RagarError(`the CLIP encoder runs on the CPU only, got device ${JSON.stringify(options.device)}`, 'BAD_INPUT');
  }
  return { local_files_only: true, device: 'cpu', dtype: options.quantized ? 'q8' : 'fp32' };
}

function batchSizeOf(options: ClipOptions, fallback: number): number {
  const b = options.batchSize ?? fallback;
  if (!(Number.isInteger(b) && b > 0)) throw new RagarError(`batchSize must be a positive integer, got ${b}`, 'BAD_INPUT');
  return b;
}

async function load<T>(what: string, dir: string, f: () => Promise<unknown>): Promise<T> {
  try {
    return (await f()) as T;
  } catch (e) {
    throw new RagarError(`cannot load the CLIP ${what} from ${dir}: ${message(e)}`, 'BAD_INPUT', { cause: e });
  }
}

/** Split a [batch, dim] output into unit vectors, checking its shape. */
function rows(t: HfTensor | undefined, name: string, n: number, dim: number, where: string, outputs: string[]): Float32Array[] {
  if (!t) throw new RagarError(`the CLIP model in ${where} has no ${name} output (it gives: ${outputs.join(', ')})`, 'BAD_INPUT');
  if (t.dims.length !== 2 || t.dims[0] !== n || t.dims[1] !== dim) {
    throw new RagarError(
      `the CLIP model in ${where} gives ${name} of shape [${t.dims.join(', ')}], expected [${n}, ${dim}] (check projection_dim in config.json)`,
      'BAD_INPUT',
    );
  }
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = new Float32Array(dim);
    for (let j = 0; j < dim; j++) v[j] = Number(t.data[i * dim + j]);
    out.push(l2normalize(v));
  }
  return out;
}

/** Decode encoded image bytes to 8-bit RGB (EXIF-rotated, alpha flattened onto white). */
async function decodeImage(hf: HF, bytes: ImageInput, index: number): Promise<unknown> {
  if (!(bytes instanceof Uint8Array)) {
    throw new RagarError(`image #${index} is not a Buffer or Uint8Array`, 'BAD_INPUT');
  }
  const decoded = await sharp(bytes)
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch((e: unknown) => {
      throw new RagarError(`cannot decode image #${index} (${bytes.byteLength} bytes): ${message(e)}`, 'BAD_INPUT', { cause: e });
    });
  const { data, info } = decoded;
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new RagarError(`cannot decode image #${index}: unexpected pixel layout (${info.channels} channels)`, 'BAD_INPUT');
  }
  return new hf.RawImage(new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), info.width, info.height, 3);
}

/** Shared encode loop: abort checks, empty input, batching, progress, disposal. */
abstract class ClipSide<I> {
  abstract readonly modality: Modality;
  readonly modelId: string;
  readonly spaceId: string;
  readonly dimension: number;
  protected readonly dir: string;
  private readonly batchSize: number;
  private model: HfModel | undefined;

  constructor(info: ClipFolderInfo, modality: Modality, model: HfModel, batchSize: number) {
    this.dir = info.path;
    this.spaceId = info.spaceId;
    this.modelId = `${info.spaceId}/${modality}`;
    this.dimension = info.dimensions[modality];
    this.model = model;
    this.batchSize = batchSize;
  }

  protected abstract run(model: HfModel, batch: readonly I[], offset: number, signal: AbortSignal | undefined): Promise<Float32Array[]>;

  async encode(inputs: readonly I[], options: EncodeOptions = {}): Promise<Float32Array[]> {
    const { signal, onProgress } = options;
    checkAbort(signal);
    if (!this.model) throw new RagarError(`the CLIP ${this.modality} encoder (${this.modelId}) was disposed`, 'BAD_INPUT');
    const out: Float32Array[] = [];
    for (let start = 0; start < inputs.length; start += this.batchSize) {
      const model = this.model;
      if (!model) throw new RagarError(`the CLIP ${this.modality} encoder (${this.modelId}) was disposed`, 'BAD_INPUT');
      const batch = inputs.slice(start, start + this.batchSize);
      out.push(...(await this.run(model, batch, start, signal)));
      checkAbort(signal);
      onProgress?.(out.length);
    }
    return out;
  }

  async dispose(): Promise<void> {
    const model = this.model;
    this.model = undefined;
    if (model) await model.dispose();
  }
}

class ClipImageSide extends ClipSide<ImageInput> implements ClipImageEncoder {
  readonly modality = 'image' as const;
  constructor(
    info: ClipFolderInfo,
    model: HfModel,
    batchSize: number,
    private readonly hf: HF,
    private readonly processor: HfProcessor,
    private readonly output: string,
  ) {
    super(info, 'image', model, batchSize);
  }

  protected async run(model: HfModel, batch: readonly ImageInput[], offset: number, signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const images = await Promise.all(batch.map((b, i) => decodeImage(this.hf, b, offset + i)));
    checkAbort(signal);
    const { pixel_values } = await this.processor(images);
    checkAbort(signal);
    const result = await model({ pixel_values });
    return rows(result[this.output], this.output, batch.length, this.dimension, this.dir, Object.keys(result));
  }
}

class ClipTextSide extends ClipSide<string> implements ClipTextEncoder {
  readonly modality = 'text' as const;
  constructor(
    info: ClipFolderInfo,
    model: HfModel,
    batchSize: number,
    private readonly tokenizer: HfTokenizer,
    private readonly output: string,
    private readonly maxLength: number,
    private readonly padToMax: boolean,
    private readonly eosId: number | undefined,
  ) {
    super(info, 'text', model, batchSize);
  }

  protected async run(model: HfModel, batch: readonly string[], offset: number): Promise<Float32Array[]> {
    batch.forEach((t, i) => {
      if (typeof t !== 'string') throw new RagarError(`text #${offset + i} is not a string`, 'BAD_INPUT');
    });
    const enc = this.tokenizer([...batch], {
      padding: this.padToMax ? 'max_length' : true,
      truncation: true,
      max_length: this.maxLength,
    });
    const ids = enc.input_ids;
    const mask = enc.attention_mask;
    if (this.eosId !== undefined && ids && mask) {
      // transformers.js truncation cuts the end-of-text token off long texts; CLIP pools on it.
      const [n, len] = ids.dims;
      const eos = BigInt(this.eosId);
      for (let r = 0; r < n; r++) {
        let used = 0;
        for (let c = 0; c < len; c++) used += Number(mask.data[r * len + c]);
        if (used > 0 && ids.data[r * len + used - 1] !== eos) ids.data[r * len + used - 1] = eos;
      }
    }
    const result = await model(enc);
    return rows(result[this.output], this.output, batch.length, this.dimension, this.dir, Object.keys(result));
  }
}

async function loadImageSide(info: ClipFolderInfo, options: ClipOptions): Promise<ClipImageSide> {
  const hf = await transformers();
  const opts = modelOptions(options);
  const batchSize = batchSizeOf(options, 16);
  const cls = info.modelType === 'siglip' ? hf.SiglipVisionModel : hf.CLIPVisionModelWithProjection;
  const [processor, model] = await Promise.all([
    load<HfProcessor>('image processor (preprocessor_config.json)', info.path, () => hf.AutoProcessor.from_pretrained(info.path, { local_files_only: true })),
    load<HfModel>(`vision model (${onnxFile('image', options.quantized ?? false)})`, info.path, () => cls.from_pretrained(info.path, opts)),
  ]);
  const output = info.modelType === 'siglip' ? 'pooler_output' : 'image_embeds';
  return new ClipImageSide(info, model, batchSize, hf, processor, output);
}

async function loadTextSide(info: ClipFolderInfo, options: ClipOptions): Promise<ClipTextSide> {
  const hf = await transformers();
  const opts = modelOptions(options);
  const batchSize = batchSizeOf(options, 64);
  const cls = info.modelType === 'siglip' ? hf.SiglipTextModel : hf.CLIPTextModelWithProjection;
  const [tokenizer, model] = await Promise.all([
    load<HfTokenizer>('tokenizer (tokenizer.json, tokenizer_config.json)', info.path, () =>
      hf.AutoTokenizer.from_pretrained(info.path, { local_files_only: true }),
    ),
    load<HfModel>(`text model (${onnxFile('text', options.quantized ?? false)})`, info.path, () => cls.from_pretrained(info.path, opts)),
  ]);
  const positions = positiveInt(subConfig(info.config, 'text_config').max_position_embeddings);
  const fromTokenizer = positiveInt(tokenizer.model_max_length);
  const maxLength = Math.min(fromTokenizer ?? positions ?? 77, positions ?? Infinity);
  // Only re-insert the end-of-text token where the tokenizer's post-processor appends one.
  const eos = typeof tokenizer.eos_token_id === 'number' ? tokenizer.eos_token_id : undefined;
  const probe = eos === undefined ? [] : tokenizer.encode('a');
  const eosId = eos !== undefined && probe[probe.length - 1] === eos ? eos : undefined;
  const output = info.modelType === 'siglip' ? 'pooler_output' : 'text_embeds';
  return new ClipTextSide(info, model, batchSize, tokenizer, output, maxLength, info.modelType === 'siglip', eosId);
}

/**
 * Load the image side of a CLIP (or SigLIP) from a local folder: `CLIPVisionModelWithProjection`
 * on `onnx/vision_model.onnx` plus the folder's image processor. Needs config.json,
 * preprocessor_config.json and the vision ONNX file only.
 *
 * @example
 * const enc = await createClipImageEncoder({ modelPath: '/models/clip-vit-base-patch32' });
 * const [v] = await enc.encode([await readFile('cat.jpg')]); // Float32Array(512), |v| = 1
 */
export async function createClipImageEncoder(options: ClipOptions): Promise<ClipImageEncoder> {
  const info = await inspectClipFolder(options.modelPath, { quantized: options.quantized, sides: ['image'] });
  return loadImageSide(info, options);
}

/**
 * Load the text side of a CLIP (or SigLIP) from a local folder: `CLIPTextModelWithProjection` on
 * `onnx/text_model.onnx` plus the folder's tokenizer (padding and truncation to
 * `model_max_length`). Needs config.json, tokenizer.json, tokenizer_config.json and the text ONNX
 * file only.
 *
 * @example
 * const enc = await createClipTextEncoder({ modelPath: '/models/clip-vit-base-patch32' });
 * const [v] = await enc.encode(['a photo of a cat']); // Float32Array(512), |v| = 1
 */
export async function createClipTextEncoder(options: ClipOptions): Promise<ClipTextEncoder> {
  const info = await inspectClipFolder(options.modelPath, { quantized: options.quantized, sides: ['text'] });
  return loadTextSide(info, options);
}

/**
 * Load both sides of a CLIP (or SigLIP) from a local folder (see the module comment for the
 * layout). The two encoders share `spaceId`: their vectors live in one space, so an image and a
 * text compare by dot product. Dispose both when done. Nothing is fetched from the network.
 *
 * @example
 * const { image, text } = await createClipEncoders({ modelPath: process.env.RAGAR_CLIP! });
 * const [vi] = await image.encode([png]);
 * const [vt] = await text.encode(['a red apple']);
 * dot(vi, vt); // cosine similarity
 */
export async function createClipEncoders(options: ClipOptions): Promise<ClipEncoders> {
  const info = await inspectClipFolder(options.modelPath, { quantized: options.quantized });
  const [image, text] = await Promise.allSettled([loadImageSide(info, options), loadTextSide(info, options)]);
  if (image.status === 'rejected' || text.status === 'rejected') {
    if (image.status === 'fulfilled') await image.value.dispose();
    if (text.status === 'fulfilled') await text.value.dispose();
    throw image.status === 'rejected' ? image.reason : (text as PromiseRejectedResult).reason;
  }
  return { image: image.value, text: text.value, spaceId: info.spaceId };
}
