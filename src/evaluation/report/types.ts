/**
 * The data an evaluation run produces, as the report writers (`csv.ts`, `json.ts`, `html.ts`,
 * `write.ts`) consume it. Plain data only (no classes, no functions), so that a report can be
 * built by hand in tests or loaded from JSON.
 *
 * Conventions:
 * - Metric values are raw numbers: a `percent` metric stores 0.734 and is *shown* as 73.4%.
 * - A missing value is an absent key or `NaN`; renderers show it as a dash, JSON writes `null`.
 * - Method names and metric keys are identifiers used as keys in `metrics.json` and `metrics.csv`;
 *   labels are for people.
 */
import { RagarError } from '../../util/errors.js';
import type { PairedInterval } from '../bootstrap.js';

/** One metric column. */
export interface MetricSpec {
  /** Identifier, used as a JSON key and CSV column (unique, not `n`). */
  key: string;
  /** Human name, e.g. 'Hist-CIS'. */
  label: string;
  /** Feature extractor / instrument, e.g. 'MobileNetV2 (flatten_1)' or 'SSIM (luma, 11×11 Gaussian)'. */
  extractor: string;
  /** Whether a larger value is better (decides the bold "best" cell and the arrow in the header). */
  higherIsBetter: boolean;
  /** 'percent' renders ×100 with %; 'number' as is. */
  format: 'percent' | 'number';
  /** Optional longer explanation, shown in the metric legend. */
  description?: string;
}

/** One compared method (a row of the main table). */
export interface MethodResult {
  /** Identifier, used as a JSON key, a CSV cell and a key of {@link TaskRow.outputs} (unique). */
  name: string;
  /** Human name, e.g. 'retrieval + rank'. */
  label: string;
  /** What the method does, one sentence. */
  description: string;
  /** Mean value per metric key over the evaluated tasks. */
  values: Record<string, number>;
  /** Number of tasks the means are over. */
  n: number;
  /** Style accuracy per target style (style → share of that style's tasks judged in it), where styles are known. */
  styleByTarget?: Record<string, number>;
}

/** The fields of a paired comparison a report shows (see {@link PairedInterval}). */
export type IntervalFields = Pick<PairedInterval, 'meanA' | 'meanB' | 'diff' | 'lo' | 'hi' | 'level' | 'n' | 'pValue'>;

/** A paired comparison of two methods on one metric (see `pairedBootstrap`). */
export interface IntervalResult extends IntervalFields {
  /** Metric key. */
  metric: string;
  /** Name of the first method. */
  a: string;
  /** Name of the second method. */
  b: string;
}

/** One setting of an ablated parameter. */
export interface AblationSetting {
  /** The parameter's value as displayed, e.g. '8', '0.25' or 'uniform'. */
  value: string;
  /** Marks the default setting (at most one per ablation). */
  isDefault?: boolean;
  /** Mean value per metric key. */
  values: Record<string, number>;
  /** Number of tasks the means are over. */
  n: number;
}

/** One parameter varied while everything else stays at its default. */
export interface AblationResult {
  /** Parameter name, e.g. 'k' or 'tau'. */
  parameter: string;
  /** Settings in display order; `isDefault` marks the default. */
  settings: AblationSetting[];
}

/** An image shown in the report. */
export interface ReportImage {
  /** Path relative to the report folder, e.g. 'images/t001-ref.png' (forward slashes, no `..`). */
  file: string;
  /** Caption shown under the image (also its alt text). */
  caption: string;
}

/** One task of the image grid. */
export interface TaskRow {
  /** Task id. */
  id: string;
  /** User id the task personalises for. */
  user: string;
  /** The reference image the user asked about. */
  reference: ReportImage;
  /** History images used as conditioning, with their retrieval weights, in display order. */
  history: (ReportImage & { weight: number })[];
  /** Output image per method name (a method may be absent for a task). */
  outputs: Record<string, ReportImage>;
  /** The held-out ground-truth target, when the benchmark has one. */
  target: ReportImage | null;
}

/** Everything one `ragar eval` run reports. */
export interface EvalReport {
  /** Page title. */
  title: string;
  /** Dataset name. */
  dataset: string;
  /** Split evaluated, e.g. 'test'. */
  split: string;
  /** When the run happened (ISO 8601). */
  createdAt: string;
  /** The command line that produced the report. */
  command: string;
  /** Machine facts: CPU, cores, Node version, engine, timings… (JSON-serialisable values). */
  machine: Record<string, unknown>;
  /** Metric columns, in display order. */
  metrics: MetricSpec[];
  /** Methods, in display order. */
  methods: MethodResult[];
  /** Paired comparisons, in display order. */
  intervals: IntervalResult[];
  /** Ablations, in display order. */
  ablations: AblationResult[];
  /** Tasks of the image grid (usually a sample of the evaluated tasks). */
  tasks: TaskRow[];
  /** Free-text notes (caveats, what was not measured), one paragraph each. */
  notes: string[];
  /** Anything else worth keeping in `metrics.json` (JSON-serialisable). */
  extra?: Record<string, unknown>;
}

/**
 * Why a report-relative image path is unsafe, or `null` when it is a plain relative path that
 * stays inside the report folder: non-empty, forward slashes only, not absolute (`/x`, `C:x`),
 * no `.`/`..`/empty segments, no NUL or other control characters.
 *
 * @example
 * unsafeRelativePath('images/t1.png'); // null
 * unsafeRelativePath('../x.png');      // 'has a ".." segment'
 */
export function unsafeRelativePath(file: string): string | null {
  if (typeof file !== 'string' || file.length === 0) return 'is empty';
  if (/[\u0000-\u001f\u007f]/.test(file)) return 'contains a control character';
  if (file.includes('\\')) return 'contains a backslash (use forward slashes)';
  if (file.startsWith('/')) return 'is absolute';
  if (/^[A-Za-z]:/.test(file)) return 'starts with a drive letter';
  for (const seg of file.split('/')) {
    if (seg === '..') return 'has a ".." segment';
    if (seg === '.' || seg === '') return 'has an empty or "." segment';
  }
  return null;
}

/** Throws a RagarError naming the first problem found. */
function fail(message: string): never {
  throw new RagarError(`report: ${message}`, 'BAD_INPUT');
}

/**
 * Checks that a report is consistent before it is rendered: unique non-empty metric keys (`n`
 * is reserved), valid formats, unique method names, values only for known metrics, intervals
 * naming known metrics and methods (each comparison once), unique ablation parameters and setting values with at most
 * one default, unique task ids, outputs only for known methods and safe relative image paths.
 * Missing values are allowed. Every writer calls this.
 *
 * @throws RagarError (`BAD_INPUT`) naming the first problem.
 * @example
 * validateReport(report); // throws e.g. 'report: method "x" has a value for unknown metric "y"'
 */
export function validateReport(report: EvalReport): void {
  const metricKeys = new Set<string>();
  for (const m of report.metrics) {
    if (!m.key) fail('a metric has an empty key');
    if (m.key === 'n') fail('metric key "n" is reserved (it is the task count column)');
    if (metricKeys.has(m.key)) fail(`duplicate metric key "${m.key}"`);
    if (m.format !== 'percent' && m.format !== 'number') fail(`metric "${m.key}" has format "${String(m.format)}" (expected 'percent' or 'number')`);
    metricKeys.add(m.key);
  }
  const checkValues = (where: string, values: Record<string, number>) => {
    for (const [k, v] of Object.entries(values)) {
      if (!metricKeys.has(k)) fail(`${where} has a value for unknown metric "${k}"`);
      if (typeof v !== 'number') fail(`${where} has a non-number value for metric "${k}"`);
    }
  };
  const methodNames = new Set<string>();
  for (const m of report.methods) {
    if (!m.name) fail('a method has an empty name');
    if (methodNames.has(m.name)) fail(`duplicate method name "${m.name}"`);
    methodNames.add(m.name);
    checkValues(`method "${m.name}"`, m.values);
  }
  const comparisons = new Set<string>();
  for (const iv of report.intervals) {
    const id = JSON.stringify([iv.a, iv.b, iv.metric]);
    if (comparisons.has(id)) fail(`interval ${iv.a} vs ${iv.b} on "${iv.metric}" is listed twice`);
    comparisons.add(id);
    if (!metricKeys.has(iv.metric)) fail(`interval ${iv.a} vs ${iv.b} names unknown metric "${iv.metric}"`);
    for (const side of [iv.a, iv.b]) if (!methodNames.has(side)) fail(`interval on "${iv.metric}" names unknown method "${side}"`);
  }
  const parameters = new Set<string>();
  for (const ab of report.ablations) {
    if (!ab.parameter) fail('an ablation has an empty parameter name');
    if (parameters.has(ab.parameter)) fail(`duplicate ablation parameter "${ab.parameter}"`);
    parameters.add(ab.parameter);
    const seen = new Set<string>();
    let defaults = 0;
    for (const s of ab.settings) {
      if (seen.has(s.value)) fail(`ablation "${ab.parameter}" lists setting "${s.value}" twice`);
      seen.add(s.value);
      if (s.isDefault) defaults++;
      checkValues(`ablation "${ab.parameter}" setting "${s.value}"`, s.values);
    }
    if (defaults > 1) fail(`ablation "${ab.parameter}" marks ${defaults} settings as default`);
  }
  const taskIds = new Set<string>();
  const checkImage = (where: string, img: ReportImage) => {
    const why = unsafeRelativePath(img.file);
    if (why) fail(`${where} image path ${JSON.stringify(img.file)} ${why}`);
  };
  for (const t of report.tasks) {
    if (taskIds.has(t.id)) fail(`duplicate task id "${t.id}"`);
    taskIds.add(t.id);
    checkImage(`task "${t.id}" reference`, t.reference);
    t.history.forEach((h, i) => checkImage(`task "${t.id}" history[${i}]`, h));
    for (const [name, img] of Object.entries(t.outputs)) {
      if (!methodNames.has(name)) fail(`task "${t.id}" has an output for unknown method "${name}"`);
      checkImage(`task "${t.id}" output of "${name}"`, img);
    }
    if (t.target) checkImage(`task "${t.id}" target`, t.target);
  }
}

/**
 * Every image file a report references, in order of first appearance, without duplicates.
 *
 * @example
 * for (const f of reportImageFiles(report)) images.set(f, await render(f));
 */
export function reportImageFiles(report: EvalReport): string[] {
  const files = new Set<string>();
  for (const t of report.tasks) {
    files.add(t.reference.file);
    for (const h of t.history) files.add(h.file);
    for (const o of Object.values(t.outputs)) files.add(o.file);
    if (t.target) files.add(t.target.file);
  }
  return [...files];
}
