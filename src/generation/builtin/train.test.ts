import { describe, expect, it } from 'vitest';
import { DEFAULT_GENERATOR_TRAIN, trainGenerator } from './train.js';
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
