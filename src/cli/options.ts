import { InvalidArgumentError } from 'commander';

/** Commander parser for an integer flag with a lower bound. */
export function intOption(min = Number.MIN_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got "${value}"`);
    return n;
  };
}

/** Commander parser for a number in [lo, hi]. */
export function numberOption(lo = -Infinity, hi = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new InvalidArgumentError(`expected a number in [${lo}, ${hi}], got "${value}"`);
    return n;
  };
}

/** Commander parser for a comma-separated list. */
export function listOption(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
