import type { Store } from '../store/store.js';

/** Summary of a history-length distribution. */
export interface Distribution {
  min: number;
  p10: number;
  p25: number;
  median: number;
  p75: number;
  p90: number;
  max: number;
  mean: number;
  /** Counts per bucket, labelled by range, e.g. `"20-29"`. */
  histogram: { range: string; count: number }[];
}

/** What `ragar dataset stats` prints. */
export interface DatasetStats {
  dataset: string;
  kind: string;
  users: number;
  items: number;
  interactions: number;
  /** Interactions that carry a rating. */
  ratings: number;
  concepts: number;
  styles: string[];
  groups: number;
  tasks: number;
  itemsWithImages: number;
  perStyle: Record<string, { items: number; interactions: number }>;
  perGroup: Record<string, { items: number; concepts: number; interactions: number }>;
  splits: {
    users: Record<string, number>;
    concepts: Record<string, number>;
    tasks: Record<string, number>;
  };
  historyLength: Distribution;
  license: string | null;
  source: string | null;
  params: Record<string, unknown>;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Summarise values: quantiles (linear interpolation), mean and a histogram of about ten
 * equal-width buckets with round edges.
 *
 * @example
 * describeDistribution([1, 2, 3]).median // 2
 */
export function describeDistribution(values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n ? sorted.reduce((s, x) => s + x, 0) / n : 0;
  const histogram: { range: string; count: number }[] = [];
  if (n) {
    const min = sorted[0];
    const max = sorted[n - 1];
    const raw = Math.max(1, (max - min + 1) / 10);
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const width = [1, 2, 5, 10].map((m) => m * magnitude).find((w) => w >= raw) ?? raw;
    const start = Math.floor(min / width) * width;
    for (let lo = start; lo <= max; lo += width) {
      const count = sorted.filter((x) => x >= lo && x < lo + width).length;
      histogram.push({ range: width === 1 ? `${lo}` : `${lo}-${lo + width - 1}`, count });
    }
  }
  return {
    min: n ? sorted[0] : 0,
    p10: quantile(sorted, 0.1),
    p25: quantile(sorted, 0.25),
    median: quantile(sorted, 0.5),
    p75: quantile(sorted, 0.75),
    p90: quantile(sorted, 0.9),
    max: n ? sorted[n - 1] : 0,
    mean,
    histogram,
  };
}

/** Compute a dataset's statistics from the store. */
export function datasetStats(store: Store, name: string): DatasetStats {
  const ds = store.getDataset(name);
  const db = store.db;
  const one = (sql: string): number => (db.prepare(sql).pluck().get(ds.id) as number) ?? 0;
  const perStyle: DatasetStats['perStyle'] = {};
  for (const row of db
    .prepare(
      `SELECT i.style AS style, COUNT(DISTINCT i.id) AS items, COUNT(x.id) AS interactions
       FROM items i LEFT JOIN interactions x ON x.item_id = i.id
       WHERE i.dataset_id = ? AND i.style IS NOT NULL GROUP BY i.style ORDER BY i.style`,
    )
    .all(ds.id) as { style: string; items: number; interactions: number }[]) {
    perStyle[row.style] = { items: row.items, interactions: row.interactions };
  }
  const perGroup: DatasetStats['perGroup'] = {};
  for (const row of db
    .prepare(
      `SELECT i.grp AS grp, COUNT(DISTINCT i.id) AS items, COUNT(DISTINCT i.concept) AS concepts, COUNT(x.id) AS interactions
       FROM items i LEFT JOIN interactions x ON x.item_id = i.id
       WHERE i.dataset_id = ? AND i.grp IS NOT NULL GROUP BY i.grp ORDER BY i.grp`,
    )
    .all(ds.id) as { grp: string; items: number; concepts: number; interactions: number }[]) {
    perGroup[row.grp] = { items: row.items, concepts: row.concepts, interactions: row.interactions };
  }
  const countBy = (sql: string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const row of db.prepare(sql).all(ds.id) as { k: string | null; n: number }[]) out[row.k ?? 'none'] = row.n;
    return out;
  };
  const lengths = db
    .prepare(
      `SELECT COUNT(x.id) FROM users u LEFT JOIN interactions x ON x.user_id = u.id
       WHERE u.dataset_id = ? GROUP BY u.id`,
    )
    .pluck()
    .all(ds.id) as number[];
  return {
    dataset: ds.name,
    kind: ds.kind,
    users: one('SELECT COUNT(*) FROM users WHERE dataset_id = ?'),
    items: one('SELECT COUNT(*) FROM items WHERE dataset_id = ?'),
    interactions: one('SELECT COUNT(*) FROM interactions WHERE dataset_id = ?'),
    ratings: one('SELECT COUNT(*) FROM interactions WHERE dataset_id = ? AND rating IS NOT NULL'),
    concepts: one('SELECT COUNT(DISTINCT concept) FROM items WHERE dataset_id = ? AND concept IS NOT NULL'),
    styles: Object.keys(perStyle),
    groups: one('SELECT COUNT(DISTINCT grp) FROM items WHERE dataset_id = ? AND grp IS NOT NULL'),
    tasks: one('SELECT COUNT(*) FROM tasks WHERE dataset_id = ?'),
    itemsWithImages: one('SELECT COUNT(*) FROM items WHERE dataset_id = ? AND image_hash IS NOT NULL'),
    perStyle,
    perGroup,
    splits: {
      users: countBy(`SELECT split AS k, COUNT(*) AS n FROM splits WHERE dataset_id = ? AND entity = 'user' GROUP BY split ORDER BY split`),
      concepts: countBy(`SELECT split AS k, COUNT(*) AS n FROM splits WHERE dataset_id = ? AND entity = 'concept' GROUP BY split ORDER BY split`),
      tasks: countBy(`SELECT split AS k, COUNT(*) AS n FROM tasks WHERE dataset_id = ? GROUP BY split ORDER BY split`),
    },
    historyLength: describeDistribution(lengths),
    license: ds.license,
    source: ds.source,
    params: ds.params,
  };
}

/** Render statistics as an aligned text report for the terminal. */
export function formatStats(s: DatasetStats): string {
  const lines: string[] = [];
  const num = (n: number) => n.toLocaleString('en-US');
  lines.push(`dataset ${s.dataset} (${s.kind})`);
  lines.push(
    `  users ${num(s.users)}  items ${num(s.items)} (${num(s.itemsWithImages)} with images)  interactions ${num(s.interactions)}` +
      (s.ratings ? ` (${num(s.ratings)} rated)` : '') +
      `  tasks ${num(s.tasks)}`,
  );
  if (s.concepts) lines.push(`  concepts ${num(s.concepts)} drawn in ${s.styles.length} styles: ${s.styles.join(', ')}`);
  if (s.styles.length) {
    lines.push('  per style:');
    for (const [k, v] of Object.entries(s.perStyle)) lines.push(`    ${k.padEnd(16)} items ${num(v.items).padStart(7)}  interactions ${num(v.interactions).padStart(8)}`);
  }
  if (s.groups) {
    lines.push('  per group:');
    for (const [k, v] of Object.entries(s.perGroup)) {
      const concepts = s.concepts ? `concepts ${num(v.concepts).padStart(6)}  ` : '';
      lines.push(`    ${k.padEnd(22)} ${concepts}items ${num(v.items).padStart(7)}  interactions ${num(v.interactions).padStart(8)}`);
    }
  }
  const fmt = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => `${k} ${num(v)}`).join(', ') || 'none';
  lines.push(`  splits: users [${fmt(s.splits.users)}]  concepts [${fmt(s.splits.concepts)}]  tasks [${fmt(s.splits.tasks)}]`);
  const h = s.historyLength;
  lines.push(
    `  history length: min ${h.min}  p25 ${h.p25.toFixed(1)}  median ${h.median.toFixed(1)}  p75 ${h.p75.toFixed(1)}  max ${h.max}  mean ${h.mean.toFixed(1)}`,
  );
  const peak = Math.max(1, ...h.histogram.map((b) => b.count));
  for (const b of h.histogram) lines.push(`    ${b.range.padStart(11)} ${'#'.repeat(Math.round((40 * b.count) / peak)).padEnd(40)} ${num(b.count)}`);
  if (s.license) lines.push(`  licence: ${s.license}`);
  return lines.join('\n');
}
