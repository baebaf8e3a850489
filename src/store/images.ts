import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { RagarError } from '../util/errors.js';
import { writeFileAtomicSync } from '../util/persist.js';

/** How an image is normalised before it is stored. */
export interface ImageNormalization {
  /** Output is a `size`×`size` RGB PNG (the image is fitted inside and padded). */
  size: number;
  /** Background used for padding and for flattening transparency, `#rrggbb`. Default white. */
  background?: string;
}

/** A stored image, named by the SHA-256 of its PNG bytes. */
export interface StoredImage {
  hash: string;
  width: number;
  height: number;
  channels: number;
  format: 'png';
  bytes: number;
}

/**
 * Decode any image `sharp` reads (PNG, JPEG, WebP, GIF, AVIF, TIFF; SVG is rasterised by
 * librsvg) and normalise it to a square RGB PNG. Throws a {@link RagarError} naming `label`
 * when the data is not a readable image.
 *
 * @example
 * const png = await normalizeImage(await fs.promises.readFile('poster.jpg'), { size: 64 }, 'poster.jpg');
 */
export async function normalizeImage(
  data: Buffer | Uint8Array,
  norm: ImageNormalization,
  label: string,
): Promise<Buffer> {
  if (!Number.isInteger(norm.size) || norm.size < 8 || norm.size > 4096) {
    throw new RagarError(`image size must be an integer in [8, 4096], got ${norm.size}`, 'BAD_INPUT');
  }
  const background = norm.background ?? '#ffffff';
  try {
    return await sharp(data, { failOn: 'error' })
      .flatten({ background })
      .resize(norm.size, norm.size, { fit: 'contain', background, kernel: 'lanczos3' })
      .removeAlpha()
      .toColourspace('srgb')
      .png({ compressionLevel: 9, adaptiveFiltering: false, palette: false })
      .toBuffer();
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new RagarError(`${label}: not a readable image (${reason})`, 'BAD_IMAGE', { cause: err });
  }
}

/**
 * Content-addressed image files under `<home>/images/ab/<sha256>.png`. Writes are atomic
 * (temp file then rename). Files created since {@link ImageStore.beginTracking} can be removed
 * with {@link ImageStore.rollbackTracked}, so a failed import leaves the folder as it was.
 */
export class ImageStore {
  readonly root: string;
  private tracked: string[] | null = null;

  constructor(root: string) {
    this.root = root;
    fs.mkdirSync(root, { recursive: true });
  }

  /** Path of the file for `hash`. */
  pathOf(hash: string): string {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new RagarError(`not an image hash: ${hash}`, 'BAD_INPUT');
    return path.join(this.root, hash.slice(0, 2), `${hash}.png`);
  }

  /** Store already-normalised PNG bytes; returns the hash. Idempotent. */
  putPng(png: Buffer): string {
    const hash = createHash('sha256').update(png).digest('hex');
    const file = this.pathOf(hash);
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      writeFileAtomicSync(file, png);
      this.tracked?.push(file);
    }
    return hash;
  }

  /** Read the PNG bytes of a stored image. */
  read(hash: string): Buffer {
    const file = this.pathOf(hash);
    try {
      return fs.readFileSync(file);
    } catch {
      throw new RagarError(`image ${hash} is missing from ${this.root}`, 'NOT_FOUND');
    }
  }

  /** Start remembering newly created files. */
  beginTracking(): void {
    this.tracked = [];
  }

  /** Forget the tracked files (they are now committed). */
  commitTracked(): void {
    this.tracked = null;
  }

  /** Delete files created since tracking began. */
  rollbackTracked(): void {
    for (const file of this.tracked ?? []) fs.rmSync(file, { force: true });
    this.tracked = null;
  }
}

/** Read width, height and channels of a PNG produced by {@link normalizeImage}. */
export async function describePng(png: Buffer): Promise<Omit<StoredImage, 'hash'>> {
  const meta = await sharp(png).metadata();
  return {
    width: meta.width ?? 0,
    height: meta.height ?? 0,
    channels: meta.channels ?? 3,
    format: 'png',
    bytes: png.length,
  };
}
