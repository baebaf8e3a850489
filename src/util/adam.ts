/**
 * The Adam optimiser (Kingma & Ba) over one flat parameter array, for the project's
 * plain-TypeScript models. Entries whose gradient and first moment are both zero are skipped
 * (cheap for sparse updates).
 *
 * @example
 * const opt = new Adam(w.length, 1e-3);
 * opt.step(w, grad);
 */
import { RagarError } from './errors.js';
export class Adam {
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private t = 0;
  constructor(
    size: number,
    private readonly lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }

  /** The optimiser's state, for checkpoints (copies). */
  state(): { t: number; m: Float32Array; v: Float32Array } {
    return { t: this.t, m: this.m.slice(), v: this.v.slice() };
  }

  /** Restore a state taken by {@link Adam.state} (same size). */
  restore(state: { t: number; m: ArrayLike<number>; v: ArrayLike<number> }): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) {
      throw new RagarError(`optimiser state has ${state.m.length} entries, expected ${this.m.length}`, 'BAD_INPUT');
    }
    this.t = state.t;
    this.m.set(state.m);
    this.v.set(state.v);
  }

  /** One update of `w` in place from gradient `g`. */
  step(w: Float32Array, g: Float32Array): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    for (let i = 0; i < w.length; i++) {
      const gi = g[i];
      if (gi === 0 && this.m[i] === 0) continue;
      this.m[i] = this.beta1 * this.m[i] + (1 - this.beta1) * gi;
      this.v[i] = this.beta2 * this.v[i] + (1 - this.beta2) * gi * gi;
      w[i] -= (this.lr * (this.m[i] / c1)) / (Math.sqrt(this.v[i] / c2) + this.eps);
    }
  }
}
