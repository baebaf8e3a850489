import { describe, expect, it } from 'vitest';
import { contractPreference, contractReference, EMPTY_PREFERENCE, runGeneratorContract } from './contract.testing.js';
import { MockGeneratorEngine, mockPreferenceShift } from './mockEngine.js';

runGeneratorContract('mock', { create: async () => new MockGeneratorEngine() });
runGeneratorContract('mock (at most 3 per call, 32 px)', { create: async () => new MockGeneratorEngine({ maxCandidatesPerCall: 3, outputSize: 32 }) });

describe('MockGeneratorEngine', () => {
  it('records its calls, lets a test interrupt one, and shifts only personalised requests', async () => {
    const seen: number[] = [];
    const engine = new MockGeneratorEngine({
      provider: 'builtin',
      onCall: (n) => {
        seen.push(n);
        if (n === 2) throw new Error('stop at the second call');
      },
    });
    const options = { reference: { image: await contractReference(), text: 'x' }, prompt: null, preference: contractPreference(), user: 'u', candidates: 1, seed: 1 };
    await engine.doGenerate(options);
    await expect(engine.doGenerate(options)).rejects.toThrow(/second call/);
    expect(seen).toEqual([1, 2]);
    expect(engine.calls).toHaveLength(2);
    expect(engine.provider).toBe('builtin');
    expect(mockPreferenceShift({ ...options, preference: EMPTY_PREFERENCE })).toBe(0);
    expect(mockPreferenceShift(options)).toBe(mockPreferenceShift({ ...options, seed: 9 }));
  });
});
