/**
 * Bootstrap confidence intervals over evaluation tasks.
 *
 * The unit of resampling is the task: an evaluation scores every method on the same tasks, so two
 * methods are compared with a *paired* bootstrap (each resample draws task indices with
 * replacement and uses the same indices for both methods). This removes the task-to-task
 * variation the two methods share, which is usually most of it.
 *
 * Input rules, shared by both functions:
 * - Every value must be a finite number. A `NaN` is an error by default (it usually means a metric
 *   failed on a task, which should be seen, not averaged away); with `skipNaN: true` the tasks
 *   where a value (either value, for pairs) is `NaN` are dropped and `n` reports the tasks kept,
 *   `dropped` the tasks left out. `±Infinity` is always an error.
 * - At least one (kept) task, `resamples` an integer ≥ 100, `level` strictly between 0 and 1.
 *
 * The interval is the percentile interval: the `(1 − level)/2` and `(1 + level)/2` quantiles of the
 * resampled statistic, with linear interpolation between order statistics (R's type 7). The
 * same seed draws the same task indices for any call with the same `n` and `resamples`, so
 * intervals for several metrics of one comparison come from one common set of resamples.
 */
import { RagarError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

/** Options of {@link pairedBootstrap} and {@link bootstrapMean}. */
export interface BootstrapOptions {
  /** Number of bootstrap resamples (integer ≥ 100; default 2000). */
  resamples?: number;
  /** Confidence level of the interval, strictly between 0 and 1 (default 0.95). */
  level?: number;
  /** Seed of the resampling RNG (default 0). Same seed, same input: same result, bit for bit. */
  seed?: number;
  /** Drop tasks whose value (either value, for pairs) is `NaN` instead of throwing (default false). */
  skipNaN?: boolean;
}

/** What every bootstrap result carries: the percentile interval and how it was obtained. */
export interface BootstrapInterval {
  /** Lower end of the percentile interval (of the mean, or of the mean difference). */
  lo: number;
  /** Upper end of the percentile interval. */
  hi: number;
  /** Confidence level of [lo, hi]. */
  level: number;
  /** Number of tasks (task pairs) used. */
  n: number;
  /** Tasks left out because of `NaN` (only non-zero with `skipNaN`). */
  dropped: number;
  /** Number of bootstrap resamples. */
  resamples: number;
}

/** Result of {@link bootstrapMean}. */
export interface MeanInterval extends BootstrapInterval {
  /** Mean of the (kept) values. */
  mean: number;
}

/** Result of {@link pairedBootstrap}. */
export interface PairedInterval extends BootstrapInterval {
  /** Mean of `a` over the (kept) tasks. */
  meanA: number;
  /** Mean of `b` over the (kept) tasks. */
  meanB: number;
  /** `meanA − meanB`. */
  diff: number;
  /**
   * Two-sided bootstrap p-value for "mean difference = 0": with `c` the number of resampled
   * differences on the far side of zero from `diff` (≤ 0 when `diff` > 0, ≥ 0 when `diff` < 0; ties
   * at zero count as far side), `p = min(1, 2 · (c + 1) / (resamples + 1))`. The `+ 1` keeps it
   * from being reported as exactly 0, which a finite bootstrap cannot resolve: the smallest
   * possible value is `2 / (resamples + 1)` (about 0.001 at 2000 resamples). `diff = 0` gives 1.
   */
  pValue: number;
}

interface Resolved {
  resamples: number;
  level: number;
  seed: number;
  skipNaN: boolean;
}

function resolveOptions(options: BootstrapOptions | undefined): Resolved {
  const resamples = options?.resamples ?? 2000;
  const level = options?.level ?? 0.95;
  const seed = options?.seed ?? 0;
  if (!Number.isInteger(resamples) || resamples < 100) {
    throw new RagarError(`bootstrap: resamples must be an integer ≥ 100, got ${resamples}`, 'BAD_INPUT');
  }
  if (!(level > 0 && level < 1)) {
    throw new RagarError(`bootstrap: level must be strictly between 0 and 1, got ${level}`, 'BAD_INPUT');
  }
  if (!Number.isFinite(seed)) throw new RagarError(`bootstrap: seed must be a finite number, got ${seed}`, 'BAD_INPUT');
  return { resamples, level, seed, skipNaN: options?.skipNaN ?? false };
}

function checkValue(name: string, i: number, v: unknown, skipNaN: boolean): boolean {
  if (typeof v !== 'number') throw new RagarError(`bootstrap: ${name}[${i}] is not a number (${String(v)})`, 'BAD_INPUT');
  if (Number.isNaN(v)) {
    if (skipNaN) return false;
    throw new RagarError(`bootstrap: ${name}[${i}] is NaN (pass skipNaN to drop such tasks)`, 'BAD_INPUT');
  }
  if (!Number.isFinite(v)) throw new RagarError(`bootstrap: ${name}[${i}] is ${v}; values must be finite`, 'BAD_INPUT');
  return true;
}

/** Quantile of a sorted array, linear interpolation between order statistics (type 7). */
function quantileSorted(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function mean(x: readonly number[]): number {
  let s = 0;
  for (const v of x) s += v;
  return s / x.length;
}

/** Resampled means of `x` (paired with `y` when given: the same indices for both). */
function resampleMeans(x: readonly number[], y: readonly number[] | null, opts: Resolved): Float64Array {
  const n = x.length;
  const rng = new Rng(opts.seed);
  const out = new Float64Array(opts.resamples);
  for (let r = 0; r < opts.resamples; r++) {
    let sx = 0;
    let sy = 0;
    for (let k = 0; k < n; k++) {
      const i = rng.int(n);
      sx += x[i];
      if (y) sy += y[i];
    }
    out[r] = y ? sx / n - sy / n : sx / n;
  }
  return out.sort();
}

/**
 * Paired bootstrap of the mean difference between two methods scored on the same tasks
 * (`a[i]` and `b[i]` are the two methods' scores on task `i`). See the module comment for the
 * interval and the input rules, and {@link PairedInterval.pValue} for the p-value.
 *
 * @throws RagarError (`BAD_INPUT`) on unequal lengths, no tasks, non-finite values, `level`
 * outside (0, 1) or `resamples` < 100.
 * @example
 * const r = pairedBootstrap(scoresRagar, scoresUniform, { seed: 1 });
 * console.log(`${r.diff.toFixed(3)} [${r.lo.toFixed(3)}, ${r.hi.toFixed(3)}], p = ${r.pValue}`);
 */
export function pairedBootstrap(a: readonly number[], b: readonly number[], options?: BootstrapOptions): PairedInterval {
  const opts = resolveOptions(options);
  if (a.length !== b.length) {
    throw new RagarError(`pairedBootstrap: a and b must have the same length (one value per task), got ${a.length} and ${b.length}`, 'BAD_INPUT');
  }
  const xa: number[] = [];
  const xb: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const okA = checkValue('a', i, a[i], opts.skipNaN);
    const okB = checkValue('b', i, b[i], opts.skipNaN);
    if (okA && okB) {
      xa.push(a[i]);
      xb.push(b[i]);
    }
  }
  if (xa.length === 0) {
    throw new RagarError(a.length === 0 ? 'pairedBootstrap: no tasks (empty input)' : 'pairedBootstrap: every pair has a NaN', 'BAD_INPUT');
  }
  const meanA = mean(xa);
  const meanB = mean(xb);
  const diff = meanA - meanB;
  const diffs = resampleMeans(xa, xb, opts);
  const alpha = (1 - opts.level) / 2;
  let pValue = 1;
  if (diff !== 0) {
    let far = 0;
    for (const d of diffs) if (diff > 0 ? d <= 0 : d >= 0) far++;
    pValue = Math.min(1, (2 * (far + 1)) / (opts.resamples + 1));
  }
  return {
    meanA,
    meanB,
    diff,
    lo: quantileSorted(diffs, alpha),
    hi: quantileSorted(diffs, 1 - alpha),
    level: opts.level,
    n: xa.length,
    dropped: a.length - xa.length,
    resamples: opts.resamples,
    pValue,
  };
}

/**
 * Bootstrap percentile interval of the mean of one method's per-task scores.
 *
 * @throws RagarError (`BAD_INPUT`) on no tasks, non-finite values, `level` outside (0, 1) or
 * `resamples` < 100.
 * @example
 * const { mean, lo, hi } = bootstrapMean([0.61, 0.72, 0.58, 0.66], { resamples: 1000 });
 */
export function bootstrapMean(x: readonly number[], options?: BootstrapOptions): MeanInterval {
  const opts = resolveOptions(options);
  const kept: number[] = [];
  for (let i = 0; i < x.length; i++) if (checkValue('x', i, x[i], opts.skipNaN)) kept.push(x[i]);
  if (kept.length === 0) {
    throw new RagarError(x.length === 0 ? 'bootstrapMean: no tasks (empty input)' : 'bootstrapMean: every value is NaN', 'BAD_INPUT');
  }
  const means = resampleMeans(kept, null, opts);
  const alpha = (1 - opts.level) / 2;
  return {
    mean: mean(kept),
    lo: quantileSorted(means, alpha),
    hi: quantileSorted(means, 1 - alpha),
    level: opts.level,
    n: kept.length,
    dropped: x.length - kept.length,
    resamples: opts.resamples,
  };
}
