import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { fitStyleConditioner } from './conditioning.js';
import { PLANE } from './data.js';
import { blur121, BuiltinGenerator, depthToSpace, spaceToDepth } from './model.js';
import { DEFAULT_SEGMENT_OPTIONS, flatSegments } from './segmentPool.js';

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

describe('blur after the pixel shuffle', () => {
  it('is its own adjoint pair: <blur(x), g> = <x, blur*(g)>, with edges replicated', () => {
    const rng = new Rng(4);
    const x = Float32Array.from({ length: 2 * 3 * 8 * 8 }, () => rng.normal());
    const g = Float32Array.from({ length: x.length }, () => rng.normal());
    const bx = blur121(x, 2, 3, 8, false);
    const bg = blur121(g, 2, 3, 8, true);
    let left = 0;
    let right = 0;
    for (let i = 0; i < x.length; i++) {
      left += bx[i] * g[i];
      right += x[i] * bg[i];
    }
    expect(left).toBeCloseTo(right, 4);
    // a constant image stays constant (edges replicated, weights sum to one)
    expect([...blur121(new Float32Array(64).fill(0.7), 1, 1, 8, false)].every((v) => Math.abs(v - 0.7) < 1e-6)).toBe(true);
  });

  it('removes the period-2 grid of a pixel shuffle and keeps a smooth ramp', () => {
    const size = 8;
    const grid = Float32Array.from({ length: size * size }, (_, i) => (((i % size) + Math.floor(i / size)) % 2 ? 1 : -1));
    const out = blur121(grid, 1, 1, size, false);
    // inside the image the checkerboard is gone entirely
    for (let y = 1; y < size - 1; y++) for (let x = 1; x < size - 1; x++) expect(Math.abs(out[y * size + x])).toBeLessThan(1e-6);
    const ramp = Float32Array.from({ length: size * size }, (_, i) => i % size);
    const r = blur121(ramp, 1, 1, size, false);
    for (let y = 0; y < size; y++) for (let x = 1; x < size - 1; x++) expect(r[y * size + x]).toBeCloseTo(x, 5);
  });
});

describe('built-in generator gradients', () => {
  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('match central finite differences through the shuffle, the condition MLP and the residual output (blur after the shuffle: %s, segment pooling: %s)', async (outputBlur, segmentPool) => {
    const rng = new Rng(2);
    const rows = Array.from({ length: 12 }, () => Float32Array.from({ length: 6 }, () => rng.normal()));
    const gen = BuiltinGenerator.create({ objective: 'diffusion', conditioner: fitStyleConditioner(rows, rows.map((_, i) => (i % 2 ? 'a' : 'b'))), steps: 2, shuffle: 2, residual: true, outputBlur, ...(segmentPool ? { segmentPool: DEFAULT_SEGMENT_OPTIONS } : {}), timeFeatures: 4, net: { base: 8, levels: 2, seed: 5, groups: 4, embed: 16 } }); // SiLU throughout: no kinks for finite differences
    for (let i = 0; i < gen.net.params.length; i++) gen.net.params[i] += 0.05 * rng.normal(); // FiLM starts at zero: make it active
    // the left half of the reference is two flat fields (segments to pool over), the right half noise
    const reference = Float32Array.from({ length: 3 * PLANE }, (_, i) => (i % 64 < 32 ? (Math.floor(i / PLANE) === 0 && i % PLANE < PLANE / 2 ? 0.6 : -0.3) : rng.normal() * 0.5));
    if (segmentPool) expect(flatSegments(reference, 64).sizes.length).toBeGreaterThanOrEqual(2);
    const cond = { reference, style: Float32Array.from([0.3, -0.2]) };
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
    // the last parameters are the output convolution's (RGB and, with segment pooling, the gate plane)
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
