import { RagarError } from '../util/errors.js';

/**
 * The mean of several results of the same shape (one per evaluation seed): every number is
 * replaced by its mean over the results (over the finite ones; NaN when none is finite), every
 * object is averaged key by key (a key missing from some results is averaged over those that have
 * it), and anything else (strings, arrays, null) is taken from the first result.
 *
 * @example
 * meanOverSeeds([{ style: 0.5, byTarget: { a: 1 } }, { style: 0.7, byTarget: { a: 0 } }]);
 * // { style: 0.6, byTarget: { a: 0.5 } }
 */
export function meanOverSeeds<T>(results: readonly T[]): T {
  if (!results.length) throw new RagarError('nothing to average: no results', 'BAD_INPUT');
  return mean(results as readonly unknown[]) as T;
}

function mean(values: readonly unknown[]): unknown {
  const first = values[0];
  if (typeof first === 'number') {
    const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    return finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : NaN;
  }
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    const keys = [...new Set(values.flatMap((v) => (v !== null && typeof v === 'object' ? Object.keys(v) : [])))];
    return Object.fromEntries(
      keys.map((k) => {
        const present = values.filter((v) => v !== null && typeof v === 'object' && k in v).map((v) => (v as Record<string, unknown>)[k]);
        return [k, mean(present)];
      }),
    );
  }
  return first;
}

/**
 * Parse a list of evaluation seeds (`1,2,3` or a range `1-5`, or both: `1-3,7`): distinct
 * non-negative integers in the order given.
 *
 * @example
 * parseSeeds('1-3,7'); // [1, 2, 3, 7]
 */
export function parseSeeds(text: string): number[] {
  const seeds: number[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    const range = part.match(/^(\d+)-(\d+)$/);
    if (range) {
      const [lo, hi] = [Number(range[1]), Number(range[2])];
      if (hi < lo || hi - lo > 999) throw new RagarError(`seed range ${JSON.stringify(part)} must run upwards over at most 1000 seeds`, 'BAD_INPUT');
      for (let s = lo; s <= hi; s++) seeds.push(s);
    } else if (/^\d+$/.test(part)) seeds.push(Number(part));
    else throw new RagarError(`seeds must be non-negative integers or ranges such as 1-5, comma-separated; got ${JSON.stringify(part)}`, 'BAD_INPUT');
  }
  if (new Set(seeds).size !== seeds.length) throw new RagarError(`seeds must be distinct, got ${JSON.stringify(text)}`, 'BAD_INPUT');
  return seeds;
}
