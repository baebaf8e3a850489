import { RagarError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';

/**
 * Colour quantisation by k-means for the finishing (`./finishing.ts`): any palette size, where
 * sharp's PNG palette (libimagequant) rounds the size up to a power of two (2, 4, 16, 256 are the
 * only distinct counts it gives).
 *
 * Deterministic: the distinct colours of the image, weighted by their pixel counts, are seeded by
 * k-means++ from a fixed seed and refined by Lloyd iterations until no colour changes cluster (at
 * most {@link KMEANS_MAX_ITERATIONS}, squared RGB distance); every pixel then takes its cluster's
 * centre, rounded to 8 bits. No dither. Hand-written (about 60 lines) rather than a library so
 * that the result depends on nothing but this file: a finishing fitted once must render the same
 * way later.
 */
export const KMEANS_MAX_ITERATIONS = 50;
const KMEANS_SEED = 0x6b6d;

/**
 * Quantise packed RGB bytes (3 per pixel) to at most `k` colours; returns new bytes.
 *
 * @example
 * const flat = kmeansQuantise(rgb, 5); // ≤ 5 distinct colours, each pixel its cluster's centre
 */
export function kmeansQuantise(rgb: Uint8Array, k: number): Buffer {
  if (!(Number.isInteger(k) && k >= 1)) throw new RagarError(`k-means palette size must be an integer ≥ 1, got ${k}`, 'BAD_INPUT');
  if (rgb.length % 3 !== 0) throw new RagarError(`RGB bytes must come in threes, got ${rgb.length}`, 'BAD_INPUT');
  // Distinct colours and their counts, in order of first appearance (deterministic).
  const index = new Map<number, number>();
  const colours: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < rgb.length; i += 3) {
    const key = (rgb[i] << 16) | (rgb[i + 1] << 8) | rgb[i + 2];
    const at = index.get(key);
    if (at === undefined) {
      index.set(key, colours.length / 3);
      colours.push(rgb[i], rgb[i + 1], rgb[i + 2]);
      counts.push(1);
    } else counts[at]++;
  }
  const n = counts.length;
  if (n <= k) return Buffer.from(rgb);

  const dist2 = (i: number, c: Float64Array, j: number) => (colours[3 * i] - c[3 * j]) ** 2 + (colours[3 * i + 1] - c[3 * j + 1]) ** 2 + (colours[3 * i + 2] - c[3 * j + 2]) ** 2;
  // k-means++ seeding over the weighted distinct colours.
  const rng = new Rng(KMEANS_SEED);
  const centres = new Float64Array(3 * k);
  const nearest = new Float64Array(n).fill(Infinity);
  const seedAt = (j: number, i: number) => {
    for (let c = 0; c < 3; c++) centres[3 * j + c] = colours[3 * i + c];
    for (let m = 0; m < n; m++) nearest[m] = Math.min(nearest[m], dist2(m, centres, j));
  };
  seedAt(0, rng.categorical(counts));
  for (let j = 1; j < k; j++) {
    const weights = counts.map((w, m) => w * nearest[m]);
    seedAt(j, weights.some((w) => w > 0) ? rng.categorical(weights) : 0);
  }

  // Lloyd iterations.
  const assign = new Int32Array(n).fill(-1);
  for (let iter = 0; iter < KMEANS_MAX_ITERATIONS; iter++) {
    let changed = 0;
    for (let m = 0; m < n; m++) {
      let best = 0;
      let bestD = Infinity;
      for (let j = 0; j < k; j++) {
        const d = dist2(m, centres, j);
        if (d < bestD) (bestD = d), (best = j);
      }
      if (assign[m] !== best) (assign[m] = best), changed++;
    }
    if (!changed) break;
    const sum = new Float64Array(3 * k);
    const weight = new Float64Array(k);
    for (let m = 0; m < n; m++) {
      const j = assign[m];
      weight[j] += counts[m];
      for (let c = 0; c < 3; c++) sum[3 * j + c] += counts[m] * colours[3 * m + c];
    }
    for (let j = 0; j < k; j++) if (weight[j] > 0) for (let c = 0; c < 3; c++) centres[3 * j + c] = sum[3 * j + c] / weight[j];
  }

  const palette = Array.from(centres, (v) => Math.min(255, Math.max(0, Math.round(v))));
  const out = Buffer.alloc(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) {
    const j = assign[index.get((rgb[i] << 16) | (rgb[i + 1] << 8) | rgb[i + 2])!];
    out[i] = palette[3 * j];
    out[i + 1] = palette[3 * j + 1];
    out[i + 2] = palette[3 * j + 2];
  }
  return out;
}
