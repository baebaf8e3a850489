/**
 * The noise schedule and sampler of the built-in denoising generator: a cosine schedule
 * (Nichol & Dhariwal 2021) in continuous time t ∈ [0, 1], the network predicting the clean
 * image x̂₀ (x₀-parameterisation), and deterministic DDIM steps (Song et al. 2021, η = 0).
 */

/** ᾱ(t) = cos²(π/2 · (t + s)/(1 + s)) / cos²(π/2 · s/(1 + s)), s = 0.008, clipped away from 0. */
export function alphaBar(t: number): number {
  const s = 0.008;
  const f = (x: number) => Math.cos(((x + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  return Math.min(1, Math.max(1e-4, f(t) / f(0)));
}

/**
 * Noise a clean image: `x_t = √ᾱ·x₀ + √(1−ᾱ)·ε` (in place into `out`).
 *
 * @example
 * noisy(x0, eps, 0.5, out);
 */
export function noisy(x0: Float32Array, eps: Float32Array, t: number, out: Float32Array): Float32Array {
  const a = alphaBar(t);
  const sa = Math.sqrt(a);
  const sb = Math.sqrt(1 - a);
  for (let i = 0; i < x0.length; i++) out[i] = sa * x0[i] + sb * eps[i];
  return out;
}

/** The time points of an `steps`-step sampler, from 1 down to 0 (length steps + 1). */
export function samplingTimes(steps: number): number[] {
  if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  return Array.from({ length: steps + 1 }, (_, i) => 1 - i / steps);
}

/**
 * One DDIM step (η = 0) from time `t` to the earlier time `tNext` given the model's x̂₀:
 * `ε̂ = (x_t − √ᾱ_t·x̂₀)/√(1−ᾱ_t)`, `x_next = √ᾱ_next·x̂₀ + √(1−ᾱ_next)·ε̂` (in place into `xt`).
 */
export function ddimStep(xt: Float32Array, x0: Float32Array, t: number, tNext: number): Float32Array {
  const a = alphaBar(t);
  const an = tNext <= 0 ? 1 : alphaBar(tNext);
  const sa = Math.sqrt(a);
  const sb = Math.sqrt(1 - a);
  for (let i = 0; i < xt.length; i++) {
    const eps = (xt[i] - sa * x0[i]) / sb;
    xt[i] = Math.sqrt(an) * x0[i] + Math.sqrt(1 - an) * eps;
  }
  return xt;
}
