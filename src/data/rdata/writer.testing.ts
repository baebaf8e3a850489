/**
 * Test helpers: a small R XDR *serialiser* (the inverse of `xdr.ts`) and a
 * builder for lazy-load database (`.rdx` + `.rdb`) fixtures, so tests can run
 * offline without R. Also handy for other modules' tests that need R data.
 *
 * Not part of the build (`*.testing.ts` is excluded by tsconfig.build.json).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import {
  CHARSXP_LEVELS,
  NA_INTEGER,
  NA_REAL_LOW_WORD,
  SEXPTYPE,
  type RAttributes,
  type RCharacter,
  type RDouble,
  type REnvironment,
  type RInteger,
  type RList,
  type RLogical,
  type RValue,
} from './xdr.js';

// ---------------------------------------------------------------------------
// Value builders
// ---------------------------------------------------------------------------

/** Build an attribute map from an object (insertion order kept). */
export function attrs(obj: Record<string, RValue>): RAttributes {
  return new Map(Object.entries(obj));
}

/** An integer vector. */
export function rInt(data: (number | null)[], attributes: Record<string, RValue> | null = null): RInteger {
  return { type: 'integer', data, attributes: attributes ? attrs(attributes) : null };
}

/** A double vector. */
export function rDbl(data: (number | null)[], attributes: Record<string, RValue> | null = null): RDouble {
  return { type: 'double', data, attributes: attributes ? attrs(attributes) : null };
}

/** A logical vector. */
export function rLgl(data: (boolean | null)[], attributes: Record<string, RValue> | null = null): RLogical {
  return { type: 'logical', data, attributes: attributes ? attrs(attributes) : null };
}

/** A character vector. */
export function rChr(data: (string | null)[], attributes: Record<string, RValue> | null = null): RCharacter {
  return { type: 'character', data, attributes: attributes ? attrs(attributes) : null };
}

/** A list (`VECSXP`), named when `names` is given. */
export function rList(data: RValue[], names?: string[], extra: Record<string, RValue> = {}): RList {
  const a: Record<string, RValue> = { ...(names ? { names: rChr(names) } : {}), ...extra };
  return { type: 'list', data, attributes: Object.keys(a).length ? attrs(a) : null };
}

/** A named list from an object. */
export function rNamedList(obj: Record<string, RValue>): RList {
  return rList(Object.values(obj), Object.keys(obj));
}

/** A factor: integer codes into `levels` (values not in `levels`, or `null`, become NA). */
export function rFactor(values: (string | null)[], levels: string[]): RInteger {
  return rInt(
    values.map((v) => (v === null || !levels.includes(v) ? null : levels.indexOf(v) + 1)),
    { levels: rChr(levels), class: rChr(['factor']) },
  );
}

/**
 * A `data.frame` with the given columns. Row names default to R's compact
 * automatic form `c(NA_integer_, -nrow)`.
 */
export function rDataFrame(columns: Record<string, RValue>, options: { rowNames?: RValue; nrow?: number } = {}): RList {
  const cols = Object.values(columns);
  const first = cols[0];
  const nrow = options.nrow ?? (first && 'data' in first && Array.isArray(first.data) ? first.data.length : 0);
  return rList(cols, Object.keys(columns), {
    'row.names': options.rowNames ?? rInt([null, -nrow]),
    class: rChr(['data.frame']),
  });
}

/** A symbol. */
export function rSym(name: string): RValue {
  return { type: 'symbol', name };
}

/** An environment value of a special or named kind. */
export function rEnv(kind: REnvironment['kind'], spec: string[] | null = null, bindings: Record<string, RValue> = {}): REnvironment {
  return {
    type: 'environment',
    kind,
    spec,
    locked: false,
    enclos: kind === 'regular' ? rEnv('global') : null,
    bindings: new Map(Object.entries(bindings)),
    resolved: kind !== 'persistent',
    attributes: null,
  };
}

// ---------------------------------------------------------------------------
// ALTREP and string-encoding markers
// ---------------------------------------------------------------------------

interface AltrepSpec {
  className: string;
  packageName: string;
  baseType: number;
  state: RValue;
}

const ALTREP = new WeakMap<object, AltrepSpec>();

/** Encoding a string element is written with. `native` writes UTF-8 bytes without an encoding flag. */
export type CharEncoding = 'ascii' | 'utf8' | 'latin1' | 'bytes' | 'native';
const ENCODINGS = new WeakMap<object, CharEncoding[]>();

/**
 * Mark `value` to be serialized (format version 3) as an ALTREP object of the
 * given class with the given state; returns `value` (the materialised form
 * that unserialising should give back).
 */
export function asAltrep<T extends RValue>(value: T, className: string, packageName: string, baseType: number, state: RValue): T {
  ALTREP.set(value, { className, packageName, baseType, state });
  return value;
}

/** An integer sequence `start, start+inc, ...` of length `n`, serialized as ALTREP `compact_intseq`. */
export function compactIntSeq(n: number, start = 1, inc = 1, attributes: Record<string, RValue> | null = null): RInteger {
  const v = rInt(Array.from({ length: n }, (_, i) => start + i * inc), attributes);
  return asAltrep(v, 'compact_intseq', 'base', SEXPTYPE.INTSXP, rDbl([n, start, inc]));
}

/** A double sequence serialized as ALTREP `compact_realseq`. */
export function compactRealSeq(n: number, start = 1, inc = 1): RDouble {
  const v = rDbl(Array.from({ length: n }, (_, i) => start + i * inc));
  return asAltrep(v, 'compact_realseq', 'base', SEXPTYPE.REALSXP, rDbl([n, start, inc]));
}

/** `vec` serialized as an ALTREP `wrap_*` wrapper (state: CONS(vector, c(srt, no_na))). */
export function wrapped<T extends RInteger | RDouble | RLogical | RCharacter>(vec: T): T {
  const cls = { integer: 'wrap_integer', double: 'wrap_real', logical: 'wrap_logical', character: 'wrap_string' }[vec.type];
  const base = { integer: SEXPTYPE.INTSXP, double: SEXPTYPE.REALSXP, logical: SEXPTYPE.LGLSXP, character: SEXPTYPE.STRSXP }[vec.type];
  const inner = { ...vec, attributes: null } as RValue;
  const state: RValue = { type: 'pairlist', items: [{ tag: null, value: inner }], tail: rInt([0, 0]), attributes: null };
  return asAltrep(vec, cls, 'base', base, state);
}

/** A character vector that R would hold as a `deferred_string` over `arg`; `expected` is what it materialises to. */
export function deferredString(arg: RInteger | RDouble, expected: (string | null)[]): RCharacter {
  const state: RValue = { type: 'pairlist', items: [{ tag: null, value: arg }], tail: rInt([0]), attributes: null };
  return asAltrep(rChr(expected), 'deferred_string', 'base', SEXPTYPE.STRSXP, state);
}

/** A character vector whose elements are written with the given encodings (parallel array). */
export function withEncodings(chr: RCharacter, encodings: CharEncoding[]): RCharacter {
  ENCODINGS.set(chr, encodings);
  return chr;
}

// ---------------------------------------------------------------------------
// Serialiser
// ---------------------------------------------------------------------------

/** Options for {@link serializeXdr}. */
export interface SerializeOptions {
  /** Format version, 2 or 3 (default 3). Version 2 writes ALTREP values in materialised form. */
  version?: 2 | 3;
  /** Native encoding recorded in a version-3 header (default `"UTF-8"`). */
  nativeEncoding?: string;
  /** Write every vector length in the long-vector form (-1, upper, lower). */
  longLengths?: boolean;
}

class ByteSink {
  private buf = Buffer.alloc(1024);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  int(v: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(v | 0, this.length);
    this.length += 4;
  }
  uint(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.length);
    this.length += 4;
  }
  double(v: number | null): void {
    this.ensure(8);
    if (v === null) {
      this.buf.writeUInt32BE(0x7ff00000, this.length);
      this.buf.writeUInt32BE(NA_REAL_LOW_WORD, this.length + 4);
    } else this.buf.writeDoubleBE(v, this.length);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  result(): Uint8Array {
    return new Uint8Array(this.buf.subarray(0, this.length));
  }
}

const F_OBJECT = 1 << 8;
const F_ATTR = 1 << 9;
const F_TAG = 1 << 10;

class XdrWriter {
  private readonly out = new ByteSink();
  private readonly symRefs = new Map<string, number>();
  private readonly objRefs = new Map<object, number>();
  private refCount = 0;

  constructor(private readonly options: Required<SerializeOptions>) {}

  header(): void {
    this.out.bytes(Buffer.from('X\n', 'latin1'));
    this.out.int(this.options.version);
    this.out.int(4 * 65536 + 1 * 256 + 1); // written by "R 4.1.1"
    this.out.int(this.options.version === 3 ? 3 * 65536 + 5 * 256 : 2 * 65536 + 3 * 256);
    if (this.options.version === 3) {
      const enc = Buffer.from(this.options.nativeEncoding, 'latin1');
      this.out.int(enc.length);
      this.out.bytes(enc);
    }
  }

  result(): Uint8Array {
    return this.out.result();
  }

  private length(n: number): void {
    if (this.options.longLengths || n > 0x7fffffff) {
      this.out.int(-1);
      this.out.uint(Math.floor(n / 4294967296));
      this.out.uint(n % 4294967296);
    } else this.out.int(n);
  }

  private flagsFor(type: number, attributes: RAttributes | null, levels = 0, hasTag = false): number {
    let f = type | (levels << 12);
    if (attributes && attributes.size) {
      f |= F_ATTR;
      if (attributes.has('class')) f |= F_OBJECT;
    }
    if (hasTag) f |= F_TAG;
    return f;
  }

  private attributes(a: RAttributes): void {
    const items = [...a.entries()].map(([tag, value]) => ({ tag, value }));
    this.cells(SEXPTYPE.LISTSXP, items, null, null);
  }

  private cells(type: number, items: { tag: string | null; value: RValue }[], tail: RValue | null, first: RAttributes | null): void {
    if (items.length === 0) {
      this.item(tail ?? { type: 'null' });
      return;
    }
    items.forEach((it, i) => {
      const a = i === 0 ? first : null;
      const cellType = i === 0 ? type : type === SEXPTYPE.DOTSXP ? SEXPTYPE.DOTSXP : SEXPTYPE.LISTSXP;
      this.out.int(this.flagsFor(cellType, a, 0, it.tag !== null));
      if (a && a.size) this.attributes(a);
      if (it.tag !== null) this.symbol(it.tag);
      this.item(it.value);
    });
    this.item(tail ?? { type: 'null' });
  }

  private symbol(name: string): void {
    const ref = this.symRefs.get(name);
    if (ref !== undefined) {
      this.out.int((ref << 8) | SEXPTYPE.REFSXP);
      return;
    }
    this.symRefs.set(name, ++this.refCount);
    this.out.int(SEXPTYPE.SYMSXP);
    this.charsxp(name, /^[\x00-\x7f]*$/.test(name) ? 'ascii' : 'utf8');
  }

  private charsxp(s: string | null, enc: CharEncoding): void {
    if (s === null) {
      this.out.int(SEXPTYPE.CHARSXP);
      this.out.int(-1);
      return;
    }
    const levels = {
      ascii: CHARSXP_LEVELS.ASCII,
      utf8: CHARSXP_LEVELS.UTF8,
      latin1: CHARSXP_LEVELS.LATIN1,
      bytes: CHARSXP_LEVELS.BYTES,
      native: 0,
    }[enc];
    const bytes = enc === 'latin1' || enc === 'bytes' ? Buffer.from(s, 'latin1') : Buffer.from(s, 'utf8');
    this.out.int(SEXPTYPE.CHARSXP | (levels << 12));
    this.out.int(bytes.length);
    this.out.bytes(bytes);
  }

  private stringVec(strings: string[]): void {
    this.out.int(0);
    this.out.int(strings.length);
    for (const s of strings) this.charsxp(s, /^[\x00-\x7f]*$/.test(s) ? 'ascii' : 'utf8');
  }

  private environment(env: REnvironment): void {
    switch (env.kind) {
      case 'global':
        return this.out.int(SEXPTYPE.GLOBALENV_SXP);
      case 'empty':
        return this.out.int(SEXPTYPE.EMPTYENV_SXP);
      case 'base':
        return this.out.int(SEXPTYPE.BASEENV_SXP);
      case 'basenamespace':
        return this.out.int(SEXPTYPE.BASENAMESPACE_SXP);
    }
    const ref = this.objRefs.get(env);
    if (ref !== undefined) {
      this.out.int((ref << 8) | SEXPTYPE.REFSXP);
      return;
    }
    this.objRefs.set(env, ++this.refCount);
    if (env.kind === 'persistent') {
      this.out.int(SEXPTYPE.PERSISTSXP);
      this.stringVec(env.spec ?? []);
    } else if (env.kind === 'namespace' || env.kind === 'package') {
      this.out.int(env.kind === 'namespace' ? SEXPTYPE.NAMESPACESXP : SEXPTYPE.PACKAGESXP);
      this.stringVec(env.spec ?? []);
    } else {
      this.out.int(SEXPTYPE.ENVSXP);
      this.out.int(env.locked ? 1 : 0);
      this.item(env.enclos ?? { type: 'null' });
      const frame = [...env.bindings.entries()].map(([tag, value]) => ({ tag, value }));
      this.cells(SEXPTYPE.LISTSXP, frame, null, null);
      this.item({ type: 'null' }); // hashtab
      if (env.attributes && env.attributes.size) this.attributes(env.attributes);
      else this.item({ type: 'null' });
    }
  }

  item(v: RValue): void {
    const alt = this.options.version >= 3 ? ALTREP.get(v) : undefined;
    if (alt) {
      const a = 'attributes' in v ? v.attributes : null;
      this.out.int(SEXPTYPE.ALTREP_SXP | (a?.has('class') ? F_OBJECT : 0));
      this.cells(
        SEXPTYPE.LISTSXP,
        [
          { tag: null, value: rSym(alt.className) },
          { tag: null, value: rSym(alt.packageName) },
          { tag: null, value: rInt([alt.baseType]) },
        ],
        null,
        null,
      );
      this.item(alt.state);
      if (a && a.size) this.attributes(a);
      else this.item({ type: 'null' });
      return;
    }
    const out = this.out;
    switch (v.type) {
      case 'null':
        return out.int(SEXPTYPE.NILVALUE_SXP);
      case 'missingarg':
        return out.int(SEXPTYPE.MISSINGARG_SXP);
      case 'unboundvalue':
        return out.int(SEXPTYPE.UNBOUNDVALUE_SXP);
      case 'symbol':
        return this.symbol(v.name);
      case 'environment':
        return this.environment(v);
      case 'charsxp':
        return this.charsxp(v.value, 'utf8');
      case 'pairlist':
      case 'language':
      case 'dots': {
        const t = v.type === 'pairlist' ? SEXPTYPE.LISTSXP : v.type === 'language' ? SEXPTYPE.LANGSXP : SEXPTYPE.DOTSXP;
        return this.cells(t, v.items, v.tail, v.attributes);
      }
      case 'closure':
        out.int(this.flagsFor(SEXPTYPE.CLOSXP, v.attributes, 0, true));
        if (v.attributes && v.attributes.size) this.attributes(v.attributes);
        this.item(v.environment);
        this.item(v.formals);
        this.item(v.body);
        return;
      case 'promise':
        out.int(this.flagsFor(SEXPTYPE.PROMSXP, v.attributes, 0, v.environment.type !== 'null'));
        if (v.attributes && v.attributes.size) this.attributes(v.attributes);
        if (v.environment.type !== 'null') this.item(v.environment);
        this.item(v.value);
        this.item(v.expression);
        return;
      default:
        break;
    }
    const a = v.attributes;
    switch (v.type) {
      case 'logical':
        out.int(this.flagsFor(SEXPTYPE.LGLSXP, a));
        this.length(v.data.length);
        for (const x of v.data) out.int(x === null ? NA_INTEGER : x ? 1 : 0);
        break;
      case 'integer':
        out.int(this.flagsFor(SEXPTYPE.INTSXP, a));
        this.length(v.data.length);
        for (const x of v.data) out.int(x === null ? NA_INTEGER : x);
        break;
      case 'double':
        out.int(this.flagsFor(SEXPTYPE.REALSXP, a));
        this.length(v.data.length);
        for (const x of v.data) out.double(x);
        break;
      case 'complex':
        out.int(this.flagsFor(SEXPTYPE.CPLXSXP, a));
        this.length(v.data.length);
        for (const x of v.data) {
          out.double(x === null ? null : x.re);
          out.double(x === null ? null : x.im);
        }
        break;
      case 'character': {
        out.int(this.flagsFor(SEXPTYPE.STRSXP, a));
        this.length(v.data.length);
        const enc = ENCODINGS.get(v);
        v.data.forEach((s, i) => this.charsxp(s, enc?.[i] ?? (s === null || /^[\x00-\x7f]*$/.test(s) ? 'ascii' : 'utf8')));
        break;
      }
      case 'list':
      case 'expression':
        out.int(this.flagsFor(v.type === 'list' ? SEXPTYPE.VECSXP : SEXPTYPE.EXPRSXP, a));
        this.length(v.data.length);
        for (const x of v.data) this.item(x);
        break;
      case 'raw':
        out.int(this.flagsFor(SEXPTYPE.RAWSXP, a));
        this.length(v.data.length);
        out.bytes(v.data);
        break;
      case 'S4':
        out.int(this.flagsFor(SEXPTYPE.S4SXP, a) | F_OBJECT);
        break;
      case 'builtin':
      case 'special': {
        out.int(this.flagsFor(v.type === 'builtin' ? SEXPTYPE.BUILTINSXP : SEXPTYPE.SPECIALSXP, a));
        const b = Buffer.from(v.name, 'latin1');
        out.int(b.length);
        out.bytes(b);
        break;
      }
      case 'externalptr':
        out.int(this.flagsFor(SEXPTYPE.EXTPTRSXP, a));
        this.objRefs.set(v, ++this.refCount);
        this.item(v.protected);
        this.item(v.tag);
        break;
      case 'weakref':
        out.int(this.flagsFor(SEXPTYPE.WEAKREFSXP, a));
        this.objRefs.set(v, ++this.refCount);
        break;
    }
    if (a && a.size) this.attributes(a);
  }
}

/**
 * Serialize `value` in R's XDR format (like `serialize(value, NULL, xdr = TRUE)`).
 * Supports every {@link RValue} kind the reader produces, plus ALTREP and
 * string-encoding markers set with {@link asAltrep} / {@link withEncodings}.
 */
export function serializeXdr(value: RValue, options: SerializeOptions = {}): Uint8Array {
  const w = new XdrWriter({
    version: options.version ?? 3,
    nativeEncoding: options.nativeEncoding ?? 'UTF-8',
    longLengths: options.longLengths ?? false,
  });
  w.header();
  w.item(value);
  return w.result();
}

// ---------------------------------------------------------------------------
// Lazy-load database fixtures
// ---------------------------------------------------------------------------

/** Type byte of a compressed type-2/3 blob. */
export type BlobTag = '0' | '1' | '2' | 'Z';

/** Options for {@link buildLazyLoadDb}. */
export interface BuildDbOptions {
  /** Value of `compressed` in the index: 0 (FALSE), 1 (TRUE, zlib), 2 or 3 (default 1). */
  compressed?: 0 | 1 | 2 | 3;
  /** Type byte for compressed 2/3 (default `'Z'` for 3, `'1'` for 2). */
  tag?: BlobTag;
  /** Compressor for `'Z'` blobs (default: {@link xzRawCli}). */
  xz?: (bytes: Uint8Array) => Uint8Array;
  /** Entries of the `references` table (persistent environments). */
  references?: Record<string, RValue>;
  /** Serialization format version (default 3). */
  version?: 2 | 3;
}

/** Whether the `xz` command-line tool is available. */
export function hasXzCli(): boolean {
  try {
    execFileSync('xz', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Compress with the `xz` CLI as a raw LZMA2 stream, like R's `R_compress3` (`lzma_raw_encoder`, preset 6). */
export function xzRawCli(bytes: Uint8Array): Uint8Array {
  return execFileSync('xz', ['--format=raw', '--lzma2=preset=6', '-c', '-q'], { input: bytes, maxBuffer: 1 << 30 });
}

/** Compress with the `xz` CLI into a full `.xz` container. */
export function xzContainerCli(bytes: Uint8Array): Uint8Array {
  return execFileSync('xz', ['--format=xz', '-c', '-q'], { input: bytes, maxBuffer: 1 << 30 });
}

/** Compress one serialized value the way `R_lazyLoadDBinsertValue` does. */
export function compressBlob(
  bytes: Uint8Array,
  compressed: 0 | 1 | 2 | 3,
  tag?: BlobTag,
  xz: (bytes: Uint8Array) => Uint8Array = xzRawCli,
): Uint8Array {
  if (compressed === 0) return bytes;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  if (compressed === 1) return Buffer.concat([len, deflateSync(bytes)]);
  const t = tag ?? (compressed === 3 ? 'Z' : '1');
  let body: Uint8Array;
  switch (t) {
    case '0':
      body = bytes;
      break;
    case '1':
      body = deflateSync(bytes);
      break;
    case 'Z':
      body = xz(bytes);
      break;
    case '2':
      body = Buffer.from('BZh9-not-really-bzip2');
      break;
  }
  return Buffer.concat([len, Buffer.from(t, 'latin1'), body]);
}

/**
 * Build an `.rdx` / `.rdb` pair holding `variables`, in the format of R's
 * `makeLazyLoadDB()`; returns the file contents.
 */
export function buildLazyLoadDb(variables: Record<string, RValue>, options: BuildDbOptions = {}): { rdx: Uint8Array; rdb: Uint8Array } {
  const compressed = options.compressed ?? 1;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const add = (value: RValue): RValue => {
    const blob = compressBlob(serializeXdr(value, { version: options.version ?? 3 }), compressed, options.tag, options.xz);
    const key = rInt([offset, blob.length]);
    blobs.push(blob);
    offset += blob.length;
    return key;
  };
  const varKeys: Record<string, RValue> = {};
  for (const [name, value] of Object.entries(variables)) varKeys[name] = add(value);
  const refKeys: Record<string, RValue> = {};
  for (const [name, value] of Object.entries(options.references ?? {})) refKeys[name] = add(value);
  const index = rNamedList({
    variables: rNamedList(varKeys),
    references: rList(Object.values(refKeys), Object.keys(refKeys)),
    compressed: compressed === 1 ? rLgl([true]) : compressed === 0 ? rLgl([false]) : rDbl([compressed]),
  });
  return { rdx: gzipSync(serializeXdr(index, { version: options.version ?? 3 })), rdb: Buffer.concat(blobs) };
}

/** {@link buildLazyLoadDb} and write `<dir>/<base>.rdx` and `.rdb`; returns their paths. */
export function writeLazyLoadDb(
  dir: string,
  base: string,
  variables: Record<string, RValue>,
  options: BuildDbOptions = {},
): { rdxPath: string; rdbPath: string } {
  mkdirSync(dir, { recursive: true });
  const { rdx, rdb } = buildLazyLoadDb(variables, options);
  const rdxPath = path.join(dir, `${base}.rdx`);
  const rdbPath = path.join(dir, `${base}.rdb`);
  writeFileSync(rdxPath, rdx);
  writeFileSync(rdbPath, rdb);
  return { rdxPath, rdbPath };
}

/**
 * The small data frame used by the tests and the committed xz fixture:
 * integer, double (with NA and NaN), character (with NA, a latin1 and a UTF-8
 * string), factor (with NA), logical (with NA) and an ALTREP `compact_intseq`
 * column, plus compact row names `c(NA, -5)`.
 */
export function sampleDataFrame(): RList {
  return rDataFrame({
    id: compactIntSeq(5, 1, 1),
    count: rInt([10, null, -3, 2147483647, 0]),
    score: rDbl([1.5, null, Number.NaN, -Infinity, 1e-300]),
    name: withEncodings(rChr(['plain', null, 'café', 'naïve ✓', 'Zoë']), ['ascii', 'ascii', 'latin1', 'utf8', 'latin1']),
    genre: rFactor(['Drama', 'Comedy', null, 'Drama', 'Horror'], ['Comedy', 'Drama', 'Horror']),
    seen: rLgl([true, false, null, true, false]),
  });
}

/** What {@link sampleDataFrame} converts to with `asDataFrame`. */
export const SAMPLE_COLUMNS = {
  id: [1, 2, 3, 4, 5],
  count: [10, null, -3, 2147483647, 0],
  score: [1.5, null, Number.NaN, -Infinity, 1e-300],
  name: ['plain', null, 'café', 'naïve ✓', 'Zoë'],
  genre: ['Drama', 'Comedy', null, 'Drama', 'Horror'],
  seen: [true, false, null, true, false],
};
