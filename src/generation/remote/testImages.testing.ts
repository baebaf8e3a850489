import { createHash } from 'node:crypto';
import sharp from 'sharp';

/** A solid-colour square PNG (history images in the remote-engine tests). */
export async function solidPng(rgb: [number, number, number], size = 16): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
}

/** The history images of the tests: item id → colour. */
export const TEST_COLOURS: Record<string, [number, number, number]> = {
  a: [40, 80, 240],
  b: [240, 40, 40],
  c: [40, 200, 60],
  d: [250, 250, 20],
  e: [200, 0, 200],
  f: [0, 200, 200],
  g: [90, 90, 90],
};

/** A resolver for `TEST_COLOURS` (null for unknown items). */
export async function testHistoryImage(item: string): Promise<Buffer | null> {
  const c = TEST_COLOURS[item];
  return c ? solidPng(c) : null;
}

/** Mean RGB of an image. */
export async function meanColour(png: Buffer): Promise<[number, number, number]> {
  const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const m = [0, 0, 0];
  for (let i = 0; i < data.length; i++) m[i % 3] += data[i] / (data.length / 3);
  return m as [number, number, number];
}

/** SHA-256 hex of bytes. */
export const sha256 = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex');
