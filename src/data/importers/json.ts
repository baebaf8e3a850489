/**
 * JSON and image helpers shared by the JSON-based importers (JSONL, PMG-Bench) and MovieLens:
 * line-aware JSON parsing with positions for truncated or garbled input, id normalisation and
 * ordering, and importing many item images in a stable order.
 */
import os from 'node:os';
import type { DatasetWriter } from '../../store/store.js';
import { BadRowPolicy, InputError, RagarError } from '../../util/errors.js';
import { importImage, readTextFile, type ImportOptions } from './common.js';


/** One parsed line of a JSONL file. */
export interface JsonLine {
  /** 1-based line number. */
  line: number;
  value: unknown;
}

/**
 * Split JSONL text into parsed values. Blank lines and `#` comment lines are skipped; a line that
 * is not valid JSON is reported through `bad` as `file:line: malformed JSON (...)`.
 *
 * @example
 * const lines = parseJsonLines(readTextFile('data.jsonl'), 'data.jsonl', new BadRowPolicy(false));
 */
export function parseJsonLines(text: string, file: string, bad: BadRowPolicy): JsonLine[] {
  const out: JsonLine[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '' || raw.startsWith('#')) continue;
    try {
      out.push({ line: i + 1, value: JSON.parse(raw) });
    } catch (err) {
      bad.report(new InputError(file, i + 1, `malformed JSON (${describeJsonError(err, raw).message})`));
    }
  }
  return out;
}

/**
 * Turn a `JSON.parse` error on `text` into a position (1-based line and column) and a short
 * message; a truncated document is called out as such.
 */
export function describeJsonError(err: unknown, text: string): { line: number; column: number; message: string } {
  const msg = err instanceof Error ? err.message : String(err);
  const m = /at position (\d+)/.exec(msg);
  // V8 gives no position for "Unexpected token" errors: find the offset ourselves.
  let pos = m ? Number(m[1]) : firstJsonErrorOffset(text);
  if (!(pos >= 0 && pos <= text.length)) pos = text.length;
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  let message = msg.replace(/\s*in JSON at position \d+.*$/s, '').replace(/, .*is not valid JSON$/s, '');
  if (/Unexpected end of JSON input/i.test(msg)) message = 'unexpected end of input; is the file truncated?';
  else if (pos >= text.trimEnd().length) message = `${message} at the end of the input; is the file truncated?`;
  else message = `${message} at column ${column}`;
  return { line, column, message };
}

/**
 * Offset of the first syntax error in `s` (its length when the input ends early), or -1 when it
 * is valid JSON. Iterative, so deeply nested garbage cannot overflow the stack.
 */
function firstJsonErrorOffset(s: string): number {
  const n = s.length;
  let i = 0;
  const LITERAL = /true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const ws = (): void => {
    while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  };
  const str = (): boolean => {
    i++; // opening quote
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 34) {
        i++;
        return true;
      }
      if (c === 92) {
        const e = s[i + 1];
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) i += 6;
        else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else return false;
        continue;
      }
      if (c < 32) return false;
      i++;
    }
    return false;
  };
  const key = (): boolean => {
    ws();
    if (s[i] !== '"' || !str()) return false;
    ws();
    if (s[i] !== ':') return false;
    i++;
    return true;
  };
  const stack: string[] = [];
  let expectValue = true;
  for (;;) {
    if (expectValue) {
      ws();
      if (i >= n) return n;
      const c = s[i];
      if (c === '{' || c === '[') {
        i++;
        ws();
        if (s[i] === (c === '{' ? '}' : ']')) {
          i++;
        } else {
          stack.push(c);
          if (c === '{' && !key()) return i;
          continue;
        }
      } else if (c === '"') {
        if (!str()) return i;
      } else {
        LITERAL.lastIndex = i;
        if (!LITERAL.exec(s)) return i;
        i = LITERAL.lastIndex;
      }
      expectValue = false;
    }
    ws();
    if (stack.length === 0) return i < n ? i : -1;
    const top = stack[stack.length - 1];
    if (s[i] === ',') {
      i++;
      if (top === '{' && !key()) return i;
      expectValue = true;
    } else if (s[i] === (top === '{' ? '}' : ']')) {
      i++;
      stack.pop();
    } else {
      return i;
    }
  }
}

/** A stored id from a JSON value: a non-empty string or an integer; undefined otherwise. */
export function jsonId(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/** Compare ids, numerically when both are decimal integers, else by code units. */
export function compareIds(a: string, b: string): number {
  const na = /^\d+$/.test(a);
  const nb = /^\d+$/.test(b);
  if (na && nb) {
    const x = a.replace(/^0+(?=\d)/, '');
    const y = b.replace(/^0+(?=\d)/, '');
    if (x.length !== y.length) return x.length - y.length;
  } else if (na !== nb) {
    return na ? -1 : 1;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One image to import for {@link importImagesInOrder}. */
export interface ImageJob {
  /** The image file. */
  path: string;
  /** Where the image is referenced (named in errors). */
  file: string;
  line?: number;
  /** Put in front of the reason of an error, e.g. `sample 12: `. */
  reasonPrefix?: string;
  /** Set when the image could not be located: reported (in job order) as this reason, nothing read. */
  missing?: string;
}

/**
 * Decode and store many images with a few in parallel, reporting missing or corrupt ones through
 * `bad` in job order (so the first error and the skipped list are deterministic). Returns one hash
 * per job, undefined where the image was bad and skipped. Never leaves work running when it
 * throws, so a rolled-back import cannot leave image files behind.
 */
export async function importImagesInOrder(
  w: DatasetWriter,
  jobs: readonly ImageJob[],
  options: ImportOptions,
  bad: BadRowPolicy,
  onDone?: (completed: number) => void,
): Promise<(string | undefined)[]> {
  const results: ({ hash?: string; errors: InputError[]; fail?: unknown } | undefined)[] = new Array(jobs.length);
  let next = 0;
  let done = 0;
  let stop = false;
  const worker = async (): Promise<void> => {
    while (!stop && next < jobs.length) {
      const i = next++;
      const job = jobs[i];
      const local = new BadRowPolicy(true);
      if (job.missing !== undefined) {
        local.report(new InputError(job.file, job.line, job.missing));
        results[i] = { hash: undefined, errors: local.skipped };
        if (!bad.skipBad) stop = true;
        onDone?.(++done);
        continue;
      }
      try {
        const hash = await importImage(w, job.path, { file: job.file, line: job.line }, options, local);
        results[i] = { hash, errors: local.skipped };
        if (local.count > 0 && !bad.skipBad) stop = true;
      } catch (err) {
        results[i] = { errors: [], fail: err };
        stop = true;
      }
      onDone?.(++done);
    }
  };
  const width = Math.max(1, Math.min(8, os.availableParallelism?.() ?? 4, jobs.length));
  await Promise.all(Array.from({ length: width }, worker));
  const hashes: (string | undefined)[] = new Array(jobs.length);
  for (let i = 0; i < jobs.length; i++) {
    const r = results[i];
    if (!r) throw new RagarError(`internal: image job ${i} did not run`, 'INTERNAL');
    if (r.fail !== undefined) throw r.fail;
    const prefix = jobs[i].reasonPrefix ?? '';
    for (const e of r.errors) bad.report(prefix ? new InputError(e.file, e.line, prefix + e.reason) : e);
    hashes[i] = r.hash;
  }
  return hashes;
}
