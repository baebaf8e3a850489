import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { dot, type Encoder, type ImageInput } from './types.js';

/** Small images of different sizes, formats and colour modes for encoder contract tests. */
export async function contractImages(): Promise<Buffer[]> {
  return Promise.all([
    sharp({ create: { width: 64, height: 64, channels: 3, background: '#ff0000' } }).png().toBuffer(),
    sharp({ create: { width: 40, height: 24, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 0.5 } } }).png().toBuffer(),
    sharp({ create: { width: 32, height: 32, channels: 3, background: '#00ff00' } }).jpeg().toBuffer(),
    sharp({ create: { width: 50, height: 50, channels: 3, background: '#808080' } }).greyscale().webp().toBuffer(),
  ]);
}

const TEXTS = ['a red apple', 'grinning face with big eyes', 'a racing car', '', 'ünïcödé ✓ 😀'];

function expectUnitVectors(vs: Float32Array[], dimension: number): void {
  for (const v of vs) {
    expect(v).toBeInstanceOf(Float32Array);
    expect(v.length).toBe(dimension);
    expect(v.every(Number.isFinite)).toBe(true);
    expect(Math.abs(Math.sqrt(dot(v, v)) - 1)).toBeLessThan(1e-4);
  }
}

/**
 * The shared contract every encoder implementation passes (Hono-style `runTest({ create })`):
 * stable id and dimension, unit vectors of that dimension, one per input in order, determinism,
 * batch-independence, empty batches, abort, dispose twice.
 *
 * @example
 * runEncoderContract('mobilenet', { modality: 'image', create: () => createMobileNetEncoder() });
 */
export function runEncoderContract(
  name: string,
  spec:
    | { modality: 'image'; create: () => Promise<Encoder<ImageInput>>; badInput?: boolean }
    | { modality: 'text'; create: () => Promise<Encoder<string>> },
): void {
  describe(`encoder contract: ${name}`, () => {
    it('has a model id, a dimension and its modality', async () => {
      const enc = await spec.create();
      expect(enc.modelId).toMatch(/\S/);
      expect(enc.dimension).toBeGreaterThan(0);
      expect(enc.modality).toBe(spec.modality);
      await enc.dispose();
      await enc.dispose();
    });

    it('returns one unit vector per input, deterministic and independent of batching', async () => {
      const enc = (await spec.create()) as Encoder<unknown>;
      const inputs: unknown[] = spec.modality === 'image' ? await contractImages() : TEXTS;
      const all = await enc.encode(inputs);
      expect(all).toHaveLength(inputs.length);
      expectUnitVectors(all, enc.dimension);
      const again = await enc.encode(inputs);
      const singles = [];
      for (const x of inputs) singles.push(...(await enc.encode([x])));
      for (let i = 0; i < inputs.length; i++) {
        expect(dot(all[i], again[i])).toBeGreaterThan(0.9999);
        expect(dot(all[i], singles[i])).toBeGreaterThan(0.999);
      }
      // different inputs give different vectors
      expect(dot(all[0], all[2])).toBeLessThan(0.99999);
      expect(await enc.encode([])).toEqual([]);
      await enc.dispose();
    });

    it('rejects an aborted call', async () => {
      const enc = (await spec.create()) as Encoder<unknown>;
      const inputs: unknown[] = spec.modality === 'image' ? await contractImages() : TEXTS;
      const controller = new AbortController();
      controller.abort();
      await expect(enc.encode(inputs, { signal: controller.signal })).rejects.toThrow(/abort/i);
      await enc.dispose();
    });

    if (spec.modality === 'image') {
      it('names a corrupt image in its error', async () => {
        const enc = await spec.create();
        await expect(enc.encode([Buffer.from('definitely not an image')])).rejects.toThrow(/image/i);
        await enc.dispose();
      });
    }
  });
}
