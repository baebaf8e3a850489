/**
 * Symmetric eigendecomposition in Float64: Householder reduction to tridiagonal form followed by
 * the implicit QL algorithm (EISPACK `tred2`/`tql2`, in the form of the public-domain JAMA
 * library). O(n³); the eigenvalues-only path skips the accumulation of the transformations and
 * is about three times faster. Used by the Fréchet distance.
 */
import { RagarError } from '../../util/errors.js';

/** Result of {@link symmetricEigen}. */
export interface SymmetricEigen {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /**
   * Eigenvectors (only when asked for): `vectors[j * n + k]` is component k of the eigenvector of
   * `values[j]`, i.e. each eigenvector is contiguous; they are orthonormal.
   */
  vectors?: Float64Array;
}

/** √(a² + b²) without overflow or destructive underflow. */
function hypot(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  if (x > y) {
    const r = y / x;
    return x * Math.sqrt(1 + r * r);
  }
  if (y === 0) return 0;
  const r = x / y;
  return y * Math.sqrt(1 + r * r);
}

/**
 * Eigenvalues (ascending) and optionally orthonormal eigenvectors of the symmetric n×n matrix
 * `matrix` (row-major, length n²; only symmetry is assumed, the lower triangle is what is read).
 * The input is not modified. Throws a {@link RagarError} (`BAD_INPUT`) for a wrong length or
 * non-finite entries, and (`NUMERIC`) if QL fails to converge.
 *
 * @example
 * const { values, vectors } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2, { vectors: true });
 * // values = [1, 3]; vectors = [±0.707, ∓0.707, ±0.707, ±0.707]
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number, options: { vectors?: boolean } = {}): SymmetricEigen {
  if (!Number.isInteger(n) || n < 0) throw new RagarError(`matrix order must be a non-negative integer, got ${n}`, 'BAD_INPUT');
  if (matrix.length !== n * n) throw new RagarError(`symmetricEigen needs ${n}×${n} = ${n * n} values, got ${matrix.length}`, 'BAD_INPUT');
  const wantVectors = options.vectors === true;
  // Column-major working copy: V(k, j) = v[j * n + k]. For a symmetric matrix the copy is the
  // matrix itself; the inner loops of tred2/tql2 run over k, so they read contiguous memory.
  const v = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) {
      // take the lower triangle (k >= j) and mirror it
      const x = k >= j ? matrix[k * n + j] : matrix[j * n + k];
      if (!Number.isFinite(x)) throw new RagarError(`symmetricEigen needs finite entries, got ${x} at (${k}, ${j})`, 'BAD_INPUT');
      v[j * n + k] = x;
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return wantVectors ? { values: d, vectors: v } : { values: d };
  tred2(v, d, e, n, wantVectors);
  tql2(v, d, e, n, wantVectors);
  // sort ascending (tql2 leaves them nearly sorted but not guaranteed)
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => d[a] - d[b]);
  const values = Float64Array.from(order, (i) => d[i]);
  if (!wantVectors) return { values };
  const vectors = new Float64Array(n * n);
  for (let j = 0; j < n; j++) vectors.set(v.subarray(order[j] * n, order[j] * n + n), j * n);
  return { values, vectors };
}

/** Householder tridiagonalisation (JAMA tred2) on the column-major matrix `v`. */
function tred2(v: Float64Array, d: Float64Array, e: Float64Array, n: number, wantVectors: boolean): void {
  for (let j = 0; j < n; j++) d[j] = v[j * n + (n - 1)];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = v[j * n + (i - 1)];
        v[j * n + i] = 0;
        v[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        v[i * n + j] = f;
        const col = j * n;
        g = e[j] + v[col + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          const vkj = v[col + k];
          g += vkj * d[k];
          e[k] += vkj * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const col = j * n;
        for (let k = j; k <= i - 1; k++) v[col + k] -= f * e[k] + g * d[k];
        d[j] = v[col + (i - 1)];
        v[col + i] = 0;
      }
    }
    d[i] = h;
  }
  if (!wantVectors) {
    // The diagonal of the tridiagonal matrix is what the accumulation below would read out.
    for (let j = 0; j < n; j++) d[j] = v[j * n + j];
    e[0] = 0;
    return;
  }
  // Accumulate transformations.
  for (let i = 0; i < n - 1; i++) {
    v[i * n + (n - 1)] = v[i * n + i];
    v[i * n + i] = 1;
    const h = d[i + 1];
    const next = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[next + k] / h;
      for (let j = 0; j <= i; j++) {
        const col = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[next + k] * v[col + k];
        for (let k = 0; k <= i; k++) v[col + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) v[next + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[j * n + (n - 1)];
    v[j * n + (n - 1)] = 0;
  }
  v[(n - 1) * n + (n - 1)] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal (d, e) (JAMA tql2), rotating the columns of `v` if asked. */
function tql2(v: Float64Array, d: Float64Array, e: Float64Array, n: number, wantVectors: boolean): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 100) throw new RagarError('symmetric eigendecomposition did not converge (100 QL iterations)', 'NUMERIC');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (wantVectors) {
            const a = i * n;
            const b = (i + 1) * n;
            for (let k = 0; k < n; k++) {
              const t = v[b + k];
              v[b + k] = s * v[a + k] + c * t;
              v[a + k] = c * v[a + k] - s * t;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}
