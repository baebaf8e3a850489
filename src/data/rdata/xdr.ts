/**
 * A pure-TypeScript reader for R's serialization format (what `serialize()`,
 * `saveRDS()` and R's lazy-load databases write), XDR flavour, versions 2 and 3
 * (and the version-4 header, which has the same layout).
 *
 * The layout follows R's `src/main/serialize.c` (`R_Unserialize` / `ReadItem`):
 * a header `"X\n"`, three big-endian ints (format version, writer R version,
 * minimal reader R version), for version >= 3 the writer's native encoding
 * name, then one item. Every item starts with an int of packed flags: the
 * SEXP type in the low 8 bits, bit 8 "is object", bit 9 "has attributes",
 * bit 10 "has tag" and the `LEVELS` (gp) field from bit 12 on.
 *
 * Values come back as a small tagged union ({@link RValue}); missing values
 * (`NA`) become `null`. {@link asDataFrame} turns a `data.frame` into plain
 * JavaScript columns.
 */
import { RagarError } from '../../util/errors.js';

/** A problem reading R data: bad format, truncated file, unsupported content. */
export class RDataError extends RagarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'BAD_INPUT', options);
    this.name = 'RDataError';
  }
}

// ---------------------------------------------------------------------------
// Value model
// ---------------------------------------------------------------------------

/** Attributes of an R object, in stored order, keyed by attribute name. */
export type RAttributes = Map<string, RValue>;

/** Fields every attribute-carrying R value has. */
export interface RBase {
  /** The object's attributes (`names`, `class`, `levels`, ...), or `null` when it has none. */
  attributes: RAttributes | null;
}

/** R's `NULL`. */
export interface RNull {
  type: 'null';
}

/** A symbol (`as.name("x")`). */
export interface RSymbol {
  type: 'symbol';
  name: string;
}

/** One cell of a pairlist: its tag (a symbol name) and value. */
export interface RPairListItem {
  tag: string | null;
  value: RValue;
}

/**
 * A pairlist (`LISTSXP`), call (`LANGSXP`, first item is the function) or
 * `...` list (`DOTSXP`), flattened into an array of cells. `tail` is the final
 * CDR when it is not `NULL` (a dotted pair), else `null`.
 */
export interface RPairList extends RBase {
  type: 'pairlist' | 'language' | 'dots';
  items: RPairListItem[];
  tail: RValue | null;
}

/** A closure (R function): formals, body and enclosing environment. */
export interface RClosure extends RBase {
  type: 'closure';
  environment: RValue;
  formals: RValue;
  body: RValue;
}

/** A promise (a lazily evaluated argument). */
export interface RPromise extends RBase {
  type: 'promise';
  environment: RValue;
  value: RValue;
  expression: RValue;
}

/** Which kind of environment an {@link REnvironment} is. */
export type REnvironmentKind =
  | 'global'
  | 'base'
  | 'empty'
  | 'basenamespace'
  | 'namespace'
  | 'package'
  | 'regular'
  | 'persistent';

/**
 * An environment. Special environments (global, base, empty, base namespace)
 * and package / namespace environments are only named (`spec` holds the
 * serialized name, e.g. `["stats", "4.1.0"]` for a namespace); `regular`
 * environments carry their bindings; `persistent` ones are references into a
 * lazy-load database's `references` table (`spec[0]` is the key) and have
 * `resolved` false until their contents are filled in.
 */
export interface REnvironment extends RBase {
  type: 'environment';
  kind: REnvironmentKind;
  spec: string[] | null;
  locked: boolean;
  enclos: RValue | null;
  bindings: Map<string, RValue>;
  resolved: boolean;
}

/** A logical vector; `null` is `NA`. */
export interface RLogical extends RBase {
  type: 'logical';
  data: (boolean | null)[];
}

/** An integer vector; `null` is `NA_integer_`. */
export interface RInteger extends RBase {
  type: 'integer';
  data: (number | null)[];
}

/** A double vector; `null` is `NA_real_` (other NaNs stay `NaN`). */
export interface RDouble extends RBase {
  type: 'double';
  data: (number | null)[];
}

/** One complex number. */
export interface RComplexNumber {
  re: number;
  im: number;
}

/** A complex vector; `null` is `NA_complex_` (either part `NA`). */
export interface RComplex extends RBase {
  type: 'complex';
  data: (RComplexNumber | null)[];
}

/** A character vector; `null` is `NA_character_`. Strings are decoded to JS strings. */
export interface RCharacter extends RBase {
  type: 'character';
  data: (string | null)[];
}

/** A generic vector (`list`) or an `expression` vector. */
export interface RList extends RBase {
  type: 'list' | 'expression';
  data: RValue[];
}

/** A raw (byte) vector. */
export interface RRaw extends RBase {
  type: 'raw';
  data: Uint8Array;
}

/** An S4 object that is not a basic type (its slots are its attributes). */
export interface RS4 extends RBase {
  type: 'S4';
}

/** A primitive function, by name. */
export interface RBuiltin extends RBase {
  type: 'builtin' | 'special';
  name: string;
}

/** An external pointer (the address itself is never serialized). */
export interface RExternalPtr extends RBase {
  type: 'externalptr';
  protected: RValue;
  tag: RValue;
}

/** A weak reference (contents are not serialized). */
export interface RWeakRef extends RBase {
  type: 'weakref';
}

/** R's internal markers for a missing argument and an unbound value. */
export interface RMarker {
  type: 'missingarg' | 'unboundvalue';
}

/** A bare CHARSXP (only seen in malformed or unusual streams; strings normally live in {@link RCharacter}). */
export interface RCharsxp {
  type: 'charsxp';
  value: string | null;
}

/** Any value the reader can produce. */
export type RValue =
  | RNull
  | RSymbol
  | RPairList
  | RClosure
  | RPromise
  | REnvironment
  | RLogical
  | RInteger
  | RDouble
  | RComplex
  | RCharacter
  | RList
  | RRaw
  | RS4
  | RBuiltin
  | RExternalPtr
  | RWeakRef
  | RMarker
  | RCharsxp;

/** The shared `NULL` value. */
export const R_NULL: RNull = Object.freeze({ type: 'null' }) as RNull;

// ---------------------------------------------------------------------------
// Constants from serialize.c / Rinternals.h
// ---------------------------------------------------------------------------

/** SEXP type codes (Rinternals.h) and serialize.c's pseudo-types. */
export const SEXPTYPE = {
  NILSXP: 0,
  SYMSXP: 1,
  LISTSXP: 2,
  CLOSXP: 3,
  ENVSXP: 4,
  PROMSXP: 5,
  LANGSXP: 6,
  SPECIALSXP: 7,
  BUILTINSXP: 8,
  CHARSXP: 9,
  LGLSXP: 10,
  INTSXP: 13,
  REALSXP: 14,
  CPLXSXP: 15,
  STRSXP: 16,
  DOTSXP: 17,
  ANYSXP: 18,
  VECSXP: 19,
  EXPRSXP: 20,
  BCODESXP: 21,
  EXTPTRSXP: 22,
  WEAKREFSXP: 23,
  RAWSXP: 24,
  S4SXP: 25,
  // serialize.c pseudo-types
  ALTREP_SXP: 238,
  ATTRLISTSXP: 239,
  ATTRLANGSXP: 240,
  BASEENV_SXP: 241,
  EMPTYENV_SXP: 242,
  BCREPREF: 243,
  BCREPDEF: 244,
  GENERICREFSXP: 245,
  CLASSREFSXP: 246,
  PERSISTSXP: 247,
  PACKAGESXP: 248,
  NAMESPACESXP: 249,
  BASENAMESPACE_SXP: 250,
  MISSINGARG_SXP: 251,
  UNBOUNDVALUE_SXP: 252,
  GLOBALENV_SXP: 253,
  NILVALUE_SXP: 254,
  REFSXP: 255,
} as const;

const SEXP_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(SEXPTYPE).map(([k, v]) => [v, k]),
);

/** Name of a SEXP type code, e.g. `21` → `"BCODESXP"`. */
export function sexpTypeName(code: number): string {
  return SEXP_NAMES[code] ?? `unknown type ${code}`;
}

const IS_OBJECT_BIT = 1 << 8;
const HAS_ATTR_BIT = 1 << 9;
const HAS_TAG_BIT = 1 << 10;

/** CHARSXP encoding bits in LEVELS (Defn.h). */
export const CHARSXP_LEVELS = {
  BYTES: 1 << 1,
  LATIN1: 1 << 2,
  UTF8: 1 << 3,
  ASCII: 1 << 6,
} as const;

/** `NA_integer_` as stored: INT_MIN. */
export const NA_INTEGER = -2147483648;
/** Low 32-bit word of R's `NA_real_` NaN payload. */
export const NA_REAL_LOW_WORD = 1954;

// ---------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------

/** What the serialization header says. */
export interface RSerializationHeader {
  format: 'xdr';
  /** Serialization format version (2, 3 or 4). */
  version: number;
  /** R version that wrote the data, e.g. `"4.1.1"`. */
  writerVersion: string;
  /** Oldest R version able to read it, e.g. `"3.5.0"`. */
  minReaderVersion: string;
  /** Native encoding of the writer (version >= 3), else `null`. */
  nativeEncoding: string | null;
  /** Number of bytes the header occupies. */
  headerLength: number;
}

function decodeRVersion(packed: number): string {
  if (packed < 0) return 'unreleased';
  const v = Math.floor(packed / 65536);
  const p = Math.floor((packed % 65536) / 256);
  const s = packed % 256;
  return `${v}.${p}.${s}`;
}

function hexPreview(bytes: Uint8Array, n = 8): string {
  return Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Parse and validate the serialization header at the start of `bytes`.
 * Only the XDR format (`"X\n"`) is accepted; the ASCII (`"A\n"`) and native
 * binary (`"B\n"`) formats are rejected with an error naming them.
 */
export function readSerializationHeader(bytes: Uint8Array, label = 'R data'): RSerializationHeader {
  if (bytes.length < 2) throw new RDataError(`${label}: too short to be R serialized data (${bytes.length} bytes)`);
  const c0 = bytes[0];
  const c1 = bytes[1];
  if (c0 === 0x1f && c1 === 0x8b) {
    throw new RDataError(`${label}: data is gzip-compressed; decompress it before unserializing`);
  }
  if (c0 === 0x52 && c1 === 0x44 && bytes[2] === 0x58) {
    throw new RDataError(
      `${label}: this is an R save() workspace ("RDX" header), not a single serialized object; strip the "RDX2\\n"/"RDX3\\n" line first`,
    );
  }
  if ((c0 === 0x41 && c1 === 0x0a) || (c0 === 0x0a && c1 === 0x41)) {
    throw new RDataError(`${label}: R ASCII serialization format ("A\\n") is not supported; only XDR ("X\\n") is`);
  }
  if (c0 === 0x42 && c1 === 0x0a) {
    throw new RDataError(`${label}: R native binary serialization format ("B\\n") is not supported; only XDR ("X\\n") is`);
  }
  if (!(c0 === 0x58 && c1 === 0x0a)) {
    throw new RDataError(`${label}: not R serialized data (expected "X\\n" header, got bytes ${hexPreview(bytes)})`);
  }
  if (bytes.length < 14) throw new RDataError(`${label}: truncated serialization header (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getInt32(2);
  const writer = dv.getInt32(6);
  const minReader = dv.getInt32(10);
  let pos = 14;
  let nativeEncoding: string | null = null;
  if (version === 3 || version === 4) {
    if (bytes.length < pos + 4) throw new RDataError(`${label}: truncated serialization header`);
    const nelen = dv.getInt32(pos);
    pos += 4;
    if (nelen < 0 || nelen > 1024) throw new RDataError(`${label}: invalid length of encoding name (${nelen})`);
    if (bytes.length < pos + nelen) throw new RDataError(`${label}: truncated serialization header`);
    nativeEncoding = Buffer.from(bytes.buffer, bytes.byteOffset + pos, nelen).toString('latin1');
    pos += nelen;
  } else if (version !== 2) {
    throw new RDataError(
      `${label}: unsupported serialization format version ${version} (written by R ${decodeRVersion(writer)}; needs R ${decodeRVersion(minReader)}); versions 2 and 3 are supported`,
    );
  }
  return {
    format: 'xdr',
    version,
    writerVersion: decodeRVersion(writer),
    minReaderVersion: decodeRVersion(minReader),
    nativeEncoding,
    headerLength: pos,
  };
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

/** Options for {@link unserialize}. */
export interface UnserializeOptions {
  /**
   * Called for persistent references (`PERSISTSXP`, how lazy-load databases
   * store environments) with the stored name strings; returns the value to use.
   * Without a hook an unresolved `persistent` {@link REnvironment} is returned.
   */
  persistentHook?: (names: string[]) => RValue;
  /** Prefix for error messages, e.g. a file name and variable. */
  label?: string;
}

type StringDecoder = (buf: Buffer, start: number, end: number) => string;

const decodeUtf8: StringDecoder = (buf, s, e) => buf.toString('utf8', s, e);
const decodeLatin1: StringDecoder = (buf, s, e) => buf.toString('latin1', s, e);

function nativeDecoder(encoding: string | null): StringDecoder {
  if (!encoding) return decodeUtf8; // version 2: writer's encoding unknown; assume UTF-8
  const e = encoding.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (e === 'utf8' || e === 'ascii' || e === 'ansix341968' || e === 'usascii') return decodeUtf8;
  if (e === 'latin1' || e === 'iso88591' || e === 'l1') return decodeLatin1;
  try {
    const td = new TextDecoder(encoding);
    return (buf, s, en) => td.decode(buf.subarray(s, en));
  } catch {
    return decodeUtf8;
  }
}

const MAX_MATERIALISE = 2 ** 28;

class XdrReader {
  private readonly bytes: Uint8Array;
  private readonly buf: Buffer;
  private readonly dv: DataView;
  private pos: number;
  private readonly refs: RValue[] = [];
  private readonly label: string;
  private readonly hook: ((names: string[]) => RValue) | undefined;
  private readonly decodeNative: StringDecoder;

  constructor(bytes: Uint8Array, header: RSerializationHeader, options: UnserializeOptions) {
    this.bytes = bytes;
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = header.headerLength;
    this.label = options.label ?? 'R data';
    this.hook = options.persistentHook;
    this.decodeNative = nativeDecoder(header.nativeEncoding);
  }

  fail(message: string, at = this.pos): never {
    throw new RDataError(`${this.label}: ${message} (at byte offset ${at})`);
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.bytes.length) {
      throw new RDataError(
        `${this.label}: unexpected end of data while reading ${what} at byte offset ${this.pos} (need ${n} bytes, ${
          this.bytes.length - this.pos
        } left); the data is truncated or corrupt`,
      );
    }
  }

  readInt(what = 'an integer'): number {
    this.need(4, what);
    const v = this.dv.getInt32(this.pos);
    this.pos += 4;
    return v;
  }

  private readLength(): number {
    const at = this.pos;
    const len = this.readInt('a vector length');
    if (len >= 0) return len;
    if (len !== -1) this.fail(`negative serialized vector length ${len}`, at);
    this.need(8, 'a long vector length');
    const upper = this.dv.getUint32(this.pos);
    const lower = this.dv.getUint32(this.pos + 4);
    this.pos += 8;
    if (upper > 65536) this.fail(`invalid upper part of serialized vector length (${upper})`, at);
    return upper * 4294967296 + lower;
  }

  readItem(): RValue {
    const at = this.pos;
    const flags = this.readInt('item flags');
    return this.readItemWithFlags(flags, at);
  }

  private readAttributes(): RAttributes | null {
    const at = this.pos;
    const v = this.readItem();
    return this.toAttributes(v, at);
  }

  private toAttributes(v: RValue, at: number): RAttributes | null {
    if (v.type === 'null') return null;
    if (v.type !== 'pairlist') this.fail(`attributes are a ${v.type}, expected a pairlist`, at);
    const map: RAttributes = new Map();
    for (const item of v.items) map.set(item.tag ?? '', item.value);
    return map;
  }

  private tagName(tag: RValue | null): string | null {
    if (tag === null || tag.type === 'null') return null;
    if (tag.type === 'symbol') return tag.name;
    if (tag.type === 'charsxp') return tag.value;
    return null;
  }

  private readStringVec(what: string): string[] {
    const at = this.pos;
    if (this.readInt(what) !== 0) this.fail(`names in persistent strings are not supported (${what})`, at);
    const len = this.readInt(what);
    if (len < 0) this.fail(`invalid length ${len} for ${what}`, at);
    this.need(len * 4, what);
    const out: string[] = [];
    for (let i = 0; i < len; i++) {
      const s = this.readStringElement();
      out.push(s ?? 'NA');
    }
    return out;
  }

  /** Read one CHARSXP element (of a STRSXP or similar). */
  private readStringElement(): string | null {
    const at = this.pos;
    const flags = this.readInt('a string');
    if ((flags & 0xff) !== SEXPTYPE.CHARSXP) {
      this.fail(`expected a CHARSXP string element, found ${sexpTypeName(flags & 0xff)}`, at);
    }
    return this.readCharsxpBody(flags);
  }

  private readCharsxpBody(flags: number): string | null {
    const levels = flags >> 12;
    const at = this.pos;
    const len = this.readInt('a string length');
    let s: string | null;
    if (len === -1) s = null;
    else {
      if (len < -1) this.fail(`invalid string length ${len}`, at);
      this.need(len, 'string bytes');
      const start = this.pos;
      const end = start + len;
      this.pos = end;
      if (levels & CHARSXP_LEVELS.UTF8) s = decodeUtf8(this.buf, start, end);
      else if (levels & (CHARSXP_LEVELS.LATIN1 | CHARSXP_LEVELS.BYTES | CHARSXP_LEVELS.ASCII))
        s = decodeLatin1(this.buf, start, end);
      else s = this.decodeNative(this.buf, start, end);
    }
    // A CHARSXP's attributes (only written by very old R versions) are read and ignored.
    if (flags & HAS_ATTR_BIT) this.readItem();
    return s;
  }

  private makeEnv(kind: REnvironmentKind, spec: string[] | null = null): REnvironment {
    return {
      type: 'environment',
      kind,
      spec,
      locked: false,
      enclos: null,
      bindings: new Map(),
      resolved: kind !== 'persistent',
      attributes: null,
    };
  }

  private getRef(flags: number, at: number): RValue {
    let index = flags >> 8;
    if (index === 0) index = this.readInt('a reference index');
    const v = this.refs[index - 1];
    if (index < 1 || v === undefined) {
      this.fail(`reference index ${index} out of range (${this.refs.length} references read so far)`, at);
    }
    return v;
  }

  readItemWithFlags(flags: number, at: number): RValue {
    const type = flags & 0xff;
    switch (type) {
      case SEXPTYPE.NILVALUE_SXP:
        return R_NULL;
      case SEXPTYPE.EMPTYENV_SXP:
        return this.makeEnv('empty');
      case SEXPTYPE.BASEENV_SXP:
        return this.makeEnv('base');
      case SEXPTYPE.GLOBALENV_SXP:
        return this.makeEnv('global');
      case SEXPTYPE.BASENAMESPACE_SXP:
        return this.makeEnv('basenamespace');
      case SEXPTYPE.UNBOUNDVALUE_SXP:
        return { type: 'unboundvalue' };
      case SEXPTYPE.MISSINGARG_SXP:
        return { type: 'missingarg' };
      case SEXPTYPE.REFSXP:
        return this.getRef(flags, at);
      case SEXPTYPE.PERSISTSXP: {
        const names = this.readStringVec('a persistent name');
        const v = this.hook ? this.hook(names) : this.makeEnv('persistent', names);
        this.refs.push(v);
        return v;
      }
      case SEXPTYPE.ALTREP_SXP:
        return this.readAltrep(at);
      case SEXPTYPE.SYMSXP: {
        const pat = this.pos;
        const pflags = this.readInt('a symbol name');
        if ((pflags & 0xff) !== SEXPTYPE.CHARSXP) {
          this.fail(`symbol name is ${sexpTypeName(pflags & 0xff)}, expected CHARSXP`, pat);
        }
        const name = this.readCharsxpBody(pflags);
        const sym: RSymbol = { type: 'symbol', name: name ?? 'NA' };
        this.refs.push(sym);
        return sym;
      }
      case SEXPTYPE.PACKAGESXP: {
        const env = this.makeEnv('package', this.readStringVec('a package environment name'));
        this.refs.push(env);
        return env;
      }
      case SEXPTYPE.NAMESPACESXP: {
        const env = this.makeEnv('namespace', this.readStringVec('a namespace name'));
        this.refs.push(env);
        return env;
      }
      case SEXPTYPE.ENVSXP: {
        const locked = this.readInt('environment lock flag') !== 0;
        const env = this.makeEnv('regular');
        env.locked = locked;
        this.refs.push(env); // must be registered before its contents are read
        const enclos = this.readItem();
        const frame = this.readItem();
        const hashtab = this.readItem();
        const attrAt = this.pos;
        env.attributes = this.toAttributes(this.readItem(), attrAt);
        env.enclos = enclos.type === 'null' ? this.makeEnv('base') : enclos;
        addBindings(env.bindings, frame);
        if (hashtab.type === 'list') for (const bucket of hashtab.data) addBindings(env.bindings, bucket);
        return env;
      }
      case SEXPTYPE.LISTSXP:
      case SEXPTYPE.LANGSXP:
      case SEXPTYPE.DOTSXP:
        return this.readPairList(flags);
      case SEXPTYPE.CLOSXP: {
        const attributes = flags & HAS_ATTR_BIT ? this.readAttributes() : null;
        const environment = flags & HAS_TAG_BIT ? this.readItem() : R_NULL;
        const formals = this.readItem();
        const body = this.readItem();
        return {
          type: 'closure',
          environment: environment.type === 'null' ? this.makeEnv('base') : environment,
          formals,
          body,
          attributes,
        };
      }
      case SEXPTYPE.PROMSXP: {
        const attributes = flags & HAS_ATTR_BIT ? this.readAttributes() : null;
        const environment = flags & HAS_TAG_BIT ? this.readItem() : R_NULL;
        const value = this.readItem();
        const expression = this.readItem();
        return { type: 'promise', environment, value, expression, attributes };
      }
      default:
        return this.readVectorLike(flags, at);
    }
  }

  private readPairList(flags: number): RPairList {
    const type = flags & 0xff;
    const result: RPairList = {
      type: type === SEXPTYPE.LANGSXP ? 'language' : type === SEXPTYPE.DOTSXP ? 'dots' : 'pairlist',
      items: [],
      tail: null,
      attributes: null,
    };
    let f = flags;
    let first = true;
    // Iterate over the CDR chain instead of recursing, like ReadItem_Iterative.
    for (;;) {
      const attributes = f & HAS_ATTR_BIT ? this.readAttributes() : null;
      if (first) result.attributes = attributes;
      const tag = f & HAS_TAG_BIT ? this.readItem() : null;
      const value = this.readItem();
      result.items.push({ tag: this.tagName(tag), value });
      first = false;
      const at = this.pos;
      f = this.readInt('pairlist continuation');
      const next = f & 0xff;
      if (next === SEXPTYPE.NILVALUE_SXP) break;
      if (next === SEXPTYPE.LISTSXP || (next === SEXPTYPE.DOTSXP && result.type === 'dots')) continue;
      result.tail = this.readItemWithFlags(f, at);
      break;
    }
    return result;
  }

  private readVectorLike(flags: number, at: number): RValue {
    const type = flags & 0xff;
    let value: Exclude<RValue, RNull | RSymbol | RMarker | RCharsxp>;
    switch (type) {
      case SEXPTYPE.CHARSXP: {
        const v = this.readCharsxpBody(flags);
        return { type: 'charsxp', value: v };
      }
      case SEXPTYPE.EXTPTRSXP: {
        const p: RExternalPtr = { type: 'externalptr', protected: R_NULL, tag: R_NULL, attributes: null };
        this.refs.push(p);
        p.protected = this.readItem();
        p.tag = this.readItem();
        value = p;
        break;
      }
      case SEXPTYPE.WEAKREFSXP: {
        const w: RWeakRef = { type: 'weakref', attributes: null };
        this.refs.push(w);
        value = w;
        break;
      }
      case SEXPTYPE.SPECIALSXP:
      case SEXPTYPE.BUILTINSXP: {
        const len = this.readInt('a primitive name length');
        if (len < 0) this.fail(`invalid primitive name length ${len}`);
        this.need(len, 'a primitive name');
        const name = this.buf.toString('latin1', this.pos, this.pos + len);
        this.pos += len;
        value = { type: type === SEXPTYPE.BUILTINSXP ? 'builtin' : 'special', name, attributes: null };
        break;
      }
      case SEXPTYPE.LGLSXP: {
        const n = this.readLength();
        this.need(n * 4, 'a logical vector');
        const data: (boolean | null)[] = new Array(n);
        const dv = this.dv;
        let p = this.pos;
        for (let i = 0; i < n; i++, p += 4) {
          const v = dv.getInt32(p);
          data[i] = v === NA_INTEGER ? null : v !== 0;
        }
        this.pos = p;
        value = { type: 'logical', data, attributes: null };
        break;
      }
      case SEXPTYPE.INTSXP: {
        const n = this.readLength();
        this.need(n * 4, 'an integer vector');
        const data: (number | null)[] = new Array(n);
        const dv = this.dv;
        let p = this.pos;
        for (let i = 0; i < n; i++, p += 4) {
          const v = dv.getInt32(p);
          data[i] = v === NA_INTEGER ? null : v;
        }
        this.pos = p;
        value = { type: 'integer', data, attributes: null };
        break;
      }
      case SEXPTYPE.REALSXP: {
        const n = this.readLength();
        this.need(n * 8, 'a double vector');
        const data: (number | null)[] = new Array(n);
        const dv = this.dv;
        let p = this.pos;
        for (let i = 0; i < n; i++, p += 8) {
          const v = dv.getFloat64(p);
          data[i] = v !== v && dv.getUint32(p + 4) === NA_REAL_LOW_WORD ? null : v;
        }
        this.pos = p;
        value = { type: 'double', data, attributes: null };
        break;
      }
      case SEXPTYPE.CPLXSXP: {
        const n = this.readLength();
        this.need(n * 16, 'a complex vector');
        const data: (RComplexNumber | null)[] = new Array(n);
        const dv = this.dv;
        let p = this.pos;
        for (let i = 0; i < n; i++, p += 16) {
          const re = dv.getFloat64(p);
          const im = dv.getFloat64(p + 8);
          const na =
            (re !== re && dv.getUint32(p + 4) === NA_REAL_LOW_WORD) ||
            (im !== im && dv.getUint32(p + 12) === NA_REAL_LOW_WORD);
          data[i] = na ? null : { re, im };
        }
        this.pos = p;
        value = { type: 'complex', data, attributes: null };
        break;
      }
      case SEXPTYPE.STRSXP: {
        const n = this.readLength();
        this.need(n * 8, 'a character vector');
        const data: (string | null)[] = new Array(n);
        for (let i = 0; i < n; i++) data[i] = this.readStringElement();
        value = { type: 'character', data, attributes: null };
        break;
      }
      case SEXPTYPE.VECSXP:
      case SEXPTYPE.EXPRSXP: {
        const n = this.readLength();
        this.need(n * 4, 'a list');
        const data: RValue[] = new Array(n);
        for (let i = 0; i < n; i++) data[i] = this.readItem();
        value = { type: type === SEXPTYPE.VECSXP ? 'list' : 'expression', data, attributes: null };
        break;
      }
      case SEXPTYPE.RAWSXP: {
        const n = this.readLength();
        this.need(n, 'a raw vector');
        value = { type: 'raw', data: this.bytes.slice(this.pos, this.pos + n), attributes: null };
        this.pos += n;
        break;
      }
      case SEXPTYPE.S4SXP:
        value = { type: 'S4', attributes: null };
        break;
      case SEXPTYPE.BCODESXP:
        return this.fail('unsupported SEXP type BCODESXP (21, byte-compiled code)', at);
      case SEXPTYPE.CLASSREFSXP:
      case SEXPTYPE.GENERICREFSXP:
      case SEXPTYPE.BCREPDEF:
      case SEXPTYPE.BCREPREF:
      case SEXPTYPE.ATTRLANGSXP:
      case SEXPTYPE.ATTRLISTSXP:
        return this.fail(`unsupported SEXP type ${sexpTypeName(type)} (${type})`, at);
      default:
        return this.fail(`unsupported or unknown SEXP type ${sexpTypeName(type)} (${type}; flags 0x${(flags >>> 0).toString(16)})`, at);
    }
    if (flags & HAS_ATTR_BIT) value.attributes = this.readAttributes();
    return value;
  }

  private readAltrep(at: number): RValue {
    const info = this.readItem();
    const stateAt = this.pos;
    const state = this.readItem();
    const attrAt = this.pos;
    const attributes = this.toAttributes(this.readItem(), attrAt);
    if (info.type !== 'pairlist' || info.items.length < 2) this.fail('malformed ALTREP class information', at);
    const cls = info.items[0].value;
    const pkg = info.items[1].value;
    const className = cls.type === 'symbol' ? cls.name : '?';
    const packageName = pkg.type === 'symbol' ? pkg.name : '?';
    const v = this.materialiseAltrep(className, packageName, state, at, stateAt);
    v.attributes = attributes;
    return v;
  }

  private seqParams(state: RValue, className: string, at: number): [number, number, number] {
    if ((state.type !== 'double' && state.type !== 'integer') || state.data.length < 3) {
      this.fail(`malformed ${className} ALTREP state (${describeRValue(state)})`, at);
    }
    const [n, n1, inc] = state.data;
    if (n === null || n1 === null || inc === null || !Number.isFinite(n) || n < 0) {
      this.fail(`malformed ${className} ALTREP state (length/start/increment ${String(n)}, ${String(n1)}, ${String(inc)})`, at);
    }
    if (n > MAX_MATERIALISE) this.fail(`${className} ALTREP of length ${n} is too long to materialise`, at);
    return [n, n1, inc];
  }

  private materialiseAltrep(
    className: string,
    packageName: string,
    state: RValue,
    at: number,
    stateAt: number,
  ): RInteger | RDouble | RLogical | RCharacter | RComplex | RRaw | RList {
    switch (className) {
      case 'compact_intseq': {
        const [n, n1, inc] = this.seqParams(state, className, stateAt);
        const data: (number | null)[] = new Array(n);
        for (let i = 0; i < n; i++) data[i] = n1 + i * inc;
        return { type: 'integer', data, attributes: null };
      }
      case 'compact_realseq': {
        const [n, n1, inc] = this.seqParams(state, className, stateAt);
        const data: (number | null)[] = new Array(n);
        for (let i = 0; i < n; i++) data[i] = n1 + i * inc;
        return { type: 'double', data, attributes: null };
      }
      case 'wrap_integer':
      case 'wrap_real':
      case 'wrap_logical':
      case 'wrap_string':
      case 'wrap_complex':
      case 'wrap_raw':
      case 'wrap_list': {
        // state is CONS(wrapped vector, metadata)
        if (state.type !== 'pairlist' || state.items.length < 1) this.fail(`malformed ${className} ALTREP state`, stateAt);
        const inner = state.items[0].value;
        switch (inner.type) {
          case 'integer':
          case 'double':
          case 'logical':
          case 'character':
          case 'complex':
          case 'raw':
          case 'list':
            return { ...inner };
          default:
            return this.fail(`${className} ALTREP wraps a ${inner.type}, expected a vector`, stateAt);
        }
      }
      case 'deferred_string': {
        // state is CONS(argument vector, scipen info)
        if (state.type !== 'pairlist' || state.items.length < 1) this.fail('malformed deferred_string ALTREP state', stateAt);
        const arg = state.items[0].value;
        let scipen = 0;
        const info = state.tail ?? state.items[1]?.value;
        if (info && info.type === 'integer' && info.data.length > 0 && info.data[0] !== null) scipen = info.data[0];
        if (arg.type === 'integer') {
          return { type: 'character', data: arg.data.map((x) => (x === null ? null : String(x))), attributes: null };
        }
        if (arg.type === 'double') {
          return { type: 'character', data: arg.data.map((x) => formatRDouble(x, scipen)), attributes: null };
        }
        return this.fail(`deferred_string ALTREP over a ${arg.type} vector is not supported`, stateAt);
      }
      default:
        return this.fail(`unsupported ALTREP class '${className}' from package '${packageName}'`, at);
    }
  }
}

function addBindings(bindings: Map<string, RValue>, frame: RValue): void {
  if (frame.type !== 'pairlist') return;
  for (const item of frame.items) if (item.tag !== null) bindings.set(item.tag, item.value);
}

/**
 * Format a double the way R's `as.character()` does for deferred-string
 * ALTREP vectors: up to 15 significant digits, fixed or scientific notation,
 * whichever is narrower (with the `scipen` penalty). `null` (NA) stays `null`.
 */
export function formatRDouble(x: number | null, scipen = 0): string | null {
  if (x === null) return null;
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Inf';
  if (x === -Infinity) return '-Inf';
  if (x === 0) return '0';
  const [m, e] = x.toExponential(14).split('e');
  const E = parseInt(e, 10);
  const mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
  const neg = x < 0 ? 1 : 0;
  const nsig = mant.replace('-', '').replace('.', '').length;
  const rgt = Math.max(0, nsig - 1 - E);
  const left = E >= 0 ? E + 1 : 1;
  const fixedWidth = neg + left + (rgt > 0 ? rgt + 1 : 0);
  const expDigits = Math.abs(E) >= 100 ? 3 : 2;
  const sciWidth = neg + (nsig > 1 ? nsig + 1 : 1) + 2 + expDigits;
  if (fixedWidth <= sciWidth + scipen) {
    if (E < 21) return x.toFixed(rgt);
    const digits = mant.replace('-', '').replace('.', '');
    return (neg ? '-' : '') + digits + '0'.repeat(E + 1 - digits.length);
  }
  return `${mant}e${E < 0 ? '-' : '+'}${String(Math.abs(E)).padStart(expDigits, '0')}`;
}

/**
 * Unserialize one R object from XDR-format bytes (the output of R's
 * `serialize(x, NULL)`, or a decompressed `.rds` / lazy-load blob).
 *
 * @throws {RDataError} for non-XDR formats, truncated data, and unsupported
 *   content (byte code, unknown ALTREP classes, ...), naming the SEXP type
 *   and byte offset.
 */
export function unserialize(bytes: Uint8Array, options: UnserializeOptions = {}): RValue {
  const header = readSerializationHeader(bytes, options.label);
  const reader = new XdrReader(bytes, header, options);
  return reader.readItem();
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** The value of attribute `name` of `value`, or `undefined` when absent. */
export function getAttribute(value: RValue, name: string): RValue | undefined {
  return 'attributes' in value && value.attributes ? value.attributes.get(name) : undefined;
}

/** The explicit `class` attribute of `value` as strings (empty when it has none). */
export function classOf(value: RValue): string[] {
  const cls = getAttribute(value, 'class');
  if (!cls || cls.type !== 'character') return [];
  return cls.data.filter((s): s is string => s !== null);
}

/** Whether `value`'s explicit `class` attribute contains `cls` (like R's `inherits()`, without implicit classes). */
export function inherits(value: RValue, cls: string): boolean {
  return classOf(value).includes(cls);
}

/** The `names` attribute of `value` as strings (`NA` names become `"NA"`), or `null`. */
export function namesOf(value: RValue): string[] | null {
  const names = getAttribute(value, 'names');
  if (!names || names.type !== 'character') return null;
  return names.data.map((s) => s ?? 'NA');
}

/** A short human description of a value for error messages, e.g. `integer vector of length 3 (class factor)`. */
export function describeRValue(value: RValue): string {
  let s: string;
  switch (value.type) {
    case 'logical':
    case 'integer':
    case 'double':
    case 'complex':
    case 'character':
    case 'raw':
      s = `${value.type} vector of length ${value.data.length}`;
      break;
    case 'list':
    case 'expression':
      s = `${value.type} of length ${value.data.length}`;
      break;
    case 'pairlist':
    case 'language':
    case 'dots':
      s = `${value.type} of length ${value.items.length}`;
      break;
    case 'environment':
      s = `${value.kind} environment`;
      break;
    case 'symbol':
      s = `symbol \`${value.name}\``;
      break;
    case 'null':
      return 'NULL';
    default:
      s = value.type;
  }
  const cls = classOf(value);
  return cls.length ? `${s} (class ${cls.join('/')})` : s;
}

/** Kind of a data frame column after conversion. */
export type RColumnType = 'integer' | 'double' | 'character' | 'factor' | 'logical';

/** One converted data frame column; `null` is `NA`. Factors become their level strings. */
export type RColumn = (number | null)[] | (string | null)[] | (boolean | null)[];

/** A data frame as plain JavaScript columns. */
export interface RDataFrame {
  /** Column names, in order. */
  names: string[];
  /** Number of rows. */
  nrow: number;
  /** Columns by name. */
  columns: Record<string, RColumn>;
  /** How each column was stored in R (`factor` columns hold level strings). */
  types: Record<string, RColumnType>;
  /** Character row names, or `null` for automatic (integer) row names. */
  rowNames: string[] | null;
}

function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Number of rows of a data frame from its `row.names` attribute (compact `c(NA, -n)` form understood). */
function dataFrameRows(rowNames: RValue | undefined): { nrow: number | null; names: string[] | null } {
  if (!rowNames || rowNames.type === 'null') return { nrow: null, names: null };
  if (rowNames.type === 'integer') {
    const d = rowNames.data;
    if (d.length === 2 && d[0] === null && d[1] !== null) return { nrow: Math.abs(d[1]), names: null };
    return { nrow: d.length, names: null };
  }
  if (rowNames.type === 'double') {
    const d = rowNames.data;
    if (d.length === 2 && d[0] === null && d[1] !== null) return { nrow: Math.abs(d[1]), names: null };
    return { nrow: d.length, names: null };
  }
  if (rowNames.type === 'character') return { nrow: rowNames.data.length, names: rowNames.data.map((s) => s ?? 'NA') };
  return { nrow: null, names: null };
}

/**
 * Convert an R `data.frame` into plain columns: integer and double columns to
 * numbers, logical to booleans, character to strings, factors to their level
 * strings; `NA` becomes `null`. Compact row names (`c(NA, -n)`) are understood.
 *
 * @throws {RDataError} when `value` is not a data frame or has a column that
 *   cannot be represented (list, matrix, nested data frame, complex, ...).
 */
export function asDataFrame(value: RValue): RDataFrame {
  if (value.type !== 'list') throw new RDataError(`not a data frame: got ${describeRValue(value)}`);
  if (!inherits(value, 'data.frame')) {
    throw new RDataError(`not a data frame: got ${describeRValue(value)} without class "data.frame"`);
  }
  const names = namesOf(value);
  if (!names || names.length !== value.data.length) {
    throw new RDataError(`malformed data frame: ${value.data.length} columns but ${names ? names.length : 'no'} names`);
  }
  const rows = dataFrameRows(getAttribute(value, 'row.names'));
  let nrow = rows.nrow;
  const columns: Record<string, RColumn> = {};
  const types: Record<string, RColumnType> = {};
  const seen = new Set<string>();
  value.data.forEach((col, j) => {
    const name = names[j];
    if (seen.has(name)) throw new RDataError(`data frame has duplicate column name "${name}"`);
    seen.add(name);
    let out: RColumn;
    let kind: RColumnType;
    const dim = getAttribute(col, 'dim');
    if (dim && dim.type !== 'null') {
      throw new RDataError(`data frame column "${name}" is a matrix/array (${describeRValue(col)}); not supported`);
    }
    if (col.type === 'integer' && inherits(col, 'factor')) {
      const levels = getAttribute(col, 'levels');
      if (!levels || levels.type !== 'character') {
        throw new RDataError(`data frame column "${name}" is a factor without character levels`);
      }
      const lv = levels.data;
      out = col.data.map((code, i) => {
        if (code === null) return null;
        if (code < 1 || code > lv.length) {
          throw new RDataError(`factor column "${name}" row ${i + 1} has code ${code} outside its ${lv.length} levels`);
        }
        return lv[code - 1];
      });
      kind = 'factor';
    } else if (col.type === 'integer' || col.type === 'double' || col.type === 'logical' || col.type === 'character') {
      out = col.data;
      kind = col.type;
    } else {
      throw new RDataError(`data frame column "${name}" is a ${describeRValue(col)}; only atomic integer, double, logical, character and factor columns are supported`);
    }
    if (nrow === null) nrow = out.length;
    if (out.length !== nrow) {
      throw new RDataError(`data frame column "${name}" has ${out.length} values but the data frame has ${nrow} rows`);
    }
    setOwn(columns, name, out);
    setOwn(types, name, kind);
  });
  return { names, nrow: nrow ?? 0, columns, types, rowNames: rows.names };
}

function columnOf(df: RDataFrame, name: string, want: RColumnType[], what: string): RColumn {
  if (!Object.prototype.hasOwnProperty.call(df.types, name)) {
    throw new RDataError(`data frame has no column "${name}"; it has: ${df.names.join(', ') || '(none)'}`);
  }
  const type = df.types[name];
  if (!want.includes(type)) throw new RDataError(`data frame column "${name}" is ${type}, expected ${what}`);
  return df.columns[name];
}

/** Column `name` of `df` as numbers; it must be an integer or double column. */
export function numericColumn(df: RDataFrame, name: string): (number | null)[] {
  return columnOf(df, name, ['integer', 'double'], 'integer or double') as (number | null)[];
}

/** Column `name` of `df` as strings; it must be a character or factor column. */
export function stringColumn(df: RDataFrame, name: string): (string | null)[] {
  return columnOf(df, name, ['character', 'factor'], 'character or factor') as (string | null)[];
}

/** Column `name` of `df` as booleans; it must be a logical column. */
export function logicalColumn(df: RDataFrame, name: string): (boolean | null)[] {
  return columnOf(df, name, ['logical'], 'logical') as (boolean | null)[];
}
