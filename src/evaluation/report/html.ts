/**
 * The human-readable evaluation report: one self-contained HTML page (inline CSS, inline SVG
 * charts, no scripts, no external URLs). Images are referenced by their path relative to the
 * report folder, so the page is meant to sit next to its `images/` folder (see `writeReport`).
 *
 * Every piece of text from the report (names, labels, captions, notes, machine facts) is
 * HTML-escaped, and image paths are percent-encoded per segment, so hostile names cannot inject
 * markup or turn an image path into a `javascript:` URL.
 */
import { RagarError } from '../../util/errors.js';
import { validateReport, type AblationResult, type EvalReport, type IntervalResult, type MetricSpec, type ReportImage } from './types.js';

/** Options of {@link reportHtml}. */
export interface ReportHtmlOptions {
  /**
   * Metric keys to draw in each ablation chart, one series each. Default: every `percent`
   * metric (they share a scale); when there is none, the first metric.
   */
  chartMetrics?: readonly string[];
  /** Displayed width and height of the grid images in CSS pixels (default 96). */
  imageSize?: number;
}

/**
 * Escapes text for HTML element content and quoted attribute values (`& < > " '`).
 *
 * @example
 * escapeHtml('<b>"x"</b>'); // '&lt;b&gt;&quot;x&quot;&lt;/b&gt;'
 */
export function escapeHtml(text: string): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A number in a short readable form: 3 significant digits below 1, 4 from 1 to 10 000, exponent beyond. */
function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e6 || a < 1e-4) return v.toExponential(2);
  if (a >= 1e4) return v.toFixed(0);
  if (a >= 1) return v.toPrecision(4);
  return v.toPrecision(3);
}

/**
 * A metric value as the report shows it: `percent` metrics ×100 with one decimal and `%`,
 * `number` metrics with 3 (below 1) or 4 significant digits; missing or non-finite values as `–`.
 *
 * @example
 * formatMetric(0.7342, { format: 'percent' }); // '73.4%'
 * formatMetric(12.345, { format: 'number' });  // '12.35'
 * formatMetric(0.39712, { format: 'number' }); // '0.397'
 */
export function formatMetric(value: number | undefined, spec: Pick<MetricSpec, 'format'>): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  return spec.format === 'percent' ? `${(value * 100).toFixed(1)}%` : formatNumber(value);
}

/** A signed difference: percentage points for percent metrics. */
function formatDiff(value: number, spec: MetricSpec): string {
  if (!Number.isFinite(value)) return '–';
  const sign = value > 0 ? '+' : value < 0 ? '−' : '±';
  const a = Math.abs(value);
  return spec.format === 'percent' ? `${sign}${(a * 100).toFixed(1)} pp` : `${sign}${formatNumber(a)}`;
}

function formatP(p: number): string {
  if (!Number.isFinite(p)) return '–';
  return p < 0.001 ? '&lt;0.001' : p.toFixed(3);
}

/** A relative image path as a URL: each segment percent-encoded, so no scheme can appear. */
function imageUrl(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

const arrow = (m: MetricSpec) => (m.higherIsBetter ? '↑' : '↓');

// ---------------------------------------------------------------------------------------------
// Sections

function headerSection(report: EvalReport): string {
  const machine = Object.entries(report.machine)
    .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(typeof v === 'string' ? v : JSON.stringify(v) ?? String(v))}</dd>`)
    .join('');
  return `<header>
<h1>${escapeHtml(report.title)}</h1>
<dl class="facts">
<dt>dataset</dt><dd>${escapeHtml(report.dataset)}</dd>
<dt>split</dt><dd>${escapeHtml(report.split)}</dd>
<dt>date</dt><dd>${escapeHtml(report.createdAt)}</dd>
<dt>command</dt><dd><code>${escapeHtml(report.command)}</code></dd>
</dl>
${machine ? `<details open><summary>machine</summary><dl class="facts machine">${machine}</dl></details>` : ''}
</header>`;
}

/** Indices of the best finite values (ties all count); empty when fewer than two are finite. */
function bestIndices(values: readonly (number | undefined)[], higherIsBetter: boolean): Set<number> {
  const finite = values.map((v, i) => [v, i] as const).filter((p): p is readonly [number, number] => typeof p[0] === 'number' && Number.isFinite(p[0]));
  if (finite.length < 2) return new Set();
  const best = higherIsBetter ? Math.max(...finite.map((p) => p[0])) : Math.min(...finite.map((p) => p[0]));
  return new Set(finite.filter((p) => p[0] === best).map((p) => p[1]));
}

function metricHeader(m: MetricSpec): string {
  const tip = [m.extractor, m.higherIsBetter ? 'higher is better' : 'lower is better', m.description].filter(Boolean).join(' — ');
  return `<th class="metric" scope="col" title="${escapeHtml(tip)}"><span class="label">${escapeHtml(m.label)}&nbsp;${arrow(m)}</span><span class="sub">${escapeHtml(m.extractor)}</span></th>`;
}

/** The metric cells of each row (one string per row), the best value of each column in bold. */
function metricCellRows(metrics: readonly MetricSpec[], rows: readonly Record<string, number>[]): string[] {
  const best = metrics.map((m) => bestIndices(rows.map((values) => values[m.key]), m.higherIsBetter));
  return rows.map((values, i) =>
    metrics
      .map((m, j) => {
        const text = formatMetric(values[m.key], m);
        return best[j].has(i) ? `<td class="num best"><strong>${text}</strong></td>` : `<td class="num">${text}</td>`;
      })
      .join(''),
  );
}

function methodsSection(report: EvalReport): string {
  if (report.methods.length === 0) return '<section><h2>Results</h2><p class="empty">No methods were evaluated.</p></section>';
  const cells = metricCellRows(report.metrics, report.methods.map((r) => r.values));
  const rows = report.methods
    .map((r, i) => {
      const name = r.label !== r.name ? ` <code>${escapeHtml(r.name)}</code>` : '';
      return `<tr><th scope="row" class="method"><span class="label">${escapeHtml(r.label)}</span>${name}<span class="sub">${escapeHtml(r.description)}</span></th><td class="num">${escapeHtml(String(r.n))}</td>${cells[i]}</tr>`;
    })
    .join('\n');
  const legend = report.metrics
    .map((m) => `<dt>${escapeHtml(m.label)} ${arrow(m)} <code>${escapeHtml(m.key)}</code></dt><dd>${escapeHtml(m.extractor)}${m.description ? ` — ${escapeHtml(m.description)}` : ''}${m.format === 'percent' ? ' (shown ×100, %)' : ''}</dd>`)
    .join('\n');
  return `<section>
<h2>Results</h2>
<p class="hint">Mean over tasks; the best value of each column is in bold (↑ higher is better, ↓ lower is better). Hover a column header for its feature extractor.</p>
<div class="scroll"><table class="results">
<thead><tr><th scope="col">method</th><th scope="col">n</th>${report.metrics.map(metricHeader).join('')}</tr></thead>
<tbody>
${rows}
</tbody></table></div>
<dl class="legend">
${legend}
</dl>
</section>`;
}

function intervalsSection(report: EvalReport): string {
  if (report.intervals.length === 0) return '';
  const specs = new Map(report.metrics.map((m) => [m.key, m]));
  const labels = new Map(report.methods.map((m) => [m.name, m.label]));
  const levels = new Set(report.intervals.map((iv) => iv.level));
  const sameLevel = levels.size === 1 ? [...levels][0] : null;
  const ciHeader = sameLevel !== null && Number.isFinite(sameLevel) ? `difference [${+(sameLevel * 100).toFixed(2)}% CI]` : 'difference [CI]';
  const row = (iv: IntervalResult) => {
    const m = specs.get(iv.metric)!;
    const excludes = iv.lo > 0 || iv.hi < 0;
    const aBetter = excludes && (iv.lo > 0) === m.higherIsBetter;
    const verdict = excludes
      ? `<span class="mark" title="the interval excludes 0">✱</span> ${escapeHtml(labels.get(aBetter ? iv.a : iv.b) ?? '')} better`
      : '<span class="ns">no clear difference</span>';
    const level = sameLevel === null ? ` <span class="sub">(${+(iv.level * 100).toFixed(2)}%)</span>` : '';
    return `<tr class="${excludes ? 'sig' : ''}"><th scope="row">${escapeHtml(m.label)} ${arrow(m)}</th><td class="num">${formatMetric(iv.meanA, m)}</td><td class="num">${formatMetric(iv.meanB, m)}</td><td class="num">${formatDiff(iv.diff, m)} [${formatDiff(iv.lo, m)}, ${formatDiff(iv.hi, m)}]${level}</td><td class="num">${formatP(iv.pValue)}</td><td class="num">${escapeHtml(String(iv.n))}</td><td class="verdict">${verdict}</td></tr>`;
  };
  // consecutive intervals of the same pair share a group heading
  const groups: IntervalResult[][] = [];
  for (const iv of report.intervals) {
    const last = groups[groups.length - 1];
    if (last && last[0].a === iv.a && last[0].b === iv.b) last.push(iv);
    else groups.push([iv]);
  }
  const bodies = groups.map((g) => {
    const la = escapeHtml(labels.get(g[0].a) ?? g[0].a);
    const lb = escapeHtml(labels.get(g[0].b) ?? g[0].b);
    return `<tbody><tr class="group"><th colspan="7" scope="rowgroup">A = ${la} <span class="vs">vs</span> B = ${lb}</th></tr>
${g.map(row).join('\n')}
</tbody>`;
  });
  return `<section>
<h2>Paired comparisons</h2>
<p class="hint">Difference = mean A − mean B over the same tasks (percentage points for % metrics), with a paired bootstrap percentile interval; p is the two-sided bootstrap p-value for a zero difference. ✱ marks intervals that exclude 0.</p>
<div class="scroll"><table class="intervals">
<thead><tr><th scope="col">metric</th><th scope="col">mean A</th><th scope="col">mean B</th><th scope="col">${ciHeader}</th><th scope="col">p</th><th scope="col">n</th><th scope="col">verdict</th></tr></thead>
${bodies.join('\n')}
</table></div>
</section>`;
}

// ---------------------------------------------------------------------------------------------
// Charts

/** Color-blind-safe palette (Okabe–Ito, yellow left out for contrast on white). */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#999999'];

/** Rounds away floating-point noise in tick values. */
const clean = (v: number) => parseFloat(v.toPrecision(12));

/** "Nice" ticks (steps of 1, 2 or 5 × 10^k) covering [lo, hi]. */
function niceTicks(lo: number, hi: number, target = 5): { ticks: number[]; step: number } {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.1 || 0.01;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  const start = Math.floor(lo / step + 1e-9);
  const end = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let i = start; i <= end; i++) ticks.push(clean(i * step));
  return { ticks, step };
}

/** Approximate rendered width of a 12px label. */
const textWidth = (s: string) => s.length * 6.6;


interface Series {
  spec: MetricSpec;
  color: string;
  values: (number | null)[];
}

/** One inline SVG chart of an ablation: lines over a numeric parameter, grouped bars otherwise. */
function ablationChart(ab: AblationResult, specs: readonly MetricSpec[]): string {
  const W = 680;
  const left = 64;
  const right = 20;
  const top = 30;
  const plotH = 220;
  const plotW = W - left - right;
  const settings = ab.settings;
  const series: Series[] = specs.map((spec, i) => ({
    spec,
    color: PALETTE[i % PALETTE.length],
    values: settings.map((s) => {
      const v = s.values[spec.key];
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    }),
  }));
  const xs = settings.map((s) => (s.value.trim() === '' ? NaN : Number(s.value)));
  const numeric = settings.length > 0 && xs.every((x) => Number.isFinite(x));
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const title = `Ablation of ${ab.parameter}`;
  if (all.length === 0) {
    return `<svg class="chart" role="img" aria-label="${escapeHtml(title)}" width="${W}" height="60" viewBox="0 0 ${W} 60"><title>${escapeHtml(title)}</title><text x="${W / 2}" y="34" text-anchor="middle" class="empty">no values to chart</text></svg>`;
  }
  const percent = series.every((s) => s.spec.format === 'percent');
  let yMin = Math.min(...all);
  let yMax = Math.max(...all);
  if (!numeric) {
    yMin = Math.min(0, yMin);
    yMax = Math.max(0, yMax);
  }
  const { ticks: yTicks, step: yStep } = niceTicks(yMin, yMax);
  const y0 = yTicks[0];
  const y1 = yTicks[yTicks.length - 1];
  const yPos = (v: number) => top + plotH - ((v - y0) / (y1 - y0)) * plotH;
  const yDecimals = Math.max(0, -Math.floor(Math.log10((percent ? 100 : 1) * yStep) + 1e-9));
  const yLabel = (v: number) => (percent ? `${(v * 100).toFixed(yDecimals)}%` : (v).toFixed(yDecimals));
  const parts: string[] = [];
  const defaultIndex = settings.findIndex((s) => s.isDefault);

  // y grid and ticks
  for (const t of yTicks) {
    const y = yPos(t).toFixed(1);
    parts.push(`<line class="grid" x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}"/><text class="tick" x="${left - 6}" y="${y}" dy="0.32em" text-anchor="end">${yLabel(t)}</text>`);
  }

  let xAxisTitle = escapeHtml(ab.parameter);
  if (numeric) {
    const positive = xs.every((x) => x > 0);
    const log = positive && Math.max(...xs) / Math.min(...xs) >= 16;
    const tx = (x: number) => (log ? Math.log(x) : x);
    const lo = Math.min(...xs.map(tx));
    const hi = Math.max(...xs.map(tx));
    const pad = hi > lo ? (hi - lo) * 0.05 : 1;
    const xPos = (x: number) => left + ((tx(x) - (lo - pad)) / (hi - lo + 2 * pad)) * plotW;
    if (log) xAxisTitle += ' (log scale)';
    // x ticks at the settings, skipping labels that would overlap the previous one
    const order = xs.map((x, i) => i).sort((i, j) => xs[i] - xs[j]);
    let lastRight = -Infinity;
    for (const i of order) {
      const x = xPos(xs[i]);
      const label = escapeHtml(settings[i].value);
      const w = textWidth(settings[i].value);
      parts.push(`<line class="axis" x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${top + plotH}" y2="${top + plotH + 4}"/>`);
      if (x - w / 2 > lastRight + 4 || i === defaultIndex) {
        parts.push(`<text class="tick${i === defaultIndex ? ' default' : ''}" x="${x.toFixed(1)}" y="${top + plotH + 17}" text-anchor="middle">${label}</text>`);
        lastRight = x + w / 2;
      }
    }
    if (defaultIndex >= 0) {
      const x = xPos(xs[defaultIndex]).toFixed(1);
      parts.push(`<line class="default" x1="${x}" x2="${x}" y1="${top}" y2="${top + plotH}"/><text class="default" x="${x}" y="${top - 8}" text-anchor="middle">default</text>`);
    }
    for (const s of series) {
      let d = '';
      let pen = false;
      const dots: string[] = [];
      for (const i of order) {
        const v = s.values[i];
        if (v === null) {
          pen = false;
          continue;
        }
        const x = xPos(xs[i]).toFixed(1);
        const y = yPos(v).toFixed(1);
        d += `${pen ? 'L' : 'M'}${x},${y}`;
        pen = true;
        dots.push(`<circle cx="${x}" cy="${y}" r="3.5" fill="${s.color}"><title>${escapeHtml(`${s.spec.label} at ${ab.parameter} = ${settings[i].value}: ${formatMetric(v, s.spec)}`)}</title></circle>`);
      }
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>${dots.join('')}`);
    }
  } else {
    const band = plotW / settings.length;
    const barW = (band * 0.8) / series.length;
    const zero = yPos(0);
    settings.forEach((setting, i) => {
      const gx = left + i * band;
      if (i === defaultIndex) parts.push(`<rect class="default-band" x="${gx.toFixed(1)}" y="${top}" width="${band.toFixed(1)}" height="${plotH}"/>`);
      series.forEach((s, k) => {
        const v = s.values[i];
        if (v === null) return;
        const x = gx + band * 0.1 + k * barW;
        const y = Math.min(yPos(v), zero);
        const h = Math.abs(yPos(v) - zero);
        parts.push(`<rect class="bar" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${escapeHtml(`${s.spec.label} at ${ab.parameter} = ${setting.value}: ${formatMetric(v, s.spec)}`)}</title></rect>`);
      });
      const maxChars = Math.max(3, Math.floor(band / 6.6));
      const text = setting.value.length > maxChars ? `${setting.value.slice(0, maxChars - 1)}…` : setting.value;
      const cx = (gx + band / 2).toFixed(1);
      parts.push(`<text class="tick${i === defaultIndex ? ' default' : ''}" x="${cx}" y="${top + plotH + 17}" text-anchor="middle"><title>${escapeHtml(setting.value)}</title>${escapeHtml(text)}</text>`);
      if (i === defaultIndex) parts.push(`<text class="default" x="${cx}" y="${top - 8}" text-anchor="middle">default</text>`);
    });
    parts.push(`<line class="axis" x1="${left}" x2="${left + plotW}" y1="${zero.toFixed(1)}" y2="${zero.toFixed(1)}"/>`);
  }

  // axes and axis titles
  parts.push(`<line class="axis" x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}"/><line class="axis" x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}"/>`);
  parts.push(`<text class="axis-title" x="${left + plotW / 2}" y="${top + plotH + 36}" text-anchor="middle">${xAxisTitle}</text>`);
  parts.push(`<text class="axis-title" transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${percent ? 'value (%)' : 'value'}</text>`);

  // legend, wrapped into rows below the axis title
  let lx = left;
  let ly = top + plotH + 58;
  for (const s of series) {
    const label = `${s.spec.label} ${arrow(s.spec)}`;
    const w = 22 + textWidth(label) + 18;
    if (lx + w > W - right && lx > left) {
      lx = left;
      ly += 18;
    }
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="14" height="10" fill="${s.color}"/><text class="legend" x="${lx + 20}" y="${ly}">${escapeHtml(label)}</text>`);
    lx += w;
  }
  const H = ly + 12;
  return `<svg class="chart" role="img" aria-label="${escapeHtml(title)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><title>${escapeHtml(title)}</title>${parts.join('')}</svg>`;
}

function ablationsSection(report: EvalReport, options: ReportHtmlOptions): string {
  if (report.ablations.length === 0) return '';
  const specs = new Map(report.metrics.map((m) => [m.key, m]));
  let keys: readonly string[];
  if (options.chartMetrics) {
    for (const k of options.chartMetrics) if (!specs.has(k)) throw new RagarError(`reportHtml: chartMetrics names unknown metric "${k}"`, 'BAD_INPUT');
    keys = options.chartMetrics;
  } else {
    const percent = report.metrics.filter((m) => m.format === 'percent').map((m) => m.key);
    keys = percent.length > 0 ? percent : report.metrics.slice(0, 1).map((m) => m.key);
  }
  const charted = keys.map((k) => specs.get(k)!);
  const blocks = report.ablations.map((ab) => {
    const cells = metricCellRows(report.metrics, ab.settings.map((s) => s.values));
    const rows = ab.settings
      .map((s, i) => {
        return `<tr${s.isDefault ? ' class="default"' : ''}><th scope="row">${escapeHtml(s.value)}${s.isDefault ? ' <span class="tag">default</span>' : ''}</th><td class="num">${escapeHtml(String(s.n))}</td>${cells[i]}</tr>`;
      })
      .join('\n');
    return `<figure class="ablation">
<figcaption>Ablation of <code>${escapeHtml(ab.parameter)}</code> (other parameters at their defaults)</figcaption>
${ablationChart(ab, charted)}
<div class="scroll"><table class="results compact">
<thead><tr><th scope="col">${escapeHtml(ab.parameter)}</th><th scope="col">n</th>${report.metrics.map(metricHeader).join('')}</tr></thead>
<tbody>
${rows}
</tbody></table></div>
</figure>`;
  });
  return `<section>
<h2>Ablations</h2>
${blocks.join('\n')}
</section>`;
}

// ---------------------------------------------------------------------------------------------
// Image grid

function figure(img: ReportImage, size: number, extra = ''): string {
  return `<figure><img src="${escapeHtml(imageUrl(img.file))}" alt="${escapeHtml(img.caption)}" width="${size}" height="${size}"><figcaption>${escapeHtml(img.caption)}${extra}</figcaption></figure>`;
}

function tasksSection(report: EvalReport, size: number): string {
  if (report.tasks.length === 0) return '';
  const hasTarget = report.tasks.some((t) => t.target !== null);
  // Only methods with an output somewhere get a column (e.g. a copy-of-reference row has none).
  const shown = report.methods.filter((m) => report.tasks.some((t) => t.outputs[m.name]));
  const rows = report.tasks
    .map((t) => {
      const history = t.history.length
        ? `<div class="hist">${t.history.map((h) => figure(h, size, `<br><span class="weight">w ${Number.isFinite(h.weight) ? h.weight.toFixed(2) : '–'}</span>`)).join('')}</div>`
        : '<span class="empty">none</span>';
      const outputs = shown.map((m) => `<td>${t.outputs[m.name] ? figure(t.outputs[m.name], size) : '<span class="empty">—</span>'}</td>`).join('');
      const target = hasTarget ? `<td>${t.target ? figure(t.target, size) : '<span class="empty">—</span>'}</td>` : '';
      return `<tr><th scope="row" class="task">${escapeHtml(t.id)}<span class="sub">user ${escapeHtml(t.user)}</span></th><td>${figure(t.reference, size)}</td><td class="history">${history}</td>${outputs}${target}</tr>`;
    })
    .join('\n');
  return `<section>
<h2>Tasks</h2>
<p class="hint">Reference | history images with their retrieval weights | each method's output${hasTarget ? ' | held-out target' : ''}.</p>
<div class="scroll"><table class="grid">
<thead><tr><th scope="col">task</th><th scope="col">reference</th><th scope="col">history</th>${shown.map((m) => `<th scope="col">${escapeHtml(m.label)}</th>`).join('')}${hasTarget ? '<th scope="col">target</th>' : ''}</tr></thead>
<tbody>
${rows}
</tbody></table></div>
</section>`;
}

function notesSection(report: EvalReport): string {
  if (report.notes.length === 0) return '';
  return `<section>
<h2>Notes</h2>
<ul class="notes">
${report.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('\n')}
</ul>
</section>`;
}

function css(size: number): string {
  return `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 24px; color: #1d1d1f; background: #fff; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
code { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; background: #f3f3f5; padding: 1px 4px; border-radius: 3px; white-space: pre-wrap; word-break: break-word; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
.facts dt { color: #666; }
.facts dd { margin: 0; word-break: break-word; }
details summary { cursor: pointer; color: #666; }
.machine { font-size: 12px; }
.hint { color: #666; font-size: 12px; margin: 4px 0 8px; max-width: 60em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e3e3e3; vertical-align: top; text-align: left; }
thead th { border-bottom: 2px solid #bbb; vertical-align: bottom; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { background: #eef6ee; }
th .sub, td .sub { display: block; font-size: 11px; font-weight: normal; color: #777; max-width: 22em; }
th.metric { text-align: right; min-width: 5.5em; }
th.metric .sub { margin-left: auto; max-width: 11em; }
th.method { font-weight: 600; min-width: 12em; }
th.method code { font-weight: normal; white-space: nowrap; }
.legend { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; font-size: 12px; color: #444; margin-top: 12px; }
.legend dt { font-weight: 600; }
.legend dd { margin: 0; }
tr.sig td, tr.sig th { background: #fbf7e8; }
table.intervals th[scope="row"] { font-weight: normal; white-space: nowrap; }
table.intervals tr.group th { background: #f3f3f5; font-weight: 600; padding-top: 8px; }
td.verdict { white-space: nowrap; }
.mark { color: #b35900; font-weight: bold; }
.ns { color: #888; }
.vs { color: #888; font-size: 12px; }
figure.ablation { margin: 16px 0 28px; }
figure.ablation > figcaption { font-weight: 600; margin-bottom: 4px; }
table.compact th, table.compact td { padding: 3px 8px; font-size: 13px; }
table.compact tbody th { white-space: nowrap; }
tr.default th, tr.default td { background: #f4f4fb; }
.tag { font-size: 10px; font-weight: normal; background: #dde; border-radius: 3px; padding: 0 4px; vertical-align: middle; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg.chart text { font: 12px system-ui, "DejaVu Sans", sans-serif; fill: #333; }
svg.chart .grid { stroke: #eee; }
svg.chart .axis { stroke: #555; }
svg.chart .axis-title { font-weight: 600; }
svg.chart text.default { font-weight: 600; fill: #555; }
svg.chart line.default { stroke: #888; stroke-dasharray: 4 3; }
svg.chart .default-band { fill: #f0f0f8; }
table.grid td, table.grid th { text-align: center; padding: 6px 4px; }
table.grid th.task { text-align: left; font-weight: 600; white-space: nowrap; }
table.grid td.history { text-align: left; }
table.grid .hist { display: flex; flex-wrap: wrap; gap: 6px 0; width: ${3 * (size + 10)}px; }
table.grid figure { display: inline-block; margin: 0 2px; vertical-align: top; width: ${size + 6}px; white-space: normal; }
table.grid figcaption { font-size: 11px; color: #555; line-height: 1.25; margin-top: 2px; overflow-wrap: anywhere; }
table.grid img { image-rendering: pixelated; width: ${size}px; height: ${size}px; object-fit: contain; background: #fff; border: 1px solid #ddd; display: block; margin: 0 auto; }
.weight { font-variant-numeric: tabular-nums; color: #333; }
.empty { color: #999; }
.notes li { margin-bottom: 4px; max-width: 60em; }
footer { margin-top: 32px; color: #999; font-size: 11px; }
`;
}

/**
 * The whole report as one self-contained HTML page: header (dataset, split, command, date,
 * machine), results table (best value per metric in bold), paired comparisons, one SVG chart and
 * table per ablation, the per-task image grid and the notes.
 *
 * @throws RagarError (`BAD_INPUT`) when the report is inconsistent (see `validateReport`), when
 * `chartMetrics` names an unknown metric or `imageSize` is not a positive number.
 * @example
 * fs.writeFileSync('report.html', reportHtml(report, { chartMetrics: ['hist_cis', 'style_acc'] }));
 */
export function reportHtml(report: EvalReport, options: ReportHtmlOptions = {}): string {
  validateReport(report);
  const size = options.imageSize ?? 96;
  if (!(size > 0 && Number.isFinite(size))) throw new RagarError(`reportHtml: imageSize must be a positive number, got ${size}`, 'BAD_INPUT');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(report.title)}</title>
<style>${css(size)}</style>
</head><body>
${headerSection(report)}
${methodsSection(report)}
${intervalsSection(report)}
${ablationsSection(report, options)}
${tasksSection(report, size)}
${notesSection(report)}
<footer>Written by ragar. Images are loaded from paths relative to this file.</footer>
</body></html>
`;
}
