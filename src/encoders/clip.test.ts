import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { NotFoundError, RagarError } from '../util/errors.js';
import { createClipEncoders, createClipImageEncoder, createClipTextEncoder, inspectClipFolder } from './clip.js';
import { runEncoderContract } from './contract.testing.js';
import { writeTinyClip } from './testing/tinyClip.js';
import { dot } from './types.js';

const root = await mkdtemp(path.join(os.tmpdir(), 'ragar-clip-'));
const dir = path.join(root, 'tiny-clip');
await writeTinyClip(dir, { seed: 3, quantized: true });

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

runEncoderContract('clip image (tiny random CLIP)', { modality: 'image', create: () => createClipImageEncoder({ modelPath: dir }) });
runEncoderContract('clip text (tiny random CLIP)', { modality: 'text', create: () => createClipTextEncoder({ modelPath: dir }) });

/** A copy of the tiny model under `name`, optionally with one file changed or removed. */
async function variant(name: string, change?: (d: string) => Promise<void>): Promise<string> {
  const d = path.join(root, name);
  await writeTinyClip(d, { seed: 3 });
  await change?.(d);
  return d;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('clip encoders', () => {
  it('loads both sides in one space with distinct per-modality ids', async () => {
    const { image, text, spaceId } = await createClipEncoders({ modelPath: dir });
    expect(spaceId).toMatch(/^clip:tiny-clip:[0-9a-f]{12}$/);
    expect(image.modelId).toBe(`${spaceId}/image`);
    expect(text.modelId).toBe(`${spaceId}/text`);
    expect(image.spaceId).toBe(spaceId);
    expect(image.dimension).toBe(16);
    expect(text.dimension).toBe(16);
    const [vi] = await image.encode([await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).png().toBuffer()]);
    const [vt] = await text.encode(['a red apple']);
    expect(Number.isFinite(dot(vi, vt))).toBe(true);
    await Promise.all([image.dispose(), text.dispose()]);
    await expect(text.encode(['x'])).rejects.toThrow(/disposed/);
  });

  it('gives the same text the same vector, ignoring case, and different texts different vectors', async () => {
    const text = await createClipTextEncoder({ modelPath: dir });
    const [a, b, c, d] = await text.encode(['a red apple', 'a red apple', 'A RED Apple', 'a blue racing car']);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(maxAbsDiff(a, c)).toBeLessThan(1e-6);
    expect(dot(a, d)).toBeLessThan(0.999);
    const [again] = await text.encode(['a red apple']);
    expect(maxAbsDiff(a, again)).toBeLessThan(1e-6);
    await text.dispose();
  });

  it('truncates long texts to model_max_length and keeps the end-of-text token', async () => {
    const text = await createClipTextEncoder({ modelPath: dir });
    // <|startoftext|> + 75 words + <|endoftext|> = 77 tokens: a longer text must tokenize the same
    const [long, exact, short] = await text.encode(['red '.repeat(75) + 'car '.repeat(300), 'red '.repeat(75), 'red '.repeat(74)]);
    expect(maxAbsDiff(long, exact)).toBeLessThan(1e-6);
    expect(maxAbsDiff(exact, short)).toBeGreaterThan(0);
    await text.dispose();
  });

  it('reads PNG, JPEG, WebP, grey, 16-bit and transparent images', async () => {
    const image = await createClipImageEncoder({ modelPath: dir, batchSize: 3 });
    const rgb = sharp({ create: { width: 48, height: 40, channels: 3, background: '#3080c0' } });
    const inputs = [
      await rgb.clone().png().toBuffer(),
      await rgb.clone().webp({ lossless: true }).toBuffer(),
      await rgb.clone().jpeg({ quality: 95 }).toBuffer(),
      await rgb.clone().toColourspace('rgb16').png().toBuffer(),
      await rgb.clone().toColourspace('b-w').png().toBuffer(),
      await sharp({ create: { width: 30, height: 60, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer(),
      await sharp({ create: { width: 30, height: 60, channels: 3, background: '#ffffff' } }).png().toBuffer(),
    ];
    expect((await sharp(inputs[4]).metadata()).channels).toBe(1);
    const progress: number[] = [];
    const vs = await image.encode(inputs, { onProgress: (n) => progress.push(n) });
    expect(progress).toEqual([3, 6, 7]);
    expect(vs).toHaveLength(inputs.length);
    for (const v of vs) expect(Math.abs(Math.sqrt(dot(v, v)) - 1)).toBeLessThan(1e-5);
    expect(dot(vs[0], vs[1])).toBeGreaterThan(0.99999); // lossless WebP == PNG
    expect(dot(vs[0], vs[2])).toBeGreaterThan(0.99); // JPEG close
    expect(dot(vs[0], vs[3])).toBeGreaterThan(0.9999); // 16-bit PNG reduced to 8 bits
    expect(dot(vs[0], vs[4])).toBeLessThan(0.99999); // grey differs from colour
    expect(dot(vs[5], vs[6])).toBeGreaterThan(0.99999); // transparency flattened onto white
    await expect(image.encode([inputs[0], new Uint8Array([1, 2, 3])])).rejects.toThrow(/image #1/);
    await image.dispose();
  });

  it('changes modelId when config.json changes, and only then', async () => {
    const a = await variant(path.join('a', 'model'));
    const b = await variant(path.join('b', 'model'));
    const c = await variant(path.join('c', 'model'), async (d) => {
      const config = JSON.parse(await readFile(path.join(d, 'config.json'), 'utf8'));
      config.projection_dim = 16;
      config.text_config.layer_norm_eps = 1e-5;
      await writeFile(path.join(d, 'config.json'), JSON.stringify(config));
    });
    const [ia, ib, ic] = await Promise.all([a, b, c].map((modelPath) => inspectClipFolder(modelPath)));
    expect(ia.spaceId).toBe(ib.spaceId);
    expect(ic.spaceId).not.toBe(ia.spaceId);
    expect(ic.spaceId).toMatch(/^clip:model:[0-9a-f]{12}$/);
    const q = await createClipImageEncoder({ modelPath: dir, quantized: true });
    const f = await createClipImageEncoder({ modelPath: dir });
    expect(q.modelId).toBe(f.modelId.replace('/image', ':q8/image'));
    await Promise.all([q.dispose(), f.dispose()]);
  });

  it('names the folder and what is missing', async () => {
    const gone = path.join(root, 'no-such-model');
    await expect(createClipEncoders({ modelPath: gone })).rejects.toThrow(new RegExp(`not found: ${gone}`));
    await expect(createClipEncoders({ modelPath: gone })).rejects.toBeInstanceOf(NotFoundError);

    const noText = await variant('no-text-onnx', (d) => unlink(path.join(d, 'onnx', 'text_model.onnx')));
    const err = await createClipEncoders({ modelPath: noText }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain(noText);
    expect((err as Error).message).toContain('missing onnx/text_model.onnx');
    expect((err as Error).message).not.toMatch(/\n\s+at /);
    // the image side alone does not need the text files
    const image = await createClipImageEncoder({ modelPath: noText });
    await image.dispose();

    await expect(createClipTextEncoder({ modelPath: noText, quantized: true })).rejects.toThrow(/missing onnx\/text_model_quantized\.onnx/);
    const noTok = await variant('no-tokenizer', async (d) => {
      await unlink(path.join(d, 'tokenizer.json'));
      await unlink(path.join(d, 'preprocessor_config.json'));
    });
    await expect(createClipEncoders({ modelPath: noTok })).rejects.toThrow(/missing preprocessor_config\.json, tokenizer\.json/);
    const quantOnly = await variant('fp32-missing', async (d) => {
      for (const n of ['vision_model', 'text_model']) {
        const onnx = path.join(d, 'onnx', `${n}.onnx`);
        await writeFile(path.join(d, 'onnx', `${n}_quantized.onnx`), await readFile(onnx));
        await unlink(onnx);
      }
    });
    await expect(createClipEncoders({ modelPath: quantOnly })).rejects.toThrow(/pass quantized: true/);
  });

  it('refuses a folder that is not a CLIP, and a broken ONNX file, with a clear error', async () => {
    const bert = await variant('bert', async (d) => {
      await writeFile(path.join(d, 'config.json'), JSON.stringify({ model_type: 'bert', hidden_size: 8 }));
    });
    await expect(createClipEncoders({ modelPath: bert })).rejects.toThrow(/model_type "bert" is not a CLIP model/);
    const broken = await variant('broken', (d) => writeFile(path.join(d, 'onnx', 'vision_model.onnx'), 'not an onnx file'));
    const err = await createClipEncoders({ modelPath: broken }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RagarError);
    expect((err as Error).message).toMatch(new RegExp(`cannot load the CLIP vision model \\(onnx/vision_model\\.onnx\\) from ${broken}`));
    const file = path.join(root, 'a-file');
    await writeFile(file, 'x');
    await expect(createClipEncoders({ modelPath: file })).rejects.toThrow(/not a folder/);
  });

  it('loads a SigLIP-shaped folder through the same route', async () => {
    const d = path.join(root, 'tiny-siglip');
    await writeTinyClip(d, { modelType: 'siglip', embedDim: 12 });
    const { image, text, spaceId } = await createClipEncoders({ modelPath: d });
    expect(spaceId).toMatch(/^siglip:tiny-siglip:/);
    const vs = await text.encode(['a red apple', 'a dog', 'red '.repeat(40)]);
    expect(vs.map((v) => v.length)).toEqual([12, 12, 12]);
    expect(dot(vs[0], vs[1])).toBeLessThan(0.999);
    const [vi] = await image.encode([await sharp({ create: { width: 20, height: 20, channels: 3, background: '#0f0' } }).png().toBuffer()]);
    expect(vi.length).toBe(12);
    await Promise.all([image.dispose(), text.dispose()]);
  });

  it('never touches the network', async () => {
    const { env } = await import('@huggingface/transformers');
    const fetches: string[] = [];
    const sockets: string[] = [];
    const originalFetch = env.fetch;
    const originalConnect = net.Socket.prototype.connect;
    env.fetch = async (input: string | URL) => {
      fetches.push(String(input));
      throw new Error('network disabled in this test');
    };
    // Record every TCP/IPC connection attempt made while loading and encoding.
    net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
      sockets.push(JSON.stringify(args[0]));
      return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
    } as typeof originalConnect;
    try {
      const fresh = await variant('offline');
      await mkdir(path.join(fresh, 'unused'), { recursive: true });
      const { image, text } = await createClipEncoders({ modelPath: fresh });
      await image.encode([await sharp({ create: { width: 8, height: 8, channels: 3, background: '#00f' } }).png().toBuffer()]);
      await text.encode(['offline text']);
      await Promise.all([image.dispose(), text.dispose()]);
      await expect(createClipEncoders({ modelPath: path.join(root, 'missing-offline') })).rejects.toThrow(/not found/);
    } finally {
      env.fetch = originalFetch;
      net.Socket.prototype.connect = originalConnect;
    }
    expect(fetches).toEqual([]);
    expect(sockets).toEqual([]);
  });
});
