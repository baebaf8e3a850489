/**
 * Checkpoints of a flat parameter array: `DIR/params.bin` (little-endian float32, in layout order)
 * and `DIR/net.json` (format name and version, the network kind and config, the parameter layout,
 * a SHA-256 of the bytes). Reading checks all of them and fails with a clear `RagarError`.
 *
 * @example
 * await writeCheckpoint(dir, { kind: 'unet', config, layout: net.paramShapes, params: net.params });
 * const { header, params } = await readCheckpoint(dir);
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { RagarError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/persist.js';
import type { ParamInfo } from './layers.js';

/** The `format` field of every checkpoint written here. */
export const CHECKPOINT_FORMAT = 'ragar-onnx-net';
/** The version of the checkpoint format this code writes and reads. */
export const CHECKPOINT_VERSION = 1;

/** The contents of `net.json`. */
export interface CheckpointHeader {
  format: string;
  version: number;
  /** Which network builder made the parameters, e.g. `unet`. */
  kind: string;
  /** That builder's configuration (enough to rebuild the network). */
  config: unknown;
  params: { name: string; shape: number[] }[];
  count: number;
  sha256: string;
}

/** What {@link writeCheckpoint} stores. */
export interface CheckpointData {
  kind: string;
  config: unknown;
  layout: readonly ParamInfo[];
  params: Float32Array;
}

function bytesOf(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Write a checkpoint into `dir` (created if missing; existing files replaced atomically).
 *
 * @example
 * await writeCheckpoint('runs/gen1', { kind: 'unet', config, layout: net.paramShapes, params: net.params });
 */
export async function writeCheckpoint(dir: string, data: CheckpointData): Promise<void> {
  const count = data.layout.reduce((a, p) => a + p.size, 0);
  if (count !== data.params.length) throw new RagarError(`checkpoint: layout has ${count} values, params ${data.params.length}`, 'BAD_INPUT');
  const bytes = bytesOf(data.params);
  const header: CheckpointHeader = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    kind: data.kind,
    config: data.config,
    params: data.layout.map((p) => ({ name: p.name, shape: [...p.shape] })),
    count,
    sha256: sha256(bytes),
  };
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, 'params.bin'), bytes);
  await writeFileAtomic(path.join(dir, 'net.json'), JSON.stringify(header, null, 2) + '\n');
}

/** Read and check only `DIR/net.json`. */
export async function readCheckpointHeader(dir: string): Promise<CheckpointHeader> {
  const file = path.join(dir, 'net.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new RagarError(`checkpoint: cannot read ${file}`, 'NOT_FOUND', { cause });
  }
  let header: CheckpointHeader;
  try {
    header = JSON.parse(text) as CheckpointHeader;
  } catch (cause) {
    throw new RagarError(`checkpoint: ${file} is not JSON`, 'BAD_INPUT', { cause });
  }
  if (header.format !== CHECKPOINT_FORMAT) throw new RagarError(`checkpoint: ${file} has format "${header.format}", expected "${CHECKPOINT_FORMAT}"`, 'BAD_INPUT');
  if (header.version !== CHECKPOINT_VERSION) {
    throw new RagarError(`checkpoint: ${file} has format version ${header.version}; this build reads version ${CHECKPOINT_VERSION}`, 'BAD_INPUT');
  }
  return header;
}

/**
 * Read a checkpoint, checking its format, version, size and SHA-256.
 *
 * @example
 * const { header, params } = await readCheckpoint('runs/gen1');
 */
export async function readCheckpoint(dir: string): Promise<{ header: CheckpointHeader; params: Float32Array }> {
  const header = await readCheckpointHeader(dir);
  const file = path.join(dir, 'params.bin');
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (cause) {
    throw new RagarError(`checkpoint: cannot read ${file}`, 'NOT_FOUND', { cause });
  }
  if (buf.byteLength !== header.count * 4) {
    throw new RagarError(`checkpoint: ${file} has ${buf.byteLength} bytes, expected ${header.count * 4}`, 'BAD_INPUT');
  }
  const params = new Float32Array(header.count);
  const bytes = bytesOf(params);
  bytes.set(buf);
  if (sha256(bytes) !== header.sha256) throw new RagarError(`checkpoint: ${file} does not match its checksum (corrupt or partly written)`, 'BAD_INPUT');
  return { header, params };
}

/**
 * Check that a checkpoint's parameter list matches a network's layout exactly (names, shapes,
 * order); throws a `BAD_INPUT` RagarError naming the first difference.
 */
export function checkLayout(header: CheckpointHeader, layout: readonly ParamInfo[]): void {
  if (header.params.length !== layout.length) {
    throw new RagarError(`checkpoint has ${header.params.length} parameter tensors, the network ${layout.length}`, 'BAD_INPUT');
  }
  header.params.forEach((p, i) => {
    const q = layout[i];
    if (p.name !== q.name || p.shape.join('x') !== q.shape.join('x')) {
      throw new RagarError(`checkpoint parameter ${i} is ${p.name} [${p.shape}], the network has ${q.name} [${q.shape}]`, 'BAD_INPUT');
    }
  });
}
