import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RagarError } from '../util/errors.js';
import { BENCH_DEFAULTS, BENCH_SECTIONS, formatBenchTable, formatNumber, metric, parseBenchArgs, writeJsonAtomic, type BenchReport } from './report.js';
import { median } from './stats.js';

describe('parseBenchArgs', () => {
  it('has the documented defaults', () => {
    const o = parseBenchArgs([]);
    expect(o).toMatchObject({ home: undefined, dataset: 'emoji-styles', out: undefined, json: false, runs: 3, quick: false, help: false, workers: 2, candidates: 4, ...BENCH_DEFAULTS.full });
    expect(o.sections).toEqual([...BENCH_SECTIONS]);
  });

  it('reads every option, in both --flag value and --flag=value forms', () => {
    const o = parseBenchArgs(['--home', '/tmp/h', '--dataset=ml', '--out', 'x.json', '--json', '--runs', '5', '--items=8', '--workers', '0', '--queries', '7', '--samples', '100', '--generations', '4', '--tasks', '2', '--candidates', '2', '--train-steps', '3', '--train-batch=4', '--search-sizes', '20k,2m,500']);
    expect(o).toMatchObject({ home: '/tmp/h', dataset: 'ml', out: 'x.json', json: true, runs: 5, items: 8, workers: 0, queries: 7, samples: 100, generations: 4, tasks: 2, candidates: 2, trainSteps: 3, trainBatch: 4, searchSizes: [20_000, 2_000_000, 500] });
  });

  it('selects sections with --only and --skip, always in run order', () => {
    expect(parseBenchArgs(['--only', 'retrieval,encode']).sections).toEqual(['encode', 'retrieval']);
    expect(parseBenchArgs(['--skip', 'generation, eval, training']).sections).toEqual(['encode', 'search', 'retrieval', 'ranking']);
    expect(parseBenchArgs(['--only', 'encode,eval', '--skip', 'eval']).sections).toEqual(['encode']);
  });

  it('--quick lowers the defaults, explicit flags still win', () => {
    const o = parseBenchArgs(['--quick', '--tasks', '6']);
    expect(o).toMatchObject({ ...BENCH_DEFAULTS.quick, searchSizes: [10_000, 100_000], tasks: 6, quick: true, runs: 3 });
  });

  it('rejects bad input with a RagarError (USAGE) naming the problem', () => {
    const bad: [string[], RegExp][] = [
      [['--only', 'encode,nope'], /unknown section\(s\) nope .*known: encode, training, search, retrieval/],
      [['--skip', ','], /--skip needs/],
      [['--only', 'eval', '--skip', 'eval'], /no section left/],
      [['--runs', '0'], /--runs must be an integer ≥ 1/],
      [['--runs', '2.5'], /--runs must be an integer/],
      [['--items', 'many'], /--items must be an integer/],
      [['--search-sizes', '10x'], /--search-sizes: "10x"/],
      [['--frobnicate'], /frobnicate/],
      [['stray'], /stray|positional/i],
      [['--runs'], /runs/],
    ];
    for (const [argv, re] of bad) {
      let caught: unknown;
      try {
        parseBenchArgs(argv);
      } catch (err) {
        caught = err;
      }
      expect(caught, argv.join(' ')).toBeInstanceOf(RagarError);
      expect((caught as RagarError).code).toBe('USAGE');
      expect((caught as Error).message).toMatch(re);
    }
  });

  it('--help parses even when it is the only thing given', () => {
    expect(parseBenchArgs(['--help']).help).toBe(true);
    expect(parseBenchArgs(['-h']).help).toBe(true);
  });
});

describe('metric and formatNumber', () => {
  it('summarises repeated values by median and range, ignoring non-finite ones in the summary', () => {
    expect(metric('a', 'ms', [3, 1, 2])).toEqual({ label: 'a', unit: 'ms', median: 2, min: 1, max: 3, values: [3, 1, 2] });
    expect(metric('a', 'ms', [4, 1, NaN, 2, 3]).median).toBe(2.5);
    expect(Number.isNaN(metric('a', 'ms', []).median)).toBe(true);
    expect(median([5])).toBe(5);
  });

  it('prints about three significant digits', () => {
    expect(formatNumber(1234.56)).toBe('1235');
    expect(formatNumber(123.4)).toBe('123');
    expect(formatNumber(12.345)).toBe('12.3');
    expect(formatNumber(1.2345)).toBe('1.23');
    expect(formatNumber(0.012345)).toBe('0.0123');
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(NaN)).toBe('n/a');
    expect(formatNumber(Infinity)).toBe('n/a');
  });
});

function sampleReport(): BenchReport {
  return {
    machine: { node: 'v20.0.0', platform: 'linux x64', cpus: 2, cpuModel: 'Test CPU', memoryGiB: 8 },
    home: '/tmp/h',
    dataset: 'emoji-styles',
    settings: { runs: 3, items: 16, workers: 2, queries: 50, samples: 500, generations: 5, tasks: 2, candidates: 4, trainSteps: 2, trainBatch: 8, searchSizes: [10_000, 100_000], quick: true },
    load: [1.5, 1.25, 1],
    loadAfter: [2, 1.5, 1.1],
    seconds: 42.5,
    sections: {
      encode: {
        seconds: 12.3,
        load: { before: [1.5, 1.25, 1], after: [1.75, 1.3, 1] },
        metrics: {
          mobilenetImagesPerSecond: metric('MobileNetV2 (2 workers), 16 items', 'images/s', [50.1, 48.2, 53.3]),
          useTextsPerSecond: metric('USE text encoder, 16 items', 'texts/s', [300, 310, 290]),
        },
        details: {},
      },
      generation: { error: 'generator.json: format "ragar-generator-v1" is not ragar-generator-v2\n(weights from another version)', seconds: 0.2, load: { before: [1.75, 1.3, 1], after: [1.75, 1.3, 1] } },
      eval: { seconds: 30, load: { before: [1.8, 1.3, 1], after: [2, 1.5, 1.1] }, metrics: { modelLoadMs: metric('model load', 'ms', [812]) }, details: {} },
    },
    skipped: ['retrieval', 'ranking'],
  };
}

describe('formatBenchTable', () => {
  it('prints the machine, load averages, one aligned row per measurement, errors and skips', () => {
    const text = formatBenchTable(sampleReport());
    const lines = text.split('\n');
    expect(lines[0]).toBe('ragar bench: dataset emoji-styles in /tmp/h; medians of 3 runs (min–max)');
    expect(lines[1]).toBe('machine: Node v20.0.0, linux x64, 2 × Test CPU, 8 GiB');
    expect(lines[2]).toBe('load average (1/5/15 min): 1.50 1.25 1.00 before, 2.00 1.50 1.10 after; 42.5 s in all');
    const header = lines.find((l) => l.startsWith('section'))!;
    const mobile = lines.find((l) => l.includes('MobileNetV2'))!;
    const use = lines.find((l) => l.includes('USE text'))!;
    expect(mobile.startsWith('encode ')).toBe(true);
    expect(use.startsWith(' ')).toBe(true); // section named once
    expect(mobile).toMatch(/50\.1 +images\/s +48\.2–53\.3 +3$/);
    expect(use).toMatch(/300 +texts\/s +290–310 +3$/);
    // Columns line up: the median column ends at the same place in every row.
    const end = (l: string, s: string) => l.indexOf(s) + s.length;
    expect(end(mobile, '50.1')).toBe(end(header, 'median'));
    expect(end(use, '300')).toBe(end(header, 'median'));
    // An error is one line, whitespace collapsed; a single value has no range.
    expect(lines).toContain('generation  error: generator.json: format "ragar-generator-v1" is not ragar-generator-v2 (weights from another version)');
    expect(lines.find((l) => l.includes('model load'))).toMatch(/812 +ms +1$/);
    expect(text).toMatch(/ {2}encode +12\.3 s, load 1\.50 → 1\.75/);
    expect(text).toMatch(/ {2}generation +0\.200 s, load 1\.75 → 1\.75/);
    expect(lines.at(-1)).toBe('skipped: retrieval, ranking');
  });

  it('keeps the sections in run order whatever the object order', () => {
    const r = sampleReport();
    r.sections = { eval: r.sections.eval, encode: r.sections.encode };
    const text = formatBenchTable(r);
    expect(text.indexOf('encode')).toBeLessThan(text.indexOf('eval'));
  });
});

describe('writeJsonAtomic', () => {
  it('creates the folder, writes indented JSON and leaves no temporary file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-bench-'));
    try {
      const file = path.join(dir, 'sub', 'bench.json');
      writeJsonAtomic(file, { a: 1, b: NaN });
      writeJsonAtomic(file, { a: 2 });
      expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ a: 2 });
      expect(fs.readdirSync(path.dirname(file))).toEqual(['bench.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
