/**
 * The one persistence module (DESIGN §6): every file the project saves goes through
 * {@link writeFileAtomic} / {@link writeFileAtomicSync} (a temporary file in the same folder,
 * fsync, rename; the temporary file is removed on failure), so a crash leaves the old file or the
 * new one, never half of one; and every saved model is a tensor bundle (`tensorBundle.ts`).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { RagarError } from './errors.js';

/** A temporary name beside `file` (same folder, so the rename is atomic). */
function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Write `data` to `file` atomically: a temporary file in the same folder, fsync, rename.
 *
 * @example
 * await writeFileAtomic('/out/metrics.json', JSON.stringify(obj));
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempName(file);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * {@link writeFileAtomic} for synchronous callers (model savers, the image store). `parts` are
 * written one after the other, so a large blob need not be copied into one buffer.
 *
 * @example
 * writeFileAtomicSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
 */
export function writeFileAtomicSync(file: string, ...parts: (string | Uint8Array)[]): void {
  const tmp = tempName(file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    for (const p of parts) fs.writeSync(fd, typeof p === 'string' ? Buffer.from(p) : p);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Read and parse a JSON file the project saved, with a clear error naming the file when it is
 * not valid JSON (the shape is the caller's to check).
 *
 * @example
 * const meta = readJsonFile<{ format?: string }>(path.join(dir, 'generator.json'));
 */
export function readJsonFile<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new RagarError(`${file}: not valid JSON (${(err as Error).message})`, 'BAD_INPUT');
  }
}
