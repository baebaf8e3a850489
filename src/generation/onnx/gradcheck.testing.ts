/**
 * Test helper: compare an {@link OnnxNet}'s parameter gradients with central finite differences
 * of the scalar loss `sum(c ⊙ y)` for a random `c` (accumulated in float64).
 */
import { Rng } from '../../util/rng.js';
import type { ConditionFeeds, OnnxNet } from './net.js';

/** Result of {@link gradCheck}: worst relative error and every checked entry. */
export interface GradCheckResult {
  worst: number;
  checked: { index: number; param: string; analytic: number; numeric: number; error: number }[];
}

/** Random values uniform in [-1, 1). */
export function randomArray(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.next() * 2 - 1;
  return a;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Check `samplesPerParam` random entries of every parameter tensor (all entries of small ones).
 * error = |analytic − numeric| / max(|analytic|, |numeric|, floor), floor = `absFloor`·max|grad|.
 *
 * With `kinks` (for piecewise-linear activations such as LeakyReLU, where the loss is piecewise
 * linear in any one weight and a kink within ±eps of the current value spoils the central
 * difference) the error is the smallest of the central and the two one-sided differences: the
 * analytic gradient must then equal one of the one-sided derivatives.
 */
export async function gradCheck(
  net: OnnxNet,
  x: Float32Array,
  batch: number,
  options: { seed?: number; samplesPerParam?: number; eps?: number; absFloor?: number; kinks?: boolean; conds?: ConditionFeeds } = {},
): Promise<GradCheckResult> {
  const rng = new Rng(options.seed ?? 3);
  const eps = options.eps ?? 1e-2;
  const y0 = await net.forward(x, batch, options.conds);
  const c = randomArray(rng, y0.length);
  const grads = (await net.backward(c)).slice();
  let gmax = 0;
  for (const g of grads) gmax = Math.max(gmax, Math.abs(g));
  const floor = (options.absFloor ?? 1e-3) * gmax;
  const result: GradCheckResult = { worst: 0, checked: [] };
  const base = dot(await net.predict(x, batch, options.conds), c);
  const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), floor, 1e-12);
  for (const p of net.paramShapes) {
    const k = Math.min(p.size, options.samplesPerParam ?? 4);
    const picks = new Set<number>();
    while (picks.size < k) picks.add(p.offset + rng.int(p.size));
    for (const index of picks) {
      const old = net.params[index];
      net.params[index] = old + eps;
      const plus = dot(await net.predict(x, batch, options.conds), c);
      net.params[index] = old - eps;
      const minus = dot(await net.predict(x, batch, options.conds), c);
      net.params[index] = old;
      const numeric = (plus - minus) / (2 * eps);
      const analytic = grads[index];
      let error = rel(analytic, numeric);
      if (options.kinks) error = Math.min(error, rel(analytic, (plus - base) / eps), rel(analytic, (base - minus) / eps));
      result.worst = Math.max(result.worst, error);
      result.checked.push({ index, param: p.name, analytic, numeric, error });
    }
  }
  return result;
}
