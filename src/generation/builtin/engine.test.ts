import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { runGeneratorContract, contractPreference, contractReference } from '../contract.testing.js';
import type { GeneratorPreferenceV1 } from '../types.js';
import { fitStyleConditioner } from './conditioning.js';
import { decodePixels64 } from '../../encoders/pixels.js';
import { toModelSpace } from './data.js';
import { createBuiltinEngine, DEFAULT_CFG_SCALE, modelSpaceToPng } from './engine.js';
import { applyFinishing, finishingGuidances, finishPng, FINISHING_FORMAT, saveFinishing } from './finishing.js';
import { colourCount, rgbBytes } from './finishing.testing.js';
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

/** The built-in engine's own options for a preference: a `dim`-long style descriptor per history item. */
function builtinOptions(preference: GeneratorPreferenceV1, dim = 48) {
  const itemStyles = Object.fromEntries(preference.history.map((h, j) => [h.item, Float32Array.from({ length: dim }, (_, i) => Math.sin(i + 3 * j))]));
  return { builtin: { itemStyles, rankerDirection: { v: Float32Array.from({ length: 32 }, (_, i) => Math.cos(i)), constant: 0 } } };
}

runGeneratorContract('builtin diffusion (tiny, untrained)', { create: async () => createBuiltinEngine({ generator: tinyGenerator() }), providerOptions: (p) => builtinOptions(p) });
runGeneratorContract('builtin translator (tiny, untrained)', { create: async () => createBuiltinEngine({ generator: tinyGenerator('translator') }), providerOptions: (p) => builtinOptions(p) });
runGeneratorContract('builtin translator with a fitted finishing (tiny, untrained)', {
  create: async () => createBuiltinEngine({ generator: withFinishing(tinyGenerator('translator')) }),
  providerOptions: (p) => builtinOptions(p),
});

runGeneratorContract('builtin translator with a finishing that draws a style at its own guidance (tiny, untrained)', {
  create: async () => createBuiltinEngine({ generator: withFinishing(tinyGenerator('translator'), 0.5) }),
  providerOptions: (p) => builtinOptions(p),
});

runGeneratorContract('builtin translator with a finishing guided by the reference (tiny, untrained)', {
  create: async () => createBuiltinEngine({ generator: withGuidedFinishing(tinyGenerator('translator')) }),
  providerOptions: (p) => builtinOptions(p),
});

/** The tiny generator with a finishing whose style a is guided by the reference (then 6 colours) and b drawn as is. */
function withGuidedFinishing(gen: BuiltinGenerator): BuiltinGenerator {
  gen.finishing = { format: FINISHING_FORMAT, classes: gen.config.conditioner.classes, options: [{ median: 1, colours: 6, quantiser: 'kmeans', guided: { radius: 2, epsilon: 1e-3 } }, { median: 1, colours: 0 }] };
  return gen;
}

/**
 * The tiny generator with a finishing: style a snapped to 4 colours, style b through a 3×3 median
 * (drawn at `guidanceB` times the guidance scale when given).
 */
function withFinishing(gen: BuiltinGenerator, guidanceB?: number): BuiltinGenerator {
  gen.finishing = { format: FINISHING_FORMAT, classes: gen.config.conditioner.classes, options: [{ median: 1, colours: 4 }, { median: 3, colours: 0, ...(guidanceB ? { guidance: guidanceB } : {}) }] };
  return gen;
}

describe('built-in engine', () => {
  it('refuses a personalised request without style descriptors and bad options, naming them', async () => {
    const engine = createBuiltinEngine({ generator: tinyGenerator() });
    try {
      const preference = contractPreference();
      const base = { reference: { image: await contractReference(), text: 'x' }, prompt: null, preference, user: 'u', candidates: 1, seed: 1 };
      await expect(engine.doGenerate(base)).rejects.toThrow(/builtin.itemStyles/);
      await expect(engine.doGenerate({ ...base, providerOptions: builtinOptions(preference, 47) })).rejects.toThrow(/47 values/);
      await expect(engine.doGenerate({ ...base, providerOptions: { builtin: { ...builtinOptions(preference).builtin, steps: 0 } } })).rejects.toThrow(/builtin.steps/);
      await expect(engine.doGenerate({ ...base, providerOptions: { builtin: { ...builtinOptions(preference).builtin, sharpen: -1 } } })).rejects.toThrow(/builtin.sharpen/);
      const warned = await engine.doGenerate({ ...base, providerOptions: { builtin: { ...builtinOptions(preference).builtin, guidance: 1 } } });
      expect(warned.warnings).toEqual([{ type: 'other', message: expect.stringMatching(/guidance needs/) }]);
      // The mean descriptor stands in when an item lacks its own.
      const fallback = await engine.doGenerate({ ...base, providerOptions: { builtin: { styleVector: new Float32Array(48).fill(0.1) } } });
      expect(fallback.candidates).toHaveLength(1);
    } finally {
      await engine.dispose();
    }
  });

  it('sharpens the outputs only when asked, keeping their size', async () => {
    const engine = createBuiltinEngine({ generator: tinyGenerator('translator') });
    try {
      const preference = contractPreference();
      const base = { reference: { image: await contractReference(), text: 'x' }, prompt: null, preference, user: 'u', candidates: 1, seed: 1 };
      const plain = await engine.doGenerate({ ...base, providerOptions: { builtin: { ...builtinOptions(preference).builtin, sharpen: 0 } } });
      const again = await engine.doGenerate({ ...base, providerOptions: { builtin: { ...builtinOptions(preference).builtin, sharpen: 0 } } });
      const sharpened = await engine.doGenerate({ ...base, providerOptions: { builtin: { ...builtinOptions(preference).builtin, sharpen: 1 } } });
      const sharp = (await import('sharp')).default;
      const raw = async (png: Buffer) => sharp(png).raw().toBuffer({ resolveWithObject: true });
      const [a, b, c] = await Promise.all([raw(plain.candidates[0].png), raw(again.candidates[0].png), raw(sharpened.candidates[0].png)]);
      expect(a.info.width).toBe(64);
      expect(c.info.width).toBe(64);
      expect(a.data.equals(b.data)).toBe(true);
      expect(a.data.equals(c.data)).toBe(false);
    } finally {
      await engine.dispose();
    }
  });

  it("applies the generator's finishing by the condition, and not when told not to", async () => {
    const engine = createBuiltinEngine({ generator: withFinishing(tinyGenerator('translator')) });
    try {
      const preference = contractPreference();
      const base = { reference: { image: await contractReference(), text: 'x' }, prompt: null, preference, user: 'u', candidates: 1, seed: 1 };
      const finished = await engine.doGenerate({ ...base, providerOptions: { builtin: { ...builtinOptions(preference).builtin, oracleStyle: 'a' } } });
      const drawn = await engine.doGenerate({ ...base, providerOptions: { builtin: { ...builtinOptions(preference).builtin, oracleStyle: 'a', finishing: false } } });
      expect(await colourCount(finished.candidates[0].png)).toBeLessThanOrEqual(4);
      expect(await colourCount(drawn.candidates[0].png)).toBeGreaterThan(4);
    } finally {
      await engine.dispose();
    }
  });

  it("draws at the guidance scale its finishing was fitted at unless told another, and at the engine's without a finishing", async () => {
    const gen = withFinishing(tinyGenerator('translator'));
    const engine = createBuiltinEngine({ generator: gen });
    try {
      const preference = contractPreference();
      const base = { reference: { image: await contractReference(), text: 'x' }, prompt: null, preference, user: 'u', candidates: 1, seed: 1 };
      const bytes = async (extra: Record<string, unknown>) => rgbBytes((await engine.doGenerate({ ...base, providerOptions: { builtin: { ...builtinOptions(preference).builtin, oracleStyle: 'a', cfgJitter: 0, ...extra } } })).candidates[0].png);
      const atDefault = await bytes({});
      expect(Buffer.compare(atDefault, await bytes({ cfgScale: DEFAULT_CFG_SCALE }))).toBe(0);
      gen.finishing = { ...gen.finishing!, cfgScale: 3.5 };
      const atFitted = await bytes({});
      expect(Buffer.compare(atFitted, await bytes({ cfgScale: 3.5 }))).toBe(0);
      expect(Buffer.compare(atFitted, atDefault)).not.toBe(0);
      // An explicit scale wins; without the finishing, the engine's default.
      expect(Buffer.compare(await bytes({ cfgScale: DEFAULT_CFG_SCALE }), atDefault)).toBe(0);
      expect(Buffer.compare(await bytes({ finishing: false }), await bytes({ finishing: false, cfgScale: DEFAULT_CFG_SCALE }))).toBe(0);
      expect(Buffer.compare(await bytes({ finishing: false }), await bytes({ finishing: false, cfgScale: 3.5 }))).not.toBe(0);
    } finally {
      await engine.dispose();
    }
  });

  it('finishes with the reference as the guide when the finishing asks for it, for a confident and a mixed condition', async () => {
    const gen = withGuidedFinishing(tinyGenerator('translator'));
    const engine = createBuiltinEngine({ generator: gen });
    try {
      const preference = contractPreference();
      const image = await contractReference();
      const base = { reference: { image, text: 'x' }, prompt: null, preference, user: 'u', candidates: 1, seed: 1 };
      const options = (extra: Record<string, unknown>) => ({ builtin: { ...builtinOptions(preference).builtin, cfgJitter: 0, ...extra } });
      // The guide is the reference as the network read it (64×64).
      const guide = await modelSpaceToPng(toModelSpace(await decodePixels64(image)));
      for (const extra of [{ oracleStyle: 'a' }, {}]) {
        const finished = (await engine.doGenerate({ ...base, providerOptions: options(extra) })).candidates[0].png;
        const drawn = (await engine.doGenerate({ ...base, providerOptions: options({ ...extra, finishing: false }) })).candidates[0].png;
        const style = extra.oracleStyle ? gen.conditionOfStyle('a') : gen.condition(preference.history.filter((h) => h.weight > 0).map((h) => ({ weight: h.weight, styleVector: builtinOptions(preference).builtin.itemStyles[h.item] })));
        const expected = await applyFinishing(drawn, style, gen.finishing!, guide);
        expect((await rgbBytes(finished)).equals(await rgbBytes(expected)), JSON.stringify(extra)).toBe(true);
        // Another guide gives another image: the reference is what guides it.
        if (extra.oracleStyle) expect((await rgbBytes(finished)).equals(await rgbBytes(await finishPng(drawn, gen.finishing!.options[0], drawn)))).toBe(false);
      }
    } finally {
      await engine.dispose();
    }
  });

  it('draws a style at the guidance its finishing asks for, and mixes styles drawn at different guidance', async () => {
    const gen = withFinishing(tinyGenerator('translator'), 0.5);
    const engine = createBuiltinEngine({ generator: gen });
    try {
      const preference = contractPreference();
      const base = { reference: { image: await contractReference(), text: 'x' }, prompt: null, preference, user: 'u', candidates: 1, seed: 1 };
      const options = (extra: Record<string, unknown>) => ({ builtin: { ...builtinOptions(preference).builtin, cfgScale: 3, cfgJitter: 0, ...extra } });
      const bytes = async (o: Record<string, unknown>) => rgbBytes((await engine.doGenerate({ ...base, providerOptions: options(o) })).candidates[0].png);
      // Style b at scale 3 is drawn at 1.5: the same as drawing at 1.5 and finishing without the multiplier.
      const b = await bytes({ oracleStyle: 'b' });
      const drawnAtHalf = (await engine.doGenerate({ ...base, providerOptions: options({ oracleStyle: 'b', cfgScale: 1.5, finishing: false }) })).candidates[0].png;
      expect(Buffer.compare(b, await rgbBytes(await finishPng(drawnAtHalf, { median: 3, colours: 0 })))).toBe(0);
      const drawnAtScale = (await engine.doGenerate({ ...base, providerOptions: options({ oracleStyle: 'b', finishing: false }) })).candidates[0].png;
      expect(Buffer.compare(b, await rgbBytes(await finishPng(drawnAtScale, { median: 3, colours: 0 })))).not.toBe(0);
      expect(finishingGuidances(gen.finishing!, [0.5, 0.5])).toEqual([0.5, 1]);
      expect(finishingGuidances(gen.finishing!, [1, 0])).toEqual([1]);
      // A mixed condition (the history's) needs both draws; the engine's output is the finishing mixed over them.
      const { itemStyles } = builtinOptions(preference).builtin;
      const condStyle = gen.condition(preference.history.filter((h) => h.weight > 0).map((h) => ({ weight: h.weight, styleVector: itemStyles[h.item] })));
      expect(Math.max(...condStyle)).toBeLessThan(0.999);
      expect(finishingGuidances(gen.finishing!, condStyle)).toEqual([0.5, 1]);
      const draw = async (cfgScale: number) => (await engine.doGenerate({ ...base, providerOptions: options({ cfgScale, finishing: false }) })).candidates[0].png;
      const [at3, at15] = [await draw(3), await draw(1.5)];
      const expected = await applyFinishing((g) => (g === 1 ? at3 : at15), condStyle, gen.finishing!);
      expect(Buffer.compare(await bytes({}), await rgbBytes(expected))).toBe(0);
      await expect(applyFinishing(drawnAtHalf, [0.5, 0.5], gen.finishing!)).rejects.toThrow(/draws a style at guidance ×0.5/);
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
      expect(loaded.finishing).toBeNull();
      const finishing = { format: FINISHING_FORMAT, classes: gen.config.conditioner.classes, options: [{ median: 3, colours: 16 }, { median: 1, colours: 0 }] } as const;
      saveFinishing(dir, { ...finishing, classes: [...finishing.classes], options: [...finishing.options] });
      const withIt = (await BuiltinGenerator.load(dir)).generator;
      expect(withIt.finishing?.options).toEqual(finishing.options);
      await withIt.dispose();
      fs.writeFileSync(path.join(dir, 'generator.json'), JSON.stringify({ format: 'ragar-generator-v0' }));
      await expect(BuiltinGenerator.load(dir)).rejects.toThrow(/another version/);
      await expect(BuiltinGenerator.load(dir)).rejects.toMatchObject({ code: 'VERSION' });
      await expect(BuiltinGenerator.load(path.join(dir, 'missing'))).rejects.toThrow(/ragar train generator/);
      await gen.dispose();
      await loaded.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
