import { describe, expect, it } from 'vitest';
import { RagarError } from '../../util/errors.js';
import { comparisonKey, metricsJson } from './json.js';
import type { EvalReport } from './types.js';

function report(): EvalReport {
  return {
    title: 'Eval',
    dataset: 'emoji-styles',
    split: 'test',
    createdAt: '2024-06-01T00:00:00Z',
    command: 'ragar eval --seed 1',
    machine: { cpu: 'x', cores: 2, nested: { bad: Number.NaN, inf: -Infinity, ok: 1 } },
    metrics: [
      { key: 'cis', label: 'CIS', extractor: 'MobileNetV2 (flatten_1)', higherIsBetter: true, format: 'percent' },
      { key: 'ssim', label: 'SSIM', extractor: 'SSIM (luma)', higherIsBetter: true, format: 'number', description: 'to the target' },
    ],
    methods: [
      { name: 'retrieval+rank', label: 'RAGAR', description: 'd', values: { cis: 0.71, ssim: Number.NaN }, n: 40 },
      { name: 'uniform', label: 'Uniform', description: 'd', values: { cis: 0.6 }, n: 40 },
    ],
    intervals: [
      { metric: 'cis', a: 'retrieval+rank', b: 'uniform', meanA: 0.71, meanB: 0.6, diff: 0.11, lo: 0.05, hi: 0.17, level: 0.95, n: 40, pValue: 0.001 },
      { metric: 'ssim', a: 'retrieval+rank', b: 'uniform', meanA: 0.4, meanB: 0.4, diff: 0, lo: Infinity, hi: Number.NaN, level: 0.95, n: 40, pValue: 1 },
    ],
    ablations: [
      {
        parameter: 'k',
        settings: [
          { value: '16', values: { cis: 0.7 }, n: 40 },
          { value: '2', isDefault: true, values: { cis: 0.71, ssim: 0.3 }, n: 40 },
        ],
      },
    ],
    tasks: [],
    notes: ['a note'],
    extra: { big: 10n as unknown as number, nan: Number.NaN },
  };
}

describe('metricsJson', () => {
  it('has the contracted top-level shape', () => {
    const j = metricsJson(report());
    expect(j.methods).toEqual({
      'retrieval+rank': { cis: 0.71, ssim: null, n: 40 },
      uniform: { cis: 0.6, ssim: null, n: 40 },
    });
    expect(Object.keys(j.intervals)).toEqual([comparisonKey('retrieval+rank', 'uniform')]);
    expect(j.intervals['retrieval+rank vs uniform'].cis).toEqual({ meanA: 0.71, meanB: 0.6, diff: 0.11, lo: 0.05, hi: 0.17, level: 0.95, n: 40, pValue: 0.001 });
    expect(j.ablations.k.map((s) => s.value)).toEqual(['16', '2']); // display order kept
    expect(j.ablations.k[1]).toEqual({ value: '2', isDefault: true, n: 40, values: { cis: 0.71, ssim: 0.3 } });
    expect(j.ablations.k[0].isDefault).toBe(false);
    expect(j.metrics.map((m) => m.key)).toEqual(['cis', 'ssim']);
    expect(j).toMatchObject({ title: 'Eval', dataset: 'emoji-styles', split: 'test', createdAt: '2024-06-01T00:00:00Z', command: 'ragar eval --seed 1', notes: ['a note'] });
  });

  it('turns NaN and ±Infinity into null everywhere and survives JSON round-trips', () => {
    const j = metricsJson(report());
    expect(j.intervals['retrieval+rank vs uniform'].ssim).toMatchObject({ diff: 0, lo: null, hi: null });
    expect(j.machine).toEqual({ cpu: 'x', cores: 2, nested: { bad: null, inf: null, ok: 1 } });
    expect(j.extra).toEqual({ big: '10', nan: null });
    const text = JSON.stringify(j);
    expect(text).not.toMatch(/NaN|Infinity/);
    expect(JSON.parse(text)).toEqual(j);
  });

  it('does not share objects with the report', () => {
    const r = report();
    const j = metricsJson(r);
    j.metrics[0].label = 'changed';
    expect(r.metrics[0].label).toBe('CIS');
  });

  it('refuses duplicate comparisons and unknown methods', () => {
    const r = report();
    r.intervals.push({ ...r.intervals[0] });
    expect(() => metricsJson(r)).toThrow(/listed twice/);
    const s = report();
    s.intervals[0].b = 'nobody';
    expect(() => metricsJson(s)).toThrow(RagarError);
    expect(() => metricsJson(s)).toThrow(/unknown method "nobody"/);
  });
});
