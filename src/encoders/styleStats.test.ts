import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { runEncoderContract } from './contract.testing.js';
import { decodePixels64, PIXEL_LENGTH } from './pixels.js';
import { createStyleStatsEncoder, STYLE_STATS_DIMENSION, styleStatistics } from './styleStats.js';

runEncoderContract('style-stats', { modality: 'image', create: async () => createStyleStatsEncoder() });

/** A 64×64 image: a filled disc on white, optionally with a dark outline or a vertical gradient. */
async function disc(options: { outline?: boolean; gradient?: boolean }): Promise<Float32Array> {
  const fill = options.gradient
    ? '<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#ffe680"/><stop offset="1" stop-color="#d08000"/></linearGradient></defs><circle cx="32" cy="32" r="24" fill="url(#g)"/>'
    : '<circle cx="32" cy="32" r="24" fill="#ffcc33"/>';
  const stroke = options.outline ? '<circle cx="32" cy="32" r="24" fill="none" stroke="#000" stroke-width="3"/>' : '';
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">${fill}${stroke}</svg>`;
  return decodePixels64(await sharp(Buffer.from(svg)).png().toBuffer());
}

describe('style statistics', () => {
  it('has the documented length and is finite on blank and full images', () => {
    const white = new Float32Array(PIXEL_LENGTH).fill(1);
    const black = new Float32Array(PIXEL_LENGTH);
    for (const px of [white, black]) {
      const f = styleStatistics(px);
      expect(f).toHaveLength(STYLE_STATS_DIMENSION);
      expect(f.every(Number.isFinite)).toBe(true);
    }
    expect(styleStatistics(white)[0]).toBe(0); // no foreground
    expect(styleStatistics(black)[0]).toBe(1);
  });

  it('sees outlines and gradients: the differences the emoji styles are made of', async () => {
    const flat = styleStatistics(await disc({}));
    const outlined = styleStatistics(await disc({ outline: true }));
    const shaded = styleStatistics(await disc({ gradient: true }));
    // index 46: share of dark pixels on the silhouette's boundary; 21: share of very dark foreground
    expect(outlined[46]).toBeGreaterThan(flat[46] + 0.1);
    expect(flat[46]).toBeLessThan(0.05);
    // index 45: mean luminance of the silhouette's boundary (dark stroke vs yellow fill)
    expect(outlined[45]).toBeLessThan(flat[45] - 0.2);
    expect(outlined[21]).toBeGreaterThan(flat[21]);
    // index 22: share of the single most common colour (flat fill ≫ gradient); 25: palette entropy
    expect(flat[22]).toBeGreaterThan(0.8);
    expect(shaded[22]).toBeLessThan(flat[22] - 0.3);
    expect(shaded[25]).toBeGreaterThan(flat[25]);
  });

  it('rejects a pixel buffer of the wrong size', () => {
    expect(() => styleStatistics(new Float32Array(10))).toThrow(/64×64×3/);
  });
});
