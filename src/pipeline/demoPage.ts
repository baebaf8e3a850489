/** One row of the demo page: a task and what the pipeline did with it. */
export interface DemoRow {
  task: string;
  user: string;
  reference: { title: string; style: string | null; png: Buffer };
  /** The most heavily weighted history items. */
  history: { title: string; style: string | null; weight: number; png: Buffer | null }[];
  output: { png: Buffer; rankerScore: number; semanticScore: number; candidates: number };
  target: { style: string | null; png: Buffer } | null;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const img = (png: Buffer, alt: string) => `<img src="data:image/png;base64,${png.toString('base64')}" alt="${escapeHtml(alt)}" width="64" height="64">`;

/**
 * A self-contained HTML page (images inlined) with one row per task: reference | weighted
 * history | output | ground-truth target.
 *
 * @example
 * fs.writeFileSync('demo.html', renderDemoPage('emoji-styles test tasks', rows, notes));
 */
export function renderDemoPage(title: string, rows: readonly DemoRow[], notes: readonly string[] = []): string {
  const body = rows
    .map((r) => {
      const hist = r.history
        .map((h) => `<figure>${h.png ? img(h.png, h.title) : '<span class="missing">no image</span>'}<figcaption>${escapeHtml(h.style ?? '')}<br>w ${h.weight.toFixed(2)}</figcaption></figure>`)
        .join('');
      return `<tr>
<td class="meta">${escapeHtml(r.task)}<br>user ${escapeHtml(r.user)}</td>
<td><figure>${img(r.reference.png, r.reference.title)}<figcaption>${escapeHtml(r.reference.title)}<br>${escapeHtml(r.reference.style ?? '')}</figcaption></figure></td>
<td class="history">${hist}</td>
<td><figure>${img(r.output.png, 'output')}<figcaption>ranker ${r.output.rankerScore.toFixed(2)}<br>of ${r.output.candidates} candidates</figcaption></figure></td>
<td>${r.target ? `<figure>${img(r.target.png, 'target')}<figcaption>${escapeHtml(r.target.style ?? '')}</figcaption></figure>` : ''}</td>
</tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; }
td, th { border-bottom: 1px solid #ddd; padding: 6px 10px; vertical-align: top; text-align: center; }
td.meta { text-align: left; font-size: 12px; color: #555; }
td.history { text-align: left; }
figure { display: inline-block; margin: 0 4px; }
figcaption { font-size: 11px; color: #555; }
img { image-rendering: pixelated; width: 96px; height: 96px; background: #fff; border: 1px solid #eee; }
</style></head><body>
<h1>${escapeHtml(title)}</h1>
${notes.map((n) => `<p>${escapeHtml(n)}</p>`).join('\n')}
<table>
<thead><tr><th>task</th><th>reference</th><th>history (highest retrieval weights)</th><th>output</th><th>ground truth</th></tr></thead>
<tbody>
${body}
</tbody></table></body></html>
`;
}
