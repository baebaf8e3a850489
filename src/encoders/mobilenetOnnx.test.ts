import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { runEncoderContract } from './contract.testing.js';
import { createMobileNetEncoder, MOBILENET_MODEL_ID } from './mobilenet.js';
import { buildMobileNetGraph, createMobileNetOnnxEncoder, readMobileNetKerasModel, type MobileNetOnnxEncoder } from './mobilenetOnnx.js';
import type { ImageEncoder } from './types.js';

let shared: Promise<MobileNetOnnxEncoder> | undefined;
const sharedEncoder = (): Promise<MobileNetOnnxEncoder> => (shared ??= createMobileNetOnnxEncoder());
afterAll(async () => {
  await (await shared)?.dispose();
});

runEncoderContract('mobilenet (onnxruntime)', {
  modality: 'image',
  create: async (): Promise<ImageEncoder> => {
    const enc = await sharedEncoder();
    return { modelId: enc.modelId, dimension: enc.dimension, modality: enc.modality, encode: (i, o) => enc.encode(i, o), dispose: async () => {} };
  },
});

const require = createRequire(import.meta.url);
const pkgDir = (name: string): string => path.dirname(require.resolve(`${name}/package.json`));

/**
 * Real benchmark artwork from the installed emoji packages: every 150th Noto and Twemoji 64 px PNG,
 * every 400th OpenMoji SVG rasterised like the dataset builder, and a few Fluent 3D WebPs (RGBA,
 * flattened on white by the encoder), each at its native size so the bilinear resize runs too.
 */
async function benchmarkArtwork(): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const [pkg, sub] of [
    ['emoji-datasource-google', 'img/google/64'],
    ['emoji-datasource-twitter', 'img/twitter/64'],
  ] as const) {
    const dir = path.join(pkgDir(pkg), sub);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.png')).sort();
    files.filter((_, i) => i % 150 === 0).forEach((f) => out.push(fs.readFileSync(path.join(dir, f))));
  }
  const svgDir = path.join(pkgDir('openmoji'), 'color', 'svg');
  for (const f of fs.readdirSync(svgDir).filter((x) => x.endsWith('.svg')).sort().filter((_, i) => i % 400 === 0)) {
    const png = new Resvg(fs.readFileSync(path.join(svgDir, f)), { fitTo: { mode: 'width', value: 72 } }).render().asPng();
    out.push(Buffer.from(png));
  }
  const webpDir = path.join(pkgDir('@lobehub/fluent-emoji-3d'), 'assets');
  for (const f of fs.readdirSync(webpDir).filter((x) => x.endsWith('.webp')).sort().filter((_, i) => i % 600 === 0)) {
    out.push(await sharp(fs.readFileSync(path.join(webpDir, f))).resize(100, 100).png().toBuffer());
  }
  return out;
}

describe('mobilenet on onnxruntime', () => {
  it('keeps the tfjs encoder model id (the features are the same)', async () => {
    const enc = await sharedEncoder();
    expect(enc.modelId).toBe(MOBILENET_MODEL_ID);
    expect(enc.dimension).toBe(1280);
  });

  it('matches the tfjs-wasm encoder to 1e-4 (max abs) on real emoji artwork', async () => {
    const images = await benchmarkArtwork();
    expect(images.length).toBeGreaterThanOrEqual(40);
    const onnx = await sharedEncoder();
    const tfjs = await createMobileNetEncoder({ workers: 2, batchSize: 8 });
    try {
      const [a, b] = [await onnx.encode(images), await tfjs.encode(images)];
      let max = 0;
      for (let i = 0; i < images.length; i++) for (let j = 0; j < 1280; j++) max = Math.max(max, Math.abs(a[i][j] - b[i][j]));
      console.info(`onnxruntime vs tfjs MobileNetV2 on ${images.length} artwork images: max |Δ| = ${max.toExponential(2)}`);
      expect(max).toBeLessThanOrEqual(1e-4);
      // batching does not change the features either
      const batched = await createMobileNetOnnxEncoder({ batchSize: 7 });
      const c = await batched.encode(images.slice(0, 10));
      await batched.dispose();
      for (let i = 0; i < 10; i++) for (let j = 0; j < 1280; j++) expect(Math.abs(c[i][j] - a[i][j])).toBeLessThanOrEqual(1e-5);
    } finally {
      await tfjs.dispose();
    }
  }, 120_000);

  it('builds its graph from the package model files only', async () => {
    const model = await readMobileNetKerasModel();
    expect(model.weights.get('Conv1/kernel')?.shape).toEqual([3, 3, 3, 32]);
    const bytes = buildMobileNetGraph(model);
    expect(bytes.byteLength).toBeGreaterThan(2_000_000); // ~2.2 M float32 parameters up to flatten_1
    model.layers.splice(model.layers.findIndex((l) => l.config.name === 'flatten_1'));
    expect(() => buildMobileNetGraph(model)).toThrow(/flatten_1/);
  });
});
