import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RagarError } from '../../util/errors.js';
import { reportImageFiles, unsafeRelativePath, validateReport, type EvalReport } from './types.js';
import { writeFileAtomic, writeReport } from './write.js';

function report(): EvalReport {
  return {
    title: 'Eval',
    dataset: 'emoji-styles',
    split: 'test',
    createdAt: '2024-06-01T00:00:00Z',
    command: 'ragar eval',
    machine: { cores: 2 },
    metrics: [{ key: 'cis', label: 'CIS', extractor: 'MobileNetV2', higherIsBetter: true, format: 'percent' }],
    methods: [
      { name: 'ours', label: 'Ours', description: 'd', values: { cis: 0.7 }, n: 1 },
      { name: 'base', label: 'Base', description: 'd', values: { cis: 0.5 }, n: 1 },
    ],
    intervals: [{ metric: 'cis', a: 'ours', b: 'base', meanA: 0.7, meanB: 0.5, diff: 0.2, lo: 0.1, hi: 0.3, level: 0.95, n: 1, pValue: 0.01 }],
    ablations: [{ parameter: 'k', settings: [{ value: '1', values: { cis: 0.6 }, n: 1 }, { value: '4', isDefault: true, values: { cis: 0.7 }, n: 1 }] }],
    tasks: [
      {
        id: 't1',
        user: 'u1',
        reference: { file: 'images/t1-ref.png', caption: 'ref' },
        history: [{ file: 'images/t1-h1.png', caption: 'h', weight: 1 }],
        outputs: { ours: { file: 'images/ours/t1.png', caption: 'ours' } },
        target: { file: 'images/t1-target.png', caption: 'target' },
      },
    ],
    notes: [],
  };
}

const images = () => new Map(reportImageFiles(report()).map((f, i) => [f, Buffer.from([i, 1, 2, 3])]));

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ragar-report-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** All files under `dir`, relative with forward slashes, sorted. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

describe('writeReport', () => {
  it('writes the images and the four report files into a new folder, with no temp files left', async () => {
    const dir = path.join(tmp, 'run', 'eval');
    const out = await writeReport(dir, report(), images());
    expect(out.dir).toBe(dir);
    expect(await listFiles(dir)).toEqual(
      ['images/ours/t1.png', 'images/t1-h1.png', 'images/t1-ref.png', 'images/t1-target.png', 'intervals.csv', 'metrics.csv', 'metrics.json', 'report.html'].sort(),
    );
    expect(out.images.map((p) => path.relative(dir, p)).sort()).toEqual(['images/ours/t1.png', 'images/t1-h1.png', 'images/t1-ref.png', 'images/t1-target.png']);
    expect([...(await readFile(path.join(dir, 'images/t1-h1.png')))]).toEqual([1, 1, 2, 3]);
    const json = JSON.parse(await readFile(out.json, 'utf8'));
    expect(json.methods.ours).toEqual({ cis: 0.7, n: 1 });
    expect(await readFile(out.csv, 'utf8')).toMatch(/^method,n,cis\r\nours,1,0.7\r\n/);
    expect(await readFile(out.html, 'utf8')).toContain('src="images/ours/t1.png"');
    expect(await readFile(out.intervalsCsv, 'utf8')).toContain('cis,ours,base,');
  });

  it('overwrites an existing report in place', async () => {
    await writeReport(tmp, report(), images());
    const r = report();
    r.methods[0].values.cis = 0.9;
    await writeReport(tmp, r, new Map(), {}); // images already on disk
    expect(JSON.parse(await readFile(path.join(tmp, 'metrics.json'), 'utf8')).methods.ours.cis).toBe(0.9);
    expect((await readdir(tmp)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('rejects image paths that escape the folder, before writing anything', async () => {
    const dir = path.join(tmp, 'out');
    for (const bad of ['../evil.png', 'images/../../evil.png', '/etc/evil.png', 'C:/evil.png', 'images\\..\\evil.png', '', './a.png', 'a//b.png', 'report.html']) {
      const m = images();
      m.set(bad, Buffer.from([0]));
      await expect(writeReport(dir, report(), m)).rejects.toThrow(RagarError);
    }
    await expect(writeReport(dir, report(), new Map([['../x.png', Buffer.from([0])]]))).rejects.toThrow(/"\.\.\/x\.png" has a "\.\." segment/);
    expect((await readdir(tmp)).sort()).toEqual([]);
  });

  it('refuses a report whose images are missing unless allowed', async () => {
    const m = images();
    m.delete('images/t1-target.png');
    await expect(writeReport(tmp, report(), m)).rejects.toThrow(/1 image\(s\).*images\/t1-target\.png/);
    expect(await readdir(tmp)).toEqual([]);
    await writeReport(tmp, report(), m, { allowMissingImages: true });
    expect(await readdir(tmp)).toContain('report.html');
  });

  it('accepts images that already exist in the folder', async () => {
    await mkdir(path.join(tmp, 'images'), { recursive: true });
    await writeFile(path.join(tmp, 'images/t1-target.png'), Buffer.from([9]));
    const m = images();
    m.delete('images/t1-target.png');
    await writeReport(tmp, report(), m);
    expect([...(await readFile(path.join(tmp, 'images/t1-target.png')))]).toEqual([9]);
  });

  it('refuses an inconsistent report with a clear message', async () => {
    const r = report();
    r.tasks[0].outputs.ghost = { file: 'images/g.png', caption: '' };
    await expect(writeReport(tmp, r, images())).rejects.toThrow(/output for unknown method "ghost"/);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file and leaves no temporary file behind, also on failure', async () => {
    const f = path.join(tmp, 'a.txt');
    await writeFileAtomic(f, 'one');
    await writeFileAtomic(f, 'two');
    expect(await readFile(f, 'utf8')).toBe('two');
    await expect(writeFileAtomic(path.join(tmp, 'missing-dir', 'b.txt'), 'x')).rejects.toThrow();
    expect(await readdir(tmp)).toEqual(['a.txt']);
  });
});

describe('validateReport and unsafeRelativePath', () => {
  it('accepts a consistent report', () => {
    expect(() => validateReport(report())).not.toThrow();
  });

  it.each([
    ['duplicate metric key', (r: EvalReport) => r.metrics.push({ ...r.metrics[0] }), /duplicate metric key "cis"/],
    ['reserved key n', (r: EvalReport) => (r.metrics[0].key = 'n'), /"n" is reserved/],
    ['bad format', (r: EvalReport) => ((r.metrics[0] as { format: string }).format = 'pct'), /format "pct"/],
    ['duplicate method', (r: EvalReport) => (r.methods[1].name = 'ours'), /duplicate method name "ours"/],
    ['unknown value key', (r: EvalReport) => (r.methods[0].values.xyz = 1), /unknown metric "xyz"/],
    ['unknown interval metric', (r: EvalReport) => (r.intervals[0].metric = 'q'), /unknown metric "q"/],
    ['two defaults', (r: EvalReport) => (r.ablations[0].settings[0].isDefault = true), /marks 2 settings as default/],
    ['duplicate setting', (r: EvalReport) => (r.ablations[0].settings[1].value = '1'), /setting "1" twice/],
    ['duplicate task', (r: EvalReport) => r.tasks.push({ ...r.tasks[0] }), /duplicate task id "t1"/],
    ['escaping image', (r: EvalReport) => (r.tasks[0].reference.file = '../x.png'), /reference image path "\.\.\/x\.png" has a "\.\." segment/],
  ])('refuses %s', (_name, mutate, message) => {
    const r = report();
    mutate(r);
    expect(() => validateReport(r)).toThrow(RagarError);
    expect(() => validateReport(r)).toThrow(message);
  });

  it('classifies paths', () => {
    expect(unsafeRelativePath('images/a b.png')).toBeNull();
    expect(unsafeRelativePath('a..b.png')).toBeNull();
    expect(unsafeRelativePath('/abs')).toBe('is absolute');
    expect(unsafeRelativePath('x/\u0000')).toBe('contains a control character');
  });
});
