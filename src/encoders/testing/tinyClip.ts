/**
 * A tiny random CLIP in the Hugging Face / transformers.js folder layout, for tests: the same files
 * a real export such as `Xenova/clip-vit-base-patch32` has, with two ONNX graphs of a few thousand
 * random weights built here with `onnx-proto`. Test helper only (the `testing/` folder is not built).
 *
 * ```
 * DIR/config.json                 model_type "clip", text_config, vision_config, projection_dim
 * DIR/preprocessor_config.json    CLIPImageProcessor: resize + centre crop to `imageSize`, CLIP mean/std
 * DIR/tokenizer.json              WordPiece over ~100 words + letters, lower-casing, whitespace split
 * DIR/tokenizer_config.json       CLIPTokenizer, <|startoftext|> / <|endoftext|>, model_max_length 77
 * DIR/onnx/vision_model.onnx      pixel_values [b,3,S,S] -> Conv(S/4 stride) -> Tanh -> Flatten -> MatMul -> image_embeds [b,D]
 * DIR/onnx/text_model.onnx        input_ids, attention_mask [b,t] -> Gather -> masked mean -> Tanh -> MatMul -> text_embeds [b,D]
 * ```
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { Rng } from '../../util/rng.js';

const { onnx } = onnxProto;
type INode = import('onnx-proto').onnx.INodeProto;
type ITensor = import('onnx-proto').onnx.ITensorProto;
type IValueInfo = import('onnx-proto').onnx.IValueInfoProto;
type IAttribute = import('onnx-proto').onnx.IAttributeProto;

/** Options of {@link writeTinyClip}. */
export interface TinyClipOptions {
  /** Seed of the random weights (default 1). */
  seed?: number;
  /** Side of the square model input; a multiple of 4 (default 32). */
  imageSize?: number;
  /** Length of the output vectors, `projection_dim` (default 16). */
  embedDim?: number;
  /**
   * `clip` (default) or `siglip`: a SigLIP-shaped folder (model_type "siglip", outputs named
   * `pooler_output`, tokenizer padding to a fixed length) to exercise that route.
   */
  modelType?: 'clip' | 'siglip';
  /** Also write `onnx/*_quantized.onnx` (a copy of the fp32 graph, for the `quantized` option). */
  quantized?: boolean;
}

/** The words of the tiny vocabulary (each also a whole-word token; other words split into letters). */
export const TINY_CLIP_WORDS = (
  'a an the of and with in on at to for is are this that photo picture drawing emoji icon face ' +
  'red green blue yellow orange purple pink black white grey brown ' +
  'big small happy sad smiling grinning crying angry eyes mouth heart hand star sun moon cloud fire water ' +
  'apple banana cherry grape lemon pizza cake coffee tea ' +
  'car racing bus train plane boat bike rocket ' +
  'cat dog fox bear panda rabbit mouse bird fish frog monkey lion tiger unicorn ' +
  'house tree flower ball book phone music game flag clock'
).split(' ');

const BOS = '<|startoftext|>';
const EOS = '<|endoftext|>';
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/** The tokenizer vocabulary: words, then single characters and `##` continuations, then the special tokens. */
function vocabulary(): Map<string, number> {
  const vocab = new Map<string, number>();
  const add = (t: string): void => {
    if (!vocab.has(t)) vocab.set(t, vocab.size);
  };
  for (const w of TINY_CLIP_WORDS) add(w);
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
  for (const c of chars) add(c);
  for (const c of chars) add(`##${c}`);
  for (const c of '.,!?-\'"()'.split('')) add(c);
  add(BOS);
  add(EOS);
  return vocab;
}

function tokenizerJson(vocab: Map<string, number>): unknown {
  const special = (content: string) => ({
    id: vocab.get(content),
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const tok = (id: string) => ({ SpecialToken: { id, type_id: 0 } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(BOS), special(EOS)],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'Whitespace' },
    model: {
      type: 'WordPiece',
      unk_token: EOS,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab),
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [tok(BOS), { Sequence: { id: 'A', type_id: 0 } }, tok(EOS)],
      pair: [tok(BOS), { Sequence: { id: 'A', type_id: 0 } }, tok(EOS), { Sequence: { id: 'B', type_id: 0 } }, tok(EOS)],
      special_tokens: {
        [BOS]: { id: BOS, ids: [vocab.get(BOS)], tokens: [BOS] },
        [EOS]: { id: EOS, ids: [vocab.get(EOS)], tokens: [EOS] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  };
}

// ---------------------------------------------------------------------------------------------
// ONNX building helpers

function floatTensor(name: string, dims: number[], values: Float32Array): ITensor {
  return {
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  };
}

function int64Tensor(name: string, values: number[]): ITensor {
  const data = BigInt64Array.from(values.map(BigInt));
  return {
    name,
    dims: [values.length],
    dataType: onnx.TensorProto.DataType.INT64,
    rawData: new Uint8Array(data.buffer),
  };
}

function randomTensor(rng: Rng, name: string, dims: number[], scale: number): ITensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * scale;
  return floatTensor(name, dims, v);
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): IValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function ints(name: string, values: number[]): IAttribute {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: values };
}

function int(name: string, value: number): IAttribute {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

function node(opType: string, input: string[], output: string[], attribute: IAttribute[] = []): INode {
  return { opType, input, output, name: `${opType}_${output[0]}`, attribute };
}

function encodeModel(name: string, nodes: INode[], initializer: ITensor[], input: IValueInfo[], output: IValueInfo[]): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'ragar-tiny-clip',
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name, node: nodes, initializer, input, output },
  });
  return onnx.ModelProto.encode(model).finish();
}

const FLOAT = 1;
const INT64 = 7;

/** pixel_values [b,3,S,S] → Conv (k = stride = S/4, C channels) → Tanh → Flatten → MatMul → [b,D]. */
function visionModel(rng: Rng, imageSize: number, dim: number, outputName: string): Uint8Array {
  const channels = 8;
  const k = imageSize / 4;
  const features = channels * 16;
  return encodeModel(
    'tiny_clip_vision',
    [
      node('Conv', ['pixel_values', 'conv_w', 'conv_b'], ['conv'], [ints('kernel_shape', [k, k]), ints('strides', [k, k])]),
      node('Tanh', ['conv'], ['act']),
      node('Flatten', ['act'], ['flat'], [int('axis', 1)]),
      node('MatMul', ['flat', 'proj_w'], [outputName]),
    ],
    [
      randomTensor(rng, 'conv_w', [channels, 3, k, k], 1 / Math.sqrt(3 * k * k)),
      randomTensor(rng, 'conv_b', [channels], 0.1),
      randomTensor(rng, 'proj_w', [features, dim], 1 / Math.sqrt(features)),
    ],
    [valueInfo('pixel_values', FLOAT, ['batch_size', 3, imageSize, imageSize])],
    [valueInfo(outputName, FLOAT, ['batch_size', dim])],
  );
}

/** input_ids, attention_mask [b,t] → Gather → mean over unmasked tokens → Tanh → MatMul → [b,D]. */
function textModel(rng: Rng, vocabSize: number, dim: number, outputName: string): Uint8Array {
  const width = 32;
  return encodeModel(
    'tiny_clip_text',
    [
      node('Gather', ['token_embedding', 'input_ids'], ['emb'], [int('axis', 0)]),
      node('Cast', ['attention_mask'], ['mask'], [int('to', FLOAT)]),
      node('Unsqueeze', ['mask', 'axis_2'], ['mask3']),
      node('Mul', ['emb', 'mask3'], ['masked']),
      node('ReduceSum', ['masked', 'axis_1'], ['sum'], [int('keepdims', 0)]),
      node('ReduceSum', ['mask3', 'axis_1'], ['count'], [int('keepdims', 0)]),
      node('Max', ['count', 'one'], ['count1']),
      node('Div', ['sum', 'count1'], ['mean']),
      node('Tanh', ['mean'], ['act']),
      node('MatMul', ['act', 'proj_w'], [outputName]),
    ],
    [
      randomTensor(rng, 'token_embedding', [vocabSize, width], 1),
      randomTensor(rng, 'proj_w', [width, dim], 1 / Math.sqrt(width)),
      int64Tensor('axis_1', [1]),
      int64Tensor('axis_2', [2]),
      floatTensor('one', [1], new Float32Array([1])),
    ],
    [valueInfo('input_ids', INT64, ['batch_size', 'sequence_length']), valueInfo('attention_mask', INT64, ['batch_size', 'sequence_length'])],
    [valueInfo(outputName, FLOAT, ['batch_size', dim])],
  );
}

/**
 * Write a tiny random CLIP (or SigLIP-shaped model) into `dir` in the layout transformers.js
 * loads (see the file comment). Deterministic for a given seed and options.
 *
 * @example
 * const dir = await mkdtemp(path.join(os.tmpdir(), 'clip-'));
 * await writeTinyClip(dir, { seed: 7 });
 * const { image, text } = await createClipEncoders({ modelPath: dir }); // 16-d vectors
 */
export async function writeTinyClip(dir: string, options: TinyClipOptions = {}): Promise<void> {
  const seed = options.seed ?? 1;
  const imageSize = options.imageSize ?? 32;
  const dim = options.embedDim ?? 16;
  const modelType = options.modelType ?? 'clip';
  if (!(imageSize >= 4 && imageSize % 4 === 0)) throw new RangeError(`imageSize must be a positive multiple of 4, got ${imageSize}`);
  const siglip = modelType === 'siglip';
  const vocab = vocabulary();
  const rng = new Rng(seed);

  await mkdir(path.join(dir, 'onnx'), { recursive: true });
  const json = (name: string, value: unknown): Promise<void> =>
    writeFile(path.join(dir, name), JSON.stringify(value, null, 2) + '\n');

  const textConfig = {
    vocab_size: vocab.size,
    hidden_size: siglip ? dim : 32,
    max_position_embeddings: siglip ? 16 : 77,
    bos_token_id: vocab.get(BOS),
    eos_token_id: vocab.get(EOS),
    pad_token_id: vocab.get(EOS),
    model_type: siglip ? 'siglip_text_model' : 'clip_text_model',
  };
  const visionConfig = {
    image_size: imageSize,
    patch_size: imageSize / 4,
    hidden_size: siglip ? dim : 8,
    num_channels: 3,
    model_type: siglip ? 'siglip_vision_model' : 'clip_vision_model',
  };
  await json('config.json', {
    _comment: `tiny random ${modelType} for tests (seed ${seed}); not a trained model`,
    architectures: [siglip ? 'SiglipModel' : 'CLIPModel'],
    model_type: modelType,
    ...(siglip ? {} : { projection_dim: dim, logit_scale_init_value: 2.6592 }),
    text_config: textConfig,
    vision_config: visionConfig,
  });
  await json('preprocessor_config.json', {
    crop_size: { height: imageSize, width: imageSize },
    do_center_crop: !siglip,
    do_convert_rgb: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    feature_extractor_type: siglip ? 'SiglipImageProcessor' : 'CLIPFeatureExtractor',
    image_processor_type: siglip ? 'SiglipImageProcessor' : 'CLIPImageProcessor',
    image_mean: siglip ? [0.5, 0.5, 0.5] : CLIP_MEAN,
    image_std: siglip ? [0.5, 0.5, 0.5] : CLIP_STD,
    resample: 3,
    rescale_factor: 1 / 255,
    size: siglip ? { height: imageSize, width: imageSize } : { shortest_edge: imageSize },
  });
  await json('tokenizer.json', tokenizerJson(vocab));
  await json('tokenizer_config.json', {
    tokenizer_class: 'CLIPTokenizer',
    bos_token: BOS,
    eos_token: EOS,
    pad_token: EOS,
    unk_token: EOS,
    do_lower_case: true,
    clean_up_tokenization_spaces: true,
    model_max_length: textConfig.max_position_embeddings,
  });

  const outputs = siglip ? ['pooler_output', 'pooler_output'] : ['image_embeds', 'text_embeds'];
  const vision = visionModel(rng.fork('vision'), imageSize, dim, outputs[0]);
  const text = textModel(rng.fork('text'), vocab.size, dim, outputs[1]);
  await writeFile(path.join(dir, 'onnx', 'vision_model.onnx'), vision);
  await writeFile(path.join(dir, 'onnx', 'text_model.onnx'), text);
  if (options.quantized) {
    await writeFile(path.join(dir, 'onnx', 'vision_model_quantized.onnx'), vision);
    await writeFile(path.join(dir, 'onnx', 'text_model_quantized.onnx'), text);
  }
}
