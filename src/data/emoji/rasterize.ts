import fs from 'node:fs';
import { renderAsync } from '@resvg/resvg-js';
import { normalizeImage } from '../../store/images.js';
import { RagarError } from '../../util/errors.js';

/**
 * Rasterise one artwork file (SVG through resvg, PNG/WebP through sharp) to a `size`×`size`
 * RGB PNG on a white background. Deterministic for a given file, size and package versions.
 *
 * @example
 * const png = await rasterizeArtwork('/…/openmoji/color/svg/1F600.svg', 64);
 */
export async function rasterizeArtwork(file: string, size: number): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await fs.promises.readFile(file);
  } catch (err) {
    throw new RagarError(`cannot read artwork ${file}: ${(err as Error).message}`, 'NOT_FOUND', { cause: err });
  }
  if (file.endsWith('.svg')) {
    try {
      // Render at 2x then let sharp's Lanczos filter downsample: smoother edges, same for all styles.
      const rendered = await renderAsync(data, {
        fitTo: { mode: 'width', value: size * 2 },
        font: { loadSystemFonts: false },
      });
      data = rendered.asPng();
    } catch (err) {
      throw new RagarError(`${file}: SVG could not be rendered (${(err as Error).message})`, 'BAD_IMAGE', { cause: err });
    }
  }
  return normalizeImage(data, { size }, file);
}

/**
 * Run `fn` over `items` with at most `concurrency` promises in flight, calling `onDone` after each.
 * Results keep the order of `items`.
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
  onDone?: (completed: number) => void,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let completed = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
      completed++;
      onDone?.(completed);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}
