import { describe, expect, it } from 'vitest';
import { DEFAULT_GENERATOR_TRAIN, trainGenerator, trainingOptionsKey } from './train.js';
import type { GeneratorData } from './data.js';

describe('trainGenerator option checks', () => {
  const noData = {} as GeneratorData;
  it('refuses an auxiliary style classifier without the projection discriminator', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, discriminator: 'concat', styleClassifier: 0.05 })).rejects.toThrow(/projection/);
  });
  it('refuses an auxiliary style classifier without a discriminator', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, adversarial: 0, styleClassifier: 0.05 })).rejects.toThrow(/adversarial/);
  });
  it('refuses an unknown discriminator kind', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, discriminator: 'wide' as 'concat' })).rejects.toThrow(/concat or projection/);
  });
  it('refuses a negative gradient-matching weight', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, gradientLoss: -1 })).rejects.toThrow(/gradient-matching/);
  });
  it('refuses fake-class and residual settings that are not booleans', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, fakeClass: 'yes' as unknown as boolean })).rejects.toThrow(/fakeClass/);
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, residual: 1 as unknown as boolean })).rejects.toThrow(/residual/);
  });
});

describe('trainingOptionsKey (what a checkpoint must match to be resumed)', () => {
  it('ignores run-only options and leaves out options added later while they are off', () => {
    const key = trainingOptionsKey(DEFAULT_GENERATOR_TRAIN);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, threads: 1, minutes: 90, steps: 5, checkpointEvery: 7 })).toBe(key);
    // a checkpoint written before --output-blur, --segment-pool and --gradient-loss existed
    const { outputBlur: _b, segmentPool: _p, gradientLoss: _g, minutes: _m, steps: _s, checkpointEvery: _c, threads: _t, ...older } = DEFAULT_GENERATOR_TRAIN;
    expect(key).toBe(JSON.stringify(older, Object.keys(older).sort()));
  });
  it('changes with every option that changes the result, including the later ones when on', () => {
    const key = trainingOptionsKey(DEFAULT_GENERATOR_TRAIN);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, gradientLoss: 1 })).not.toBe(key);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, outputBlur: true })).not.toBe(key);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, segmentPool: true })).not.toBe(key);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, seed: 2 })).not.toBe(key);
  });
});
