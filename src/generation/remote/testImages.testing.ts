import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { RagarError } from '../../util/errors.js';
import { warningText, type GeneratedCandidateV1, type GeneratorCallOptionsV1, type GeneratorEngineV1, type GeneratorPreferenceV1, type GeneratorResultV1 } from '../types.js';
import { remoteMetadata, type SentRecord } from './engine.js';
import type { ImagePromptSelection } from './imagePrompts.js';

/** A solid-colour square PNG (history images in the remote-engine tests). */
export async function solidPng(rgb: [number, number, number], size = 16): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
}

/** The history images of the tests: item id → colour. */
export const TEST_COLOURS: Record<string, [number, number, number]> = {
  a: [40, 80, 240],
  b: [240, 40, 40],
  c: [40, 200, 60],
  d: [250, 250, 20],
  e: [200, 0, 200],
  f: [0, 200, 200],
  g: [90, 90, 90],
};

/** PNGs of `TEST_COLOURS`, by item. */
export const TEST_IMAGES: Record<string, Buffer> = Object.fromEntries(await Promise.all(Object.entries(TEST_COLOURS).map(async ([item, c]) => [item, await solidPng(c)] as const)));

/**
 * A v1 preference over the test items: `weights` by item (images from `TEST_IMAGES`; an unknown
 * item has no image), the keywords and the weighting.
 */
export function testPreference(weights: Record<string, number>, keywords: string[] = ['flat', 'pastel'], weighting: 'retrieval' | 'uniform' = 'retrieval'): GeneratorPreferenceV1 {
  return {
    weighting,
    history: Object.entries(weights).map(([item, weight]) => ({ item, weight, text: `item ${item}`, style: null, image: TEST_IMAGES[item] ? () => TEST_IMAGES[item] : null })),
    keywords,
  };
}

/**
 * Call a remote engine and unpack its result: candidates, warnings as text, and the record of
 * what was sent (`providerMetadata[provider]`), failing when the record is missing.
 */
export async function generateRemote(engine: GeneratorEngineV1, options: GeneratorCallOptionsV1): Promise<{ candidates: GeneratedCandidateV1[]; warnings: string[]; sent: SentRecord[]; selection: ImagePromptSelection; result: GeneratorResultV1 }> {
  const result = await engine.doGenerate(options);
  const meta = remoteMetadata(result, engine.provider);
  if (!meta) throw new RagarError(`${engine.provider}: no providerMetadata.${engine.provider} in the result`, 'INTERNAL');
  return { candidates: result.candidates, warnings: result.warnings.map(warningText), sent: meta.sent, selection: meta.selection, result };
}

/** Mean RGB of an image. */
export async function meanColour(png: Buffer): Promise<[number, number, number]> {
  const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const m = [0, 0, 0];
  for (let i = 0; i < data.length; i++) m[i % 3] += data[i] / (data.length / 3);
  return m as [number, number, number];
}

/** SHA-256 hex of bytes. */
export const sha256 = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex');
