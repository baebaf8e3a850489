import sharp from 'sharp';
import { RagarError } from '../util/errors.js';

/** Side of the square pixel grid the project's pixel-space models read (the generator's native size). */
export const PIXEL_SIZE = 64;
/** Values in one decoded image: 64·64·3. */
export const PIXEL_LENGTH = PIXEL_SIZE * PIXEL_SIZE * 3;

/**
 * Decode any image (PNG, JPEG, WebP, SVG… any size or colour mode) to the pixel grid of the project's pixel-space models (image tower, style statistics, generator): fitted
 * into 64×64 (aspect kept, Lanczos), alpha flattened on white, padded with white, sRGB, values in
 * [0, 1], HWC. An unreadable input throws a {@link RagarError} (`BAD_IMAGE`).
 *
 * @example
 * const pixels = await decodePixels64(await rasterizeArtwork(file, 64)); // Float32Array(12288)
 */
export async function decodePixels64(png: Buffer | Uint8Array): Promise<Float32Array> {
  const white = { r: 255, g: 255, b: 255, alpha: 1 };
  let data: Buffer;
  try {
    const out = await sharp(png, { failOn: 'error' })
      .rotate()
      .flatten({ background: white })
      .resize(PIXEL_SIZE, PIXEL_SIZE, { fit: 'contain', background: white, kernel: 'lanczos3' })
      .flatten({ background: white })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (out.info.channels !== 3 || out.data.length !== PIXEL_LENGTH) {
      throw new RagarError(`unexpected decoded layout ${out.info.width}x${out.info.height}x${out.info.channels}`, 'BAD_IMAGE');
    }
    data = out.data;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new RagarError(`not a readable image (${reason})`, 'BAD_IMAGE', { cause: err });
  }
  const pixels = new Float32Array(PIXEL_LENGTH);
  for (let i = 0; i < pixels.length; i++) pixels[i] = data[i] / 255;
  return pixels;
}

