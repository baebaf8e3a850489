/**
 * The encoder interface: a batch of images or texts in, L2-normalised vectors out. `modelId`
 * and `dimension` identify the vector space and key the embedding cache, so vectors of two
 * models are never mixed.
 */

/** An image to encode: encoded bytes (PNG, JPEG, WebP, …) in any size or colour mode. */
export type ImageInput = Buffer | Uint8Array;

/** What an encoder reads. */
export type Modality = 'image' | 'text';

/** Options of one `encode` call. */
export interface EncodeOptions {
  /** Abort the call; pending work is dropped and the promise rejects. */
  signal?: AbortSignal;
  /** Called with the number of inputs finished so far. */
  onProgress?: (done: number) => void;
}

/**
 * An encoder of one modality.
 *
 * @example
 * const enc = await createMobileNetEncoder();
 * const [v] = await enc.encode([pngBytes]); // Float32Array(1280), |v| = 1
 * await enc.dispose();
 */
export interface Encoder<I> {
  /** Stable id of the model and its preprocessing, e.g. `mobilenetv2-nsfwjs-4.3.0/flatten_1`. */
  readonly modelId: string;
  /** Length of every output vector. */
  readonly dimension: number;
  readonly modality: Modality;
  /** Encode a batch; the output has one L2-normalised vector per input, in order. */
  encode(inputs: readonly I[], options?: EncodeOptions): Promise<Float32Array[]>;
  /** Release workers, sessions and memory. Safe to call twice. */
  dispose(): Promise<void>;
}

export type ImageEncoder = Encoder<ImageInput>;
export type TextEncoder = Encoder<string>;

/** Scale `v` to unit length in place (a zero vector stays zero); returns it. */
export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const n = Math.sqrt(s);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

/** Dot product (the cosine for unit vectors). */
export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
