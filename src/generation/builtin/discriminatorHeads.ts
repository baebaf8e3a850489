import { RagarError } from '../../util/errors.js';

/**
 * How the PatchGAN's output maps become losses: the patch logit of a (projection) conditional
 * discriminator and the auxiliary style classifier's cross-entropy (AC-GAN), with their gradients
 * with respect to the raw output maps. The maps of sample `s` are laid out NCHW: map `m`, patch
 * `q` at `raw[(s · outputs + m) · patches + q]`.
 *
 * Maps: 0 the unconditional logit; with projection, 1..K a logit per style, mixed by the
 * condition's style weights (a projection discriminator's inner product of the class embedding
 * with the patch features, the embedding being the last 1×1 conv's weights); with the classifier,
 * the next K maps, averaged over patches, are the style logits; with `fakeClass` one more map is
 * the logit of a (K+1)-th class, "generated" (a K+1-way classifier as in semi-supervised GANs: the
 * discriminator names generated images fake, so the generator cannot satisfy the classifier with
 * images it would never take for a real rendition).
 *
 * @example
 * const heads = new DiscriminatorHeads(true, 5, true, true); // heads.outputs === 12, heads.fakeIndex === 5
 * const logit = heads.patchLogit(raw, 0, 3, 64, condition);
 */
export class DiscriminatorHeads {
  /** Output maps the discriminator must produce. */
  readonly outputs: number;
  /** Classes of the style classifier: the K styles, plus "generated" with `fakeClass`. */
  readonly classifierClasses: number;
  /** Class index of "generated" (K) for {@link styleCrossEntropy}. */
  readonly fakeIndex: number;

  constructor(
    readonly projection: boolean,
    readonly classes: number,
    readonly classifier: boolean,
    readonly fakeClass = false,
  ) {
    if (classifier && !projection) throw new RagarError('DiscriminatorHeads: the style classifier needs the projection maps', 'BAD_INPUT');
    if (fakeClass && !classifier) throw new RagarError('DiscriminatorHeads: the fake class belongs to the style classifier', 'BAD_INPUT');
    this.classifierClasses = classifier ? classes + (fakeClass ? 1 : 0) : 0;
    this.fakeIndex = classes;
    this.outputs = 1 + (projection ? classes : 0) + this.classifierClasses;
  }

  /** Logit of patch `q` of sample `s` under condition `cv` (its first K values are the style weights). */
  patchLogit(raw: Float32Array, s: number, q: number, patches: number, cv: Float32Array): number {
    const base = s * this.outputs * patches + q;
    let v = raw[base];
    if (this.projection) for (let k = 0; k < this.classes; k++) v += cv[k] * raw[base + (1 + k) * patches];
    return v;
  }

  /** Add `g · ∂ patchLogit / ∂ raw` for patch `q` of sample `s` to `d`. */
  spreadPatchGrad(d: Float32Array, s: number, q: number, patches: number, cv: Float32Array, g: number): void {
    const base = s * this.outputs * patches + q;
    d[base] += g;
    if (this.projection) for (let k = 0; k < this.classes; k++) d[base + (1 + k) * patches] += g * cv[k];
  }

  /**
   * Cross-entropy of class `y` (a style, or {@link fakeIndex}) under the patch-averaged classifier
   * maps of sample `s`; adds `scale · ∂CE / ∂raw` to `d` and returns the cross-entropy.
   */
  styleCrossEntropy(raw: Float32Array, s: number, patches: number, y: number, d: Float32Array, scale: number): number {
    if (!this.classifier) throw new RagarError('DiscriminatorHeads: no style classifier maps', 'BAD_INPUT');
    const K = this.classifierClasses;
    if (!(Number.isInteger(y) && y >= 0 && y < K)) throw new RagarError(`DiscriminatorHeads: class ${y} outside 0..${K - 1}`, 'BAD_INPUT');
    const base = s * this.outputs * patches + (1 + this.classes) * patches; // after the unconditional and the K projection maps (the classifier needs them)
    const z = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      let m = 0;
      for (let q = 0; q < patches; q++) m += raw[base + k * patches + q];
      z[k] = m / patches;
    }
    let mx = -Infinity;
    for (const v of z) mx = Math.max(mx, v);
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(z[k] - mx);
    for (let k = 0; k < K; k++) {
      const p = Math.exp(z[k] - mx) / sum;
      const g = ((p - (k === y ? 1 : 0)) * scale) / patches;
      for (let q = 0; q < patches; q++) d[base + k * patches + q] += g;
    }
    return -(z[y] - mx - Math.log(sum));
  }
}
