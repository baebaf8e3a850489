import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { GenerateRequest, GenerationPreference, GeneratorEngine } from './types.js';

/** A small reference image: a yellow disc on white, at an odd size and with alpha (engines must convert it). */
export async function contractReference(): Promise<Buffer> {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="50" height="40"><circle cx="25" cy="20" r="16" fill="#ffcc33" stroke="#333" stroke-width="2"/></svg>';
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A preference every engine must accept. */
export function contractPreference(styleDim: number | null, rankerDim: number | null): GenerationPreference {
  return {
    weighting: 'retrieval',
    history: [
      { item: 'a', weight: 0.75, style: 'noto', styleVector: styleDim === null ? null : Float32Array.from({ length: styleDim }, (_, i) => Math.sin(i)) },
      { item: 'b', weight: 0.25, style: 'twemoji', styleVector: styleDim === null ? null : Float32Array.from({ length: styleDim }, (_, i) => Math.cos(i)) },
    ],
    styleVector: styleDim === null ? null : Float32Array.from({ length: styleDim }, (_, i) => Math.sin(i)),
    keywords: ['face', 'smile'],
    rankerDirection: rankerDim === null ? null : { v: Float32Array.from({ length: rankerDim }, (_, i) => Math.cos(i)), constant: 0 },
  };
}

/**
 * The shared contract every generator engine passes: the requested number of decodable
 * candidates of the native size with their seeds and timings, determinism for a seed, different
 * seeds giving different images, progress events, abort, and clear errors for a corrupt
 * reference and a bad candidate count.
 *
 * @example
 * runGeneratorContract('builtin (tiny)', { create: () => createTinyBuiltin(), styleDim: 48, rankerDim: 32 });
 */
export function runGeneratorContract(
  name: string,
  spec: { create: () => Promise<GeneratorEngine>; styleDim: number | null; rankerDim: number | null },
): void {
  const request = async (over: Partial<GenerateRequest> = {}): Promise<GenerateRequest> => ({
    reference: { image: await contractReference(), text: 'grinning face' },
    preference: contractPreference(spec.styleDim, spec.rankerDim),
    user: 'u-contract',
    candidates: 2,
    seed: 7,
    ...over,
  });

  describe(`generator contract: ${name}`, () => {
    it('returns the requested candidates as PNGs of its native size, with seeds and timings', async () => {
      const engine = await spec.create();
      try {
        const events: string[] = [];
        const r = await engine.generate(await request({ onProgress: (e) => events.push(`${e.stage}:${e.done}/${e.total}`) }));
        expect(r.engine).toBe(engine.name);
        expect(r.candidates).toHaveLength(2);
        expect(r.candidates.map((c) => c.seed)).toEqual([7, 8]);
        for (const c of r.candidates) {
          const meta = await sharp(c.png).metadata();
          expect(meta.format).toBe('png');
          expect([meta.width, meta.height]).toEqual([engine.outputSize, engine.outputSize]);
          expect(c.milliseconds).toBeGreaterThanOrEqual(0);
        }
        expect(Array.isArray(r.warnings)).toBe(true);
        expect(events.length).toBeGreaterThan(0);
      } finally {
        await engine.dispose();
        await engine.dispose();
      }
    });

    it('is deterministic for a seed, and different seeds give different images', async () => {
      const engine = await spec.create();
      try {
        const a = await engine.generate(await request({ candidates: 1, seed: 3 }));
        const b = await engine.generate(await request({ candidates: 1, seed: 3 }));
        const c = await engine.generate(await request({ candidates: 1, seed: 4 }));
        const raw = async (png: Buffer) => (await sharp(png).raw().toBuffer()).toString('base64');
        expect(await raw(a.candidates[0].png)).toBe(await raw(b.candidates[0].png));
        expect(await raw(a.candidates[0].png)).not.toBe(await raw(c.candidates[0].png));
      } finally {
        await engine.dispose();
      }
    });

    it('rejects an aborted call, a corrupt reference and a bad candidate count', async () => {
      const engine = await spec.create();
      try {
        const controller = new AbortController();
        controller.abort();
        await expect(engine.generate(await request({ abortSignal: controller.signal }))).rejects.toThrow(/abort/i);
        await expect(engine.generate(await request({ reference: { image: Buffer.from('not an image'), text: 'x' } }))).rejects.toThrow(/image/i);
        await expect(engine.generate(await request({ candidates: 0 }))).rejects.toThrow(/candidates/i);
      } finally {
        await engine.dispose();
      }
    });
  });
}
