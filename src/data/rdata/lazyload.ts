/**
 * Read R lazy-load databases: the `.rdx` index + `.rdb` blob file pair that R
 * packages ship (`data/Rdata.rdx` / `data/Rdata.rdb` for datasets,
 * `R/<pkg>.rdx` / `.rdb` for code).
 *
 * Format (R's src/library/base/R/lazyload.R and src/main/serialize.c):
 *
 * - The `.rdx` file is an ordinary `.rds` file (normally gzip-compressed XDR
 *   serialization) of `list(variables = , references = , compressed = )`.
 *   `variables` and `references` are named lists whose entries are integer
 *   keys `c(offset, length)` into the `.rdb` file; `compressed` is `TRUE`
 *   (zlib), `2` (bzip2), `3` (xz) or `FALSE`.
 * - Each `.rdb` blob is a serialized object, compressed as `compressed` says:
 *   - `TRUE`/1 (`R_compress1`): 4-byte big-endian uncompressed length, then a zlib stream;
 *   - 2 (`R_compress2`) and 3 (`R_compress3`): 4-byte big-endian length, one type
 *     byte, then data. The type byte is `'Z'` for a raw LZMA2 stream (R's "xz"),
 *     `'2'` bzip2, `'1'` zlib, `'0'` stored uncompressed.
 *   - `FALSE`/0: the serialization itself.
 * - Environments inside a value are stored as persistent references whose
 *   name indexes `references`; that entry holds
 *   `list(bindings = , enclos = , attributes = , isS4 = , locked = )`.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { gunzipSync, inflateSync } from 'node:zlib';
import {
  asDataFrame,
  describeRValue,
  getAttribute,
  namesOf,
  RDataError,
  unserialize,
  type RDataFrame,
  type REnvironment,
  type RValue,
} from './xdr.js';
import { decompressRawLzma2, decompressXz, isXzContainer } from './xz.js';

export { RDataError } from './xdr.js';

/** Compression of a lazy-load database's blobs: 0 none, 1 zlib, 2 bzip2-era, 3 xz-era. */
export type LazyLoadCompression = 0 | 1 | 2 | 3;

/** Position of one blob in the `.rdb` file. */
export interface LazyLoadKey {
  offset: number;
  length: number;
}

/** Options for {@link LazyLoadDb.fetch}. */
export interface FetchOptions {
  /**
   * Load environments referenced by the value from the database's
   * `references` table (default `true`). With `false` they stay unresolved
   * `persistent` environments.
   */
  resolveEnvironments?: boolean;
}

/** An opened lazy-load database. */
export interface LazyLoadDb {
  /** Path of the `.rdx` index file. */
  readonly rdxPath: string;
  /** Path of the `.rdb` data file. */
  readonly rdbPath: string;
  /** Names of the stored variables, in index order. */
  readonly names: readonly string[];
  /** Compression used for the blobs. */
  readonly compressed: LazyLoadCompression;
  /** Whether a variable called `name` exists. */
  has(name: string): boolean;
  /** Where variable `name`'s blob lies in the `.rdb` file. */
  keyOf(name: string): LazyLoadKey;
  /** Read, decompress and unserialize variable `name`. */
  fetch(name: string, options?: FetchOptions): Promise<RValue>;
  /**
   * Synchronous {@link fetch}; works for every compression except xz
   * (`'Z'` blobs), whose decoder is asynchronous.
   */
  fetchSync(name: string, options?: FetchOptions): RValue;
  /** {@link fetch} followed by {@link asDataFrame}. */
  fetchDataFrame(name: string): Promise<RDataFrame>;
}

/** The decoded `.rdx` index. */
export interface LazyLoadIndex {
  variables: Map<string, LazyLoadKey>;
  references: Map<string, LazyLoadKey>;
  compressed: LazyLoadCompression;
}

function keyFromValue(v: RValue, what: string, file: string): LazyLoadKey {
  if ((v.type === 'integer' || v.type === 'double') && v.data.length === 2) {
    const [offset, length] = v.data;
    if (offset !== null && length !== null && Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length >= 0) {
      return { offset, length };
    }
  }
  throw new RDataError(`${file}: bad key for ${what}: expected c(offset, length), got ${describeRValue(v)}`);
}

function keyMap(v: RValue | undefined, what: string, file: string): Map<string, LazyLoadKey> {
  const map = new Map<string, LazyLoadKey>();
  if (!v || v.type === 'null') return map;
  if (v.type !== 'list') throw new RDataError(`${file}: index entry "${what}" is a ${describeRValue(v)}, expected a named list`);
  const names = namesOf(v) ?? [];
  if (names.length !== v.data.length) throw new RDataError(`${file}: index entry "${what}" has no names`);
  v.data.forEach((k, i) => map.set(names[i], keyFromValue(k, `${what} "${names[i]}"`, file)));
  return map;
}

function compressionFromValue(v: RValue | undefined, file: string): LazyLoadCompression {
  if (!v || v.type === 'null') return 0;
  if ((v.type === 'logical' || v.type === 'integer' || v.type === 'double') && v.data.length >= 1) {
    const x = v.data[0];
    const n = typeof x === 'boolean' ? (x ? 1 : 0) : x;
    if (n === 0 || n === 1 || n === 2 || n === 3) return n;
    throw new RDataError(`${file}: unknown compression ${String(x)} in index (expected TRUE/FALSE, 2 or 3)`);
  }
  throw new RDataError(`${file}: unknown compression ${describeRValue(v)} in index`);
}

/** Turn the bytes of an `.rds`-style file (gzip / xz / uncompressed) into serialization bytes; sync where possible. */
function rdsPayloadSync(bytes: Uint8Array, file: string): Uint8Array | null {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes);
    } catch (err) {
      throw new RDataError(`${file}: gzip data is corrupt or truncated: ${(err as Error).message}`, { cause: err });
    }
  }
  if (bytes.length >= 3 && bytes[0] === 0x42 && bytes[1] === 0x5a && bytes[2] === 0x68) {
    throw new RDataError(`${file}: bzip2-compressed files are not supported (no bzip2 decoder available)`);
  }
  if (isXzContainer(bytes)) return null;
  return bytes;
}

/**
 * Parse an `.rdx` index from its file bytes.
 *
 * @throws {RDataError} naming `file` when the index is malformed
 */
export async function parseLazyLoadIndex(bytes: Uint8Array, file: string): Promise<LazyLoadIndex> {
  const payload = rdsPayloadSync(bytes, file) ?? (await decompressXz(bytes, file));
  const v = unserialize(payload, { label: file });
  if (v.type !== 'list') throw new RDataError(`${file}: not a lazy-load index (got ${describeRValue(v)}, expected a list)`);
  const names = namesOf(v) ?? [];
  if (!names.includes('variables')) {
    throw new RDataError(`${file}: not a lazy-load index (list has names ${names.join(', ') || 'none'}; expected variables, references, compressed)`);
  }
  return {
    variables: keyMap(getAttrElement(v, 'variables'), 'variables', file),
    references: keyMap(getAttrElement(v, 'references'), 'references', file),
    compressed: compressionFromValue(getAttrElement(v, 'compressed'), file),
  };
}

function getAttrElement(list: RValue, name: string): RValue | undefined {
  if (list.type !== 'list') return undefined;
  const names = namesOf(list);
  const i = names ? names.indexOf(name) : -1;
  return i >= 0 ? list.data[i] : undefined;
}

/** Result of stripping a blob's compression header: either bytes, or an xz job to run asynchronously. */
type Decoded = { bytes: Uint8Array } | { xz: Uint8Array; size: number };

function decodeBlobSync(blob: Uint8Array, compressed: LazyLoadCompression, label: string): Decoded {
  if (compressed === 0) return { bytes: blob };
  if (blob.length < 4) throw new RDataError(`${label}: blob of ${blob.length} bytes is too short for a compressed entry`);
  const size = ((blob[0] << 24) | (blob[1] << 16) | (blob[2] << 8) | blob[3]) >>> 0;
  const zlib = (data: Uint8Array): Decoded => {
    let out: Uint8Array;
    try {
      out = inflateSync(data);
    } catch (err) {
      throw new RDataError(`${label}: zlib data is corrupt or truncated: ${(err as Error).message}`, { cause: err });
    }
    if (out.length !== size) throw new RDataError(`${label}: zlib data decompressed to ${out.length} bytes, expected ${size}`);
    return { bytes: out };
  };
  if (compressed === 1) return zlib(blob.subarray(4));
  if (blob.length < 5) throw new RDataError(`${label}: blob of ${blob.length} bytes is too short for a type-${compressed} compressed entry`);
  const tag = String.fromCharCode(blob[4]);
  const data = blob.subarray(5);
  switch (tag) {
    case '0':
      if (data.length < size) throw new RDataError(`${label}: stored entry has ${data.length} bytes, expected ${size}`);
      return { bytes: data.subarray(0, size) };
    case '1':
      return zlib(data);
    case '2':
      throw new RDataError(
        `${label}: entry is bzip2-compressed (type '2'), which is not supported: no bzip2 decoder is available; ` +
          `re-save the data with compress = "xz" or "gzip"`,
      );
    case 'Z':
      // R_compress3 writes 'Z' for its raw LZMA2 ("xz") stream. Also accept a zlib
      // stream here: a zlib header byte (0x08..0x78) is never a valid first LZMA2 control byte.
      if (data.length >= 2 && data[0] < 0x80 && (data[0] & 0x0f) === 8 && ((data[0] << 8) | data[1]) % 31 === 0) {
        return zlib(data);
      }
      return { xz: data, size };
    default:
      throw new RDataError(
        `${label}: unknown compression type byte 0x${blob[4].toString(16).padStart(2, '0')} ('${tag}'); expected 'Z' (xz), '2' (bzip2), '1' (zlib) or '0' (none)`,
      );
  }
}

function checkKey(key: LazyLoadKey, size: number, rdbPath: string, what: string): void {
  if (key.offset + key.length > size) {
    throw new RDataError(
      `${rdbPath}: ${what} at offset ${key.offset} with length ${key.length} lies beyond the end of the file (${size} bytes); ` +
        `the file is truncated or does not match its .rdx index`,
    );
  }
}

async function readBlob(rdbPath: string, key: LazyLoadKey, what: string): Promise<Uint8Array> {
  let fh;
  try {
    fh = await open(rdbPath, 'r');
  } catch (err) {
    throw new RDataError(`cannot open ${rdbPath}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const { size } = await fh.stat();
    checkKey(key, size, rdbPath, what);
    const buf = Buffer.alloc(key.length);
    let done = 0;
    while (done < key.length) {
      const { bytesRead } = await fh.read(buf, done, key.length - done, key.offset + done);
      if (bytesRead === 0) throw new RDataError(`${rdbPath}: unexpected end of file reading ${what}`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

function readBlobSync(rdbPath: string, key: LazyLoadKey, what: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(rdbPath, 'r');
  } catch (err) {
    throw new RDataError(`cannot open ${rdbPath}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const { size } = fstatSync(fd);
    checkKey(key, size, rdbPath, what);
    const buf = Buffer.alloc(key.length);
    let done = 0;
    while (done < key.length) {
      const n = readSync(fd, buf, done, key.length - done, key.offset + done);
      if (n === 0) throw new RDataError(`${rdbPath}: unexpected end of file reading ${what}`);
      done += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

class Db implements LazyLoadDb {
  readonly names: readonly string[];
  readonly compressed: LazyLoadCompression;

  constructor(
    readonly rdxPath: string,
    readonly rdbPath: string,
    private readonly index: LazyLoadIndex,
  ) {
    this.names = [...index.variables.keys()];
    this.compressed = index.compressed;
  }

  has(name: string): boolean {
    return this.index.variables.has(name);
  }

  keyOf(name: string): LazyLoadKey {
    const key = this.index.variables.get(name);
    if (!key) {
      const known = this.names.length ? this.names.join(', ') : '(none)';
      throw new RDataError(`${this.rdxPath}: no variable "${name}" in this lazy-load database; it has: ${known}`);
    }
    return key;
  }

  private label(what: string): string {
    return `${this.rdbPath} (${what})`;
  }

  private fill(env: REnvironment, data: RValue, what: string): void {
    if (data.type !== 'list') throw new RDataError(`${this.label(what)}: environment data is a ${describeRValue(data)}, expected a list`);
    const bindings = getAttrElement(data, 'bindings');
    if (bindings && bindings.type === 'list') {
      const names = namesOf(bindings) ?? [];
      bindings.data.forEach((v, i) => env.bindings.set(names[i] ?? '', v));
    }
    const enclos = getAttrElement(data, 'enclos');
    env.enclos =
      !enclos || enclos.type === 'null'
        ? { type: 'environment', kind: 'empty', spec: null, locked: false, enclos: null, bindings: new Map(), resolved: true, attributes: null }
        : enclos;
    const attrs = getAttrElement(data, 'attributes');
    if (attrs && attrs.type === 'list') {
      const names = namesOf(attrs) ?? [];
      env.attributes = new Map(attrs.data.map((v, i) => [names[i] ?? '', v]));
    }
    const locked = getAttrElement(data, 'locked');
    env.locked = !!(locked && locked.type === 'logical' && locked.data[0] === true);
    env.resolved = true;
  }

  /** Shared fetch logic; `get` reads and decodes one blob (sync or async). */
  private *fetchSteps(name: string, resolve: boolean): Generator<{ key: LazyLoadKey; what: string }, RValue, Uint8Array> {
    const key = this.keyOf(name);
    const envs = new Map<string, REnvironment>();
    const pending: REnvironment[] = [];
    const hook = (names: string[]): RValue => {
      const ref = names[0] ?? '';
      let env = envs.get(ref);
      if (!env) {
        env = { type: 'environment', kind: 'persistent', spec: names, locked: false, enclos: null, bindings: new Map(), resolved: false, attributes: null };
        envs.set(ref, env);
        if (resolve) pending.push(env);
      }
      return env;
    };
    const what = `variable "${name}"`;
    const bytes = yield { key, what };
    const value = unserialize(bytes, { label: this.label(what), persistentHook: hook });
    while (pending.length) {
      const env = pending.shift() as REnvironment;
      const ref = env.spec?.[0] ?? '';
      const refKey = this.index.references.get(ref);
      if (!refKey) throw new RDataError(`${this.rdxPath}: value of ${what} refers to environment "${ref}", which is not in the references table`);
      const envWhat = `environment "${ref}"`;
      const envBytes = yield { key: refKey, what: envWhat };
      this.fill(env, unserialize(envBytes, { label: this.label(envWhat), persistentHook: hook }), envWhat);
    }
    if (value.type === 'promise') {
      throw new RDataError(`${this.label(what)}: value is an unevaluated promise, which cannot be evaluated outside R`);
    }
    return value;
  }

  async fetch(name: string, options: FetchOptions = {}): Promise<RValue> {
    const steps = this.fetchSteps(name, options.resolveEnvironments ?? true);
    let step = steps.next(new Uint8Array(0));
    while (!step.done) {
      const { key, what } = step.value;
      const decoded = decodeBlobSync(await readBlob(this.rdbPath, key, what), this.compressed, this.label(what));
      const bytes = 'bytes' in decoded ? decoded.bytes : await decompressRawLzma2(decoded.xz, decoded.size, this.label(what));
      step = steps.next(bytes);
    }
    return step.value;
  }

  fetchSync(name: string, options: FetchOptions = {}): RValue {
    const steps = this.fetchSteps(name, options.resolveEnvironments ?? true);
    let step = steps.next(new Uint8Array(0));
    while (!step.done) {
      const { key, what } = step.value;
      const decoded = decodeBlobSync(readBlobSync(this.rdbPath, key, what), this.compressed, this.label(what));
      if (!('bytes' in decoded)) {
        throw new RDataError(`${this.label(what)}: entry is xz-compressed; use the asynchronous fetch() to read it`);
      }
      step = steps.next(decoded.bytes);
    }
    return step.value;
  }

  async fetchDataFrame(name: string): Promise<RDataFrame> {
    const value = await this.fetch(name);
    try {
      return asDataFrame(value);
    } catch (err) {
      if (err instanceof RDataError) throw new RDataError(`${this.rdbPath} (variable "${name}"): ${err.message}`, { cause: err });
      throw err;
    }
  }
}

/**
 * Open an R lazy-load database from its index and data files. Only the index
 * is read now; values are read by `fetch`.
 *
 * @param rdxPath the `.rdx` index file (e.g. `.../dslabs/data/Rdata.rdx`)
 * @param rdbPath the `.rdb` data file; defaults to `rdxPath` with `.rdx` replaced by `.rdb`
 * @throws {RDataError} when a file is missing or the index is malformed
 *
 * @example
 * const db = await openLazyLoadDb('/usr/lib/R/site-library/dslabs/data/Rdata.rdx');
 * const movielens = await db.fetchDataFrame('movielens');
 */
export async function openLazyLoadDb(rdxPath: string, rdbPath?: string): Promise<LazyLoadDb> {
  const rdb = rdbPath ?? rdxPath.replace(/\.rdx$/i, '') + '.rdb';
  let bytes: Uint8Array;
  try {
    bytes = await readFile(rdxPath);
  } catch (err) {
    throw new RDataError(`cannot read lazy-load index ${rdxPath}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await stat(rdb);
  } catch (err) {
    throw new RDataError(`cannot read lazy-load data file ${rdb}: ${(err as Error).message}`, { cause: err });
  }
  const index = await parseLazyLoadIndex(bytes, rdxPath);
  return new Db(rdxPath, rdb, index);
}
