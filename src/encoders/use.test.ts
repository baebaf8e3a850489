import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEncoderContract } from './contract.testing.js';
import { dot, type TextEncoder } from './types.js';
import { createUseEncoder, USE_MODEL_ID, type UseEncoder } from './use.js';

// One child process serves the file (batches of 4, to exercise chunking): the contract gets
// wrappers whose dispose() leaves it running; the crash test starts its own child.
let shared: Promise<UseEncoder> | undefined;
const sharedEncoder = (): Promise<UseEncoder> => (shared ??= createUseEncoder({ batchSize: 4 }));
afterAll(async () => {
  await (await shared)?.dispose();
});

runEncoderContract('use', {
  modality: 'text',
  create: async (): Promise<TextEncoder> => {
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

describe('use encoder', () => {
  let enc: UseEncoder;

  beforeAll(async () => {
    enc = await sharedEncoder();
    console.info(`use load: ${enc.loadMs.toFixed(0)} ms`);
  });

  it('names its model', () => {
    expect(enc.modelId).toBe(USE_MODEL_ID);
    expect(enc.modelId).toBe('use-energetic-ai-0.2.0');
    expect(enc.dimension).toBe(512);
    expect(enc.modality).toBe('text');
  });

  it('puts a happy face nearer a grinning face than a racing car', async () => {
    const [happy, grin, car] = await enc.encode(['a happy smiling face', 'grinning face', 'a red racing car']);
    expect(dot(happy, grin)).toBeGreaterThan(dot(happy, car));
  });

  it('embeds empty texts anywhere in a batch, the same way every time', async () => {
    const vs = await enc.encode(['', 'a cat', '', 'a dog', '']);
    expect(vs).toHaveLength(5);
    const [alone] = await enc.encode(['']);
    for (const i of [0, 2, 4]) expect(dot(vs[i], alone)).toBeGreaterThan(0.9999);
    expect(dot(vs[1], alone)).toBeLessThan(0.99);
  });

  it('reports progress per batch and keeps the order across batches', async () => {
    const texts = Array.from({ length: 10 }, (_, i) => `emoji number ${i}`);
    const progress: number[] = [];
    const all = await enc.encode(texts, { onProgress: (d) => progress.push(d) });
    expect(progress).toEqual([4, 8, 10]);
    const [seventh] = await enc.encode([texts[7]]);
    expect(dot(all[7], seventh)).toBeGreaterThan(0.9999);
  });

  it('stops a call aborted between batches', async () => {
    const controller = new AbortController();
    const call = enc.encode(Array.from({ length: 40 }, (_, i) => `text ${i}`), {
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(call).rejects.toThrow(/abort/i);
  });

  it('fails clearly, without hanging, when the child process dies', async () => {
    const doomed = await createUseEncoder();
    const pid = doomed.pid;
    expect(pid).toBeTypeOf('number');
    const call = doomed.encode(Array.from({ length: 500 }, (_, i) => `a sentence to keep the child busy ${i}`));
    process.kill(pid!, 'SIGKILL');
    await expect(call).rejects.toThrow(/USE child process exited unexpectedly \(signal SIGKILL\)/);
    await expect(doomed.encode(['again'])).rejects.toThrow(/exited/);
    expect(doomed.pid).toBeUndefined();
    await doomed.dispose();
    await doomed.dispose();
  });

  it('ends its child on dispose, twice, and refuses work afterwards', async () => {
    const pid = enc.pid!;
    await enc.dispose();
    await enc.dispose();
    expect(enc.pid).toBeUndefined();
    expect(() => process.kill(pid, 0)).toThrow();
    await expect(enc.encode(['x'])).rejects.toThrow(/disposed/);
  });
});
