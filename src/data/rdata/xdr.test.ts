import { describe, expect, it } from 'vitest';
import {
  asDataFrame,
  classOf,
  formatRDouble,
  getAttribute,
  inherits,
  logicalColumn,
  numericColumn,
  RDataError,
  readSerializationHeader,
  stringColumn,
  unserialize,
  type REnvironment,
  type RValue,
} from './xdr.js';
import {
  asAltrep,
  attrs,
  compactIntSeq,
  compactRealSeq,
  deferredString,
  rChr,
  rDataFrame,
  rDbl,
  rEnv,
  rFactor,
  rInt,
  rList,
  rLgl,
  rSym,
  SAMPLE_COLUMNS,
  sampleDataFrame,
  serializeXdr,
  withEncodings,
  wrapped,
} from './writer.testing.js';

/** Serialize then unserialize. */
function roundTrip(v: RValue, options: Parameters<typeof serializeXdr>[1] = {}): RValue {
  return unserialize(serializeXdr(v, options));
}

/** XDR header (version 3, UTF-8) followed by the given big-endian ints. */
function rawStream(...ints: number[]): Uint8Array {
  const head = Buffer.from(serializeXdr({ type: 'null' })).subarray(0, -4);
  const body = Buffer.alloc(ints.length * 4);
  ints.forEach((v, i) => body.writeInt32BE(v, i * 4));
  return Buffer.concat([head, body]);
}

function errorOf(fn: () => unknown): RDataError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RDataError);
    return err as RDataError;
  }
  throw new Error('expected an RDataError');
}

describe('readSerializationHeader', () => {
  it('reads version 3 headers with the native encoding', () => {
    const h = readSerializationHeader(serializeXdr(rInt([1]), { nativeEncoding: 'latin1' }));
    expect(h).toMatchObject({ format: 'xdr', version: 3, writerVersion: '4.1.1', minReaderVersion: '3.5.0', nativeEncoding: 'latin1' });
  });

  it('reads version 2 headers', () => {
    const h = readSerializationHeader(serializeXdr(rInt([1]), { version: 2 }));
    expect(h).toMatchObject({ version: 2, minReaderVersion: '2.3.0', nativeEncoding: null, headerLength: 14 });
  });

  it('rejects ascii, native binary and other formats by name', () => {
    expect(errorOf(() => unserialize(Buffer.from('A\n3\n263169\n'))).message).toMatch(/ASCII.*"A\\n".*not supported/);
    expect(errorOf(() => unserialize(Buffer.from('B\n\x03\x00\x00\x00'))).message).toMatch(/native binary.*"B\\n"/);
    expect(errorOf(() => unserialize(Buffer.from([0x1f, 0x8b, 8, 0]))).message).toMatch(/gzip/);
    expect(errorOf(() => unserialize(Buffer.from('RDX3\nX\n'))).message).toMatch(/save\(\) workspace/);
    expect(errorOf(() => unserialize(Buffer.from('hello world'))).message).toMatch(/not R serialized data.*68 65 6c/);
  });

  it('rejects unknown format versions and truncated headers', () => {
    const bytes = Buffer.from(serializeXdr(rInt([1])));
    bytes.writeInt32BE(7, 2);
    expect(errorOf(() => unserialize(bytes)).message).toMatch(/unsupported serialization format version 7/);
    expect(errorOf(() => unserialize(bytes.subarray(0, 9))).message).toMatch(/truncated serialization header/);
  });
});

describe('unserialize: vectors', () => {
  it('round-trips atomic vectors with NA', () => {
    expect(roundTrip(rInt([1, null, -2147483647, 7]))).toEqual(rInt([1, null, -2147483647, 7]));
    expect(roundTrip(rLgl([true, null, false]))).toEqual(rLgl([true, null, false]));
    expect(roundTrip(rChr(['a', null, '']))).toEqual(rChr(['a', null, '']));
    expect(roundTrip({ type: 'raw', data: Uint8Array.from([0, 255, 7]), attributes: null })).toEqual({
      type: 'raw',
      data: Uint8Array.from([0, 255, 7]),
      attributes: null,
    });
  });

  it('distinguishes NA_real_ (low word 1954) from other NaNs', () => {
    const v = roundTrip(rDbl([null, Number.NaN, Infinity, -0, 2.5]));
    expect(v.type).toBe('double');
    if (v.type !== 'double') return;
    expect(v.data[0]).toBeNull();
    expect(Number.isNaN(v.data[1])).toBe(true);
    expect(v.data.slice(2)).toEqual([Infinity, -0, 2.5]);
    // R's NA with the quiet bit set (0x7FF80000000007A2) is still NA
    const bytes = Buffer.from(serializeXdr(rDbl([null])));
    bytes.writeUInt32BE(0x7ff80000, bytes.length - 8);
    expect(unserialize(bytes)).toEqual(rDbl([null]));
  });

  it('reads complex vectors', () => {
    const v: RValue = { type: 'complex', data: [{ re: 1, im: -2 }, null], attributes: null };
    expect(roundTrip(v)).toEqual(v);
  });

  it('decodes UTF-8, latin1, bytes and native-encoded strings', () => {
    const chr = withEncodings(rChr(['café', 'naïve ✓', 'Ærø', 'x']), ['latin1', 'utf8', 'bytes', 'native']);
    expect(roundTrip(chr)).toEqual(rChr(['café', 'naïve ✓', 'Ærø', 'x']));
    // unflagged strings are decoded in the writer's native encoding
    const latin1Native = withEncodings(rChr(['Zoë']), ['latin1']);
    const bytes = Buffer.from(serializeXdr(latin1Native, { nativeEncoding: 'ISO-8859-1' }));
    // clear the LATIN1 flag: the string is then "native" = ISO-8859-1
    const flagsAt = bytes.length - 4 - 3 - 4;
    bytes.writeInt32BE(9, flagsAt);
    expect(unserialize(bytes)).toEqual(rChr(['Zoë']));
  });

  it('reads long-vector length encoding', () => {
    const v = rList([rInt([1, 2, 3]), rChr(['a'])], ['x', 'y']);
    expect(roundTrip(v, { longLengths: true })).toEqual(v);
  });

  it('keeps attributes and shares symbols through the reference table', () => {
    const v = rList([rInt([1], { class: rChr(['foo']) }), rInt([2], { class: rChr(['bar']) })], ['a', 'b']);
    const bytes = serializeXdr(v);
    // "class" is written once as SYMSXP, then as REFSXP
    expect(Buffer.from(bytes).toString('latin1').split('class').length - 1).toBe(1);
    const back = unserialize(bytes);
    expect(back).toEqual(v);
    expect(classOf(back)).toEqual([]);
    if (back.type !== 'list') throw new Error('list expected');
    expect(classOf(back.data[1])).toEqual(['bar']);
    expect(inherits(back.data[0], 'foo')).toBe(true);
    expect(getAttribute(back, 'names')).toEqual(rChr(['a', 'b']));
  });

  it('reads expression vectors, S4 objects and primitives', () => {
    const e: RValue = { type: 'expression', data: [rSym('x'), rDbl([1])], attributes: null };
    expect(roundTrip(e)).toEqual(e);
    const s4: RValue = { type: 'S4', attributes: attrs({ x: rDbl([1]), class: rChr(['Point'], { package: rChr(['.GlobalEnv']) }) }) };
    expect(roundTrip(s4)).toEqual(s4);
    const b: RValue = { type: 'builtin', name: 'sum', attributes: null };
    expect(roundTrip(b)).toEqual(b);
  });
});

describe('unserialize: language objects and environments', () => {
  it('reads closures with formals, body and environment', () => {
    const fn: RValue = {
      type: 'closure',
      environment: rEnv('global'),
      formals: {
        type: 'pairlist',
        items: [
          { tag: 'x', value: { type: 'missingarg' } },
          { tag: 'y', value: rDbl([2]) },
        ],
        tail: null,
        attributes: null,
      },
      body: {
        type: 'language',
        items: [
          { tag: null, value: rSym('+') },
          { tag: null, value: rSym('x') },
          { tag: null, value: rSym('y') },
        ],
        tail: null,
        attributes: null,
      },
      attributes: null,
    };
    expect(roundTrip(fn)).toEqual(fn);
  });

  it('reads special, namespace and package environments', () => {
    const v = rList([rEnv('empty'), rEnv('base'), rEnv('basenamespace'), rEnv('namespace', ['stats', '4.1.1']), rEnv('package', ['package:stats'])]);
    const back = roundTrip(v);
    if (back.type !== 'list') throw new Error('list expected');
    expect(back.data.map((e) => (e.type === 'environment' ? [e.kind, e.spec] : e.type))).toEqual([
      ['empty', null],
      ['base', null],
      ['basenamespace', null],
      ['namespace', ['stats', '4.1.1']],
      ['package', ['package:stats']],
    ]);
  });

  it('reads regular environments, including self references (REFSXP)', () => {
    const env = rEnv('regular', null, { a: rInt([1]) });
    env.locked = true;
    env.bindings.set('self', env);
    const back = roundTrip(rList([env, env]));
    if (back.type !== 'list') throw new Error('list expected');
    const e = back.data[0] as REnvironment;
    expect(e.kind).toBe('regular');
    expect(e.locked).toBe(true);
    expect(e.bindings.get('a')).toEqual(rInt([1]));
    expect(e.bindings.get('self')).toBe(e);
    expect(back.data[1]).toBe(e);
    expect((e.enclos as REnvironment).kind).toBe('global');
  });

  it('passes persistent references to the hook', () => {
    const seen: string[][] = [];
    const target = rEnv('regular');
    const persistent = rEnv('persistent', ['env::1']);
    const bytes = serializeXdr(rList([persistent, persistent]));
    const back = unserialize(bytes, {
      persistentHook: (names) => {
        seen.push(names);
        return target;
      },
    });
    expect(seen).toEqual([['env::1']]); // second occurrence is a REFSXP
    expect(back).toEqual(rList([target, target]));
    // without a hook: an unresolved persistent environment
    const opaque = unserialize(bytes);
    if (opaque.type !== 'list') throw new Error('list expected');
    expect(opaque.data[0]).toMatchObject({ type: 'environment', kind: 'persistent', spec: ['env::1'], resolved: false });
  });

  it('rejects byte code and other unsupported SEXP types, naming type and offset', () => {
    const err = errorOf(() => unserialize(rawStream(21), { label: 'test.rds' }));
    expect(err.message).toMatch(/^test\.rds: .*BCODESXP.*byte offset 23/);
    expect(errorOf(() => unserialize(rawStream(246))).message).toMatch(/CLASSREFSXP/);
    expect(errorOf(() => unserialize(rawStream(99))).message).toMatch(/unknown SEXP type.*99/);
  });

  it('reports bad reference indexes', () => {
    expect(errorOf(() => unserialize(rawStream((5 << 8) | 255))).message).toMatch(/reference index 5 out of range/);
  });
});

describe('unserialize: ALTREP', () => {
  it('materialises compact sequences', () => {
    expect(roundTrip(compactIntSeq(5, 10, -1))).toEqual(rInt([10, 9, 8, 7, 6]));
    expect(roundTrip(compactRealSeq(3, 0.5, 1))).toEqual(rDbl([0.5, 1.5, 2.5]));
    // version 2 has no ALTREP: the same value is written as a plain vector
    expect(roundTrip(compactIntSeq(3), { version: 2 })).toEqual(rInt([1, 2, 3]));
  });

  it('materialises wrappers, with the outer attributes', () => {
    const named = wrapped(rDbl([1, null], { names: rChr(['a', 'b']) }));
    expect(roundTrip(named)).toEqual(rDbl([1, null], { names: rChr(['a', 'b']) }));
    expect(roundTrip(wrapped(rChr(['x', null])))).toEqual(rChr(['x', null]));
    expect(roundTrip(wrapped(rInt([3])))).toEqual(rInt([3]));
    expect(roundTrip(wrapped(rLgl([null, true])))).toEqual(rLgl([null, true]));
  });

  it('materialises deferred strings', () => {
    expect(roundTrip(deferredString(rInt([1, null, -20]), ['1', null, '-20']))).toEqual(rChr(['1', null, '-20']));
    expect(roundTrip(deferredString(rDbl([0.1, 1e5, 123456, 1e-20, null]), [])).type).toBe('character');
    expect((roundTrip(deferredString(rDbl([0.1, 1e5, 123456, 1e-20, null]), [])) as { data: unknown }).data).toEqual([
      '0.1',
      '1e+05',
      '123456',
      '1e-20',
      null,
    ]);
  });

  it('rejects unknown ALTREP classes by name', () => {
    const v = asAltrep(rInt([1]), 'vroom_int', 'vroom', 13, rChr(['state']));
    expect(errorOf(() => roundTrip(v)).message).toMatch(/unsupported ALTREP class 'vroom_int' from package 'vroom'/);
  });
});

describe('formatRDouble', () => {
  it('formats like as.character()', () => {
    expect([1, 1.5, -2.25, 100000, 123456, 0.0001, 1e15, 1e-300, 1 / 3, Number.NaN, Infinity].map((x) => formatRDouble(x))).toEqual([
      '1',
      '1.5',
      '-2.25',
      '1e+05',
      '123456',
      '1e-04',
      '1e+15',
      '1e-300',
      '0.333333333333333',
      'NaN',
      'Inf',
    ]);
    expect(formatRDouble(null)).toBeNull();
    expect(formatRDouble(100000, 5)).toBe('100000');
  });
});

describe('asDataFrame', () => {
  it('converts a data frame with every supported column type', () => {
    const df = asDataFrame(roundTrip(sampleDataFrame()));
    expect(df.names).toEqual(['id', 'count', 'score', 'name', 'genre', 'seen']);
    expect(df.nrow).toBe(5);
    expect(df.rowNames).toBeNull();
    expect(df.types).toEqual({ id: 'integer', count: 'integer', score: 'double', name: 'character', genre: 'factor', seen: 'logical' });
    expect(df.columns).toEqual(SAMPLE_COLUMNS);
    expect(numericColumn(df, 'score')[0]).toBe(1.5);
    expect(stringColumn(df, 'genre')).toEqual(SAMPLE_COLUMNS.genre);
    expect(stringColumn(df, 'name')[2]).toBe('café');
    expect(logicalColumn(df, 'seen')).toEqual(SAMPLE_COLUMNS.seen);
    expect(errorOf(() => numericColumn(df, 'name')).message).toMatch(/column "name" is character, expected integer or double/);
    expect(errorOf(() => stringColumn(df, 'nope')).message).toMatch(/no column "nope"; it has: id, count, score/);
  });

  it('understands character and expanded integer row names', () => {
    const a = asDataFrame(rDataFrame({ x: rInt([1, 2]) }, { rowNames: rChr(['r1', 'r2']) }));
    expect(a.rowNames).toEqual(['r1', 'r2']);
    expect(a.nrow).toBe(2);
    const b = asDataFrame(rDataFrame({ x: rInt([1, 2, 3]) }, { rowNames: rInt([1, 2, 3]) }));
    expect(b.nrow).toBe(3);
    const empty = asDataFrame(rDataFrame({}, { nrow: 4 }));
    expect(empty).toMatchObject({ names: [], nrow: 4 });
  });

  it('handles hostile column names safely', () => {
    const df = asDataFrame(rDataFrame({ ['__proto__']: rInt([1]), constructor: rInt([2]) } as Record<string, RValue>));
    expect(Object.keys(df.columns)).toEqual(['__proto__', 'constructor']);
    expect(df.columns['__proto__']).toEqual([1]);
  });

  it('explains what is wrong when the value is not a usable data frame', () => {
    expect(errorOf(() => asDataFrame(rInt([1]))).message).toMatch(/not a data frame: got integer vector of length 1/);
    expect(errorOf(() => asDataFrame(rList([rInt([1])], ['a']))).message).toMatch(/without class "data.frame"/);
    const listCol = rDataFrame({ a: rList([rInt([1])]) }, { nrow: 1 });
    expect(errorOf(() => asDataFrame(listCol)).message).toMatch(/column "a" is a list/);
    const matrixCol = rDataFrame({ m: rInt([1, 2], { dim: rInt([1, 2]) }) }, { nrow: 1 });
    expect(errorOf(() => asDataFrame(matrixCol)).message).toMatch(/column "m" is a matrix/);
    const short = rDataFrame({ a: rInt([1, 2]) }, { nrow: 3 });
    expect(errorOf(() => asDataFrame(short)).message).toMatch(/column "a" has 2 values but the data frame has 3 rows/);
    const badFactor = rDataFrame({ f: rInt([3], { levels: rChr(['a']), class: rChr(['factor']) }) });
    expect(errorOf(() => asDataFrame(badFactor)).message).toMatch(/code 3 outside its 1 levels/);
    expect(errorOf(() => asDataFrame(rFactor(['a'], ['a']))).message).toMatch(/not a data frame/);
  });
});

describe('truncated data', () => {
  it('reports the offset where data ran out', () => {
    const bytes = serializeXdr(sampleDataFrame());
    for (const cut of [30, 100, bytes.length - 1]) {
      const err = errorOf(() => unserialize(bytes.subarray(0, cut), { label: 'x.rds' }));
      expect(err.message).toMatch(/^x\.rds: unexpected end of data while reading .* at byte offset \d+ .*truncated/);
    }
  });

  it('does not allocate for absurd lengths', () => {
    expect(errorOf(() => unserialize(rawStream(13, 0x7fffffff))).message).toMatch(/need 8589934588 bytes/);
  });
});

describe('performance', () => {
  it('parses a 100k x 7 data frame well under 2 s', () => {
    const n = 100_000;
    const titles = Array.from({ length: 50 }, (_, i) => `Movie title number ${i} (199${i % 10})`);
    const df = rDataFrame({
      movieId: rInt(Array.from({ length: n }, (_, i) => (i * 7919) % 9066)),
      title: rChr(Array.from({ length: n }, (_, i) => titles[i % 50])),
      year: rInt(Array.from({ length: n }, (_, i) => (i % 13 === 0 ? null : 1950 + (i % 60)))),
      genres: rFactor(Array.from({ length: n }, (_, i) => ['Drama', 'Comedy', 'Action|Sci-Fi'][i % 3]), ['Action|Sci-Fi', 'Comedy', 'Drama']),
      userId: rInt(Array.from({ length: n }, (_, i) => 1 + (i % 671))),
      rating: rDbl(Array.from({ length: n }, (_, i) => ((i % 10) + 1) / 2)),
      timestamp: rInt(Array.from({ length: n }, (_, i) => 1260759144 + i)),
    });
    const bytes = serializeXdr(df);
    const t0 = performance.now();
    const out = asDataFrame(unserialize(bytes));
    const ms = performance.now() - t0;
    expect(out.nrow).toBe(n);
    expect(out.columns.genres[2]).toBe('Action|Sci-Fi');
    expect(out.columns.year[13]).toBeNull();
    expect(ms).toBeLessThan(2000);
  });
});
