import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { JOB_ID } from '../store/service.js';
import { RagarError } from '../util/errors.js';
import { writeFileAtomic } from '../util/persist.js';

/**
 * Where the service keeps files, inside the data home (`<home>/service`): uploaded reference
 * images by content hash and each job's candidates. Every path is built here from a validated
 * id (a job id, a SHA-256 hex digest, a candidate index); nothing from a request is joined
 * into a path unchecked. With BullMQ workers on other machines this folder (the data home) is
 * what must be shared.
 */
export class ServiceFiles {
  readonly root: string;
  constructor(home: string) {
    this.root = path.join(home, 'service');
  }

  /** Path of an upload by its hash. */
  uploadPath(hash: string): string {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new RagarError(`not an upload hash: ${JSON.stringify(hash)}`, 'BAD_INPUT');
    return path.join(this.root, 'uploads', `${hash}.png`);
  }

  /** Store an (already decoded and re-encoded) PNG upload; returns its hash. */
  async putUpload(png: Buffer): Promise<string> {
    const hash = createHash('sha256').update(png).digest('hex');
    const file = this.uploadPath(hash);
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, png);
    }
    return hash;
  }

  /** Read an upload. */
  readUpload(hash: string): Buffer {
    const file = this.uploadPath(hash);
    if (!fs.existsSync(file)) throw new RagarError(`upload ${hash} is missing from ${path.dirname(file)}`, 'NOT_FOUND');
    return fs.readFileSync(file);
  }

  /** Path of candidate `index` of job `jobId`. */
  candidatePath(jobId: string, index: number): string {
    if (!JOB_ID.test(jobId)) throw new RagarError(`not a job id: ${JSON.stringify(jobId)}`, 'BAD_INPUT');
    if (!Number.isInteger(index) || index < 0 || index > 63) throw new RagarError(`not a candidate index: ${index}`, 'BAD_INPUT');
    return path.join(this.root, 'results', jobId, `candidate-${index}.png`);
  }

  /** Write a job's candidates (atomically, one file each). */
  async putCandidates(jobId: string, pngs: Buffer[]): Promise<void> {
    fs.mkdirSync(path.dirname(this.candidatePath(jobId, 0)), { recursive: true });
    for (const [i, png] of pngs.entries()) await writeFileAtomic(this.candidatePath(jobId, i), png);
  }

  /** Read candidate `index` of `jobId` (NOT_FOUND when absent). */
  readCandidate(jobId: string, index: number): Buffer {
    const file = this.candidatePath(jobId, index);
    if (!fs.existsSync(file)) throw new RagarError(`job ${jobId} has no candidate ${index}`, 'NOT_FOUND');
    return fs.readFileSync(file);
  }
}
