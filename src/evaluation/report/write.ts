/**
 * Writes an evaluation report folder:
 *
 * ```
 * DIR/images/…        the images the report references (from the `images` map)
 * DIR/report.html     reportHtml()
 * DIR/metrics.json    metricsJson(), pretty-printed
 * DIR/metrics.csv     metricsCsv()
 * DIR/intervals.csv   intervalsCsv()
 * ```
 *
 * Every file is written atomically: to a temporary file in the same folder, flushed to disk,
 * then renamed over the final name, so a crash leaves either the old file or the new one, never
 * half of one. Images are written before the pages that reference them.
 */
import { mkdir, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../../util/persist.js';
import path from 'node:path';
import { RagarError } from '../../util/errors.js';
import { intervalsCsv, metricsCsv } from './csv.js';
import { reportHtml, type ReportHtmlOptions } from './html.js';
import { metricsJson } from './json.js';
import { reportImageFiles, unsafeRelativePath, validateReport, type EvalReport } from './types.js';

/** Names of the files {@link writeReport} writes next to the images. */
export const REPORT_FILES = { html: 'report.html', json: 'metrics.json', csv: 'metrics.csv', intervalsCsv: 'intervals.csv' } as const;

/** Options of {@link writeReport}. */
export interface WriteReportOptions {
  /** Passed to `reportHtml`. */
  html?: ReportHtmlOptions;
  /**
   * Allow the report to reference images that are neither in the `images` map nor already in
   * the folder (default false: such a report is refused, since its page would show broken images).
   */
  allowMissingImages?: boolean;
}

/** Absolute paths of everything {@link writeReport} wrote. */
export interface WrittenReport {
  /** The report folder (absolute). */
  dir: string;
  html: string;
  json: string;
  csv: string;
  intervalsCsv: string;
  /** The image files, in the order of the `images` map. */
  images: string[];
}

export { writeFileAtomic } from '../../util/persist.js';

/** Absolute path of a report-relative file, refusing anything that would land outside `root`. */
function inside(root: string, rel: string): string {
  const why = unsafeRelativePath(rel);
  if (why) throw new RagarError(`writeReport: image path ${JSON.stringify(rel)} ${why}; it must stay inside the report folder`, 'BAD_INPUT');
  const abs = path.resolve(root, rel);
  if (!abs.startsWith(root + path.sep)) throw new RagarError(`writeReport: image path ${JSON.stringify(rel)} leaves the report folder`, 'BAD_INPUT');
  return abs;
}

async function exists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/**
 * Writes the report folder `dir` (created if needed): the images, then `report.html`,
 * `metrics.json`, `metrics.csv` and `intervals.csv`, each atomically. Everything is checked
 * before anything is written: the report (`validateReport`), every image path (relative, no
 * `..`, not absolute, not one of the report's own file names) and that every image the report
 * references is in `images` or already in `dir`.
 *
 * @param dir the report folder.
 * @param report the evaluation results.
 * @param images image bytes keyed by their path relative to `dir` (e.g. `images/t001-ref.png`).
 * @returns the absolute paths written.
 * @throws RagarError (`BAD_INPUT`) for an inconsistent report, an escaping image path or a
 * referenced image that is missing.
 * @example
 * const out = await writeReport('runs/eval-2024-06-01', report, new Map([['images/t1-ref.png', png]]));
 * console.log(`open ${out.html}`);
 */
export async function writeReport(dir: string, report: EvalReport, images: ReadonlyMap<string, Uint8Array>, options: WriteReportOptions = {}): Promise<WrittenReport> {
  validateReport(report);
  const root = path.resolve(dir);
  const reserved = new Set<string>(Object.values(REPORT_FILES));
  const imagePaths = [...images.keys()].map((rel) => {
    if (reserved.has(rel)) throw new RagarError(`writeReport: image path "${rel}" would overwrite the report's own ${rel}`, 'BAD_INPUT');
    return inside(root, rel);
  });
  // Render before writing, so a rendering error leaves the folder untouched.
  const html = reportHtml(report, options.html);
  const json = `${JSON.stringify(metricsJson(report), null, 2)}\n`;
  const csv = metricsCsv(report);
  const ivCsv = intervalsCsv(report);
  if (!options.allowMissingImages) {
    const missing: string[] = [];
    for (const rel of reportImageFiles(report)) {
      if (!images.has(rel) && !(await exists(path.join(root, rel)))) missing.push(rel);
    }
    if (missing.length > 0) {
      const shown = missing.slice(0, 5).join(', ');
      throw new RagarError(`writeReport: ${missing.length} image(s) the report references are neither given nor in ${root}: ${shown}${missing.length > 5 ? ', …' : ''}`, 'BAD_INPUT');
    }
  }

  await mkdir(root, { recursive: true });
  const written: string[] = [];
  let i = 0;
  for (const data of images.values()) {
    const abs = imagePaths[i++];
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFileAtomic(abs, data);
    written.push(abs);
  }
  const out: WrittenReport = {
    dir: root,
    html: path.join(root, REPORT_FILES.html),
    json: path.join(root, REPORT_FILES.json),
    csv: path.join(root, REPORT_FILES.csv),
    intervalsCsv: path.join(root, REPORT_FILES.intervalsCsv),
    images: written,
  };
  await writeFileAtomic(out.html, html);
  await writeFileAtomic(out.json, json);
  await writeFileAtomic(out.csv, csv);
  await writeFileAtomic(out.intervalsCsv, ivCsv);
  return out;
}
