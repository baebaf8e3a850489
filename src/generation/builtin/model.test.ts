import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { fitStyleConditioner } from './conditioning.js';
import { PLANE } from './data.js';
import { BuiltinGenerator, depthToSpace, spaceToDepth } from './model.js';

describe('pixel shuffle', () => {
  it('spaceToDepth and depthToSpace are inverse permutations', () => {
    const x = Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => i);
    const folded = spaceToDepth(x, 2, 3, 8, 2);
    expect([...folded].sort((a, b) => a - b)).toEqual([...x]);
    expect([...depthToSpace(folded, 2, 3, 8, 2)]).toEqual([...x]);
    // pixel (y=1, x=0) of channel 0 lands in folded channel dy=1,dx=0 at (0, 0)
    expect(folded[(0 * 4 + 2) * 16 + 0]).toBe(x[1 * 8 + 0]);
  });
});

describe('built-in generator gradients', () => {
  it('match central finite differences through the shuffle, the condition MLP and the residual output', async () => {
    const rng = new Rng(2);
    const rows = Array.from({ length: 12 }, () => Float32Array.from({ length: 6 }, () => rng.normal()));
    const gen = BuiltinGenerator.create({ objective: 'diffusion', conditioner: fitStyleConditioner(rows, rows.map((_, i) => (i % 2 ? 'a' : 'b'))), steps: 2, shuffle: 2, residual: true, timeFeatures: 4, net: { base: 8, levels: 2, seed: 5, groups: 4, embed: 16 } }); // SiLU throughout: no kinks for finite differences
    for (let i = 0; i < gen.net.params.length; i++) gen.net.params[i] += 0.05 * rng.normal(); // FiLM starts at zero: make it active
    const cond = { reference: Float32Array.from({ length: 3 * PLANE }, () => rng.normal() * 0.5), style: Float32Array.from([0.3, -0.2]) };
    const xt = Float32Array.from({ length: 3 * PLANE }, () => rng.normal());
    const c = Float32Array.from({ length: 3 * PLANE }, () => rng.normal());
    const loss = async () => {
      const [y] = await gen.predict([xt], [cond], [0.4]);
      let s = 0;
      for (let i = 0; i < y.length; i++) s += c[i] * y[i];
      return s;
    };
    await loss();
    const grads = await gen.backward(c, 1);
    const params = gen.net.params;
    let checked = 0;
    for (const idx of [0, 7, 33, Math.floor(params.length / 2), params.length - 5, params.length - 1]) {
      const h = 1e-2;
      const old = params[idx];
      params[idx] = old + h;
      const up = await loss();
      params[idx] = old - h;
      const down = await loss();
      params[idx] = old;
      const numeric = (up - down) / (2 * h);
      expect(Math.abs(numeric - grads[idx])).toBeLessThan(5e-3 * Math.max(1, Math.abs(numeric)));
      checked++;
    }
    expect(checked).toBe(6);
    await gen.dispose();
  });
});
