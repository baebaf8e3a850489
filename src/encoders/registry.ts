import { RagarError } from '../util/errors.js';
import type { ImageEncoder, TextEncoder } from './types.js';

/** Names of the image encoders `--image-encoder` accepts. */
/**
 * `mobilenet` is MobileNetV2 on onnxruntime (`mobilenetOnnx.ts`); `mobilenet-tfjs` is the same
 * model on tfjs-wasm (`mobilenet.ts`), kept as the reference the onnxruntime graph is tested
 * against. Both give the same features (max |Δ| ≤ 1e-4, tested) under the same model id.
 */
export const IMAGE_ENCODERS = ['mobilenet', 'mobilenet-tfjs', 'clip', 'style-stats'] as const;
/** Names of the text encoders `--text-encoder` accepts. */
export const TEXT_ENCODERS = ['use', 'clip'] as const;

/** Where encoders come from (CLI flags). */
export interface EncoderChoice {
  /** `mobilenet` (default, embedded, onnxruntime), `mobilenet-tfjs`, `style-stats` or `clip` (needs `clipPath`). */
  image?: string;
  /** `use` (default, embedded) or `clip` (needs `clipPath`). */
  text?: string;
  /** Local folder of a CLIP in the Hugging Face layout (the CLI's `--clip DIR` or `RAGAR_CLIP`). */
  clipPath?: string;
  /** Threads of the image encoder (onnxruntime intra-op threads, or tfjs worker threads; default 2: both cores). */
  workers?: number;
}

/** Defaults: the embedded offline encoders. */
export const DEFAULT_ENCODERS = { image: 'mobilenet', text: 'use', style: 'style-stats' } as const;

function needClip(choice: EncoderChoice): string {
  const p = choice.clipPath;
  if (!p) throw new RagarError('the clip encoder needs a local model folder (clipPath; on the command line --clip DIR or RAGAR_CLIP)', 'BAD_INPUT');
  return p;
}

/**
 * Create the image encoder named by `choice.image` (loaded lazily: heavy libraries are imported
 * only when used).
 */
export async function createImageEncoder(choice: EncoderChoice = {}): Promise<ImageEncoder> {
  const name = choice.image ?? DEFAULT_ENCODERS.image;
  if (name === 'mobilenet') {
    const { createMobileNetOnnxEncoder } = await import('./mobilenetOnnx.js');
    return createMobileNetOnnxEncoder({ threads: choice.workers || 2 }); // 0 (tfjs: in-process) → both cores
  }
  if (name === 'mobilenet-tfjs') {
    const { createMobileNetEncoder } = await import('./mobilenet.js');
    return createMobileNetEncoder({ workers: choice.workers });
  }
  if (name === 'style-stats') {
    const { createStyleStatsEncoder } = await import('./styleStats.js');
    return createStyleStatsEncoder();
  }
  if (name === 'clip') {
    const { createClipImageEncoder } = await import('./clip.js');
    return createClipImageEncoder({ modelPath: needClip(choice) });
  }
  throw new RagarError(`unknown image encoder ${JSON.stringify(name)} (known: ${IMAGE_ENCODERS.join(', ')})`, 'BAD_INPUT');
}

/** Create the text encoder named by `choice.text`. */
export async function createTextEncoder(choice: EncoderChoice = {}): Promise<TextEncoder> {
  const name = choice.text ?? DEFAULT_ENCODERS.text;
  if (name === 'use') {
    const { createUseEncoder } = await import('./use.js');
    return createUseEncoder();
  }
  if (name === 'clip') {
    const { createClipTextEncoder } = await import('./clip.js');
    return createClipTextEncoder({ modelPath: needClip(choice) });
  }
  throw new RagarError(`unknown text encoder ${JSON.stringify(name)} (known: ${TEXT_ENCODERS.join(', ')})`, 'BAD_INPUT');
}
