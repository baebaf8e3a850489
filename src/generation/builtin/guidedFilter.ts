import { RagarError } from '../../util/errors.js';

/**
 * The guided filter (He, Sun and Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013) with a
 * colour guide, for the finishing (`./finishing.ts`): the generator's output filtered with the
 * reference image as the guide.
 *
 * In every (2r + 1)² window the output is modelled as an affine function of the guide's three
 * channels, `q = a·I + b`, fitted to the input by ridge regression (`ε` on the diagonal of the
 * guide's window covariance); each pixel takes the mean of the fits of the windows that cover it.
 * So the result keeps the input's colours where the guide is flat and can only have an edge where
 * the guide has one: the speckle and stray edges the network draws inside the reference's flat
 * regions are removed, the reference's contours are kept. `ε` sets how strong a guide edge must be
 * to pass (a guide step of about √ε, on the 0–1 scale); small `ε` follows the guide closely. As in
 * photorealistic style transfer's smoothing step, the content image guides the stylised one.
 *
 * Windows are clipped at the border (means over the pixels inside). Deterministic; hand-written
 * (no library offers it for raw pixels in Node) so that a fitted finishing renders the same way later.
 */

/** Settings of one guided filter. */
export interface GuidedFilterSettings {
  /** Window radius in pixels (the window is (2r + 1)², clipped at the border); an integer from 1 to 16. */
  radius: number;
  /** Regularisation ε on the 0–1 intensity scale (a variance); above 0 and at most 1. */
  epsilon: number;
}

/** Whether `s` is a usable {@link GuidedFilterSettings}. */
export function isGuidedFilterSettings(s: unknown): s is GuidedFilterSettings {
  const v = s as Partial<GuidedFilterSettings> | null;
  return !!v && typeof v === 'object' && Number.isInteger(v.radius) && (v.radius as number) >= 1 && (v.radius as number) <= 16 && typeof v.epsilon === 'number' && v.epsilon > 0 && v.epsilon <= 1;
}

/**
 * Mean over each pixel's (2r + 1)² window, clipped at the border, by summed-area table.
 * `planes` holds `count` planes of `width × height` one after another.
 */
function boxMean(planes: Float64Array, count: number, width: number, height: number, radius: number): Float64Array {
  const out = new Float64Array(planes.length);
  const sat = new Float64Array((width + 1) * (height + 1));
  for (let p = 0; p < count; p++) {
    const base = p * width * height;
    for (let y = 0; y < height; y++) {
      let row = 0;
      for (let x = 0; x < width; x++) {
        row += planes[base + y * width + x];
        sat[(y + 1) * (width + 1) + x + 1] = sat[y * (width + 1) + x + 1] + row;
      }
    }
    for (let y = 0; y < height; y++) {
      const y0 = Math.max(0, y - radius);
      const y1 = Math.min(height, y + radius + 1);
      for (let x = 0; x < width; x++) {
        const x0 = Math.max(0, x - radius);
        const x1 = Math.min(width, x + radius + 1);
        const sum = sat[y1 * (width + 1) + x1] - sat[y0 * (width + 1) + x1] - sat[y1 * (width + 1) + x0] + sat[y0 * (width + 1) + x0];
        out[base + y * width + x] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
  }
  return out;
}

/**
 * Filter packed RGB bytes (`input`, 3 per pixel) with packed RGB bytes of the same size as the
 * guide; returns new packed RGB bytes (rounded, clamped to 0–255).
 *
 * @example
 * const clean = guidedFilter(outputRgb, referenceRgb, 64, 64, { radius: 2, epsilon: 1e-3 });
 */
export function guidedFilter(input: Uint8Array, guide: Uint8Array, width: number, height: number, settings: GuidedFilterSettings): Buffer {
  if (!isGuidedFilterSettings(settings)) throw new RagarError(`a guided filter needs an integer radius from 1 to 16 and epsilon in (0, 1], got ${JSON.stringify(settings)}`, 'BAD_INPUT');
  const n = width * height;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new RagarError(`guided filter: bad size ${width}×${height}`, 'BAD_INPUT');
  if (input.length !== 3 * n) throw new RagarError(`guided filter: the input has ${input.length} bytes, ${width}×${height} RGB needs ${3 * n}`, 'BAD_INPUT');
  if (guide.length !== 3 * n) throw new RagarError(`guided filter: the guide has ${guide.length} bytes, ${width}×${height} RGB needs ${3 * n}`, 'BAD_INPUT');
  const { radius, epsilon } = settings;
  // Planes: guide I0..I2, input p0..p2, products I_i·I_j (6), I_i·p_c (9).
  const raw = new Float64Array(21 * n);
  for (let k = 0; k < n; k++) {
    const I = [guide[3 * k] / 255, guide[3 * k + 1] / 255, guide[3 * k + 2] / 255];
    const p = [input[3 * k] / 255, input[3 * k + 1] / 255, input[3 * k + 2] / 255];
    for (let c = 0; c < 3; c++) {
      raw[c * n + k] = I[c];
      raw[(3 + c) * n + k] = p[c];
    }
    let q = 6;
    for (let i = 0; i < 3; i++) for (let j = i; j < 3; j++) raw[q++ * n + k] = I[i] * I[j];
    for (let i = 0; i < 3; i++) for (let c = 0; c < 3; c++) raw[(12 + i * 3 + c) * n + k] = I[i] * p[c];
  }
  const m = boxMean(raw, 21, width, height, radius);
  // Per window: a (3 guide channels × 3 output channels) and b (3), then averaged over windows.
  const coef = new Float64Array(12 * n);
  const sym = [
    [0, 1, 2],
    [1, 3, 4],
    [2, 4, 5],
  ];
  for (let k = 0; k < n; k++) {
    const mu = [m[k], m[n + k], m[2 * n + k]];
    const mp = [m[3 * n + k], m[4 * n + k], m[5 * n + k]];
    const S = [0, 0, 0, 0, 0, 0];
    for (let s = 0, i = 0; i < 3; i++) for (let j = i; j < 3; j++, s++) S[s] = m[(6 + s) * n + k] - mu[i] * mu[j] + (i === j ? epsilon : 0);
    const e = (i: number, j: number) => S[sym[i][j]];
    // Inverse of the symmetric 3×3 covariance + ε·U (positive definite: ε > 0).
    const c00 = e(1, 1) * e(2, 2) - e(1, 2) * e(1, 2);
    const c01 = e(0, 2) * e(1, 2) - e(0, 1) * e(2, 2);
    const c02 = e(0, 1) * e(1, 2) - e(0, 2) * e(1, 1);
    const c11 = e(0, 0) * e(2, 2) - e(0, 2) * e(0, 2);
    const c12 = e(0, 1) * e(0, 2) - e(0, 0) * e(1, 2);
    const c22 = e(0, 0) * e(1, 1) - e(0, 1) * e(0, 1);
    const det = e(0, 0) * c00 + e(0, 1) * c01 + e(0, 2) * c02;
    const inv = [
      [c00 / det, c01 / det, c02 / det],
      [c01 / det, c11 / det, c12 / det],
      [c02 / det, c12 / det, c22 / det],
    ];
    for (let c = 0; c < 3; c++) {
      const cov = [0, 1, 2].map((i) => m[(12 + i * 3 + c) * n + k] - mu[i] * mp[c]);
      let b = mp[c];
      for (let i = 0; i < 3; i++) {
        const a = inv[i][0] * cov[0] + inv[i][1] * cov[1] + inv[i][2] * cov[2];
        coef[(c * 3 + i) * n + k] = a;
        b -= a * mu[i];
      }
      coef[(9 + c) * n + k] = b;
    }
  }
  const mc = boxMean(coef, 12, width, height, radius);
  const out = Buffer.alloc(3 * n);
  for (let k = 0; k < n; k++) {
    for (let c = 0; c < 3; c++) {
      let q = mc[(9 + c) * n + k];
      for (let i = 0; i < 3; i++) q += mc[(c * 3 + i) * n + k] * raw[i * n + k];
      out[3 * k + c] = Math.min(255, Math.max(0, Math.round(q * 255)));
    }
  }
  return out;
}
