import { describe, expect, it } from 'vitest';
import { RagarError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import { MS_SSIM_WEIGHTS, averagePool2, gaussianWindow1d, msSsim, ssim, ssimPlanes, toLuma } from './ssim.js';

const C1 = 0.01 ** 2;
const C2 = 0.03 ** 2;
const N = 64 * 64 * 3;

/** Luminance term of SSIM for two constant images (σ = 0, so the cs term is 1). */
function constantSsim(a: number, b: number): number {
  return (2 * a * b + C1) / (a * a + b * b + C1);
}

/** A structured 64×64 RGB test image: smooth gradients, a disc and stripes. */
function pattern(): Float32Array {
  const img = new Float32Array(N);
  for (let r = 0; r < 64; r++) {
    for (let c = 0; c < 64; c++) {
      const disc = (r - 30) ** 2 + (c - 34) ** 2 < 15 ** 2 ? 0.5 : 0;
      const stripe = Math.floor(c / 4) % 2 === 0 ? 0.15 : 0;
      const i = 3 * (r * 64 + c);
      img[i] = Math.min(1, 0.2 + r / 160 + disc);
      img[i + 1] = Math.min(1, 0.1 + c / 200 + stripe);
      img[i + 2] = Math.min(1, 0.3 + disc * 0.6 + stripe);
    }
  }
  return img;
}

function addNoise(img: Float32Array, sigma: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return img.map((v) => Math.min(1, Math.max(0, v + sigma * rng.normal())));
}

/**
 * Direct (non-separable) SSIM over all valid window positions with an explicit 2-d window, as an
 * independent reference for the separable implementation.
 */
function bruteSsim(x: ArrayLike<number>, y: ArrayLike<number>, w: number, h: number, win: number): { ssim: number; cs: number } {
  const g = gaussianWindow1d(win);
  let ss = 0;
  let cc = 0;
  let count = 0;
  for (let r0 = 0; r0 + win <= h; r0++) {
    for (let c0 = 0; c0 + win <= w; c0++) {
      let mx = 0;
      let my = 0;
      for (let i = 0; i < win; i++) for (let j = 0; j < win; j++) {
        const k = g[i] * g[j];
        mx += k * x[(r0 + i) * w + c0 + j];
        my += k * y[(r0 + i) * w + c0 + j];
      }
      let vx = 0;
      let vy = 0;
      let cv = 0;
      for (let i = 0; i < win; i++) for (let j = 0; j < win; j++) {
        const k = g[i] * g[j];
        const dx = x[(r0 + i) * w + c0 + j] - mx;
        const dy = y[(r0 + i) * w + c0 + j] - my;
        vx += k * dx * dx;
        vy += k * dy * dy;
        cv += k * dx * dy;
      }
      const cs = (2 * cv + C2) / (vx + vy + C2);
      ss += ((2 * mx * my + C1) / (mx * mx + my * my + C1)) * cs;
      cc += cs;
      count++;
    }
  }
  return { ssim: ss / count, cs: cc / count };
}

describe('gaussianWindow1d', () => {
  it('is the normalised 11-tap Gaussian with sigma 1.5', () => {
    const g = gaussianWindow1d(11, 1.5);
    expect(g.length).toBe(11);
    expect(g.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 14);
    for (let i = 0; i < 5; i++) expect(g[i]).toBeCloseTo(g[10 - i], 15);
    // centre of fspecial('gaussian', 11, 1.5) = 0.070762 (2-d) = 0.26601² (1-d):
    // 1-d sum = 1 + 2·(e^-0.2222 + e^-0.8889 + e^-2 + e^-3.5556 + e^-5.5556) = 3.75924
    expect(g[5]).toBeCloseTo(1 / 3.75924, 5);
    expect(g[5] * g[5]).toBeCloseTo(0.070762, 6);
  });
});

describe('ssim', () => {
  it('is 1 for identical images, in both modes', () => {
    const a = pattern();
    expect(ssim(a, a)).toBeCloseTo(1, 12);
    expect(ssim(a, a, { mode: 'rgb' })).toBeCloseTo(1, 12);
  });

  it('matches the closed form for constant images', () => {
    // σx = σy = σxy = 0: cs = C2 / C2 = 1, SSIM = (2μxμy + C1) / (μx² + μy² + C1)
    const a = new Float32Array(N).fill(0.25);
    const b = new Float32Array(N).fill(0.75);
    // (2·0.25·0.75 + 1e-4) / (0.0625 + 0.5625 + 1e-4) = 0.3751 / 0.6251 = 0.600063989761638
    expect(ssim(a, b)).toBeCloseTo(0.600063989761638, 6);
    expect(ssim(a, b, { mode: 'rgb' })).toBeCloseTo(constantSsim(0.25, 0.75), 6);
    // Float32 0.25 and 0.75 are exact and luma of grey = the grey value
    expect(ssim(a, b)).toBeCloseTo(constantSsim(0.25, 0.75), 10);
  });

  it('computes constant planes of one window position by hand', () => {
    const x = new Float64Array(121).fill(0.2);
    const y = new Float64Array(121).fill(0.6);
    // (0.24 + 1e-4) / (0.4 + 1e-4) = 0.6000999750062485
    const st = ssimPlanes(x, y, 11, 11);
    expect(st.ssim).toBeCloseTo(0.6000999750062485, 10);
    expect(st.cs).toBeCloseTo(1, 10);
  });

  it('gives the closed-form contrast term for a constant versus a zero-mean pattern', () => {
    // x = 0.5 everywhere; y = 0.5 + a·s with s = ±1 in a pattern symmetric about the centre
    // of an 11×11 plane such that the Gaussian-weighted mean of s is 0 (s(i,j) = sign of (i-5)
    // for i ≠ 5, and 0 on the middle row). Then μx = μy = 0.5, σxy = 0,
    // σy² = a²·Σ w(i)w(j) s² = a²·(1 − w(5)), so SSIM = cs = C2 / (a²(1 − w5) + C2).
    const a = 0.1;
    const x = new Float64Array(121).fill(0.5);
    const y = new Float64Array(121);
    for (let i = 0; i < 11; i++) for (let j = 0; j < 11; j++) y[i * 11 + j] = 0.5 + a * Math.sign(i - 5);
    const w5 = gaussianWindow1d()[5];
    const expected = C2 / (a * a * (1 - w5) + C2);
    const st = ssimPlanes(x, y, 11, 11);
    expect(st.ssim).toBeCloseTo(expected, 10);
    expect(st.cs).toBeCloseTo(expected, 10);
  });

  it('agrees with a direct 2-d window computation on random planes', () => {
    const rng = new Rng(3);
    const w = 19;
    const h = 15;
    const x = Float64Array.from({ length: w * h }, () => rng.next());
    const y = x.map((v) => 0.7 * v + 0.2 * rng.next());
    const ref = bruteSsim(x, y, w, h, 11);
    const got = ssimPlanes(x, y, w, h);
    expect(got.ssim).toBeCloseTo(ref.ssim, 12);
    expect(got.cs).toBeCloseTo(ref.cs, 12);
  });

  it('is symmetric', () => {
    const a = pattern();
    const b = addNoise(a, 0.1, 7);
    expect(ssim(a, b)).toBe(ssim(b, a));
    expect(ssim(a, b, { mode: 'rgb' })).toBe(ssim(b, a, { mode: 'rgb' }));
  });

  it('decreases as noise grows', () => {
    const a = pattern();
    const scores = [0.02, 0.05, 0.1, 0.2, 0.4].map((s) => ssim(a, addNoise(a, s, 11)));
    for (let i = 1; i < scores.length; i++) expect(scores[i]).toBeLessThan(scores[i - 1]);
    expect(scores[0]).toBeGreaterThan(0.9);
    expect(scores[4]).toBeLessThan(0.5);
  });

  it('uses luminance by default and the per-channel mean with mode rgb', () => {
    const a = pattern();
    const b = new Float32Array(a);
    // change only the blue channel: luminance sees 11.4 % of it, the per-channel mean a third
    for (let i = 2; i < N; i += 3) b[i] = 1 - a[i];
    const luma = ssim(a, b);
    const rgb = ssim(a, b, { mode: 'rgb' });
    const blue = ssimPlanes(Float64Array.from({ length: 4096 }, (_, i) => a[3 * i + 2]), Float64Array.from({ length: 4096 }, (_, i) => b[3 * i + 2]), 64, 64).ssim;
    expect(rgb).toBeCloseTo((1 + 1 + blue) / 3, 12);
    expect(luma).toBeCloseTo(ssimPlanes(toLuma(a), toLuma(b), 64, 64).ssim, 12);
    expect(luma).not.toBeCloseTo(rgb, 3);
  });

  it('reads one-channel images and other sizes', () => {
    const rng = new Rng(5);
    const x = Float32Array.from({ length: 20 * 12 }, () => rng.next());
    const y = x.map((v) => v * 0.9);
    expect(ssim(x, y, { width: 20, height: 12, channels: 1 })).toBeCloseTo(ssimPlanes(x, y, 20, 12).ssim, 12);
  });

  it('rejects bad input with RagarError BAD_INPUT', () => {
    const a = new Float32Array(N);
    const expectBad = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(RagarError);
        expect((err as RagarError).code).toBe('BAD_INPUT');
        return;
      }
      throw new Error('expected a RagarError');
    };
    expectBad(() => ssim(a, new Float32Array(N - 3)));
    expectBad(() => ssim(new Float32Array(10 * 10), new Float32Array(10 * 10), { width: 10, height: 10, channels: 1 }));
    const nan = new Float32Array(N);
    nan[5] = NaN;
    expectBad(() => ssim(a, nan));
    expectBad(() => ssim(new Float32Array(64 * 64 * 4), new Float32Array(64 * 64 * 4), { channels: 4 }));
    expect(ssim(new Float32Array(64 * 64 * 4), new Float32Array(64 * 64 * 4), { channels: 4, mode: 'rgb' })).toBeCloseTo(1, 12);
  });
});

describe('averagePool2', () => {
  it('averages 2×2 blocks and drops an odd last row and column', () => {
    // 3×3 → 1×1: mean of the top-left block (1 + 2 + 4 + 5) / 4 = 3
    const p = averagePool2([1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 3);
    expect(p.width).toBe(1);
    expect(p.height).toBe(1);
    expect(Array.from(p.data)).toEqual([3]);
  });
});

describe('msSsim', () => {
  it('is 1 for identical images in both coarse-scale policies', () => {
    const a = pattern();
    expect(msSsim(a, a)).toBeCloseTo(1, 12);
    expect(msSsim(a, a, { coarseScales: 'drop' })).toBeCloseTo(1, 12);
    expect(msSsim(a, a, { mode: 'rgb' })).toBeCloseTo(1, 12);
  });

  it('matches the closed form for constant images', () => {
    // cs = 1 at every scale; the coarsest scale contributes lum^w_last, where lum is the
    // constant-image SSIM (pooling keeps the constants).
    const a = new Float32Array(N).fill(0.25);
    const b = new Float32Array(N).fill(0.75);
    const lum = constantSsim(0.25, 0.75);
    // clip: five scales, the 4×4 scale (weight 0.1333) gives the luminance term
    expect(msSsim(a, b)).toBeCloseTo(lum ** 0.1333, 8);
    // drop: scales 64, 32, 16 with weights / 0.6305; the 16×16 scale gives 0.3001 / 0.6305
    expect(msSsim(a, b, { coarseScales: 'drop' })).toBeCloseTo(lum ** (0.3001 / 0.6305), 8);
  });

  it('equals the scale-by-scale product (drop: three renormalised scales; clip: clipped window)', () => {
    const a = pattern();
    const b = addNoise(a, 0.1, 3);
    let x = toLuma(a);
    let y = toLuma(b);
    let size = 64;
    const stats = [];
    for (let s = 0; s < 5; s++) {
      stats.push(ssimPlanes(x, y, size, size, { clipWindow: true }));
      x = averagePool2(x, size, size).data;
      y = averagePool2(y, size, size).data;
      size /= 2;
    }
    const total = 0.0448 + 0.2856 + 0.3001;
    const drop = stats[0].cs ** (0.0448 / total) * stats[1].cs ** (0.2856 / total) * stats[2].ssim ** (0.3001 / total);
    expect(msSsim(a, b, { coarseScales: 'drop' })).toBeCloseTo(drop, 12);
    let clip = 1;
    for (let s = 0; s < 4; s++) clip *= stats[s].cs ** MS_SSIM_WEIGHTS[s];
    clip *= stats[4].ssim ** MS_SSIM_WEIGHTS[4];
    expect(msSsim(a, b)).toBeCloseTo(clip, 12);
  });

  it('uses global Gaussian-weighted statistics with the window clipped to a 4×4 plane', () => {
    const rng = new Rng(9);
    const x = Float64Array.from({ length: 16 }, () => rng.next());
    const y = Float64Array.from({ length: 16 }, () => rng.next());
    // the brute-force reference with a 4-tap window has one position: the whole plane
    const ref = bruteSsim(x, y, 4, 4, 4);
    const got = ssimPlanes(x, y, 4, 4, { clipWindow: true });
    expect(got.ssim).toBeCloseTo(ref.ssim, 12);
    expect(got.cs).toBeCloseTo(ref.cs, 12);
    expect(() => ssimPlanes(x, y, 4, 4)).toThrow(RagarError);
  });

  it('is symmetric and decreases as noise grows', () => {
    const a = pattern();
    const b = addNoise(a, 0.1, 4);
    expect(msSsim(a, b)).toBeCloseTo(msSsim(b, a), 14);
    for (const coarseScales of ['clip', 'drop'] as const) {
      const scores = [0.02, 0.05, 0.1, 0.2, 0.4].map((s) => msSsim(a, addNoise(a, s, 12), { coarseScales }));
      for (let i = 1; i < scores.length; i++) expect(scores[i]).toBeLessThan(scores[i - 1]);
      for (const s of scores) {
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(1);
      }
    }
  });

  it('rejects images too small for the requested scales', () => {
    // five scales need 16 pixels a side (16 → 8 → 4 → 2 → 1)
    const small = new Float32Array(8 * 8);
    expect(() => msSsim(small, small, { width: 8, height: 8, channels: 1 })).toThrow(RagarError);
    // 'drop' needs at least the full window at the finest scale
    expect(() => msSsim(new Float32Array(100), new Float32Array(100), { width: 10, height: 10, channels: 1, weights: [1], coarseScales: 'drop' })).toThrow(RagarError);
    // 'drop' on a 12×12 image keeps the one scale where the window fits: plain SSIM
    const rng = new Rng(2);
    const x = Float32Array.from({ length: 144 }, () => rng.next());
    const y = x.map((v) => v * 0.8 + 0.1);
    expect(msSsim(x, y, { width: 12, height: 12, channels: 1, coarseScales: 'drop' })).toBeCloseTo(ssim(x, y, { width: 12, height: 12, channels: 1 }), 12);
    const sixteen = new Float32Array(16 * 16).fill(0.5);
    expect(msSsim(sixteen, sixteen, { width: 16, height: 16, channels: 1 })).toBeCloseTo(1, 12);
  });
});
