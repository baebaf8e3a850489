import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseLazyLoadIndex } from './lazyload.js';
import { RDataError, unserialize } from './xdr.js';
import { crc32, decompressRawLzma2, isXzContainer, wrapRawLzma2 } from './xz.js';
import { hasXzCli, xzContainerCli, xzRawCli } from './writer.testing.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('xz helpers', () => {
  it('computes CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('wraps a raw LZMA2 stream in a valid .xz container', () => {
    const wrapped = wrapRawLzma2(Uint8Array.from([0x00]), 0, 4096); // empty LZMA2 stream = end marker only
    expect(isXzContainer(wrapped)).toBe(true);
    expect(wrapped.length % 4).toBe(0);
    expect(Buffer.from(wrapped.subarray(-2)).toString('latin1')).toBe('YZ');
  });

  it('decodes the raw LZMA2 payload of the committed fixture', async () => {
    const index = await parseLazyLoadIndex(readFileSync(path.join(here, 'fixtures/xz-db/Rdata.rdx')), 'Rdata.rdx');
    const key = index.variables.get('small');
    if (!key) throw new Error('fixture has no "small"');
    const blob = readFileSync(path.join(here, 'fixtures/xz-db/Rdata.rdb')).subarray(key.offset, key.offset + key.length);
    expect(String.fromCharCode(blob[4])).toBe('Z');
    const out = await decompressRawLzma2(blob.subarray(5), blob.readUInt32BE(0));
    expect(unserialize(out)).toEqual({ type: 'integer', data: [1, 2, null], attributes: null });
  });

  it.skipIf(!hasXzCli())('round-trips data compressed by the xz tool, raw and container', async () => {
    const data = Buffer.from(Array.from({ length: 20000 }, (_, i) => `row ${i} ${i % 7}\n`).join(''));
    expect(Buffer.from(await decompressRawLzma2(xzRawCli(data), data.length)).equals(data)).toBe(true);
    expect(Buffer.from(await decompressRawLzma2(xzContainerCli(data), data.length)).equals(data)).toBe(true);
  });

  it('reports corrupt data and size mismatches', async () => {
    await expect(decompressRawLzma2(Uint8Array.from([0xe0, 1, 2, 3, 4, 5]), 10, 'blob')).rejects.toThrow(RDataError);
    await expect(decompressRawLzma2(Uint8Array.from([0x01, 0x00, 0x01, 0x41, 0x42, 0x00]), 3, 'blob')).rejects.toThrow(
      /decompressed to 2 bytes, expected 3|corrupt or truncated/,
    );
    await expect(decompressRawLzma2(Uint8Array.from([0x00]), 10, 'blob')).rejects.toThrow(/^blob: xz decompression failed: .*corrupt or truncated/);
  });
});
