import { describe, expect, it } from 'vitest';
import { RagarError } from '../../util/errors.js';
import { escapeHtml, formatMetric, reportHtml } from './html.js';
import type { EvalReport, ReportImage } from './types.js';

const img = (file: string, caption = file): ReportImage => ({ file, caption });

function report(): EvalReport {
  return {
    title: 'Emoji styles: test',
    dataset: 'emoji-styles',
    split: 'test',
    createdAt: '2024-06-01T12:00:00Z',
    command: 'ragar eval --split test',
    machine: { cpu: 'Xeon', cores: 2, node: 'v20.11.0' },
    metrics: [
      { key: 'hist_cis', label: 'Hist-CIS', extractor: 'MobileNetV2 (flatten_1)', higherIsBetter: true, format: 'percent' },
      { key: 'lpips', label: 'Perceptual', extractor: 'MobileNetV2 blocks', higherIsBetter: false, format: 'number' },
      { key: 'style_acc', label: 'Style acc.', extractor: 'style classifier', higherIsBetter: true, format: 'percent', description: 'trained on non-test items' },
    ],
    methods: [
      { name: 'ragar', label: 'RAGAR', description: 'retrieval + ranker', values: { hist_cis: 0.734, lpips: 0.21, style_acc: 0.5 }, n: 3 },
      { name: 'uniform', label: 'Uniform history', description: 'equal weights', values: { hist_cis: 0.61, lpips: 0.35, style_acc: 0.5 }, n: 3 },
      { name: 'none', label: 'No history', description: 'reference only', values: { hist_cis: 0.4, lpips: 0.18 }, n: 3 },
    ],
    intervals: [
      { metric: 'hist_cis', a: 'ragar', b: 'uniform', meanA: 0.734, meanB: 0.61, diff: 0.124, lo: 0.05, hi: 0.2, level: 0.95, n: 3, pValue: 0.0004 },
      { metric: 'lpips', a: 'ragar', b: 'uniform', meanA: 0.21, meanB: 0.35, diff: -0.14, lo: -0.3, hi: 0.02, level: 0.95, n: 3, pValue: 0.12 },
    ],
    ablations: [
      {
        parameter: 'k',
        settings: [
          { value: '1', values: { hist_cis: 0.6, lpips: 0.3, style_acc: 0.4 }, n: 3 },
          { value: '4', isDefault: true, values: { hist_cis: 0.73, lpips: 0.21, style_acc: 0.5 }, n: 3 },
          { value: '16', values: { hist_cis: 0.7, style_acc: Number.NaN }, n: 3 },
        ],
      },
      {
        parameter: 'weighting',
        settings: [
          { value: 'uniform', values: { hist_cis: 0.61, style_acc: 0.5 }, n: 3 },
          { value: 'softmax', isDefault: true, values: { hist_cis: 0.73, style_acc: 0.5 }, n: 3 },
        ],
      },
    ],
    tasks: [
      {
        id: 't1',
        user: 'u7',
        reference: img('images/t1-ref.png', 'cat face'),
        history: [{ ...img('images/t1-h1.png', 'dog'), weight: 0.7 }, { ...img('images/t1-h2.png', 'fox'), weight: 0.3 }],
        outputs: { ragar: img('images/t1-ragar.png'), uniform: img('images/t1-uniform.png') },
        target: img('images/t1-target.png', 'target'),
      },
      { id: 't2', user: 'u8', reference: img('images/t2 ref.png'), history: [], outputs: { none: img('images/t2-none.png') }, target: null },
    ],
    notes: ['FID needs more tasks than this run has.'],
  };
}

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

describe('escapeHtml and formatMetric', () => {
  it('escape markup and format values', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(formatMetric(0.7342, { format: 'percent' })).toBe('73.4%');
    expect(formatMetric(12.345, { format: 'number' })).toBe('12.35');
    expect(formatMetric(53.037, { format: 'number' })).toBe('53.04');
    expect(formatMetric(0.39712, { format: 'number' })).toBe('0.397');
    expect(formatMetric(0.0123456, { format: 'number' })).toBe('0.0123');
    expect(formatMetric(Number.NaN, { format: 'number' })).toBe('–');
    expect(formatMetric(undefined, { format: 'percent' })).toBe('–');
  });
});

describe('reportHtml', () => {
  it('is a self-contained page with the header facts', () => {
    const html = reportHtml(report());
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|https?:\/\/|<link /i);
    for (const s of ['emoji-styles', 'ragar eval --split test', '2024-06-01T12:00:00Z', 'Xeon', 'v20.11.0', 'FID needs more tasks']) expect(html).toContain(s);
  });

  it('contains every method and metric, with the extractor on each metric header', () => {
    const r = report();
    const html = reportHtml(r);
    for (const m of r.methods) {
      expect(html).toContain(m.label);
      expect(html).toContain(m.description);
    }
    for (const m of r.metrics) {
      expect(html).toContain(m.label);
      expect(html).toMatch(new RegExp(`<th class="metric" scope="col" title="${m.extractor.replace(/[()]/g, '\\$&')}`));
    }
  });

  it('bolds the best value per column, respecting higherIsBetter, ties included', () => {
    const html = reportHtml(report());
    const results = html.slice(html.indexOf('<table class="results">'), html.indexOf('</table>'));
    expect(results).toContain('<strong>73.4%</strong>'); // hist_cis: highest
    expect(results).not.toContain('<strong>61.0%</strong>');
    expect(results).toContain('<strong>0.180</strong>'); // lpips: lowest
    expect(results).not.toContain('<strong>0.210</strong>');
    expect(count(results, /<strong>50\.0%<\/strong>/g)).toBe(2); // style_acc: a tie
    expect(count(results, /<strong>/g)).toBe(4);
  });

  it('marks intervals that exclude 0 and names the better side', () => {
    const html = reportHtml(report());
    const iv = html.slice(html.indexOf('<table class="intervals">'));
    const rows = iv.slice(0, iv.indexOf('</table>')).split('<tr').slice(3);
    expect(iv).toContain('A = RAGAR <span class="vs">vs</span> B = Uniform history');
    expect(count(iv.slice(0, iv.indexOf('</table>')), /<tbody>/g)).toBe(1);
    expect(rows[0]).toContain('class="sig"');
    expect(rows[0]).toContain('+12.4 pp [+5.0 pp, +20.0 pp]');
    expect(rows[0]).toContain('&lt;0.001');
    expect(rows[0]).toContain('RAGAR better');
    expect(rows[1]).not.toContain('✱');
    expect(rows[1]).toContain('no clear difference');
  });

  it('draws one SVG per ablation: lines for numeric settings, bars otherwise, default marked', () => {
    const html = reportHtml(report());
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    expect(svgs).toHaveLength(2);
    const [line, bar] = svgs as [string, string];
    expect(line).toContain('aria-label="Ablation of k"');
    expect(line).toMatch(/<path d="M[\d.]+,[\d.]+L/);
    expect(line).toContain('class="default"');
    expect(line).toContain('Hist-CIS ↑'); // legend: percent metrics by default
    expect(line).toContain('Style acc. ↑');
    expect(line).not.toContain('Perceptual');
    expect(count(line, /<circle /g)).toBe(5); // 3 + 2 (NaN skipped)
    expect(line).toContain('>16</text>');
    expect(bar).not.toContain('<path');
    expect(count(bar, /<rect class="bar" /g)).toBe(4);
    expect(bar).toContain('>softmax</text>');
    expect(bar).toContain('default-band');
  });

  it('charts the metrics the caller picks and refuses unknown ones', () => {
    const html = reportHtml(report(), { chartMetrics: ['lpips'] });
    const svg = (html.match(/<svg[\s\S]*?<\/svg>/) ?? [''])[0];
    expect(svg).toContain('Perceptual ↓');
    expect(svg).not.toContain('Hist-CIS');
    expect(() => reportHtml(report(), { chartMetrics: ['nope'] })).toThrow(RagarError);
  });

  it('has one <img> per grid image, pixelated, at the requested size, by relative path', () => {
    const html = reportHtml(report(), { imageSize: 80 });
    expect(count(html, /<img /g)).toBe(1 + 2 + 2 + 1 + 1 + 1); // t1: ref, 2 history, 2 outputs, target; t2: ref, 1 output
    expect(html).toContain('src="images/t1-h1.png"');
    expect(html).toContain('src="images/t2%20ref.png"');
    expect(html).toContain('image-rendering: pixelated');
    expect(html).toMatch(/<img src="images\/t1-ref.png" alt="cat face" width="80" height="80"/);
    expect(html).toContain('w 0.70');
    expect(() => reportHtml(report(), { imageSize: 0 })).toThrow(RagarError);
  });

  it('gives grid columns only to methods with an output somewhere (e.g. not to a copy-of-reference row)', () => {
    const r = report();
    r.methods.push({ name: 'copy', label: 'Copy of the reference', description: 'the reference itself', values: {}, n: 3 });
    const grid = reportHtml(r).split('<table class="grid">')[1].split('</table>')[0];
    const header = grid.split('</thead>')[0];
    expect(header).toContain('>RAGAR<');
    expect(header).toContain('>No history<');
    expect(header).not.toContain('Copy of the reference');
    expect(count(grid.split('</thead>')[1], /<tr>/g)).toBe(2);
    expect(count(grid.split('</thead>')[1].split('</tr>')[0], /<td[ >]/g)).toBe(1 + 1 + 3 + 1); // reference, history, 3 method columns, target
  });

  it('escapes hostile text everywhere', () => {
    const evil = '<script>alert(1)</script>';
    const attr = '"><img src=x onerror=alert(1)>';
    const r = report();
    r.title = evil;
    r.command = evil;
    r.machine = { [evil]: attr };
    r.methods[0].label = evil;
    r.methods[0].description = attr;
    r.metrics[0].label = evil;
    r.metrics[0].extractor = attr;
    r.ablations[1].parameter = evil;
    r.ablations[1].settings[0].value = attr;
    r.tasks[0].reference.caption = attr;
    r.tasks[0].history[0].caption = evil;
    r.tasks[0].id = evil;
    r.tasks[0].reference.file = 'javascript:alert(1)';
    r.notes = [evil];
    const html = reportHtml(r);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img src=x');
    expect(html).not.toMatch(/src="javascript:/i);
    expect(html).toContain('src="javascript%3Aalert(1)"');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(count(html, /<img /g)).toBe(8);
  });

  it('renders a report with no intervals, ablations or tasks', () => {
    const r = report();
    r.intervals = [];
    r.ablations = [];
    r.tasks = [];
    r.notes = [];
    const html = reportHtml(r);
    expect(html).not.toContain('<svg');
    expect(html).not.toContain('<img');
    expect(html).toContain('RAGAR');
  });
});
