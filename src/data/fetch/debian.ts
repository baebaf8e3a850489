import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { RagarError } from '../../util/errors.js';

const run = promisify(execFile);

/** A Debian package unpacked into a temporary folder. */
export interface UnpackedDeb {
  /** The .deb file used. */
  deb: string;
  /** `Package` and `Version` from the package's control data. */
  package: string;
  version: string;
  /** Folder the package's files were extracted into (a file system root). */
  root: string;
  /** Remove the temporary folder. */
  cleanup(): void;
}

function stderrOf(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(err)).trim().split('\n').slice(-2).join(' ');
}

/**
 * Download a Debian package with `apt-get download` (no installation, no root needed once the
 * package lists exist) into `dir`. When apt knows no such package and we are root, runs
 * `apt-get update` once and retries. Returns the path of the .deb.
 */
export async function aptDownload(pkg: string, dir: string): Promise<string> {
  const attempt = async (): Promise<string> => {
    await run('apt-get', ['download', pkg], { cwd: dir, maxBuffer: 16 << 20 });
    const deb = fs.readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!deb) throw new RagarError(`apt-get download ${pkg} produced no .deb in ${dir}`, 'FETCH');
    return path.join(dir, deb);
  };
  try {
    return await attempt();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RagarError('apt-get is not available on this machine; pass --deb FILE with a downloaded .deb', 'FETCH');
    }
    const message = stderrOf(err);
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    if (/Unable to locate package|has no installation candidate/i.test(message) && isRoot) {
      try {
        await run('apt-get', ['update', '-qq'], { maxBuffer: 16 << 20 });
      } catch (updateErr) {
        throw new RagarError(`apt-get update failed: ${stderrOf(updateErr)}`, 'FETCH');
      }
      try {
        return await attempt();
      } catch (retryErr) {
        throw new RagarError(`apt-get download ${pkg} failed after apt-get update: ${stderrOf(retryErr)}`, 'FETCH');
      }
    }
    throw new RagarError(
      `apt-get download ${pkg} failed: ${message}` + (isRoot ? '' : ' (try `sudo apt-get update` first, or pass --deb FILE)'),
      'FETCH',
    );
  }
}

/**
 * Unpack a .deb (with `dpkg-deb -x`) into a fresh temporary folder and read its name and version.
 *
 * @example
 * const pkg = await unpackDeb('/tmp/r-cran-dslabs_0.7.4-1_all.deb');
 * // pkg.root + '/usr/lib/R/site-library/dslabs/data/Rdata.rdx'
 * pkg.cleanup();
 */
export async function unpackDeb(deb: string): Promise<UnpackedDeb> {
  if (!fs.existsSync(deb)) throw new RagarError(`${deb}: file not found`, 'BAD_INPUT');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-deb-'));
  const cleanup = () => fs.rmSync(root, { recursive: true, force: true });
  try {
    await run('dpkg-deb', ['-x', deb, root], { maxBuffer: 16 << 20 });
    const { stdout } = await run('dpkg-deb', ['-f', deb, 'Package', 'Version']);
    const fields = Object.fromEntries(
      stdout
        .split('\n')
        .map((l) => l.split(/:\s*/, 2))
        .filter((kv) => kv.length === 2),
    ) as Record<string, string>;
    return { deb, package: fields.Package ?? '?', version: fields.Version ?? '?', root, cleanup };
  } catch (err) {
    cleanup();
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RagarError('dpkg-deb is not available on this machine (it ships with Debian/Ubuntu)', 'FETCH');
    }
    throw new RagarError(`${deb}: not a readable Debian package (${stderrOf(err)})`, 'BAD_INPUT');
  }
}
