/**
 * The one tensor-bundle format every saved model uses: one file, written atomically, holding a
 * JSON header (format version, model kind, the model's metadata, the tensors' names, shapes and
 * offsets, and the SHA-256 of the data) followed by the tensors as little-endian float32:
 *
 * ```
 * "RAGARTB1"  uint32 LE header length  header JSON (space-padded to a multiple of 4)  float32 data
 * ```
 *
 * Metadata and weights live in the same file, so a crash cannot leave one without the other, and
 * a corrupt or truncated file is refused by its checksum.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RagarError } from './errors.js';
import { writeFileAtomicSync } from './persist.js';

/** The format version written in every header. */
export const TENSOR_BUNDLE_FORMAT = 'ragar-tensor-bundle-v1';
const MAGIC = 'RAGARTB1';

/** The header of a bundle (what {@link readTensorBundle} checks before reading data). */
export interface TensorBundleHeader<M = unknown> {
  format: typeof TENSOR_BUNDLE_FORMAT;
  /** What model this is, with its own version (e.g. `ragar-ranker-v1`). */
  kind: string;
  meta: M;
  tensors: { name: string; shape: number[]; offset: number; length: number }[];
  /** SHA-256 (hex) of the float32 data. */
  sha256: string;
}

/** A tensor to save: its values and shape (default: one dimension). */
export type TensorInput = Float32Array | { data: Float32Array; shape: number[] };

/**
 * Write a bundle atomically (temporary file, fsync, rename).
 *
 * @example
 * writeTensorBundle(path.join(dir, 'ranker.bundle'), 'ragar-ranker-v1', meta, { w, q });
 */
export function writeTensorBundle<M>(file: string, kind: string, meta: M, tensors: Record<string, TensorInput>): void {
  const entries: TensorBundleHeader['tensors'] = [];
  const arrays: Float32Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const data = t instanceof Float32Array ? t : t.data;
    const shape = t instanceof Float32Array ? [data.length] : t.shape;
    if (shape.reduce((a, b) => a * b, 1) !== data.length) throw new RagarError(`tensor ${name}: shape [${shape.join(', ')}] does not hold ${data.length} values`, 'BAD_INPUT');
    entries.push({ name, shape, offset, length: data.length });
    arrays.push(data);
    offset += data.length;
  }
  const blobs = arrays.map((a) => littleEndianBytes(a));
  const hash = createHash('sha256');
  for (const b of blobs) hash.update(b);
  const header: TensorBundleHeader<M> = { format: TENSOR_BUNDLE_FORMAT, kind, meta, tensors: entries, sha256: hash.digest('hex') };
  let json = JSON.stringify(header);
  const pad = (4 - ((MAGIC.length + 4 + Buffer.byteLength(json)) % 4)) % 4;
  json += ' '.repeat(pad);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(Buffer.byteLength(json));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomicSync(file, Buffer.from(MAGIC), len, Buffer.from(json), ...blobs);
}

/** The header of a bundle without reading its data, or null when `file` is not a bundle. */
export function readTensorBundleHeader<M = unknown>(file: string): TensorBundleHeader<M> | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const head = Buffer.alloc(MAGIC.length + 4);
    if (fs.readSync(fd, head, 0, head.length, 0) !== head.length || head.toString('latin1', 0, MAGIC.length) !== MAGIC) return null;
    const json = Buffer.alloc(head.readUInt32LE(MAGIC.length));
    if (fs.readSync(fd, json, 0, json.length, head.length) !== json.length) return null;
    return JSON.parse(json.toString('utf8')) as TensorBundleHeader<M>;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Read a bundle of the expected `kind`: its metadata and its tensors by name.
 *
 * @throws RagarError `NOT_FOUND` (no file), `CORRUPT` (bad magic, header, size or checksum),
 * `VERSION` (another bundle format or model kind).
 * @example
 * const { meta, tensors } = readTensorBundle<RankerMeta>(file, 'ragar-ranker-v1');
 */
export function readTensorBundle<M>(file: string, kind: string): { meta: M; tensors: Record<string, Float32Array>; header: TensorBundleHeader<M> } {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw new RagarError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'NOT_FOUND', { cause: err });
  }
  const corrupt = (why: string) => new RagarError(`${file} is not a valid tensor bundle: ${why}`, 'CORRUPT');
  if (buf.length < MAGIC.length + 4 || buf.toString('latin1', 0, MAGIC.length) !== MAGIC) throw corrupt('wrong magic');
  const headerLength = buf.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4 + headerLength;
  if (start > buf.length) throw corrupt('truncated header');
  let header: TensorBundleHeader<M>;
  try {
    header = JSON.parse(buf.toString('utf8', MAGIC.length + 4, start)) as TensorBundleHeader<M>;
  } catch {
    throw corrupt('the header is not JSON');
  }
  if (header.format !== TENSOR_BUNDLE_FORMAT) throw new RagarError(`${file}: bundle format ${String(header.format)}, this ragar reads ${TENSOR_BUNDLE_FORMAT}`, 'VERSION');
  if (header.kind !== kind) throw new RagarError(`${file} holds a ${String(header.kind)}, expected ${kind}`, 'VERSION');
  const total = header.tensors.reduce((s, t) => s + t.length, 0);
  if (buf.length !== start + 4 * total) throw corrupt(`${buf.length - start} bytes of data, the header names ${4 * total}`);
  const data = buf.subarray(start);
  if (createHash('sha256').update(data).digest('hex') !== header.sha256) throw corrupt('checksum mismatch');
  const all = new Float32Array(total);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < total; i++) all[i] = view.getFloat32(4 * i, true);
  const tensors: Record<string, Float32Array> = {};
  for (const t of header.tensors) tensors[t.name] = all.slice(t.offset, t.offset + t.length);
  return { meta: header.meta, tensors, header };
}

/** The bytes of `a` as little-endian float32 (a view when the machine is little-endian). */
function littleEndianBytes(a: Float32Array): Buffer {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const out = Buffer.alloc(a.length * 4);
  for (let i = 0; i < a.length; i++) out.writeFloatLE(a[i], 4 * i);
  return out;
}
