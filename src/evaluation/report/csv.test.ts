import { describe, expect, it } from 'vitest';
import { RagarError } from '../../util/errors.js';
import { csvField, csvRows, intervalsCsv, metricsCsv } from './csv.js';
import type { EvalReport } from './types.js';

function report(): EvalReport {
  return {
    title: 't',
    dataset: 'emoji-styles',
    split: 'test',
    createdAt: '2024-06-01T00:00:00Z',
    command: 'ragar eval',
    machine: {},
    metrics: [
      { key: 'cis', label: 'CIS', extractor: 'MobileNetV2', higherIsBetter: true, format: 'percent' },
      { key: 'fid', label: 'FID', extractor: 'MobileNetV2', higherIsBetter: false, format: 'number' },
    ],
    methods: [
      { name: 'ours', label: 'Ours', description: '', values: { cis: 0.5, fid: 12.25 }, n: 3 },
      { name: 'a,"quoted"\nname', label: 'x', description: '', values: { cis: Number.NaN }, n: 3 },
    ],
    intervals: [{ metric: 'cis', a: 'ours', b: 'a,"quoted"\nname', meanA: 0.5, meanB: 0.4, diff: 0.1, lo: 0.05, hi: 0.15, level: 0.95, n: 3, pValue: 0.002 }],
    ablations: [{ parameter: 'k', settings: [{ value: '1', values: { cis: 0.25, fid: 3 }, n: 3 }, { value: '8', isDefault: true, values: { cis: 0.5 }, n: 3 }] }],
    tasks: [],
    notes: [],
  };
}

describe('csvField', () => {
  it('quotes per RFC 4180 only when needed', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    expect(csvField('')).toBe('');
    expect(csvField(0.125)).toBe('0.125');
    expect(csvField(-3)).toBe('-3');
    expect(csvField(Number.NaN)).toBe('');
    expect(csvField(Infinity)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField(null)).toBe('');
  });

  it('joins rows with CRLF', () => {
    expect(csvRows([['a', 'b'], [1, 'x,y']])).toBe('a,b\r\n1,"x,y"\r\n');
  });
});

describe('metricsCsv', () => {
  it('writes one row per method, then the ablation rows', () => {
    expect(metricsCsv(report())).toBe(
      'method,n,cis,fid\r\n' +
        'ours,3,0.5,12.25\r\n' +
        '"a,""quoted""\nname",3,,\r\n' +
        'ablation:k=1,3,0.25,3\r\n' +
        'ablation:k=8,3,0.5,\r\n',
    );
  });

  it('refuses an inconsistent report', () => {
    const r = report();
    r.methods[0].values.unknown = 1;
    expect(() => metricsCsv(r)).toThrow(RagarError);
    expect(() => metricsCsv(r)).toThrow(/unknown metric "unknown"/);
  });
});

describe('intervalsCsv', () => {
  it('writes one row per interval with quoted names', () => {
    expect(intervalsCsv(report())).toBe(
      'metric,a,b,meanA,meanB,diff,lo,hi,level,n,pValue\r\n' + 'cis,ours,"a,""quoted""\nname",0.5,0.4,0.1,0.05,0.15,0.95,3,0.002\r\n',
    );
  });
});
