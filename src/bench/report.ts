/**
 * The pure parts of `npm run bench` (`src/bench/all.ts`): the command line, the report's shape,
 * the summary of repeated measurements and the printed table; plus the atomic JSON write.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { RagarError } from '../util/errors.js';
import { median } from './stats.js';

/** The sections of `npm run bench`, in the order they run. */
export const BENCH_SECTIONS = ['encode', 'training', 'search', 'retrieval', 'ranking', 'generation', 'eval'] as const;
/** One section name. */
export type BenchSection = (typeof BENCH_SECTIONS)[number];

/** Options of `npm run bench`. */
export interface BenchOptions {
  /** `--home DIR` as given (resolved later like every command's: `--home`, `RAGAR_HOME`, `.ragar`). */
  home: string | undefined;
  dataset: string;
  /** `--out FILE`; default `<home>/bench/bench-all.json`. */
  out: string | undefined;
  /** Print the JSON report instead of the table. */
  json: boolean;
  /** Repetitions of every measurement (the median is reported). */
  runs: number;
  /** Sections to run, in {@link BENCH_SECTIONS} order. */
  sections: BenchSection[];
  /** Dataset items encoded per encode run. */
  items: number;
  /** MobileNetV2 worker threads (as `ragar embed`: 2). */
  workers: number;
  /** Timed queries per retrieval run. */
  queries: number;
  /** Ranker training triples per timed epoch. */
  samples: number;
  /** Timed single-candidate generations (the median is reported). */
  generations: number;
  /** Test tasks per evaluation run. */
  tasks: number;
  /** Training: steps timed per run on each engine; batch of the step. */
  trainSteps: number;
  trainBatch: number;
  /** Search: catalog sizes (vectors of 512 dimensions). */
  searchSizes: number[];
  /** Candidates per output in the +rank evaluation runs (as `ragar generate evaluate`: 4). */
  candidates: number;
  /** The short variant: smaller defaults for items, queries, samples, generations and tasks. */
  quick: boolean;
  help: boolean;
}

/** Defaults of the full run, and of `--quick`. */
export const BENCH_DEFAULTS = {
  full: { items: 64, queries: 200, samples: 3000, generations: 20, tasks: 10, trainSteps: 5, searchSizes: [100_000, 1_000_000] },
  quick: { items: 16, queries: 50, samples: 500, generations: 5, tasks: 2, trainSteps: 2, searchSizes: [10_000, 100_000] },
} as const;

/** `npm run bench -- --help`. */
export const BENCH_USAGE = `usage: npm run bench -- [options]   (or: node dist/bench/all.js [options])

Measures encode throughput (MobileNetV2 on onnxruntime vs tfjs-wasm), the generator's training
step (ONNX engine vs PyTorch when installed), vector search (exact vs usearch at 100k and 1M),
retrieval latency, ranker training and scoring, generation latency
and evaluation wall time on a data home prepared by \`npx ragar demo\`; prints a table (or JSON)
and writes the JSON report with the machine's description.

  --home DIR          data home (default: $RAGAR_HOME, else .ragar)
  --dataset NAME      dataset (default emoji-styles)
  --out FILE          JSON report (default <home>/bench/bench-all.json)
  --json              print the JSON report instead of the table
  --runs N            repetitions of every measurement, the median is reported (default 3)
  --only a,b          run only these sections: ${BENCH_SECTIONS.join(', ')}
  --skip a,b          skip these sections
  --quick             short variant (items ${BENCH_DEFAULTS.quick.items}, queries ${BENCH_DEFAULTS.quick.queries}, samples ${BENCH_DEFAULTS.quick.samples}, generations ${BENCH_DEFAULTS.quick.generations}, tasks ${BENCH_DEFAULTS.quick.tasks})
  --items N           encode: dataset items per run (default ${BENCH_DEFAULTS.full.items})
  --workers N         encode: MobileNetV2 worker threads (default 2, as ragar embed)
  --queries N         retrieval: timed queries per run (default ${BENCH_DEFAULTS.full.queries})
  --samples N         ranking: training triples per timed epoch (default ${BENCH_DEFAULTS.full.samples})
  --generations N     generation: timed single-candidate generations (default ${BENCH_DEFAULTS.full.generations})
  --tasks N           eval: test tasks per evaluation run (default ${BENCH_DEFAULTS.full.tasks})
  --candidates N      eval: candidates per output in the +rank runs (default 4)
  --train-steps N     training: steps timed per run on each engine (default ${BENCH_DEFAULTS.full.trainSteps})
  --train-batch N     training: batch of the step (default 8, the generator's)
  --search-sizes a,b  search: catalog sizes, e.g. 100k,1m (default 100k,1m; --quick 10k,100k)
  --help              this text`;

function intArg(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min) throw new RagarError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`, 'USAGE');
  return n;
}

/**
 * Parse `--search-sizes`: comma-separated counts with an optional k or m suffix.
 *
 * @example
 * sizeList('100k,1m') // [100000, 1000000]
 */
export function sizeList(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const out = value.split(',').map((raw) => {
    const m = raw.match(/^\s*(\d+)\s*([km]?)\s*$/i);
    const n = m ? Number(m[1]) * (m[2].toLowerCase() === 'k' ? 1e3 : m[2].toLowerCase() === 'm' ? 1e6 : 1) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) throw new RagarError(`--search-sizes: ${JSON.stringify(raw)} is not a size such as 100k or 1m`, 'USAGE');
    return n;
  });
  return out;
}

/**
 * The key of a catalog size in the report: `100k`, `1m`, or the plain number.
 *
 * @example
 * sizeKey(1_000_000) // '1m'
 */
export function sizeKey(n: number): string {
  if (n % 1e6 === 0) return `${n / 1e6}m`;
  if (n % 1e3 === 0) return `${n / 1e3}k`;
  return String(n);
}

function sectionList(name: string, value: string | undefined): BenchSection[] | undefined {
  if (value === undefined) return undefined;
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((s) => !(BENCH_SECTIONS as readonly string[]).includes(s));
  if (unknown.length) throw new RagarError(`--${name}: unknown section(s) ${unknown.join(', ')} (known: ${BENCH_SECTIONS.join(', ')})`, 'USAGE');
  if (!names.length) throw new RagarError(`--${name} needs a comma-separated list of sections (known: ${BENCH_SECTIONS.join(', ')})`, 'USAGE');
  return names as BenchSection[];
}

/**
 * Parse the command line of `npm run bench` (the arguments after the script). Unknown flags,
 * unknown section names and bad numbers are {@link RagarError}s with code `USAGE`.
 *
 * @example
 * parseBenchArgs(['--only', 'encode,retrieval', '--items', '8']).sections // ['encode', 'retrieval']
 */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        home: { type: 'string' },
        dataset: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
        runs: { type: 'string' },
        only: { type: 'string' },
        skip: { type: 'string' },
        quick: { type: 'boolean' },
        items: { type: 'string' },
        workers: { type: 'string' },
        queries: { type: 'string' },
        samples: { type: 'string' },
        generations: { type: 'string' },
        tasks: { type: 'string' },
        candidates: { type: 'string' },
        'train-steps': { type: 'string' },
        'train-batch': { type: 'string' },
        'search-sizes': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new RagarError(`${(err as Error).message.split('\n')[0]} (see --help)`, 'USAGE');
  }
  const str = (k: string) => values[k] as string | undefined;
  const quick = values.quick === true;
  const d = quick ? BENCH_DEFAULTS.quick : BENCH_DEFAULTS.full;
  const only = sectionList('only', str('only'));
  const skip = sectionList('skip', str('skip')) ?? [];
  const sections = BENCH_SECTIONS.filter((s) => (!only || only.includes(s)) && !skip.includes(s));
  const help = values.help === true;
  if (!sections.length && !help) throw new RagarError('no section left to run (check --only and --skip)', 'USAGE');
  const dataset = str('dataset') ?? 'emoji-styles';
  if (!dataset.trim()) throw new RagarError('--dataset needs a name', 'USAGE');
  return {
    home: str('home'),
    dataset,
    out: str('out'),
    json: values.json === true,
    runs: intArg('runs', str('runs'), 3, 1),
    sections,
    items: intArg('items', str('items'), d.items, 1),
    workers: intArg('workers', str('workers'), 2, 0),
    queries: intArg('queries', str('queries'), d.queries, 1),
    samples: intArg('samples', str('samples'), d.samples, 1),
    generations: intArg('generations', str('generations'), d.generations, 1),
    tasks: intArg('tasks', str('tasks'), d.tasks, 1),
    candidates: intArg('candidates', str('candidates'), 4, 1),
    trainSteps: intArg('train-steps', str('train-steps'), d.trainSteps, 1),
    trainBatch: intArg('train-batch', str('train-batch'), 8, 1),
    searchSizes: sizeList(str('search-sizes')) ?? [...d.searchSizes],
    quick,
    help,
  };
}

/** A repeated measurement: its median, range and every value. */
export interface BenchMetric {
  /** What was measured, for the table. */
  label: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  /** Every measured value, in order. */
  values: number[];
}

/** Load averages (1, 5, 15 minutes) before and after a section or the whole run. */
export interface LoadWindow {
  before: number[];
  after: number[];
}

/** A section that ran. */
export interface BenchSectionOk {
  seconds: number;
  load: LoadWindow;
  metrics: Record<string, BenchMetric>;
  /** Settings and single numbers that are not repeated measurements. */
  details: Record<string, unknown>;
}

/** A section that failed: the message, and how long it took to fail. */
export interface BenchSectionError {
  error: string;
  seconds: number;
  load: LoadWindow;
}

/** The result of one section. */
export type BenchSectionResult = BenchSectionOk | BenchSectionError;

/** The JSON report of `npm run bench`. */
export interface BenchReport {
  machine: Record<string, unknown>;
  home: string;
  dataset: string;
  settings: Omit<BenchOptions, 'home' | 'dataset' | 'out' | 'json' | 'help' | 'sections'>;
  /** Load averages (1, 5, 15 min) when the run started. */
  load: number[];
  /** Load averages (1, 5, 15 min) when it ended. */
  loadAfter: number[];
  seconds: number;
  sections: Partial<Record<BenchSection, BenchSectionResult>>;
  skipped: BenchSection[];
  /** The issue-16 summary: onnxruntime vs tfjs-wasm image encoding (medians of the runs; ratio = median of per-run ratios). */
  encode?: { onnxImagesPerSecond: number; tfjsImagesPerSecond: number; ratio: number };
  /** The ONNX engine's training step vs PyTorch's (ms per sample; ratio = engine / PyTorch, median of per-run ratios). */
  training?: { onnxMsPerSample: number; torchMsPerSample: number | null; ratio: number | null };
  /** Exact vs approximate search per catalog size (`100k`, `1m`). */
  search?: Record<string, { exactP99Ms: number; annP99Ms: number; recallAt10: number; annCandidates?: number }>;
}

/**
 * Summarise repeated measurements as a {@link BenchMetric}: median, min, max and the values.
 * Non-finite values are kept in `values` but left out of the summary.
 *
 * @example
 * metric('MobileNetV2', 'images/s', [50, 48, 53]) // { median: 50, min: 48, max: 53, … }
 */
export function metric(label: string, unit: string, values: readonly number[]): BenchMetric {
  const finite = values.filter((v) => Number.isFinite(v));
  return {
    label,
    unit,
    median: median(finite),
    min: finite.length ? Math.min(...finite) : NaN,
    max: finite.length ? Math.max(...finite) : NaN,
    values: [...values],
  };
}

/**
 * A number for the table with about three significant digits: `1234`, `123`, `12.3`, `1.23`,
 * `0.0123`; `n/a` when not finite.
 *
 * @example
 * formatNumber(0.012345) // '0.0123'
 */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

function formatLoad(load: readonly number[] | undefined): string {
  return load && load.length ? load.map((x) => x.toFixed(2)).join(' ') : 'n/a';
}

/** True for a section result that failed. */
export function isSectionError(r: BenchSectionResult): r is BenchSectionError {
  return 'error' in r;
}

/**
 * The printed table of a {@link BenchReport}: a header with the machine and the load averages,
 * then one row per measurement (median, unit, min–max and the number of runs), grouped by
 * section; a failed section shows its error, a skipped one says so.
 *
 * @example
 * console.log(formatBenchTable(report));
 */
export function formatBenchTable(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `ragar bench: dataset ${report.dataset} in ${report.home}; medians of ${report.settings.runs} run${report.settings.runs === 1 ? '' : 's'} (min–max)`,
    `machine: Node ${String(m.node ?? '?')}, ${String(m.platform ?? '?')}, ${String(m.cpus ?? '?')} × ${String(m.cpuModel ?? '?')}, ${String(m.memoryGiB ?? '?')} GiB`,
    `load average (1/5/15 min): ${formatLoad(report.load)} before, ${formatLoad(report.loadAfter)} after; ${formatNumber(report.seconds)} s in all`,
    '',
  ];
  const rows: string[][] = [['section', 'measurement', 'median', 'unit', 'min–max', 'runs']];
  const notes: string[][] = [];
  for (const name of BENCH_SECTIONS) {
    const r = report.sections[name];
    if (!r) continue;
    const head = `${name}`;
    const loadNote = `${formatNumber(r.seconds)} s, load ${formatLoad(r.load.before.slice(0, 1))} → ${formatLoad(r.load.after.slice(0, 1))}`;
    if (isSectionError(r)) {
      rows.push([head, `error: ${r.error.replace(/\s+/g, ' ').trim()}`, '', '', '', '']);
      notes.push([name, loadNote]);
      continue;
    }
    const metrics = Object.values(r.metrics);
    if (!metrics.length) rows.push([head, '(no measurements)', '', '', '', '']);
    metrics.forEach((x, i) => {
      const n = x.values.length;
      rows.push([i === 0 ? head : '', x.label, formatNumber(x.median), x.unit, n > 1 ? `${formatNumber(x.min)}–${formatNumber(x.max)}` : '', String(n)]);
    });
    notes.push([name, loadNote]);
  }
  // The error text is usually the widest cell: leave it out of the column width.
  const widths = rows[0].map((_, c) => Math.max(...rows.filter((row) => !(c === 1 && row[1].startsWith('error: '))).map((row) => row[c].length)));
  const right = new Set([2, 5]);
  for (const row of rows) {
    if (row[1].startsWith('error: ')) {
      lines.push(`${row[0].padEnd(widths[0])}  ${row[1]}`);
      continue;
    }
    lines.push(
      row
        .map((cell, c) => (right.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
        .join('  ')
        .trimEnd(),
    );
  }
  if (notes.length) {
    lines.push('', `per section: wall time, 1-min load average before → after`);
    const w = Math.max(...notes.map((n) => n[0].length));
    for (const [name, note] of notes) lines.push(`  ${name.padEnd(w)}  ${note}`);
  }
  if (report.skipped.length) lines.push(`skipped: ${report.skipped.join(', ')}`);
  return lines.join('\n');
}

/**
 * Write `value` as indented JSON to `file` atomically: a temporary file in the same folder,
 * then a rename, so that a reader never sees half a report. Creates the folder.
 *
 * @example
 * writeJsonAtomic('.ragar/bench/bench-all.json', report);
 */
export function writeJsonAtomic(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
