/**
 * Segment pooling: a learned, reference-guided way for the generator to draw flat colour fields.
 *
 * The flat styles (Fluent flat, Twemoji) fill large areas with one colour; a network trained with
 * pixel losses draws them as smooth ramps with texture on top (README, Generator: the outputs'
 * flat-area share is 0.03–0.07 where the targets' is 0.43–0.53). Segment pooling gives it the
 * means to draw exact fields where the item's own drawing has them: the reference is cut into its
 * flat segments (4-connected pixels whose colours differ from a neighbour by at most
 * `tolerance`, kept when the segment spans at most `range` per channel and has at least
 * `minSize` pixels), and each output pixel is mixed with its segment's mean output by a gate the
 * network draws itself (one extra output plane, through a stretched, clipped sigmoid):
 *
 *   out = s + g · (mean_segment(s) − s),  g = clip(1.25·σ(gate logit) − 0.125, 0, 1)
 *
 * so the network decides per pixel (and per condition) whether a field is flat or shaded. Pixels
 * outside every kept segment pass through. The pooling is linear in `s` and its own adjoint (a
 * segment mean is a symmetric averaging operator), which {@link segmentPoolBackward} uses.
 */
import { RagarError } from '../../util/errors.js';

/** How the reference is cut into flat segments (model space, values in [−1, 1]). */
export interface SegmentOptions {
  /** Largest per-channel difference between 4-neighbours of one segment. */
  tolerance: number;
  /** Largest per-channel spread (max − min) of a kept segment: a ramp chained by small steps is not flat. */
  range: number;
  /** Fewest pixels of a kept segment. */
  minSize: number;
}

/** Defaults (model space: 0.04 is 0.02 of the 0–1 pixel scale, the style statistics' flat test). */
export const DEFAULT_SEGMENT_OPTIONS: SegmentOptions = { tolerance: 0.04, range: 0.12, minSize: 6 };

/** The kept flat segments of one image: each pixel's segment (−1 = none) and each segment's size. */
export interface FlatSegments {
  label: Int32Array;
  sizes: Float64Array;
}

/**
 * Cut a planar 3×size×size image into its flat segments (union–find over 4-neighbour pairs).
 *
 * @example
 * const seg = flatSegments(reference, 64); // seg.label[p] is p's segment or −1
 */
export function flatSegments(image: Float32Array, size: number, options: SegmentOptions = DEFAULT_SEGMENT_OPTIONS): FlatSegments {
  const P = size * size;
  if (image.length !== 3 * P) throw new RagarError(`flat segments need ${3 * P} values (3×${size}×${size}), got ${image.length}`, 'BAD_INPUT');
  const parent = new Int32Array(P);
  for (let i = 0; i < P; i++) parent[i] = i;
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  const close = (a: number, b: number): boolean => {
    for (let c = 0; c < 3; c++) if (Math.abs(image[c * P + a] - image[c * P + b]) > options.tolerance) return false;
    return true;
  };
  const join = (a: number, b: number) => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[ra] = rb;
  };
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      if (x + 1 < size && close(i, i + 1)) join(i, i + 1);
      if (y + 1 < size && close(i, i + size)) join(i, i + size);
    }
  }
  const count = new Float64Array(P);
  const lo = new Float32Array(3 * P).fill(Infinity);
  const hi = new Float32Array(3 * P).fill(-Infinity);
  const root = new Int32Array(P);
  for (let i = 0; i < P; i++) {
    const r = (root[i] = find(i));
    count[r]++;
    for (let c = 0; c < 3; c++) {
      const v = image[c * P + i];
      if (v < lo[c * P + r]) lo[c * P + r] = v;
      if (v > hi[c * P + r]) hi[c * P + r] = v;
    }
  }
  const index = new Int32Array(P).fill(-1);
  const sizes: number[] = [];
  for (let r = 0; r < P; r++) {
    if (count[r] < options.minSize) continue;
    let flat = true;
    for (let c = 0; c < 3; c++) if (hi[c * P + r] - lo[c * P + r] > options.range) flat = false;
    if (!flat) continue;
    index[r] = sizes.length;
    sizes.push(count[r]);
  }
  const label = new Int32Array(P);
  for (let i = 0; i < P; i++) label[i] = index[root[i]];
  return { label, sizes: Float64Array.from(sizes) };
}

/** Per-segment means of a planar 3×P image (3 × segments values, channel-major). */
function segmentMeans(s: Float32Array, seg: FlatSegments): Float64Array {
  const P = seg.label.length;
  const k = seg.sizes.length;
  const mean = new Float64Array(3 * k);
  for (let i = 0; i < P; i++) {
    const l = seg.label[i];
    if (l < 0) continue;
    for (let c = 0; c < 3; c++) mean[c * k + l] += s[c * P + i];
  }
  for (let c = 0; c < 3; c++) for (let l = 0; l < k; l++) mean[c * k + l] /= seg.sizes[l];
  return mean;
}

/**
 * The gate: a sigmoid stretched by 1.25 and clipped to [0, 1], so that it reaches exactly 0 (logit
 * below −2.2) and exactly 1 (above 2.2). A plain sigmoid only approaches 1, and a field pooled
 * with g = 0.9 keeps a tenth of its texture: not flat.
 */
const GATE_STRETCH = 1.25;
const GATE_SHIFT = (GATE_STRETCH - 1) / 2;

/** The gate's value for a logit (no allocation: called once per pixel on the training path). */
function gateOf(z: number): number {
  return Math.min(1, Math.max(0, GATE_STRETCH / (1 + Math.exp(-z)) - GATE_SHIFT));
}

/** The gate's derivative with respect to its logit (0 where it is clipped). */
function gateSlope(z: number): number {
  const sg = 1 / (1 + Math.exp(-z));
  const g = GATE_STRETCH * sg - GATE_SHIFT;
  return g <= 0 || g >= 1 ? 0 : GATE_STRETCH * sg * (1 - sg);
}

/**
 * Forward pass of segment pooling for one image: `s` (3×P, the un-pooled output) and the gate
 * logits (P values) give `s + σ(logit)·(segment mean of s − s)`.
 *
 * @example
 * const out = segmentPoolForward(s, gateLogits, flatSegments(reference, 64));
 */
export function segmentPoolForward(s: Float32Array, gateLogit: ArrayLike<number>, seg: FlatSegments): Float32Array {
  const P = seg.label.length;
  if (s.length !== 3 * P || gateLogit.length !== P) throw new RagarError(`segment pooling needs 3×${P} values and ${P} gate logits, got ${s.length} and ${gateLogit.length}`, 'BAD_INPUT');
  const k = seg.sizes.length;
  const mean = segmentMeans(s, seg);
  const out = Float32Array.from(s);
  for (let i = 0; i < P; i++) {
    const l = seg.label[i];
    if (l < 0) continue;
    const g = gateOf(gateLogit[i]);
    for (let c = 0; c < 3; c++) out[c * P + i] += g * (mean[c * k + l] - s[c * P + i]);
  }
  return out;
}

/**
 * Backward pass of {@link segmentPoolForward}: the gradients with respect to `s` and to the gate
 * logits, for a gradient `dOut` on its output.
 *
 * @example
 * const { dS, dGate } = segmentPoolBackward(dOut, s, gateLogits, seg);
 */
export function segmentPoolBackward(dOut: ArrayLike<number>, s: Float32Array, gateLogit: ArrayLike<number>, seg: FlatSegments): { dS: Float32Array; dGate: Float32Array } {
  const P = seg.label.length;
  const k = seg.sizes.length;
  const mean = segmentMeans(s, seg);
  const dS = Float32Array.from(dOut);
  const dGate = new Float32Array(P);
  // gradient reaching each segment mean: Σ over its pixels of g·dOut
  const dMean = new Float64Array(3 * k);
  for (let i = 0; i < P; i++) {
    const l = seg.label[i];
    if (l < 0) continue;
    const g = gateOf(gateLogit[i]);
    const slope = gateSlope(gateLogit[i]);
    let dg = 0;
    for (let c = 0; c < 3; c++) {
      const d = dOut[c * P + i];
      dS[c * P + i] -= g * d;
      dMean[c * k + l] += g * d;
      dg += d * (mean[c * k + l] - s[c * P + i]);
    }
    dGate[i] = dg * slope;
  }
  for (let i = 0; i < P; i++) {
    const l = seg.label[i];
    if (l < 0) continue;
    for (let c = 0; c < 3; c++) dS[c * P + i] += dMean[c * k + l] / seg.sizes[l];
  }
  return { dS, dGate };
}
