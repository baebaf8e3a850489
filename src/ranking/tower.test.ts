import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { RagarError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import {
  agreement,
  decodePixels64,
  ImageTower,
  TOWER_INPUT_LENGTH,
  trainImageTower,
  type TowerArchitecture,
  type TowerExample,
  TOWER_FILE,
} from './tower.js';

const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-tower-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

const ARCH: TowerArchitecture = { inputSize: 64, poolTo: 16, convChannels: [6, 8], hidden: 12, outputDim: 5, activation: 'gelu' };

/** A 64×64 image of a few soft coloured discs on white (smooth, emoji-like blobs). */
function syntheticImage(rng: Rng): Float32Array {
  const px = new Float32Array(TOWER_INPUT_LENGTH).fill(1);
  const discs = 1 + rng.int(3);
  for (let k = 0; k < discs; k++) {
    const cx = 8 + rng.next() * 48;
    const cy = 8 + rng.next() * 48;
    const r = 6 + rng.next() * 16;
    const col = [rng.next(), rng.next(), rng.next()];
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        const dist = Math.hypot(x - cx, y - cy);
        const a = Math.min(1, Math.max(0, r - dist)); // antialiased edge
        if (a === 0) continue;
        const shade = 1 - (0.3 * (y - cy + r)) / (2 * r); // vertical shading
        for (let c = 0; c < 3; c++) {
          const i = (y * 64 + x) * 3 + c;
          px[i] = (1 - a) * px[i] + a * col[c] * shade;
        }
      }
    }
  }
  return px;
}

/** Mean colours of the 4×4 grid of 16×16 blocks: 48 values. */
function blockMeans(px: Float32Array): Float64Array {
  const f = new Float64Array(48);
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      const b = ((y >> 4) * 4 + (x >> 4)) * 3;
      for (let c = 0; c < 3; c++) f[b + c] += px[(y * 64 + x) * 3 + c] / 256;
    }
  }
  return f;
}

function syntheticData(n: number, d: number, seed: number): TowerExample[] {
  const rng = new Rng(seed);
  const mapRng = new Rng(99); // the same teacher for every split
  const A = Array.from({ length: d * 48 }, () => mapRng.normal() / Math.sqrt(48));
  return Array.from({ length: n }, () => {
    const pixels = syntheticImage(rng);
    const f = blockMeans(pixels);
    const target = new Float32Array(d);
    for (let k = 0; k < d; k++) {
      let s = 0;
      for (let j = 0; j < 48; j++) s += A[k * 48 + j] * (f[j] - 0.8);
      target[k] = Math.tanh(2 * s) + 0.5; // nonlinearity, non-zero mean
    }
    return { pixels, target };
  });
}

describe('ImageTower', () => {
  it('pixel gradient matches central finite differences (float64)', () => {
    const variants: Partial<TowerArchitecture>[] = [
      {},
      { activation: 'relu' },
      { head: 'gap', convChannels: [4, 6, 8] },
      { convChannels: [], poolTo: 8 },
    ];
    for (const variant of variants) {
      const tower = ImageTower.create({ ...ARCH, ...variant }, 7, Float32Array.from([0.1, -0.2, 0.3, 0, 1]), 1.7);
      const rng = new Rng(3);
      const pixels = Float64Array.from(syntheticImage(rng));
      const v = Float64Array.from({ length: ARCH.outputDim }, () => rng.normal());
      const { score, grad } = tower.scoreAndGrad(pixels, v);
      const s = tower.embed(pixels);
      expect(score).toBeCloseTo(s.reduce((acc, x, k) => acc + x * v[k], 0), 4);
      const eps = 1e-5;
      let checked = 0;
      for (let trial = 0; trial < 12; trial++) {
        const i = rng.int(TOWER_INPUT_LENGTH);
        const keep = pixels[i];
        pixels[i] = keep + eps;
        const up = tower.scoreAndGrad(pixels, v).score;
        pixels[i] = keep - eps;
        const down = tower.scoreAndGrad(pixels, v).score;
        pixels[i] = keep;
        const fd = (up - down) / (2 * eps);
        const scaleRef = Math.max(Math.abs(fd), Math.abs(grad[i]), 1e-4);
        // grad is returned as float32 (relative rounding 6e-8); the FD error is O(eps²).
        expect(Math.abs(fd - grad[i]) / scaleRef).toBeLessThan(1e-3);
        checked++;
      }
      expect(checked).toBe(12);
      // Gradient is not trivially zero.
      expect(grad.some((g) => Math.abs(g) > 1e-6)).toBe(true);
    }
  });

  it('learns a smooth function of the pixels (held-out Spearman > 0.9)', () => {
    const d = 6;
    const all = syntheticData(400, d, 11);
    const train = all.slice(0, 300);
    const valid = all.slice(300);
    const { tower, curve, msPerSample } = trainImageTower(train, valid, {
      hidden: 32,
      epochs: 30,
      batchSize: 16,
      learningRate: 3e-3,
      seed: 5,
      poolTo: 16,
      convChannels: [8, 16],
      head: 'flatten', // the targets depend on where the colours are
      patience: 30,
    });
    expect(curve.length).toBeGreaterThan(0);
    expect(curve.at(-1)!.validMse).toBeLessThan(curve[0].validMse);
    const rng = new Rng(21);
    const users = Array.from({ length: 20 }, () => Float32Array.from({ length: d }, () => rng.normal()));
    const a = agreement(tower, valid, users);
    expect(a.spearman).toBeGreaterThan(0.9);
    expect(a.pearsonCentered).toBeGreaterThan(0.9);
    expect(a.perUser).toHaveLength(20);
    expect(tower.training?.heldOut?.spearman).toBeGreaterThan(0.9);
    expect(msPerSample).toBeGreaterThan(0);
  });

  it('save/load round-trips exactly; rejects wrong sizes and other formats', async () => {
    const tower = ImageTower.create(ARCH, 1, Float32Array.from([1, 2, 3, 4, 5]), 0.5);
    const px = syntheticImage(new Rng(8));
    const v = Float32Array.from([1, -1, 0.5, 2, 0]);
    const dir = tmpDir();
    await tower.save(dir);
    expect(fs.readdirSync(dir)).toEqual([TOWER_FILE]);
    const { meta, weights: savedWeights } = tower.toBuffers();
    expect(meta.format).toBe('ragar-tower-v1');
    expect(meta.architecture).toEqual(ARCH);
    const again = await ImageTower.load(dir);
    expect(Array.from(again.embed(px))).toEqual(Array.from(tower.embed(px)));
    const g1 = tower.scoreAndGrad(px, v);
    const g2 = again.scoreAndGrad(px, v);
    expect(g2.score).toBe(g1.score);
    expect(Array.from(g2.grad)).toEqual(Array.from(g1.grad));
    const { meta: m, weights } = tower.toBuffers();
    expect(Array.from(ImageTower.fromBuffer(m, weights).embed(px))).toEqual(Array.from(tower.embed(px)));

    expect(() => tower.embed(new Float32Array(32 * 32 * 3))).toThrow(RagarError);
    expect(() => tower.scoreAndGrad(new Float32Array(100), v)).toThrow(RagarError);
    expect(() => tower.scoreAndGrad(px, new Float32Array(3))).toThrow(RagarError);
    const batch = tower.scoreAndGradBatch([px, px], [v]);
    expect(batch[1].score).toBe(g1.score);
    expect(Array.from(batch[0].grad)).toEqual(Array.from(g1.grad));
    expect(tower.embedBatch([px])[0]).toEqual(tower.embed(px));
    expect(() => tower.scoreAndGradBatch([px, px, px], [v, v])).toThrow(RagarError);

    const other = tmpDir();
    fs.writeFileSync(path.join(other, 'meta.json'), JSON.stringify({ format: 'ragar-ranker-v1', dimension: 5 }));
    fs.writeFileSync(path.join(other, 'weights.bin'), Buffer.alloc(16));
    await expect(ImageTower.load(other)).rejects.toThrow(RagarError);
    await expect(ImageTower.load(path.join(other, 'missing'))).rejects.toThrow(RagarError);
    fs.writeFileSync(path.join(other, 'meta.json'), 'not json');
    await expect(ImageTower.load(other)).rejects.toThrow(RagarError);
    // Right format, truncated weights.
    fs.writeFileSync(path.join(other, 'meta.json'), JSON.stringify(meta));
    fs.writeFileSync(path.join(other, 'weights.bin'), savedWeights.subarray(4));
    await expect(ImageTower.load(other)).rejects.toThrow(/bytes/);
    // Right size, corrupted weights.
    const bad = Buffer.from(savedWeights);
    bad[0] ^= 0xff;
    fs.writeFileSync(path.join(other, 'weights.bin'), bad);
    await expect(ImageTower.load(other)).rejects.toThrow(/checksum/);
    // The two-file layout of earlier versions still loads; a damaged bundle does not.
    fs.writeFileSync(path.join(other, 'weights.bin'), savedWeights);
    expect(Array.from((await ImageTower.load(other)).embed(px))).toEqual(Array.from(tower.embed(px)));
    const bundle = fs.readFileSync(path.join(dir, TOWER_FILE));
    bundle[bundle.length - 1] ^= 0x10;
    fs.writeFileSync(path.join(dir, TOWER_FILE), bundle);
    await expect(ImageTower.load(dir)).rejects.toMatchObject({ code: 'CORRUPT' });

    expect(() => ImageTower.create({ ...ARCH, poolTo: 24 }, 1)).toThrow(RagarError);
    expect(() => trainImageTower([{ pixels: px, target: new Float32Array(5) }], [], { hidden: 4, epochs: 1, batchSize: 1, learningRate: 1e-3, seed: 1, poolTo: 16 })).toThrow(RagarError);
  });

  it('decodePixels64 fits any image into 64×64 RGB on white', async () => {
    // A 100×50 half-transparent red image: contained (64×32 band) with white padding.
    const png = await sharp({ create: { width: 100, height: 50, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 1 } } })
      .png()
      .toBuffer();
    const px = await decodePixels64(png);
    expect(px).toHaveLength(TOWER_INPUT_LENGTH);
    const at = (y: number, x: number): number[] => Array.from(px.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3));
    expect(at(0, 32)).toEqual([1, 1, 1]); // padding
    const mid = at(32, 32);
    expect(mid[0]).toBeCloseTo(1, 2);
    expect(mid[1]).toBeLessThan(0.02);
    const clear = await sharp({ create: { width: 10, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .png()
      .toBuffer();
    expect(Array.from(await decodePixels64(clear)).every((x) => x === 1)).toBe(true);
    await expect(decodePixels64(Buffer.from('not an image'))).rejects.toThrow(RagarError);
  });
});
