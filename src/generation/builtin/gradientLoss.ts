/**
 * The gradient-matching term of generator training: the mean L1 distance between the horizontal and
 * vertical pixel differences of an output and those of its target. Where the target is a flat colour
 * field its differences are zero, and an L1 penalty on the output's differences there pulls them to
 * exactly zero (flat areas, as the flat styles draw), while it asks for the target's edges where the
 * target has them. Pixel L1 alone leaves the outputs textured everywhere (README, Generator: the
 * outputs' flat-area share).
 */

/**
 * Call `pair(i, j)` for every horizontal and vertical neighbour pair of a `size × size` plane that
 * starts at `offset` (`j` the right or lower neighbour of `i`): `2 × size × (size − 1)` pairs.
 */
function forEachNeighbourPair(size: number, offset: number, pair: (i: number, j: number) => void): void {
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = offset + y * size + x;
      if (x + 1 < size) pair(i, i + 1);
      if (y + 1 < size) pair(i, i + size);
    }
  }
}

/**
 * Adds `weight ×` the gradient-matching loss of one image to `dY` (its derivative with respect to
 * each output value, already divided by `batch`) and returns the unweighted loss of that image.
 * Images are planar, `channels × size × size`; the loss is the mean over all `channels × 2 ×
 * size × (size − 1)` neighbour differences.
 *
 * @example
 * const dY = new Float32Array(out.length);
 * const loss = addGradientL1(out, target, 3, 64, dY, 0, 1, 8); // weight 1, batch of 8
 */
export function addGradientL1(
  out: Float32Array,
  target: Float32Array,
  channels: number,
  size: number,
  dY: Float32Array,
  offset: number,
  weight: number,
  batch: number,
): number {
  const count = channels * 2 * size * (size - 1);
  const coef = weight / (count * batch);
  let loss = 0;
  // one neighbour pair (i, j = i + step): its difference's L1 and that term's derivative
  const pair = (i: number, j: number) => {
    const diff = out[j] - out[i] - (target[j] - target[i]);
    loss += Math.abs(diff);
    const s = diff > 0 ? coef : diff < 0 ? -coef : 0;
    dY[offset + j] += s;
    dY[offset + i] -= s;
  };
  for (let c = 0; c < channels; c++) forEachNeighbourPair(size, c * size * size, pair);
  return loss / count;
}

/** Luminance weights (Rec. 601) of the edge-keeping term. */
const LUMA = [0.299, 0.587, 0.114] as const;

/**
 * Adds `weight ×` the edge-keeping loss of one RGB image to `dY` and returns its unweighted loss: for
 * every neighbour pair where the reference's luminance changes by more than `threshold` (an edge of
 * the drawing), how much less the output's luminance changes there, `max(0, |Δref| − |Δout|)`,
 * averaged over all `2 × size × (size − 1)` pairs. One-sided on purpose: it keeps the contours of
 * the reference (the letters, the shapes that make the concept recognisable) without forbidding new
 * edges (outlines, shading) or a change of colour or of the edge's sign.
 *
 * @example
 * const loss = addEdgeKeepL1(out, reference, 64, dY, 0, 1, 8, 0.2);
 */
export function addEdgeKeepL1(out: Float32Array, reference: Float32Array, size: number, dY: Float32Array, offset: number, weight: number, batch: number, threshold: number): number {
  const plane = size * size;
  const count = 2 * size * (size - 1);
  const coef = weight / (count * batch);
  const luma = (x: Float32Array, p: number) => LUMA[0] * x[p] + LUMA[1] * x[plane + p] + LUMA[2] * x[2 * plane + p];
  let loss = 0;
  const pair = (i: number, j: number) => {
    const dr = luma(reference, j) - luma(reference, i);
    if (Math.abs(dr) <= threshold) return;
    const dout = luma(out, j) - luma(out, i);
    const lost = Math.abs(dr) - Math.abs(dout);
    if (lost <= 0) return;
    loss += lost;
    // d lost / d dout = −sign(dout) (the reference's sign where the output is flat)
    const s = -(dout > 0 ? 1 : dout < 0 ? -1 : Math.sign(dr)) * coef;
    for (let c = 0; c < 3; c++) {
      dY[offset + c * plane + j] += s * LUMA[c];
      dY[offset + c * plane + i] -= s * LUMA[c];
    }
  };
  forEachNeighbourPair(size, 0, pair);
  return loss / count;
}

/**
 * Adds `weight ×` the speckle loss of one image to `dY` and returns its unweighted loss: the L1 of
 * the output's neighbour differences (every channel) at the pairs where **neither** the reference
 * nor the target has an edge (every channel of both changes by at most `threshold`), averaged over
 * all `channels × 2 × size × (size − 1)` pairs. It forbids only the edges no drawing asks for — the
 * high-frequency speckle the adversarial terms add inside flat fields — and leaves the reference's
 * contours (the concept) and the target's own edges (outlines, shading) free, unlike
 * {@link addGradientL1}, which with the target forbids the reference's edges and with the
 * reference forbids the target's.
 *
 * @example
 * const loss = addSpeckleL1(out, reference, target, 3, 64, dY, 0, 1, 8, 0.1);
 */
export function addSpeckleL1(
  out: Float32Array,
  reference: Float32Array,
  target: Float32Array,
  channels: number,
  size: number,
  dY: Float32Array,
  offset: number,
  weight: number,
  batch: number,
  threshold: number,
): number {
  const plane = size * size;
  const count = channels * 2 * size * (size - 1);
  const coef = weight / (count * batch);
  let loss = 0;
  const pair = (i: number, j: number) => {
    for (let c = 0; c < channels; c++) {
      const p = c * plane;
      if (Math.abs(reference[p + j] - reference[p + i]) > threshold) return;
      if (Math.abs(target[p + j] - target[p + i]) > threshold) return;
    }
    for (let c = 0; c < channels; c++) {
      const p = c * plane;
      const diff = out[p + j] - out[p + i];
      loss += Math.abs(diff);
      const s = diff > 0 ? coef : diff < 0 ? -coef : 0;
      dY[offset + p + j] += s;
      dY[offset + p + i] -= s;
    }
  };
  forEachNeighbourPair(size, 0, pair);
  return loss / count;
}
