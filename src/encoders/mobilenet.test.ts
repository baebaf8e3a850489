import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEncoderContract } from './contract.testing.js';
import { createMobileNetEncoder, decodeImageRgb, MOBILENET_MODEL_ID, type MobileNetEncoder } from './mobilenet.js';
import { preprocessRgb } from './mobilenetWorker.js';
import { dot, type ImageEncoder } from './types.js';

// One 2-worker encoder (the default) serves the whole file: the contract gets wrappers whose
// dispose() leaves it running, and the last test disposes it for real. Each load costs about
// 1.5-2 s of both cores, and more when the machine is busy.
let shared: Promise<MobileNetEncoder> | undefined;
const sharedEncoder = (): Promise<MobileNetEncoder> => (shared ??= createMobileNetEncoder());
afterAll(async () => {
  await (await shared)?.dispose();
});

runEncoderContract('mobilenet', {
  modality: 'image',
  create: async (): Promise<ImageEncoder> => {
    const enc = await sharedEncoder();
    return {
      modelId: enc.modelId,
      dimension: enc.dimension,
      modality: enc.modality,
      encode: (inputs, options) => enc.encode(inputs, options),
      dispose: async () => {},
    };
  },
});

function svg(body: string, size = 96): Promise<Buffer> {
  const doc = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="white"/>${body}</svg>`;
  return sharp(Buffer.from(doc)).png().toBuffer();
}

describe('mobilenet encoder', () => {
  let pooled: MobileNetEncoder;
  let inline: MobileNetEncoder;

  beforeAll(async () => {
    [pooled, inline] = await Promise.all([sharedEncoder(), createMobileNetEncoder({ workers: 0, batchSize: 4 })]);
    console.info(`mobilenet load: 2 workers ${pooled.loadMs.toFixed(0)} ms, in-process ${inline.loadMs.toFixed(0)} ms`);
  });
  afterAll(async () => {
    await inline?.dispose();
  });

  it('names its model, layer and input size', () => {
    expect(pooled.modelId).toBe(MOBILENET_MODEL_ID);
    expect(pooled.modelId).toBe('mobilenetv2-nsfwjs-4.3.0/flatten_1@224');
    expect(pooled.dimension).toBe(1280);
    expect(pooled.workers).toBe(2);
    expect(inline.workers).toBe(0);
  });

  it('sees a red square closer to another red square than to a blue circle', async () => {
    const [a, b, c] = await pooled.encode([
      await svg('<rect x="20" y="20" width="56" height="56" fill="#e01010"/>'),
      await svg('<rect x="26" y="16" width="50" height="50" fill="#f02020"/>'),
      await svg('<circle cx="48" cy="48" r="30" fill="#1030e0"/>'),
    ]);
    expect(dot(a, b)).toBeGreaterThan(dot(a, c));
    expect(dot(a, b)).toBeGreaterThan(0.8);
  });

  it('gives the same vectors in worker threads and in-process, across chunkings', async () => {
    const images = await Promise.all(
      Array.from({ length: 7 }, (_, i) =>
        sharp({ create: { width: 30 + 20 * i, height: 224, channels: 3, background: { r: 40 * i, g: 255 - 30 * i, b: 90 } } })
          .jpeg()
          .toBuffer(),
      ),
    );
    const progress: number[] = [];
    const a = await pooled.encode(images, { onProgress: (d) => progress.push(d) });
    const b = await inline.encode(images);
    for (let i = 0; i < images.length; i++) expect(dot(a[i], b[i])).toBeGreaterThan(0.9999);
    expect(progress.at(-1)).toBe(images.length);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
  });

  it('preprocesses exactly like nsfwjs (x / 255, tfjs bilinear resize with aligned corners)', async () => {
    const tf = await import('@tensorflow/tfjs'); // already on the wasm backend: `inline` loaded it here
    for (const [width, height] of [[37, 53], [500, 301], [224, 224], [1, 1]]) {
      const data = new Uint8Array(width * height * 3);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 5) * 31) % 256;
      const ours = preprocessRgb({ width, height, data });
      const theirs = tf.tidy(() => {
        const x = tf.tensor3d(Float32Array.from(data), [height, width, 3]).div(255);
        return width === 224 && height === 224 ? x : tf.image.resizeBilinear(x as import('@tensorflow/tfjs').Tensor3D, [224, 224], true);
      });
      const ref = theirs.dataSync();
      theirs.dispose();
      let maxDiff = 0;
      for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - ours[i]));
      expect(maxDiff).toBeLessThan(1e-6);
    }
  });

  it('flattens alpha on white and accepts grey, palette and 16-bit images', async () => {
    const transparent = await sharp({ create: { width: 32, height: 32, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const white = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const grey = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#808080' } }).toColourspace('b-w').png().toBuffer();
    const deep = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#336699' } }).toColourspace('rgb16').png().toBuffer();
    const palette = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#336699' } }).png({ palette: true }).toBuffer();
    const rgb = await decodeImageRgb(transparent);
    expect(rgb.data.every((x) => x === 255)).toBe(true);
    expect((await decodeImageRgb(grey)).data.length).toBe(20 * 20 * 3);
    expect([...(await decodeImageRgb(deep)).data.subarray(0, 3)]).toEqual([0x33, 0x66, 0x99]);
    const [t, w] = await inline.encode([transparent, white, grey, deep, palette]);
    expect(dot(t, w)).toBeGreaterThan(0.9999);
  });

  it('names a corrupt input by its index', async () => {
    const ok = await svg('<rect x="10" y="10" width="20" height="20" fill="red"/>');
    await expect(pooled.encode([ok, ok, Buffer.from('not an image at all')])).rejects.toThrow(/image 2\b/);
    await expect(inline.encode([Buffer.alloc(0)])).rejects.toThrow(/image 0\b/);
    // the pool still works afterwards
    expect(await pooled.encode([ok])).toHaveLength(1);
  });

  it('stops a call that is aborted while running', async () => {
    const img = await svg('<circle cx="48" cy="48" r="30" fill="green"/>');
    const controller = new AbortController();
    const call = pooled.encode(Array.from({ length: 12 }, () => img), {
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(call).rejects.toThrow(/abort/i);
  });

  it('disposes for real, twice, and refuses work afterwards', async () => {
    const img = await svg('<circle cx="48" cy="48" r="30" fill="green"/>');
    await pooled.dispose();
    await pooled.dispose();
    await expect(pooled.encode([img])).rejects.toThrow(/disposed/);
    await inline.dispose();
    await inline.dispose();
    await expect(inline.encode([img])).rejects.toThrow(/disposed/);
  });
});
