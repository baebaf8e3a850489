import { describe, expect, it } from 'vitest';
import { alphaBar, ddimStep, noisy, samplingTimes } from './schedule.js';

describe('noise schedule and DDIM', () => {
  it('goes from clean to (almost) pure noise monotonically', () => {
    expect(alphaBar(0)).toBeCloseTo(1, 6);
    expect(alphaBar(1)).toBeLessThan(1e-3);
    for (let t = 0; t < 1; t += 0.05) expect(alphaBar(t + 0.05)).toBeLessThan(alphaBar(t));
  });

  it('recovers x0 exactly when the model predicts it exactly (DDIM is consistent with noising)', () => {
    const x0 = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i));
    const eps = Float32Array.from({ length: 16 }, (_, i) => Math.cos(3 * i));
    const times = samplingTimes(4);
    expect(times).toEqual([1, 0.75, 0.5, 0.25, 0]);
    const x = noisy(x0, eps, times[0], new Float32Array(16));
    for (let s = 0; s < 4; s++) {
      ddimStep(x, x0, times[s], times[s + 1]);
      // with the true x0 the implied noise stays eps, so x is exactly the noised image at the next time
      if (times[s + 1] > 0) {
        const expected = noisy(x0, eps, times[s + 1], new Float32Array(16));
        for (let i = 0; i < 16; i++) expect(x[i]).toBeCloseTo(expected[i], 4);
      }
    }
    for (let i = 0; i < 16; i++) expect(x[i]).toBeCloseTo(x0[i], 5);
  });
});
