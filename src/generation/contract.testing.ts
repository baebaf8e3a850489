import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { GeneratorCallOptionsV1, GeneratorEngineV1, GeneratorPreferenceV1 } from './types.js';

/** A small reference image: a yellow disc on white, at an odd size and with alpha (engines must convert it). */
export async function contractReference(): Promise<Buffer> {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="50" height="40"><circle cx="25" cy="20" r="16" fill="#ffcc33" stroke="#333" stroke-width="2"/></svg>';
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A two-item preference every engine must accept (history images are small coloured squares). */
export function contractPreference(): GeneratorPreferenceV1 {
  const square = (colour: string) => () => Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16" fill="${colour}"/></svg>`);
  return {
    weighting: 'retrieval',
    history: [
      { item: 'a', weight: 0.75, text: 'grinning cat', style: 'noto', image: square('#3366ff') },
      { item: 'b', weight: 0.25, text: 'red apple', style: 'twemoji', image: square('#ff3333') },
    ],
    keywords: ['face', 'smile'],
  };
}

/** The non-personalised preference: an empty history. */
export const EMPTY_PREFERENCE: GeneratorPreferenceV1 = { weighting: 'retrieval', history: [], keywords: [] };

/** How {@link runGeneratorContract} builds and calls an engine. */
export interface GeneratorContractSpec {
  /** Create a fresh engine (each test disposes of its own). */
  create: () => Promise<GeneratorEngineV1>;
  /**
   * The engine's own options for a call with `preference` (e.g. the built-in engine's item
   * style descriptors), merged into `providerOptions`.
   */
  providerOptions?: (preference: GeneratorPreferenceV1) => Record<string, Record<string, unknown>>;
  /** Names of tests to skip, with the reason in the engine's test file. */
  skip?: readonly ContractTestName[];
}

/** The tests of the contract (names usable in `skip`). */
export const GENERATOR_CONTRACT_TESTS = ['shape', 'determinism', 'non-personalised', 'preference', 'errors', 'warnings'] as const;
export type ContractTestName = (typeof GENERATOR_CONTRACT_TESTS)[number];

/**
 * The shared contract every generator engine passes (Hono-style `runTest({ create, skip })`):
 * the spec fields; the requested number of decodable candidates of the native size with their
 * seeds and timings; determinism for a seed and different images for different seeds; the
 * non-personalised request (empty history); abort, a corrupt reference and bad candidate counts
 * rejected with clear errors; a typed `unsupported-setting` warning for a size it cannot draw.
 *
 * @example
 * runGeneratorContract('mock', { create: async () => new MockGeneratorEngine() });
 */
export function runGeneratorContract(name: string, spec: GeneratorContractSpec): void {
  const request = async (over: Partial<GeneratorCallOptionsV1> = {}): Promise<GeneratorCallOptionsV1> => {
    const preference = over.preference ?? contractPreference();
    return {
      reference: { image: await contractReference(), text: 'grinning face' },
      prompt: 'grinning face, face, smile',
      preference,
      user: 'u-contract',
      candidates: 2,
      seed: 7,
      providerOptions: spec.providerOptions?.(preference),
      ...over,
    };
  };
  const test = (id: ContractTestName, title: string, fn: () => Promise<void>) => (spec.skip?.includes(id) ? it.skip : it)(title, fn);
  const raw = async (png: Buffer) => (await sharp(png).raw().toBuffer()).toString('base64');

  describe(`generator contract (v1): ${name}`, () => {
    test('shape', 'declares the v1 spec and returns the requested candidates as PNGs of its native size, with seeds and timings', async () => {
      const engine = await spec.create();
      try {
        expect(engine.specificationVersion).toBe('v1');
        expect(engine.provider).toMatch(/^[a-z0-9-]+$/);
        expect(typeof engine.modelId).toBe('string');
        expect(engine.maxCandidatesPerCall === undefined || engine.maxCandidatesPerCall >= 1).toBe(true);
        const events: string[] = [];
        const r = await engine.doGenerate(await request({ onProgress: (e) => events.push(`${e.stage}:${e.done}/${e.total}`) }));
        expect(r.response.provider).toBe(engine.provider);
        expect(r.response.modelId).toBe(engine.modelId);
        expect(r.candidates).toHaveLength(2);
        expect(r.candidates.map((c) => c.seed)).toEqual([7, 8]);
        for (const c of r.candidates) {
          const meta = await sharp(c.png).metadata();
          expect(meta.format).toBe('png');
          expect([meta.width, meta.height]).toEqual([engine.outputSize, engine.outputSize]);
          expect(c.milliseconds).toBeGreaterThanOrEqual(0);
        }
        expect(r.warnings).toEqual([]);
        expect(events.length).toBeGreaterThan(0);
      } finally {
        await engine.dispose();
        await engine.dispose();
      }
    });

    test('determinism', 'is deterministic for a seed, and different seeds give different images', async () => {
      const engine = await spec.create();
      try {
        const a = await engine.doGenerate(await request({ candidates: 1, seed: 3 }));
        const b = await engine.doGenerate(await request({ candidates: 1, seed: 3 }));
        const c = await engine.doGenerate(await request({ candidates: 1, seed: 4 }));
        expect(await raw(a.candidates[0].png)).toBe(await raw(b.candidates[0].png));
        expect(await raw(a.candidates[0].png)).not.toBe(await raw(c.candidates[0].png));
      } finally {
        await engine.dispose();
      }
    });

    test('non-personalised', 'accepts a non-personalised request (empty history, no keywords)', async () => {
      const engine = await spec.create();
      try {
        const r = await engine.doGenerate(await request({ preference: EMPTY_PREFERENCE, candidates: 1 }));
        expect(r.candidates).toHaveLength(1);
        expect((await sharp(r.candidates[0].png).metadata()).width).toBe(engine.outputSize);
      } finally {
        await engine.dispose();
      }
    });

    test('preference', 'lets the preference change the output (same seed, personalised vs non-personalised)', async () => {
      const engine = await spec.create();
      try {
        const a = await engine.doGenerate(await request({ candidates: 1, seed: 5 }));
        const b = await engine.doGenerate(await request({ preference: EMPTY_PREFERENCE, candidates: 1, seed: 5 }));
        expect(await raw(a.candidates[0].png)).not.toBe(await raw(b.candidates[0].png));
      } finally {
        await engine.dispose();
      }
    });

    test('errors', 'rejects an aborted call, a corrupt reference and a bad candidate count', async () => {
      const engine = await spec.create();
      try {
        const controller = new AbortController();
        controller.abort();
        await expect(engine.doGenerate(await request({ abortSignal: controller.signal }))).rejects.toThrow(/abort/i);
        await expect(engine.doGenerate(await request({ reference: { image: Buffer.from('not an image'), text: 'x' } }))).rejects.toThrow(/image/i);
        await expect(engine.doGenerate(await request({ candidates: 0 }))).rejects.toThrow(/candidates/i);
        if (engine.maxCandidatesPerCall !== undefined) await expect(engine.doGenerate(await request({ candidates: engine.maxCandidatesPerCall + 1 }))).rejects.toThrow(/candidates/i);
      } finally {
        await engine.dispose();
      }
    });

    test('warnings', 'warns with a typed unsupported-setting for a size it does not draw, and still answers', async () => {
      const engine = await spec.create();
      try {
        const r = await engine.doGenerate(await request({ candidates: 1, size: engine.outputSize + 3 }));
        expect(r.warnings).toContainEqual(expect.objectContaining({ type: 'unsupported-setting', setting: 'size' }));
        expect(r.candidates).toHaveLength(1);
      } finally {
        await engine.dispose();
      }
    });
  });
}
