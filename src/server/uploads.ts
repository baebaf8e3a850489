import sharp from 'sharp';
import { HttpProblem } from './problem.js';

/** Limits on uploaded images. */
export interface UploadLimits {
  /** Most bytes of one request body (413 above). */
  maxBytes: number;
  /** Most pixels of one decoded image (413 above: a decompression bomb is refused from its header). */
  maxPixels: number;
}

/** Defaults: 4 MiB, 16 megapixels. */
export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { maxBytes: 4 * 1024 * 1024, maxPixels: 4096 * 4096 };

const FORMATS = new Set(['png', 'jpeg', 'webp']);

/**
 * Decode an uploaded image with sharp (the format from its bytes, never its name or declared
 * type): PNG, JPEG or WebP within the pixel limit, re-encoded as PNG. 415 for anything that is not
 * such an image, 413 over the limits.
 */
export async function decodeUpload(file: unknown, limits: UploadLimits, field = 'image'): Promise<Buffer> {
  if (!(file instanceof File)) throw new HttpProblem(400, `the form field "${field}" must be a file`, 'BAD_INPUT');
  if (file.size > limits.maxBytes) throw new HttpProblem(413, `"${field}" is ${file.size} bytes, over the limit of ${limits.maxBytes}`, 'TOO_LARGE');
  const bytes = Buffer.from(await file.arrayBuffer());
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new HttpProblem(415, `"${field}" is not a PNG, JPEG or WebP image`, 'BAD_IMAGE');
  }
  if (!meta.format || !FORMATS.has(meta.format)) throw new HttpProblem(415, `"${field}" is ${meta.format ?? 'an unknown format'}; PNG, JPEG or WebP only`, 'BAD_IMAGE');
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (!(pixels > 0)) throw new HttpProblem(415, `"${field}" has no pixels`, 'BAD_IMAGE');
  if (pixels > limits.maxPixels) throw new HttpProblem(413, `"${field}" is ${meta.width}×${meta.height} pixels, over the limit of ${limits.maxPixels}`, 'TOO_LARGE');
  try {
    return await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'error' }).png().toBuffer();
  } catch (err) {
    throw new HttpProblem(415, `"${field}" could not be decoded: ${(err as Error).message}`, 'BAD_IMAGE');
  }
}
