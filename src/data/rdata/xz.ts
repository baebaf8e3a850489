/**
 * xz / LZMA2 decompression for R lazy-load blobs, on top of the WebAssembly
 * `xz-decompress` package (xz-embedded), which only understands the `.xz`
 * container format.
 *
 * R's `R_compress3` (src/main/connections.c) does not write `.xz` files: it
 * runs `lzma_raw_encoder` with a single LZMA2 filter (preset 6, 8 MiB
 * dictionary), so a type-3 blob holds a bare LZMA2 stream. To decode it we
 * wrap that stream in a minimal `.xz` container (one block, check type
 * "none", matching index and footer) and feed it to xz-embedded.
 */
import { RDataError } from './xdr.js';

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, as used by xz and gzip) of `data`. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Whether `data` starts with the `.xz` container magic bytes. */
export function isXzContainer(data: Uint8Array): boolean {
  if (data.length < XZ_MAGIC.length) return false;
  return XZ_MAGIC.every((b, i) => data[i] === b);
}

function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** LZMA2 dictionary-size property byte for the smallest dictionary >= `size`. */
function lzma2DictProp(size: number): number {
  for (let p = 0; p < 40; p++) {
    const dict = (2 | (p & 1)) * 2 ** (Math.floor(p / 2) + 11);
    if (dict >= size) return p;
  }
  return 40;
}

/**
 * Wrap a raw LZMA2 stream (as written by liblzma's raw encoder) in a minimal
 * single-block `.xz` container that any xz decoder accepts.
 *
 * @param raw the LZMA2 stream, including its end marker
 * @param uncompressedSize number of bytes it decodes to (recorded in the index)
 * @param dictSize dictionary size to declare; must be at least what the encoder used
 *   or at least `uncompressedSize`
 */
export function wrapRawLzma2(raw: Uint8Array, uncompressedSize: number, dictSize: number): Uint8Array {
  const streamFlags = [0x00, 0x00]; // check type: none
  const header = [...XZ_MAGIC, ...streamFlags, ...u32le(crc32(Uint8Array.from(streamFlags)))];

  // Block header: size byte, flags (1 filter, no sizes), LZMA2 filter flags, padding, CRC32.
  const bh = [0x02, 0x00, 0x21, 0x01, lzma2DictProp(dictSize), 0x00, 0x00, 0x00];
  const blockHeader = [...bh, ...u32le(crc32(Uint8Array.from(bh)))];
  const blockPadding = (4 - (raw.length % 4)) % 4;
  const unpaddedSize = blockHeader.length + raw.length; // + 0 bytes of check

  const index = [0x00, ...varint(1), ...varint(unpaddedSize), ...varint(uncompressedSize)];
  while (index.length % 4 !== 0) index.push(0x00);
  index.push(...u32le(crc32(Uint8Array.from(index))));

  const backward = [...u32le(index.length / 4 - 1), ...streamFlags];
  const footer = [...u32le(crc32(Uint8Array.from(backward))), ...backward, 0x59, 0x5a];

  const out = new Uint8Array(header.length + blockHeader.length + raw.length + blockPadding + index.length + footer.length);
  let p = 0;
  out.set(header, p);
  p += header.length;
  out.set(blockHeader, p);
  p += blockHeader.length;
  out.set(raw, p);
  p += raw.length + blockPadding;
  out.set(index, p);
  p += index.length;
  out.set(footer, p);
  return out;
}

/** xz-embedded's `enum xz_ret` values, as reported by xz-decompress. */
const XZ_ERRORS: Record<number, string> = {
  2: 'unsupported integrity check type',
  3: 'out of memory',
  4: 'dictionary too large (memory limit)',
  5: 'not xz data (bad magic bytes)',
  6: 'unsupported xz options (filters or headers)',
  7: 'the data is corrupt or truncated (xz data error)',
  8: 'the data is corrupt or truncated (unexpected end of input)',
};

type XzStreamCtor = new (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
let xzCtor: Promise<XzStreamCtor> | null = null;

async function loadXz(): Promise<XzStreamCtor> {
  if (!xzCtor) {
    xzCtor = import('xz-decompress').then((mod: unknown) => {
      const m = mod as { XzReadableStream?: XzStreamCtor; default?: { XzReadableStream?: XzStreamCtor } };
      const ctor = m.XzReadableStream ?? m.default?.XzReadableStream;
      if (!ctor) throw new RDataError('the xz-decompress package does not export XzReadableStream');
      return ctor;
    });
  }
  return xzCtor;
}

/**
 * Decompress a complete `.xz` container (all streams) to bytes.
 *
 * @throws {RDataError} when the data is not valid xz (`label` names the source)
 */
export async function decompressXz(data: Uint8Array, label = 'xz data'): Promise<Uint8Array> {
  const Xz = await loadXz();
  const CHUNK = 1 << 20;
  let offset = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= data.length) {
        controller.close();
        return;
      }
      controller.enqueue(data.subarray(offset, offset + CHUNK));
      offset += CHUNK;
    },
  });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    const reader = new Xz(input).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
    }
  } catch (err) {
    const msg = (err as Error)?.message ?? String(err);
    const code = /error code (\d+)/.exec(msg)?.[1];
    const hint = code ? XZ_ERRORS[Number(code)] ?? `error code ${code}` : msg;
    throw new RDataError(`${label}: xz decompression failed: ${hint}`, { cause: err });
  }
  const out = new Uint8Array(total);
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

/**
 * Decompress a bare LZMA2 stream as written by R's `R_compress3`
 * (`lzma_raw_encoder`, preset 6). If the data is actually a full `.xz`
 * container it is decoded as such.
 *
 * @throws {RDataError} on corrupt data or when the output size differs from `uncompressedSize`
 */
export async function decompressRawLzma2(raw: Uint8Array, uncompressedSize: number, label = 'LZMA2 data'): Promise<Uint8Array> {
  let out: Uint8Array;
  if (isXzContainer(raw)) {
    out = await decompressXz(raw, label);
  } else {
    // Any dictionary at least as large as the output works; cap the allocation.
    const dict = Math.max(4096, Math.min(uncompressedSize, 64 * 1024 * 1024));
    out = await decompressXz(wrapRawLzma2(raw, uncompressedSize, dict), label);
  }
  if (out.length !== uncompressedSize) {
    throw new RDataError(`${label}: xz data decompressed to ${out.length} bytes, expected ${uncompressedSize}`);
  }
  return out;
}
