import { describe, expect, it } from 'vitest';
import { Adam } from '../../util/adam.js';
import { Rng } from '../../util/rng.js';
import { fitStyleConditioner } from './conditioning.js';
import { PLANE } from './data.js';
import { BuiltinGenerator } from './model.js';

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

describe('condition response', () => {
  it.each([false, true])('a briefly trained tiny generator gives different outputs for different conditions (residual output: %s)', async (residual) => {
    const rng = new Rng(11);
    const rows = Array.from({ length: 8 }, (_, i) => Float32Array.from({ length: 4 }, () => rng.normal() + (i % 2 ? 2 : -2)));
    const conditioner = fitStyleConditioner(rows, rows.map((_, i) => (i % 2 ? 'keep' : 'invert')));
    const gen = BuiltinGenerator.create({ objective: 'translator', conditioner, steps: 1, shuffle: 2, residual, timeFeatures: 0, net: { base: 8, levels: 2, seed: 2, groups: 4, embed: 16 } }, { threads: 1 });
    const adam = new Adam(gen.net.paramCount, 3e-3);
    const B = 4;
    for (let step = 0; step < 150; step++) {
      const refs = Array.from({ length: B }, () => blob(rng));
      const styles = refs.map(() => (rng.next() < 0.5 ? 'keep' : 'invert'));
      const pred = await gen.predict(refs.map(() => null), refs.map((reference, b) => ({ reference, style: gen.conditionOfStyle(styles[b]) })), refs.map(() => 0));
      const dY = new Float32Array(B * 3 * PLANE);
      pred.forEach((p, b) => {
        for (let i = 0; i < p.length; i++) {
          const target = styles[b] === 'keep' ? refs[b][i] : -refs[b][i];
          dY[b * p.length + i] = Math.sign(p[i] - target) / dY.length;
        }
      });
      adam.step(gen.net.params, await gen.backward(dY, B));
    }
    const ref = blob(new Rng(999));
    const inverted = ref.map((v) => -v);
    const [keep, invert] = await gen.sample([{ reference: ref, style: gen.conditionOfStyle('keep') }, { reference: ref, style: gen.conditionOfStyle('invert') }], [1, 2]);
    expect(meanAbs(keep, invert)).toBeGreaterThan(0.4);
    expect(meanAbs(keep, ref)).toBeLessThan(meanAbs(keep, inverted));
    expect(meanAbs(invert, inverted)).toBeLessThan(meanAbs(invert, ref));
    await gen.dispose();
  }, 60_000);
});
