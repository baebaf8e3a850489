import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { randomArray } from './gradcheck.testing.js';
import { nchwcApplicable, nchwcBlockSize } from './nchwc.js';
import type { OnnxNet } from './net.js';
import { createUnet, unetSpec, type UnetConfig } from './unet.js';

const nets: OnnxNet[] = [];
afterAll(async () => {
  for (const n of nets) await n.dispose();
});

function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}

describe('blocked (NCHWc) forward graphs', async () => {
  const block = await nchwcBlockSize();

  it('knows when the layout applies', () => {
    expect(nchwcApplicable(unetSpec({ inChannels: 3, outChannels: 3, base: 4, levels: 2, size: 8 }), 16)).toBe(false);
    expect(nchwcApplicable(unetSpec({ inChannels: 3, outChannels: 3, base: 16, levels: 2, size: 8 }), 16)).toBe(true);
    expect(nchwcApplicable(unetSpec({ inChannels: 20, outChannels: 3, base: 16, levels: 2, size: 8 }), 16)).toBe(false); // 20 > 16, not a multiple
    expect(nchwcApplicable(unetSpec({ inChannels: 10, outChannels: 3, base: 32, levels: 3 }), 16)).toBe(true);
    expect(nchwcApplicable(unetSpec({ inChannels: 10, outChannels: 3, base: 32, levels: 3 }), 0)).toBe(false);
  });

  const cases: UnetConfig[] = [
    { inChannels: 3, outChannels: 3, base: 16, levels: 2, size: 8, activation: 'leaky' }, // NCHW-input stem
    { inChannels: 16, outChannels: 5, base: 16, levels: 3, size: 8, activation: 'silu' }, // reordered input, SiLU
    { inChannels: 10, outChannels: 3, base: 32, levels: 2, size: 8, headKernel: 1 },
  ];
  for (const config of cases) {
    it.skipIf(block === 0)(`gives the plain layout's outputs and gradients: ${JSON.stringify(config)}`, async () => {
      const blocked = createUnet(config);
      const plain = createUnet(config, { layout: 'nchw' });
      nets.push(blocked, plain);
      expect(await blocked.usesNchwc()).toBe(true);
      expect(await plain.usesNchwc()).toBe(false);
      const x = randomArray(new Rng(1), 2 * config.inChannels * config.size! ** 2);
      const y = (await blocked.forward(x, 2)).slice();
      const yPlain = await plain.forward(x, 2);
      expect(relDiff(y, yPlain)).toBeLessThan(1e-5);
      expect(relDiff(await blocked.predict(x, 2), yPlain)).toBeLessThan(1e-5);
      const c = randomArray(new Rng(2), y.length);
      const g = (await blocked.backward(c)).slice();
      expect(relDiff(g, await plain.backward(c))).toBeLessThan(1e-5);
    });
  }
});
