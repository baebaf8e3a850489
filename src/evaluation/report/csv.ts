/**
 * CSV views of an evaluation report (RFC 4180: comma-separated, CRLF line ends, a field quoted
 * with `"` when it holds a comma, quote, CR or LF, quotes doubled inside). Numbers are written
 * raw (a percent metric as 0.734, not 73.4%) with full precision; a missing or non-finite value
 * is an empty cell. Text cells are written as given (no spreadsheet-formula escaping: these files
 * are for scripts).
 */
import { validateReport, type EvalReport } from './types.js';

/**
 * One CSV field, quoted when RFC 4180 requires it.
 *
 * @example
 * csvField('a,b');     // '"a,b"'
 * csvField('say "hi"'); // '"say ""hi"""'
 * csvField(0.5);       // '0.5'
 * csvField(NaN);       // ''
 */
export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * CSV text from rows of fields (CRLF after every row, including the last).
 *
 * @example
 * csvRows([['method', 'n'], ['uniform', 40]]); // 'method,n\r\nuniform,40\r\n'
 */
export function csvRows(rows: readonly (readonly (string | number | null | undefined)[])[]): string {
  return rows.map((r) => r.map(csvField).join(',') + '\r\n').join('');
}

/**
 * The metrics table as CSV: header `method,n,<metric keys…>`, one row per method, then one row
 * per ablation setting with method cell `ablation:<parameter>=<value>`.
 *
 * @throws RagarError (`BAD_INPUT`) when the report is inconsistent (see `validateReport`).
 * @example
 * fs.writeFileSync('metrics.csv', metricsCsv(report));
 * // method,n,cis,hist_ssim
 * // retrieval+rank,40,0.71,0.42
 * // ablation:k=8,40,0.70,0.41
 */
export function metricsCsv(report: EvalReport): string {
  validateReport(report);
  const keys = report.metrics.map((m) => m.key);
  const rows: (string | number)[][] = [['method', 'n', ...keys]];
  for (const m of report.methods) rows.push([m.name, m.n, ...keys.map((k) => m.values[k])]);
  for (const ab of report.ablations) {
    for (const s of ab.settings) rows.push([`ablation:${ab.parameter}=${s.value}`, s.n, ...keys.map((k) => s.values[k])]);
  }
  return csvRows(rows);
}

/**
 * The paired comparisons as CSV: `metric,a,b,meanA,meanB,diff,lo,hi,level,n,pValue`, one row per
 * interval, in report order.
 *
 * @throws RagarError (`BAD_INPUT`) when the report is inconsistent (see `validateReport`).
 * @example
 * fs.writeFileSync('intervals.csv', intervalsCsv(report));
 */
export function intervalsCsv(report: EvalReport): string {
  validateReport(report);
  const cols = ['metric', 'a', 'b', 'meanA', 'meanB', 'diff', 'lo', 'hi', 'level', 'n', 'pValue'] as const;
  return csvRows([[...cols], ...report.intervals.map((iv) => cols.map((c) => iv[c]))]);
}
