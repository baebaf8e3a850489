/**
 * The machine-readable summary of an evaluation (`metrics.json`). Its top-level shape is a
 * contract for scripts:
 *
 * ```json
 * {
 *   "methods":   { "NAME": { "METRIC": 0.71, "n": 40 } },
 *   "styleByTarget": { "NAME": { "STYLE": 0.55 } },
 *   "intervals": { "A vs B": { "METRIC": { "meanA": …, "meanB": …, "diff": …, "lo": …, "hi": …,
 *                                          "level": 0.95, "n": 40, "pValue": 0.003 } } },
 *   "ablations": { "PARAMETER": [ { "value": "8", "isDefault": true, "n": 40,
 *                                   "values": { "METRIC": 0.70 } } ] },
 *   "metrics": [ MetricSpec… ], "title", "dataset", "split", "createdAt", "command", "machine",
 *   "notes": [ … ], "extra"?: { … }
 * }
 * ```
 *
 * A metric a method has no value for is `null`; so is every NaN or ±Infinity, anywhere.
 * Ablation settings are an array (not an object keyed by value) because JavaScript reorders
 * integer-like keys and display order matters.
 */
import { validateReport, type EvalReport, type IntervalFields } from './types.js';

/** One paired comparison of one metric in `metrics.json` (non-finite numbers as null). */
export type IntervalJson = { [K in keyof IntervalFields]: number | null };

/** The object written as `metrics.json` (see the module comment). */
export interface MetricsJson extends Pick<EvalReport, 'metrics' | 'title' | 'dataset' | 'split' | 'createdAt' | 'command' | 'machine' | 'notes' | 'extra'> {
  /** Method name → metric key → mean (null when missing), plus `n`. */
  methods: Record<string, Record<string, number | null>>;
  /** `"<a> vs <b>"` → metric key → interval. */
  intervals: Record<string, Record<string, IntervalJson>>;
  /** Parameter → settings in display order. */
  ablations: Record<string, { value: string; isDefault: boolean; n: number | null; values: Record<string, number | null> }[]>;
  /** Method name → target style → style accuracy over that style's tasks (methods that have it). */
  styleByTarget: Record<string, Record<string, number | null>>;
}

/** A finite number, or null. */
const num = (v: number | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A JSON-safe deep copy: NaN/±Infinity → null, bigint → string, undefined and functions dropped. */
function jsonSafe<T>(value: T): T {
  const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return text === undefined ? (null as T) : (JSON.parse(text) as T);
}

/**
 * The key of a comparison in `metrics.json`'s `intervals`.
 *
 * @example
 * comparisonKey('retrieval+rank', 'uniform'); // 'retrieval+rank vs uniform'
 */
export function comparisonKey(a: string, b: string): string {
  return `${a} vs ${b}`;
}

/**
 * The `metrics.json` object of a report (see the module comment for the shape). Write it with
 * `JSON.stringify(metricsJson(report), null, 2)`.
 *
 * @throws RagarError (`BAD_INPUT`) when the report is inconsistent (see `validateReport`).
 * @example
 * const j = metricsJson(report);
 * j.methods['retrieval+rank'].hist_cis; // 0.71
 * j.intervals['retrieval+rank vs uniform'].hist_cis.pValue; // 0.003
 */
export function metricsJson(report: EvalReport): MetricsJson {
  validateReport(report);
  const keys = report.metrics.map((m) => m.key);
  const values = (v: Record<string, number>) => Object.fromEntries(keys.map((k) => [k, num(v[k])]));
  const methods: MetricsJson['methods'] = {};
  for (const m of report.methods) methods[m.name] = { ...values(m.values), n: num(m.n) };
  const styleByTarget: MetricsJson['styleByTarget'] = {};
  for (const m of report.methods) if (m.styleByTarget) styleByTarget[m.name] = Object.fromEntries(Object.entries(m.styleByTarget).map(([s, v]) => [s, num(v)]));
  const intervals: MetricsJson['intervals'] = {};
  for (const iv of report.intervals) {
    const key = comparisonKey(iv.a, iv.b);
    (intervals[key] ??= {})[iv.metric] = {
      meanA: num(iv.meanA),
      meanB: num(iv.meanB),
      diff: num(iv.diff),
      lo: num(iv.lo),
      hi: num(iv.hi),
      level: num(iv.level),
      n: num(iv.n),
      pValue: num(iv.pValue),
    };
  }
  const ablations: MetricsJson['ablations'] = {};
  for (const ab of report.ablations) {
    ablations[ab.parameter] = ab.settings.map((s) => ({ value: s.value, isDefault: s.isDefault === true, n: num(s.n), values: values(s.values) }));
  }
  const out: MetricsJson = {
    methods,
    intervals,
    ablations,
    styleByTarget,
    metrics: jsonSafe(report.metrics),
    title: report.title,
    dataset: report.dataset,
    split: report.split,
    createdAt: report.createdAt,
    command: report.command,
    machine: jsonSafe(report.machine),
    notes: [...report.notes],
  };
  if (report.extra !== undefined) out.extra = jsonSafe(report.extra);
  return out;
}
