import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { contrastiveLossAndGrad, evaluateJointSpace, initJointSpace, trainJointSpace, type JointPair } from './joint.js';
import { l2normalize } from './types.js';

describe('joint space', () => {
  it('has analytic gradients that match finite differences', () => {
    const rng = new Rng(3);
    const space = initJointSpace(5, 4, 3, rng);
    const b = 4;
    const xi = Float32Array.from({ length: b * 5 }, () => rng.normal());
    const xt = Float32Array.from({ length: b * 4 }, () => rng.normal());
    const { gImage, gText } = contrastiveLossAndGrad(xi, xt, b, space, 0.5);
    const eps = 1e-2;
    for (const [w, g] of [
      [space.wImage, gImage],
      [space.wText, gText],
    ] as const) {
      for (const idx of [0, 3, w.length - 1]) {
        const orig = w[idx];
        w[idx] = orig + eps;
        const up = contrastiveLossAndGrad(xi, xt, b, space, 0.5).loss;
        w[idx] = orig - eps;
        const down = contrastiveLossAndGrad(xi, xt, b, space, 0.5).loss;
        w[idx] = orig;
        expect(g[idx]).toBeCloseTo((up - down) / (2 * eps), 3);
      }
    }
  });

  it('learns to align paired features and beats chance on held-out pairs', () => {
    // Synthetic: image = A·latent + noise, text = B·latent + noise.
    const rng = new Rng(5);
    const latentDim = 6;
    const A = Array.from({ length: 20 * latentDim }, () => rng.normal());
    const B = Array.from({ length: 12 * latentDim }, () => rng.normal());
    const make = (n: number, prefix: string): JointPair[] =>
      Array.from({ length: n }, (_, c) => {
        const z = Array.from({ length: latentDim }, () => rng.normal());
        const mix = (M: number[], dim: number) =>
          l2normalize(Float32Array.from({ length: dim }, (_, i) => z.reduce((s, zv, k) => s + M[i * latentDim + k] * zv, 0) + 0.1 * rng.normal()));
        return { image: mix(A, 20), text: mix(B, 12), textKey: `${prefix}${c}` };
      });
    const train = make(300, 't');
    const held = make(60, 'h');
    const { space, losses } = trainJointSpace(train, { dimension: 8, epochs: 40, batchSize: 64, learningRate: 0.01, temperature: 0.1, seed: 1 });
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    const ev = evaluateJointSpace(space, held);
    expect(ev.candidates).toBe(60);
    expect(ev.recallAt1).toBeGreaterThan(5 * ev.chanceAt1);
  });
});
