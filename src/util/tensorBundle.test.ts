import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTensorBundle, readTensorBundleHeader, writeTensorBundle } from './tensorBundle.js';
import { writeFileAtomic, writeFileAtomicSync } from './persist.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-bundle-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('tensor bundle', () => {
  it('round-trips metadata and tensors with their shapes, and leaves no temporary file', () => {
    const file = path.join(dir, 'sub', 'm.bundle');
    const w = Float32Array.from({ length: 12 }, (_, i) => i / 3 - 1);
    writeTensorBundle(file, 'test-model-v1', { dim: 3, note: 'ünïcode' }, { w: { data: w, shape: [4, 3] }, b: new Float32Array([0.5]), empty: new Float32Array(0) });
    const r = readTensorBundle<{ dim: number; note: string }>(file, 'test-model-v1');
    expect(r.meta).toEqual({ dim: 3, note: 'ünïcode' });
    expect([...r.tensors.w]).toEqual([...w]);
    expect([...r.tensors.b]).toEqual([0.5]);
    expect(r.tensors.empty).toHaveLength(0);
    expect(r.header.tensors.find((t) => t.name === 'w')!.shape).toEqual([4, 3]);
    expect(readTensorBundleHeader(file)!.kind).toBe('test-model-v1');
    expect(fs.readdirSync(path.dirname(file))).toEqual(['m.bundle']);
  });

  it('refuses a missing file, another kind, a flipped byte, a truncated file and a bad shape with typed errors', () => {
    const file = path.join(dir, 'x.bundle');
    writeTensorBundle(file, 'kind-a', {}, { t: new Float32Array([1, 2, 3, 4]) });
    expect(() => readTensorBundle(path.join(dir, 'none.bundle'), 'kind-a')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(() => readTensorBundle(file, 'kind-b')).toThrow(expect.objectContaining({ code: 'VERSION' }));
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 2] ^= 0xff;
    fs.writeFileSync(file, bytes);
    expect(() => readTensorBundle(file, 'kind-a')).toThrow(expect.objectContaining({ code: 'CORRUPT', message: expect.stringMatching(/checksum/) }));
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 4));
    expect(() => readTensorBundle(file, 'kind-a')).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
    fs.writeFileSync(file, 'not a bundle at all');
    expect(() => readTensorBundle(file, 'kind-a')).toThrow(expect.objectContaining({ code: 'CORRUPT', message: expect.stringMatching(/magic/) }));
    expect(readTensorBundleHeader(file)).toBeNull();
    expect(() => writeTensorBundle(file, 'k', {}, { t: { data: new Float32Array(5), shape: [2, 2] } })).toThrow(/shape/);
  });
});

describe('atomic writes', () => {
  it('replace a file whole, and leave the old one and no temporary file when writing fails', async () => {
    const file = path.join(dir, 'a.json');
    writeFileAtomicSync(file, '{"v":', '1}');
    expect(fs.readFileSync(file, 'utf8')).toBe('{"v":1}');
    await writeFileAtomic(file, '{"v":2}');
    expect(fs.readFileSync(file, 'utf8')).toBe('{"v":2}');
    const missing = path.join(dir, 'no-such-folder', 'b.json');
    expect(() => writeFileAtomicSync(missing, 'x')).toThrow();
    await expect(writeFileAtomic(missing, 'x')).rejects.toThrow();
    // a folder where the file should be: the rename fails, the temporary file is removed
    fs.mkdirSync(path.join(dir, 'taken'));
    expect(() => writeFileAtomicSync(path.join(dir, 'taken'), 'x')).toThrow();
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
