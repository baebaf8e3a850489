import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { runGeneratorContract, contractPreference, contractReference } from '../contract.testing.js';
import { fitStyleConditioner } from './conditioning.js';
import { createBuiltinEngine } from './engine.js';
import { BuiltinGenerator } from './model.js';

/**
 * A tiny built-in generator with random weights (untrained; the FiLM modulations, which start at
 * zero, are perturbed too, so that the condition reaches the output): the real engine code path
 * at a test-friendly size.
 */
function tinyGenerator(objective: 'diffusion' | 'translator' = 'diffusion'): BuiltinGenerator {
  const rng = new Rng(5);
  const gen = createTiny(objective, rng);
  for (let i = 0; i < gen.net.params.length; i++) gen.net.params[i] += 0.05 * rng.normal();
  return gen;
}

function createTiny(objective: 'diffusion' | 'translator', rng: Rng): BuiltinGenerator {
  const rows = Array.from({ length: 20 }, () => Float32Array.from({ length: 48 }, () => rng.normal()));
  return BuiltinGenerator.create({
    objective,
    conditioner: fitStyleConditioner(rows, rows.map((_, i) => (i % 2 ? 'a' : 'b'))),
    steps: 2,
    shuffle: 2,
    residual: false,
    timeFeatures: objective === 'diffusion' ? 4 : 0,
        net: { base: 8, levels: 2, seed: 3, groups: 4, embed: 16 },
  });
}

runGeneratorContract('builtin diffusion (tiny, untrained)', { create: async () => createBuiltinEngine({ generator: tinyGenerator() }), styleDim: 48, rankerDim: 32 });
runGeneratorContract('builtin translator (tiny, untrained)', { create: async () => createBuiltinEngine({ generator: tinyGenerator('translator') }), styleDim: 48, rankerDim: 32 });

describe('built-in engine', () => {
  it('refuses a preference without a style vector and bad options, naming them', async () => {
    const engine = createBuiltinEngine({ generator: tinyGenerator() });
    try {
      const base = { reference: { image: await contractReference(), text: 'x' }, user: 'u', candidates: 1, seed: 1 };
      await expect(engine.generate({ ...base, preference: contractPreference(null, null) })).rejects.toThrow(/style vector/);
      await expect(engine.generate({ ...base, preference: contractPreference(47, null) })).rejects.toThrow(/47 values/);
      await expect(engine.generate({ ...base, preference: contractPreference(48, null), engineOptions: { builtin: { steps: 0 } } })).rejects.toThrow(/builtin.steps/);
      const warned = await engine.generate({ ...base, preference: contractPreference(48, null), engineOptions: { builtin: { guidance: 1 } } });
      expect(warned.warnings.join(' ')).toMatch(/guidance needs/);
    } finally {
      await engine.dispose();
    }
  });

  it('saves and loads a generator that samples the same images', async () => {
    const os = await import('node:os');
    const fs = await import('node:fs');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-gen-'));
    try {
      const gen = tinyGenerator('translator');
      await gen.save(dir, { training: null });
      const loaded = (await BuiltinGenerator.load(dir)).generator;
      const cond = { reference: new Float32Array(3 * 64 * 64).fill(0.5), style: new Float32Array(2).fill(0.1) };
      const [a] = await gen.sample([cond], [1]);
      const [b] = await loaded.sample([cond], [1]);
      expect([...b.subarray(0, 50)]).toEqual([...a.subarray(0, 50)]);
      fs.writeFileSync(path.join(dir, 'generator.json'), JSON.stringify({ format: 'ragar-generator-v0' }));
      await expect(BuiltinGenerator.load(dir)).rejects.toThrow(/another version/);
      await expect(BuiltinGenerator.load(path.join(dir, 'missing'))).rejects.toThrow(/ragar train generator/);
      await gen.dispose();
      await loaded.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
