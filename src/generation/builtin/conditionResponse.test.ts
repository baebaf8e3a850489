import { describe, expect, it } from 'vitest';
import { Adam } from '../../util/adam.js';
import { Rng } from '../../util/rng.js';
import { fitStyleConditioner } from './conditioning.js';
import { PLANE } from './data.js';
import { BuiltinGenerator } from './model.js';
import { DEFAULT_SEGMENT_OPTIONS } from './segmentPool.js';

/**
 * The condition must reach the output: a tiny generator trained for a few steps on a toy task
 * whose target depends only on the condition (style "keep": the reference; style "invert": its
 * negative) must give clearly different outputs for the two conditions on a reference it never
 * saw, each closer to its own target. A generator that ignores its condition (returns one
 * average of the two) fails: both outputs would sit halfway. Both output kinds are checked: the
 * network's own output, and the residual one (reference + network), which must not stay a copy.
 */

function blob(rng: Rng): Float32Array {
  const x = new Float32Array(3 * PLANE);
  const cx = 16 + rng.int(32);
  const cy = 16 + rng.int(32);
  const r = 8 + rng.int(12);
  const colour = [rng.next() * 2 - 1, rng.next() * 2 - 1, rng.next() * 2 - 1];
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 64; y++) for (let xx = 0; xx < 64; xx++) x[c * PLANE + y * 64 + xx] = (xx - cx) ** 2 + (y - cy) ** 2 < r * r ? colour[c] : 0.8;
  return x;
}

const meanAbs = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;

/**
 * A tiny generator over two styles, trained for 150 steps of pixel L1 on random blobs, each
 * example's style drawn at random and its target given by `target(reference, style)`.
 */
async function trainToyGenerator(o: { seed: number; styles: [string, string]; residual: boolean; segmentPool?: boolean; target: (ref: Float32Array, style: string) => Float32Array }): Promise<BuiltinGenerator> {
  const rng = new Rng(o.seed);
  const rows = Array.from({ length: 8 }, (_, i) => Float32Array.from({ length: 4 }, () => rng.normal() + (i % 2 ? 2 : -2)));
  const conditioner = fitStyleConditioner(rows, rows.map((_, i) => o.styles[i % 2 ? 0 : 1]));
  const gen = BuiltinGenerator.create({ objective: 'translator', conditioner, steps: 1, shuffle: 2, residual: o.residual, ...(o.segmentPool ? { segmentPool: DEFAULT_SEGMENT_OPTIONS } : {}), timeFeatures: 0, net: { base: 8, levels: 2, seed: 2, groups: 4, embed: 16 } }, { threads: 1 });
  const adam = new Adam(gen.net.paramCount, 3e-3);
  const B = 4;
  for (let step = 0; step < 150; step++) {
    const refs = Array.from({ length: B }, () => blob(rng));
    const styles = refs.map(() => o.styles[rng.next() < 0.5 ? 0 : 1]);
    const pred = await gen.predict(refs.map(() => null), refs.map((reference, b) => ({ reference, style: gen.conditionOfStyle(styles[b]) })), refs.map(() => 0));
    const dY = new Float32Array(B * 3 * PLANE);
    pred.forEach((p, b) => {
      const t = o.target(refs[b], styles[b]);
      for (let i = 0; i < p.length; i++) dY[b * p.length + i] = Math.sign(p[i] - t[i]) / dY.length;
    });
    adam.step(gen.net.params, await gen.backward(dY, B));
  }
  return gen;
}

describe('condition response', () => {
  it.each([false, true])('a briefly trained tiny generator gives different outputs for different conditions (residual output: %s)', async (residual) => {
    const gen = await trainToyGenerator({ seed: 11, styles: ['keep', 'invert'], residual, target: (ref, style) => (style === 'keep' ? ref : ref.map((v) => -v)) });
    const ref = blob(new Rng(999));
    const inverted = ref.map((v) => -v);
    const [keep, invert] = await gen.sample([{ reference: ref, style: gen.conditionOfStyle('keep') }, { reference: ref, style: gen.conditionOfStyle('invert') }], [1, 2]);
    expect(meanAbs(keep, invert)).toBeGreaterThan(0.4);
    expect(meanAbs(keep, ref)).toBeLessThan(meanAbs(keep, inverted));
    expect(meanAbs(invert, inverted)).toBeLessThan(meanAbs(invert, ref));
    await gen.dispose();
  }, 60_000);
});

/** Share of the blob's pixels (those not equal to the background) whose 4 neighbours match them within 0.02 in every channel. */
function flatShare(x: Float32Array, ref: Float32Array): number {
  let inside = 0;
  let flat = 0;
  for (let y = 1; y < 63; y++) {
    for (let xx = 1; xx < 63; xx++) {
      const i = y * 64 + xx;
      if (ref[i] === 0.8 && ref[PLANE + i] === 0.8 && ref[2 * PLANE + i] === 0.8) continue;
      inside++;
      let same = true;
      for (const j of [i - 1, i + 1, i - 64, i + 64]) for (let c = 0; c < 3; c++) if (Math.abs(x[c * PLANE + j] - x[c * PLANE + i]) > 0.02) same = false;
      if (same) flat++;
    }
  }
  return flat / inside;
}

describe('segment pooling', () => {
  it('lets a briefly trained tiny generator draw an exactly flat field under one condition and shading under the other', async () => {
    // style "flat": the blob recoloured (its negative), one flat colour; style "shaded": the blob with a vertical ramp
    const target = (ref: Float32Array, style: string): Float32Array =>
      ref.map((v, i) => {
        const p = i % PLANE;
        const inBlob = ref[p] !== 0.8 || ref[PLANE + p] !== 0.8 || ref[2 * PLANE + p] !== 0.8;
        if (!inBlob) return v;
        return style === 'flat' ? -v : v + 0.02 * (Math.floor(p / 64) - 32);
      });
    const train = async (segmentPool: boolean) => {
      const gen = await trainToyGenerator({ seed: 5, styles: ['flat', 'shaded'], residual: true, segmentPool, target });
      const ref = blob(new Rng(999));
      const [flat, shaded] = await gen.sample([{ reference: ref, style: gen.conditionOfStyle('flat') }, { reference: ref, style: gen.conditionOfStyle('shaded') }], [1, 2]);
      await gen.dispose();
      return { flat: flatShare(flat, ref), shaded: flatShare(shaded, ref), errFlat: meanAbs(flat, target(ref, 'flat')), errShaded: meanAbs(shaded, target(ref, 'shaded')) };
    };
    const pooled = await train(true);
    const plain = await train(false);
    expect(pooled.flat).toBeGreaterThan(0.7); // the blob's rim (neighbours in the background) cannot be flat
    expect(pooled.shaded).toBeLessThan(0.5);
    expect(plain.flat).toBeLessThan(pooled.flat - 0.3);
  }, 120_000);
});
