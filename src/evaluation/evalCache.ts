/**
 * The resumable result cache of `ragar eval`: one folder per run configuration (a method with
 * its settings, keyed by a hash of the settings and of the generator weights' checksum) under
 * `<report>/.cache/runs/<key>/`:
 *
 * ```
 * settings.json      the settings the key was made from (for people)
 * results.jsonl      one line per finished task: scores, vectors, the chosen output's file
 * images/<task>.png  the chosen output of each task
 * ```
 *
 * Consistency: the image is written atomically (temporary file + rename) before its line is
 * appended, and a line is appended in one write, so an interrupted run leaves at most a partial
 * last line, which {@link RunCache.open} cuts off. A task whose line exists is finished; a line
 * whose image is missing is ignored. Later lines for a task replace earlier ones (rescoring
 * appends a new line rather than rewriting the file).
 */
import fs from 'node:fs';
import path from 'node:path';
import { RagarError } from '../util/errors.js';
import { writeFileAtomic } from './report/write.js';
import { writeFileAtomicSync } from '../util/persist.js';

/** One finished (configuration, task) result as the harness uses it. */
export interface CachedResult {
  /** Task external id. */
  task: string;
  /** `TaskInstruments.key` the scores were computed with. */
  metricsKey: string;
  /** Per-task scores (NaN where not available). */
  metrics: Record<string, number>;
  /** MobileNetV2 vector of the output (for the Fréchet distance and rescoring). */
  image: Float32Array;
  /** Raw style-statistics vector of the output. */
  style: Float32Array | null;
  /** CLIP image vector of the output, when CLIP was configured. */
  clipImage: Float32Array | null;
  /** Seconds the generation and selection took (0 for copied images). */
  seconds: number;
  /** Selection record: the candidates' seeds and scores and the chosen index. */
  selection?: { chosen: number; candidates: { seed: number; rankerScore: number; semanticScore: number }[] };
}

interface Line {
  task: string;
  metricsKey: string;
  metrics: Record<string, number | null>;
  png: string;
  image: string;
  style: string | null;
  clipImage?: string | null;
  seconds: number;
  selection?: CachedResult['selection'];
}

const encodeVector = (v: Float32Array): string => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');

function decodeVector(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  if (b.byteLength % 4 !== 0) throw new RagarError('vector length is not a multiple of 4 bytes', 'CORRUPT');
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** A file-system-safe name for a task id (letters, digits, `-`, `_`, `.`; others become `_` plus a hash suffix). */
export function safeName(id: string): string {
  const plain = id.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_');
  if (plain === id && plain.length > 0 && plain.length <= 80) return plain;
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return `${plain.slice(0, 60) || 'task'}-${(h >>> 0).toString(16)}`;
}

/** The cache of one run configuration (see the module comment). */
export class RunCache {
  /** The configuration's folder. */
  readonly dir: string;
  private readonly entries = new Map<string, Line>();
  private readonly file: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.file = path.join(dir, 'results.jsonl');
  }

  /**
   * Open (creating it if needed) the cache folder of the configuration `key` under `root`,
   * record its settings, and load the finished tasks.
   *
   * @throws RagarError (`BAD_INPUT`) for a key that is not a plain name.
   * @example
   * const cache = RunCache.open('out/.cache/runs', 'ab12…', { method: 'ragar', candidates: 4 });
   * cache.has('t0001');
   */
  static open(root: string, key: string, settings: Record<string, unknown>): RunCache {
    if (!/^[A-Za-z0-9_-]+$/.test(key)) throw new RagarError(`cache key ${JSON.stringify(key)} is not a plain name`, 'BAD_INPUT');
    const cache = new RunCache(path.join(root, key));
    fs.mkdirSync(path.join(cache.dir, 'images'), { recursive: true });
    const settingsFile = path.join(cache.dir, 'settings.json');
    if (!fs.existsSync(settingsFile)) writeFileAtomicSync(settingsFile, `${JSON.stringify(settings, null, 2)}\n`);
    cache.load();
    return cache;
  }

  private load(): void {
    if (!fs.existsSync(this.file)) return;
    let text = fs.readFileSync(this.file, 'utf8');
    const end = text.lastIndexOf('\n');
    if (end < text.length - 1) {
      // An interrupted append left a partial last line: cut it off so the next append starts clean.
      text = text.slice(0, end + 1);
      fs.truncateSync(this.file, Buffer.byteLength(text));
    }
    for (const raw of text.split('\n')) {
      if (!raw.trim()) continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue;
      }
      if (typeof line?.task !== 'string' || typeof line.png !== 'string' || typeof line.image !== 'string') continue;
      if (!fs.existsSync(path.join(this.dir, line.png))) continue;
      this.entries.set(line.task, line);
    }
  }

  /** Number of finished tasks. */
  get size(): number {
    return this.entries.size;
  }

  /** Whether task `task` is finished. */
  has(task: string): boolean {
    return this.entries.has(task);
  }

  /** The finished result of `task`, or undefined (a corrupt line reads as unfinished). */
  get(task: string): CachedResult | undefined {
    const l = this.entries.get(task);
    if (!l) return undefined;
    try {
      return {
        task: l.task,
        metricsKey: l.metricsKey,
        metrics: Object.fromEntries(Object.entries(l.metrics ?? {}).map(([k, v]) => [k, typeof v === 'number' ? v : NaN])),
        image: decodeVector(l.image),
        style: l.style ? decodeVector(l.style) : null,
        clipImage: l.clipImage ? decodeVector(l.clipImage) : null,
        seconds: typeof l.seconds === 'number' ? l.seconds : 0,
        selection: l.selection,
      };
    } catch {
      return undefined;
    }
  }

  /** Path of the cached output image of `task` (relative paths resolved). */
  imagePath(task: string): string {
    const l = this.entries.get(task);
    if (!l) throw new RagarError(`no cached result for task ${task} in ${this.dir}`, 'NOT_FOUND');
    return path.join(this.dir, l.png);
  }

  /** The cached output PNG of `task`. */
  readImage(task: string): Buffer {
    return fs.readFileSync(this.imagePath(task));
  }

  /**
   * Record a finished task: the PNG is written atomically first, then one line is appended. With
   * `png` null the existing image of the task is kept (rescoring).
   */
  async put(result: CachedResult, png: Uint8Array | null): Promise<void> {
    const file = `images/${safeName(result.task)}.png`;
    if (png) await writeFileAtomic(path.join(this.dir, file), png);
    else if (!fs.existsSync(path.join(this.dir, file))) throw new RagarError(`cannot rescore task ${result.task}: its image is missing from ${this.dir}`, 'NOT_FOUND');
    const line: Line = {
      task: result.task,
      metricsKey: result.metricsKey,
      metrics: Object.fromEntries(Object.entries(result.metrics).map(([k, v]) => [k, Number.isFinite(v) ? v : null])),
      png: file,
      image: encodeVector(result.image),
      style: result.style ? encodeVector(result.style) : null,
      clipImage: result.clipImage ? encodeVector(result.clipImage) : null,
      seconds: result.seconds,
      ...(result.selection ? { selection: result.selection } : {}),
    };
    fs.appendFileSync(this.file, `${JSON.stringify(line)}\n`);
    this.entries.set(result.task, line);
  }
}
