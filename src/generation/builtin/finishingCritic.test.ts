import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createStyleStatsEncoder } from '../../encoders/styleStats.js';
import { FakeEncoder } from '../../encoders/testing/fakeEncoders.js';
import type { ImageEncoder } from '../../encoders/types.js';
import { conceptRecognised, trainFinishingCritic, type CriticRow } from './finishingCritic.js';

/** A 64×64 PNG of one colour. */
const solid = (r: number, g: number, b: number) => sharp({ create: { width: 64, height: 64, channels: 3, background: { r, g, b } } }).png().toBuffer();

describe('style critic of the finishing fit', () => {
  // An uninformative image feature (the same vector for every image) beside the real style statistics.
  const encoders = { image: new FakeEncoder<Buffer>('image', { keyOf: () => 'any', dimension: 4 }) as unknown as ImageEncoder, style: createStyleStatsEncoder() };

  async function rows(): Promise<CriticRow[]> {
    const out: CriticRow[] = [];
    for (let k = 0; k < 8; k++) {
      for (const [label, png] of [['warm', await solid(200 + 6 * k, 40 + 5 * k, 30)], ['cool', await solid(30, 50 + 5 * k, 200 + 6 * k)]] as const) {
        const [[image], [style]] = await Promise.all([encoders.image.encode([png]), encoders.style.encode([png])]);
        out.push({ image, style, label, concept: `c${k}` });
      }
    }
    return out;
  }

  it('names the style of images like its training renditions, in the order of the classes it is given', async () => {
    // The classifier sorts its classes (cool, warm); the critic answers in the generator's order.
    const critic = trainFinishingCritic(await rows(), ['warm', 'cool'], encoders, { dataset: 'toy', seed: 1 });
    const { probabilities, images } = await critic.judge([await solid(230, 60, 30), await solid(30, 60, 230)]);
    const [red, blue] = probabilities;
    expect(red[0]).toBeGreaterThan(0.9);
    expect(blue[1]).toBeGreaterThan(0.9);
    expect(red[0] + red[1]).toBeCloseTo(1, 6);
    // The image features come back as unit vectors, and the renditions' are the gallery, by style and concept.
    expect(Math.hypot(...images[0])).toBeCloseTo(1, 5);
    expect([...critic.gallery.keys()].sort()).toEqual(['cool', 'warm']);
    expect([...critic.gallery.get('warm')!.keys()]).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7']);
    expect(critic.record).toMatchObject({ features: 'fake-image+style-stats-v1@64', trainItems: 16, classifierClasses: ['cool', 'warm'], seed: 1 });
  });

  it('recognises a concept only when it is strictly nearer than every distractor', () => {
    const v = (...x: number[]) => Float32Array.from(x);
    expect(conceptRecognised(v(1, 0), v(0.8, 0.6), [v(0, 1), v(0.6, 0.8)])).toBe(true);
    expect(conceptRecognised(v(1, 0), v(0.6, 0.8), [v(0.8, 0.6)])).toBe(false);
    // A tie counts against it (a degenerate output is a miss).
    expect(conceptRecognised(v(0, 0), v(1, 0), [v(0, 1)])).toBe(false);
  });

  it('refuses to train without renditions, or without one of a style', async () => {
    expect(() => trainFinishingCritic([], ['warm', 'cool'], encoders, { dataset: 'toy', seed: 1 })).toThrow(/needs real renditions/);
    const warmOnly = (await rows()).filter((r) => r.label === 'warm');
    expect(() => trainFinishingCritic(warmOnly, ['warm', 'cool'], encoders, { dataset: 'toy', seed: 1 })).toThrow(/no training rendition of "cool"/);
  });
});
