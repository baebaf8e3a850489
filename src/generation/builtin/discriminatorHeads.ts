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
 * the next K maps, averaged over patches, are the style logits.
 *
 * @example
 * const heads = new DiscriminatorHeads(true, 5, true); // heads.outputs === 11
 * const logit = heads.patchLogit(raw, 0, 3, 64, condition);
 */
export class DiscriminatorHeads {
  /** Output maps the discriminator must produce. */
  readonly outputs: number;

  constructor(
    readonly projection: boolean,
    readonly classes: number,
    readonly classifier: boolean,
  ) {
    if (classifier && !projection) throw new RagarError('DiscriminatorHeads: the style classifier needs the projection maps', 'BAD_INPUT');
    this.outputs = 1 + (projection ? classes : 0) + (classifier ? classes : 0);
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
   * Cross-entropy of style `y` under the patch-averaged classifier maps of sample `s`; adds
   * `scale · ∂CE / ∂raw` to `d` and returns the cross-entropy.
   */
  styleCrossEntropy(raw: Float32Array, s: number, patches: number, y: number, d: Float32Array, scale: number): number {
    if (!this.classifier) throw new RagarError('DiscriminatorHeads: no style classifier maps', 'BAD_INPUT');
    const K = this.classes;
    const base = s * this.outputs * patches + (1 + K) * patches;
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
