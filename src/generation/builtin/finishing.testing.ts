import sharp from 'sharp';

/** The RGB bytes of an image (alpha dropped): for comparing finished outputs byte for byte in tests. */
export async function rgbBytes(png: Buffer): Promise<Buffer> {
  return sharp(png).removeAlpha().raw().toBuffer();
}

/** How many distinct RGB colours an image has (a palette of k colours gives at most k). */
export async function colourCount(png: Buffer): Promise<number> {
  const raw = await rgbBytes(png);
  const seen = new Set<number>();
  for (let i = 0; i < raw.length; i += 3) seen.add((raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2]);
  return seen.size;
}
