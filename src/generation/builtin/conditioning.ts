import { symmetricEigen } from '../../evaluation/metrics/eigen.js';
import { RagarError } from '../../util/errors.js';

/**
 * How the user's preference enters the generator: the weighted mean style descriptor of the
 * history (the ranker's standardised style block, see `ContentRanker`) is projected on its top
 * principal components (fitted on the training renditions) and scaled to unit variance per
 * component; each component becomes one constant input plane of the U-Net.
 */
export interface StyleConditioner {
  /** Input length (style descriptor dimension). */
  inputDim: number;
  /** Number of components (= conditioning planes). */
  components: number;
  mean: number[];
  /** components × inputDim, row-major: each row a principal axis divided by its standard deviation. */
  basis: number[];
}

/**
 * Fit the conditioner on style descriptors (rows).
 *
 * @example
 * const cond = fitStyleConditioner(trainRows, 8);
 * const z = conditionVector(cond, preferenceStyleVector); // Float32Array(8)
 */
export function fitStyleConditioner(rows: readonly Float32Array[], components: number): StyleConditioner {
  if (rows.length < 2) throw new RagarError(`the style conditioner needs at least 2 descriptors, got ${rows.length}`, 'BAD_INPUT');
  const d = rows[0].length;
  if (!(Number.isInteger(components) && components >= 1 && components <= d)) throw new RagarError(`components must be 1..${d}, got ${components}`, 'BAD_INPUT');
  const mean = new Float64Array(d);
  for (const r of rows) for (let k = 0; k < d; k++) mean[k] += r[k] / rows.length;
  const cov = new Float64Array(d * d);
  for (const r of rows) {
    for (let a = 0; a < d; a++) {
      const da = r[a] - mean[a];
      for (let b = 0; b <= a; b++) cov[a * d + b] += (da * (r[b] - mean[b])) / (rows.length - 1);
    }
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) cov[b * d + a] = cov[a * d + b];
  const { values, vectors } = symmetricEigen(cov, d, { vectors: true });
  const basis: number[] = [];
  for (let c = 0; c < components; c++) {
    const j = d - 1 - c; // ascending order: largest last
    const sd = Math.sqrt(Math.max(values[j], 1e-12));
    for (let k = 0; k < d; k++) basis.push(vectors![j * d + k] / sd);
  }
  return { inputDim: d, components, mean: [...mean], basis };
}

/** Project a style descriptor on the conditioner's components. */
export function conditionVector(cond: StyleConditioner, style: ArrayLike<number>): Float32Array {
  if (style.length !== cond.inputDim) throw new RagarError(`style vector has ${style.length} values, the generator expects ${cond.inputDim}`, 'BAD_INPUT');
  const out = new Float32Array(cond.components);
  for (let c = 0; c < cond.components; c++) {
    let s = 0;
    for (let k = 0; k < cond.inputDim; k++) s += (style[k] - cond.mean[k]) * cond.basis[c * cond.inputDim + k];
    out[c] = s;
  }
  return out;
}
