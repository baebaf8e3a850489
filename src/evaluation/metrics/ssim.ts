/**
 * SSIM and MS-SSIM between two images (Wang, Bovik, Sheikh & Simoncelli 2004; Wang, Simoncelli &
 * Bovik 2003), for the project's 64×64 RGB images (HWC `Float32Array`, values in [0, 1], see
 * `src/encoders/pixels.ts`) or any other size.
 *
 * Choices, following the reference MATLAB code (`ssim_index.m`, `msssim.m`) where it decides:
 * - Gaussian window 11×11, σ = 1.5, normalised to sum 1 (`fspecial('gaussian', 11, 1.5)`),
 *   applied separably in Float64.
 * - "Valid" convolution: local statistics only where the whole window lies inside the image
 *   (`filter2(w, img, 'valid')`), so a 64×64 image gives a 54×54 SSIM map, and the score is the
 *   mean of that map. No padding, no automatic downsampling (the later `ssim.m` downsamples by
 *   `round(min(H, W) / 256)`, which is 1 for images up to 383 pixels, so it does not apply here).
 * - K1 = 0.01, K2 = 0.03, dynamic range L = 1 (C1 = (K1·L)², C2 = (K2·L)²).
 * - Colour: by default SSIM of the luminance Y = 0.299·R + 0.587·G + 0.114·B (Rec. 601 weights,
 *   full range, no 16–235 offset, as MATLAB `rgb2gray`); `mode: 'rgb'` averages the per-channel
 *   scores instead.
 *
 * MS-SSIM: five scales, weights [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]; between scales a 2×2
 * average pool with stride 2 (an odd last row or column is dropped). The contrast-structure term
 * `cs` is used at every scale but the coarsest, where the full SSIM (with luminance) is used, and
 * negative per-scale values are clamped to 0 before the fractional powers (as `pytorch_msssim`,
 * `piq` and `tf.image.ssim_multiscale` do; the MATLAB code would return a complex number), so
 * MS-SSIM is exactly 0 when any scale is anti-correlated, which happens for unrelated images
 * (about 3 in 10 random pairs of different emoji). A 64×64 image has scales 64, 32, 16, 8
 * and 4 pixels wide: the 11×11 window does not fit the last two. {@link MsSsimOptions.coarseScales}
 * chooses what happens then:
 * - `'clip'` (default): keep all five scales with the standard weights (DESIGN §4); at a scale
 *   smaller than the window, the window is clipped to the image: a `min(11, side)`-tap Gaussian
 *   with the same σ = 1.5, centred on the image and renormalised, so the SSIM map has a single
 *   value (global Gaussian-weighted statistics of the 8×8 or 4×4 image).
 * - `'drop'`: use only the scales where the full 11×11 window fits (64, 32, 16 at 64×64) and
 *   renormalise their weights to sum 1 ([0.0448, 0.2856, 0.3001] / 0.6305), the coarsest kept
 *   scale giving the luminance term.
 * Either way MS-SSIM of identical images is 1.
 */
import { RagarError } from '../../util/errors.js';
import { PIXEL_SIZE } from '../../encoders/pixels.js';

/** Window side of the Gaussian SSIM window (Wang et al. 2004). */
export const SSIM_WINDOW = 11;
/** Standard deviation of the Gaussian SSIM window, in pixels. */
export const SSIM_SIGMA = 1.5;
/** SSIM stabilising constants for dynamic range L = 1. */
export const SSIM_K1 = 0.01;
export const SSIM_K2 = 0.03;
/** MS-SSIM scale weights, finest first (Wang, Simoncelli & Bovik 2003). */
export const MS_SSIM_WEIGHTS: readonly number[] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

/** Layout of the images compared. */
export interface ImageShape {
  /** Pixels per row (default 64). */
  width?: number;
  /** Rows (default 64). */
  height?: number;
  /** Interleaved channels, HWC (default 3; 1 for a grey image). */
  channels?: number;
}

/** Options of {@link ssim}. */
export interface SsimOptions extends ImageShape {
  /**
   * `'luma'` (default): SSIM of the Rec. 601 luminance; `'rgb'`: mean of the per-channel SSIMs.
   * Ignored for one-channel images.
   */
  mode?: 'luma' | 'rgb';
  /** Dynamic range of the pixel values (default 1, for values in [0, 1]). */
  dataRange?: number;
}

/** Options of {@link msSsim}. */
export interface MsSsimOptions extends SsimOptions {
  /** What to do at scales smaller than the 11×11 window (see the module comment; default `'clip'`). */
  coarseScales?: 'clip' | 'drop';
  /** Scale weights, finest first (default {@link MS_SSIM_WEIGHTS}); their count is the number of scales. */
  weights?: readonly number[];
}

/** Mean SSIM and mean contrast-structure term of one pair of planes. */
export interface SsimStats {
  /** Mean of the SSIM map. */
  ssim: number;
  /** Mean of the contrast-structure map `(2σxy + C2) / (σx² + σy² + C2)`. */
  cs: number;
}

/**
 * The 1-d Gaussian taps of the SSIM window: `size` samples of exp(−t²/2σ²) at offsets
 * t = i − (size − 1)/2, normalised to sum 1 (the 2-d window is their outer product).
 *
 * @example
 * gaussianWindow1d(11, 1.5); // Float64Array(11), symmetric, sums to 1
 */
export function gaussianWindow1d(size: number = SSIM_WINDOW, sigma: number = SSIM_SIGMA): Float64Array {
  if (!Number.isInteger(size) || size < 1) throw new RagarError(`window size must be a positive integer, got ${size}`, 'BAD_INPUT');
  if (!(sigma > 0)) throw new RagarError(`window sigma must be positive, got ${sigma}`, 'BAD_INPUT');
  const w = new Float64Array(size);
  const c = (size - 1) / 2;
  let s = 0;
  for (let i = 0; i < size; i++) {
    w[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
    s += w[i];
  }
  for (let i = 0; i < size; i++) w[i] /= s;
  return w;
}

function shapeOf(a: ArrayLike<number>, b: ArrayLike<number>, o: ImageShape): { width: number; height: number; channels: number } {
  const width = o.width ?? PIXEL_SIZE;
  const height = o.height ?? PIXEL_SIZE;
  const channels = o.channels ?? 3;
  for (const [name, v] of [['width', width], ['height', height], ['channels', channels]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RagarError(`image ${name} must be a positive integer, got ${v}`, 'BAD_INPUT');
  }
  const n = width * height * channels;
  if (a.length !== n || b.length !== n) {
    throw new RagarError(`SSIM needs two ${height}×${width}×${channels} images (${n} values), got ${a.length} and ${b.length}`, 'BAD_INPUT');
  }
  return { width, height, channels };
}

/**
 * The planes SSIM is computed on: the Rec. 601 luminance (one plane) or each channel.
 * Non-finite pixel values are rejected.
 */
function planes(img: ArrayLike<number>, width: number, height: number, channels: number, mode: 'luma' | 'rgb'): Float64Array[] {
  const n = width * height;
  for (let i = 0; i < img.length; i++) if (!Number.isFinite(img[i])) throw new RagarError(`SSIM needs finite pixel values, got ${img[i]} at index ${i}`, 'BAD_INPUT');
  if (channels === 1) return [Float64Array.from(img)];
  if (mode === 'luma') {
    if (channels !== 3) throw new RagarError(`luminance SSIM needs 3-channel RGB images, got ${channels} channels; use mode 'rgb'`, 'BAD_INPUT');
    return [toLuma(img, width, height)];
  }
  const out: Float64Array[] = [];
  for (let c = 0; c < channels; c++) {
    const p = new Float64Array(n);
    for (let i = 0; i < n; i++) p[i] = img[i * channels + c];
    out.push(p);
  }
  return out;
}

/**
 * Rec. 601 luminance Y = 0.299·R + 0.587·G + 0.114·B of an HWC RGB image, as a row-major plane.
 *
 * @example
 * toLuma(Float32Array.from([1, 1, 1]), 1, 1); // Float64Array [1]
 */
export function toLuma(rgb: ArrayLike<number>, width: number = PIXEL_SIZE, height: number = PIXEL_SIZE): Float64Array {
  const n = width * height;
  if (rgb.length !== n * 3) throw new RagarError(`toLuma needs ${n * 3} values for ${height}×${width} RGB, got ${rgb.length}`, 'BAD_INPUT');
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
  return y;
}

/** Valid separable filtering of a row-major plane: horizontal taps `wx`, vertical taps `wy`. */
function filterValid(src: Float64Array, width: number, height: number, wx: Float64Array, wy: Float64Array): Float64Array {
  const ow = width - wx.length + 1;
  const oh = height - wy.length + 1;
  const tmp = new Float64Array(height * ow);
  for (let r = 0; r < height; r++) {
    const row = r * width;
    for (let c = 0; c < ow; c++) {
      let s = 0;
      for (let k = 0; k < wx.length; k++) s += wx[k] * src[row + c + k];
      tmp[r * ow + c] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let r = 0; r < oh; r++) {
    for (let k = 0; k < wy.length; k++) {
      const wk = wy[k];
      const row = (r + k) * ow;
      for (let c = 0; c < ow; c++) out[r * ow + c] += wk * tmp[row + c];
    }
  }
  return out;
}

/**
 * Mean SSIM and mean contrast-structure term of two single-channel row-major planes, with the
 * Gaussian window (valid convolution). With `clipWindow` a plane smaller than the window uses a
 * window clipped to the plane's size (see the module comment); without it such a plane is an error.
 *
 * @example
 * // two constant 11×11 planes (one window position): SSIM = (2·0.2·0.6 + C1) / (0.2² + 0.6² + C1)
 * ssimPlanes(new Float64Array(121).fill(0.2), new Float64Array(121).fill(0.6), 11, 11).ssim; // ≈ 0.6001
 */
export function ssimPlanes(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  width: number,
  height: number,
  options: { dataRange?: number; clipWindow?: boolean } = {},
): SsimStats {
  if (x.length !== width * height || y.length !== width * height) {
    throw new RagarError(`ssimPlanes needs two ${height}×${width} planes, got ${x.length} and ${y.length} values`, 'BAD_INPUT');
  }
  if (!options.clipWindow && (width < SSIM_WINDOW || height < SSIM_WINDOW)) {
    throw new RagarError(`SSIM needs images of at least ${SSIM_WINDOW}×${SSIM_WINDOW} pixels for its ${SSIM_WINDOW}×${SSIM_WINDOW} window, got ${height}×${width}`, 'BAD_INPUT');
  }
  const L = options.dataRange ?? 1;
  if (!(L > 0)) throw new RagarError(`dataRange must be positive, got ${L}`, 'BAD_INPUT');
  const c1 = (SSIM_K1 * L) ** 2;
  const c2 = (SSIM_K2 * L) ** 2;
  const wx = gaussianWindow1d(Math.min(SSIM_WINDOW, width));
  const wy = gaussianWindow1d(Math.min(SSIM_WINDOW, height));
  const n = width * height;
  const fx = Float64Array.from(x);
  const fy = Float64Array.from(y);
  const xx = new Float64Array(n);
  const yy = new Float64Array(n);
  const xy = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xx[i] = fx[i] * fx[i];
    yy[i] = fy[i] * fy[i];
    xy[i] = fx[i] * fy[i];
  }
  const mx = filterValid(fx, width, height, wx, wy);
  const my = filterValid(fy, width, height, wx, wy);
  const sxx = filterValid(xx, width, height, wx, wy);
  const syy = filterValid(yy, width, height, wx, wy);
  const sxy = filterValid(xy, width, height, wx, wy);
  let ssimSum = 0;
  let csSum = 0;
  for (let i = 0; i < mx.length; i++) {
    const mx2 = mx[i] * mx[i];
    const my2 = my[i] * my[i];
    const mxy = mx[i] * my[i];
    const vx = sxx[i] - mx2;
    const vy = syy[i] - my2;
    const cov = sxy[i] - mxy;
    const cs = (2 * cov + c2) / (vx + vy + c2);
    csSum += cs;
    ssimSum += ((2 * mxy + c1) / (mx2 + my2 + c1)) * cs;
  }
  return { ssim: ssimSum / mx.length, cs: csSum / mx.length };
}

/**
 * SSIM of two images (default: 64×64 RGB, HWC, values in [0, 1]), in [−1, 1], 1 for identical
 * images. Computed on the Rec. 601 luminance unless `mode: 'rgb'` (mean of per-channel SSIMs).
 * Symmetric in its arguments.
 *
 * @example
 * const a = await decodePixels64(pngA);
 * const b = await decodePixels64(pngB);
 * ssim(a, b);                   // luminance SSIM
 * ssim(a, b, { mode: 'rgb' });  // per-channel mean
 */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, options: SsimOptions = {}): number {
  const { width, height, channels } = shapeOf(a, b, options);
  const mode = options.mode ?? 'luma';
  const pa = planes(a, width, height, channels, mode);
  const pb = planes(b, width, height, channels, mode);
  let s = 0;
  for (let c = 0; c < pa.length; c++) s += ssimPlanes(pa[c], pb[c], width, height, { dataRange: options.dataRange }).ssim;
  return s / pa.length;
}

/** 2×2 average pool with stride 2; an odd last row or column is dropped. */
export function averagePool2(src: ArrayLike<number>, width: number, height: number): { data: Float64Array; width: number; height: number } {
  const w = Math.floor(width / 2);
  const h = Math.floor(height / 2);
  const out = new Float64Array(w * h);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const i = 2 * r * width + 2 * c;
      out[r * w + c] = 0.25 * (src[i] + src[i + 1] + src[i + width] + src[i + width + 1]);
    }
  }
  return { data: out, width: w, height: h };
}

/** MS-SSIM of one pair of planes. */
function msSsimPlanes(x: Float64Array, y: Float64Array, width: number, height: number, weights: readonly number[], coarse: 'clip' | 'drop', dataRange: number | undefined): number {
  let scales = weights.length;
  let w = weights;
  if (coarse === 'clip') {
    // every scale needs at least one pixel
    if (Math.min(width, height) >> (scales - 1) < 1) {
      throw new RagarError(`MS-SSIM with ${scales} scales needs images of at least ${1 << (scales - 1)} pixels a side, got ${height}×${width}`, 'BAD_INPUT');
    }
  } else {
    scales = 0;
    while (scales < weights.length && Math.min(width, height) >> scales >= SSIM_WINDOW) scales++;
    if (scales === 0) {
      throw new RagarError(`MS-SSIM needs images of at least ${SSIM_WINDOW}×${SSIM_WINDOW} pixels, got ${height}×${width}`, 'BAD_INPUT');
    }
    const kept = weights.slice(0, scales);
    const total = kept.reduce((s, v) => s + v, 0);
    w = kept.map((v) => v / total);
  }
  let px: { data: Float64Array; width: number; height: number } = { data: x, width, height };
  let py: { data: Float64Array; width: number; height: number } = { data: y, width, height };
  let result = 1;
  for (let s = 0; s < scales; s++) {
    const st = ssimPlanes(px.data, py.data, px.width, px.height, { dataRange, clipWindow: coarse === 'clip' });
    const v = s === scales - 1 ? st.ssim : st.cs;
    result *= Math.max(0, v) ** w[s];
    if (s < scales - 1) {
      px = averagePool2(px.data, px.width, px.height);
      py = averagePool2(py.data, py.width, py.height);
    }
  }
  return result;
}

/**
 * Multi-scale SSIM of two images (default: 64×64 RGB, HWC, values in [0, 1]), in [0, 1], 1 for
 * identical images: `Π_{s<S} cs_s^{w_s} · ssim_S^{w_S}` over S scales (five by default). How
 * scales smaller than the 11×11 window are handled is set by `coarseScales` (module comment).
 *
 * @example
 * msSsim(a, b);                          // five scales, window clipped at 8×8 and 4×4
 * msSsim(a, b, { coarseScales: 'drop' }); // three scales (64, 32, 16), renormalised weights
 */
export function msSsim(a: ArrayLike<number>, b: ArrayLike<number>, options: MsSsimOptions = {}): number {
  const { width, height, channels } = shapeOf(a, b, options);
  const weights = options.weights ?? MS_SSIM_WEIGHTS;
  if (weights.length === 0 || weights.some((v) => !(v >= 0) || !Number.isFinite(v))) {
    throw new RagarError(`MS-SSIM weights must be a non-empty list of finite non-negative numbers, got [${weights.join(', ')}]`, 'BAD_INPUT');
  }
  const mode = options.mode ?? 'luma';
  const pa = planes(a, width, height, channels, mode);
  const pb = planes(b, width, height, channels, mode);
  let s = 0;
  for (let c = 0; c < pa.length; c++) s += msSsimPlanes(pa[c], pb[c], width, height, weights, options.coarseScales ?? 'clip', options.dataRange);
  return s / pa.length;
}
