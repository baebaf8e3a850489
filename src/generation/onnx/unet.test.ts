import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Adam } from '../../util/adam.js';
import { RagarError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import { gradCheck, randomArray } from './gradcheck.testing.js';
import { createTfjsNet, loadTfjs } from './tfjsNet.js';
import type { OnnxNet } from './net.js';
import { createUnet, loadUnet, unetSpec, type UnetConfig } from './unet.js';

const TINY: UnetConfig = { inChannels: 3, outChannels: 2, base: 4, levels: 3, size: 8, seed: 2 };
const nets: OnnxNet[] = [];
const dirs: string[] = [];
function track(net: OnnxNet): OnnxNet {
  nets.push(net);
  return net;
}
afterAll(async () => {
  for (const n of nets) await n.dispose();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'ragar-unet-'));
  dirs.push(d);
  return d;
}

function inputFor(net: OnnxNet, batch: number, seed = 5): Float32Array {
  const [c, h, w] = net.inputShape;
  return randomArray(new Rng(seed), batch * c * h * w);
}

async function expectRagar(p: Promise<unknown> | (() => unknown), code: string, pattern: RegExp): Promise<void> {
  let error: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(RagarError);
  expect((error as RagarError).code).toBe(code);
  expect((error as RagarError).message).toMatch(pattern);
}

describe('unet spec', () => {
  it('has the documented size at 64×64 (10 → 3 channels, base 32, 3 levels)', () => {
    const net = track(createUnet({ inChannels: 10, outChannels: 3, base: 32, levels: 3 }));
    expect(net.paramCount).toBe(714_339);
    expect(net.inputShape).toEqual([10, 64, 64]);
    expect(net.outputShape).toEqual([3, 64, 64]);
    expect(Math.round(net.macsPerSample / 1e6)).toBe(657);
  });

  it('rejects impossible configs with BAD_INPUT', async () => {
    await expectRagar(() => unetSpec({ ...TINY, size: 10, levels: 3 }), 'BAD_INPUT', /divisible/);
    await expectRagar(() => unetSpec({ ...TINY, base: 0 }), 'BAD_INPUT', /base/);
    await expectRagar(() => unetSpec({ ...TINY, headKernel: 5 }), 'BAD_INPUT', /headKernel/);
  });

  it('initialises deterministically from the seed', () => {
    const a = track(createUnet(TINY));
    const b = track(createUnet(TINY));
    const c = track(createUnet({ ...TINY, seed: 3 }));
    expect(a.params).toEqual(b.params);
    expect(a.params).not.toEqual(c.params);
  });
});

describe('unet gradients', () => {
  it('match finite differences for every parameter tensor (SiLU, smooth)', async () => {
    const net = track(createUnet({ ...TINY, activation: 'silu' }));
    const r = await gradCheck(net, inputFor(net, 2), 2, { samplesPerParam: 4, eps: 1e-2 });
    const bad = r.checked.filter((e) => e.error > 1e-2);
    expect(r.checked.length).toBe(net.paramShapes.reduce((a, p) => a + Math.min(p.size, 4), 0));
    expect(bad, JSON.stringify(bad.slice(0, 3))).toEqual([]);
  });

  it('match one-sided finite differences with LeakyReLU (allowing for kinks)', async () => {
    // The loss is piecewise linear in each weight; with thousands of units a kink within ±eps of
    // the current value is common, so a few entries may match neither side.
    const net = track(createUnet({ ...TINY, leakyAlpha: 0.2 }));
    const r = await gradCheck(net, inputFor(net, 2), 2, { samplesPerParam: 4, eps: 1e-3, kinks: true });
    const good = r.checked.filter((e) => e.error <= 1e-2).length;
    expect(good / r.checked.length).toBeGreaterThan(0.85);
  });

  it('match an independent tfjs (wasm) implementation of the same LeakyReLU U-Net', async () => {
    // tfjs differentiates the activations, residual adds, concat and upsampling itself; its conv
    // gradients are forward convolutions (tfjsNet.ts). (tfjs's cpu backend is not usable here: its
    // ResizeNearestNeighborGrad is wrong for batch > 1 in tfjs 4.22.)
    const net = track(createUnet({ ...TINY, leakyAlpha: 0.1 }));
    const tf = await loadTfjs('wasm');
    const ref = createTfjsNet(tf, net.spec, net.params, { customConvGrad: true });
    try {
      const x = inputFor(net, 2);
      const y = await net.forward(x, 2);
      const yRef = ref.forward(x, 2);
      const c = randomArray(new Rng(9), y.length);
      const g = await net.backward(c);
      const gRef = ref.gradients(x, c, 2);
      let dy = 0;
      for (let i = 0; i < y.length; i++) dy = Math.max(dy, Math.abs(y[i] - yRef[i]));
      expect(dy).toBeLessThan(1e-5);
      for (const p of net.paramShapes) {
        let diff = 0;
        let scale = 0;
        for (let i = p.offset; i < p.offset + p.size; i++) {
          diff = Math.max(diff, Math.abs(g[i] - gRef[i]));
          scale = Math.max(scale, Math.abs(gRef[i]));
        }
        expect(diff / scale, p.name).toBeLessThan(1e-4);
      }
    } finally {
      ref.dispose();
    }
  });

  it('agree between backward modes and conv strategies', async () => {
    const x = inputFor(track(createUnet(TINY)), 3);
    const grads: Float32Array[] = [];
    for (const runtime of [{}, { mode: 'recompute' as const }, { convBackward: 'separate' as const }]) {
      const net = track(createUnet(TINY, runtime));
      const y = await net.forward(x, 3);
      grads.push((await net.backward(randomArray(new Rng(9), y.length))).slice());
    }
    const scale = Math.max(...grads[0].map(Math.abs));
    for (const g of grads.slice(1)) {
      let diff = 0;
      for (let i = 0; i < g.length; i++) diff = Math.max(diff, Math.abs(g[i] - grads[0][i]));
      expect(diff / scale).toBeLessThan(1e-4);
    }
  });

  it('train: Adam steps reduce an MSE loss', async () => {
    const net = track(createUnet({ ...TINY, inChannels: 2, outChannels: 2 }));
    const x = inputFor(net, 4, 7);
    const target = x.map((v, i) => (i % 3 === 0 ? v : -v)); // a pixel-wise map of the input
    const adam = new Adam(net.paramCount, 3e-3);
    const losses: number[] = [];
    for (let step = 0; step < 40; step++) {
      const y = await net.forward(x, 4);
      const dY = new Float32Array(y.length);
      let loss = 0;
      for (let i = 0; i < y.length; i++) {
        const d = y[i] - target[i];
        loss += d * d;
        dY[i] = (2 * d) / y.length;
      }
      losses.push(loss / y.length);
      adam.step(net.params, await net.backward(dY));
    }
    expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);
  });
});

describe('unet runtime', () => {
  it('forward and predict agree, for two batch sizes', async () => {
    const net = track(createUnet(TINY));
    for (const batch of [1, 3]) {
      const x = inputFor(net, batch);
      const y = (await net.forward(x, batch)).slice();
      expect(y.length).toBe(batch * 2 * 8 * 8);
      expect(await net.predict(x, batch)).toEqual(y);
    }
  });

  it('rejects wrong input and gradient lengths, and backward before forward, with BAD_INPUT', async () => {
    const net = track(createUnet(TINY));
    await expectRagar(net.backward(new Float32Array(2 * 64)), 'BAD_INPUT', /forward\(\) first/);
    await expectRagar(net.forward(new Float32Array(3 * 64 - 1), 1), 'BAD_INPUT', /191 values.*needs 192/);
    await expectRagar(net.predict(new Float32Array(3 * 64), 2), 'BAD_INPUT', /needs 384/);
    await expectRagar(net.forward(new Float32Array(0), 0), 'BAD_INPUT', /batch size/);
    await net.forward(inputFor(net, 1), 1);
    await expectRagar(net.backward(new Float32Array(5)), 'BAD_INPUT', /needs 128/);
  });

  it('saves and loads (round trip, checksum, version, layout)', async () => {
    const net = track(createUnet(TINY));
    net.params[7] += 0.25; // not the seeded initial value
    const dir = await tempDir();
    await net.save(dir);
    const again = track(await loadUnet(dir));
    expect(again.params).toEqual(net.params);
    const x = inputFor(net, 2);
    expect(await again.predict(x, 2)).toEqual(await net.predict(x, 2));

    // a different architecture refuses the checkpoint
    const other = track(createUnet({ ...TINY, base: 8 }));
    await expectRagar(other.load(dir), 'BAD_INPUT', /parameter/);

    // corrupt bytes fail the checksum
    const bin = path.join(dir, 'params.bin');
    const bytes = await readFile(bin);
    bytes[100] ^= 0xff;
    await writeFile(bin, bytes);
    await expectRagar(loadUnet(dir), 'BAD_INPUT', /checksum/);

    // a future format version is refused
    const jsonFile = path.join(dir, 'net.json');
    const header = JSON.parse(await readFile(jsonFile, 'utf8'));
    await writeFile(jsonFile, JSON.stringify({ ...header, version: 99 }));
    await expectRagar(loadUnet(dir), 'BAD_INPUT', /version 99/);
    await expectRagar(loadUnet(path.join(dir, 'missing')), 'NOT_FOUND', /cannot read/);
  });

  it('cannot run after dispose', async () => {
    const net = createUnet(TINY);
    await net.ready(1);
    await net.dispose();
    await expectRagar(net.forward(inputFor(net, 1), 1), 'BAD_INPUT', /disposed/);
  });
});
