import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunCache, safeName, type CachedResult } from './evalCache.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-evalcache-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const result = (task: string, x = 1): CachedResult => ({
  task,
  metricsKey: 'm1',
  metrics: { style: 1, cs: NaN, cis: 87.5 * x },
  image: Float32Array.from([0.5, -0.25, x]),
  style: Float32Array.from([1, 2]),
  clipImage: null,
  seconds: 0.25,
  selection: { chosen: 1, candidates: [{ seed: 3, rankerScore: 1.5, semanticScore: 0.9 }, { seed: 4, rankerScore: 2, semanticScore: 0.8 }] },
});

describe('RunCache', () => {
  it('round-trips results (NaN stays NaN, vectors bit-exact) and reloads them from disk', async () => {
    const cache = RunCache.open(root, 'k1', { method: 'ragar' });
    await cache.put(result('u1/t0'), Buffer.from('png-0'));
    await cache.put(result('u1/t1', 2), Buffer.from('png-1'));
    const again = RunCache.open(root, 'k1', { method: 'ragar' });
    expect(again.size).toBe(2);
    const r = again.get('u1/t1')!;
    expect(r.metrics.cis).toBe(175);
    expect(Number.isNaN(r.metrics.cs)).toBe(true);
    expect([...r.image]).toEqual([0.5, -0.25, 2]);
    expect([...r.style!]).toEqual([1, 2]);
    expect(r.selection?.chosen).toBe(1);
    expect(again.readImage('u1/t0').toString()).toBe('png-0');
    expect(JSON.parse(fs.readFileSync(path.join(root, 'k1', 'settings.json'), 'utf8'))).toEqual({ method: 'ragar' });
  });

  it('cuts off a partial last line left by an interrupted append, and ignores lines whose image is gone', async () => {
    const cache = RunCache.open(root, 'k2', {});
    await cache.put(result('a'), Buffer.from('a'));
    await cache.put(result('b'), Buffer.from('b'));
    const file = path.join(root, 'k2', 'results.jsonl');
    fs.appendFileSync(file, '{"task":"c","metricsKey":"m1","metr');
    fs.rmSync(path.join(root, 'k2', 'images', 'b.png'));
    const again = RunCache.open(root, 'k2', {});
    expect(again.has('a')).toBe(true);
    expect(again.has('b')).toBe(false);
    expect(again.has('c')).toBe(false);
    expect(fs.readFileSync(file, 'utf8').endsWith('\n')).toBe(true);
    // the next append starts on a clean line
    await again.put(result('c'), Buffer.from('c'));
    expect(RunCache.open(root, 'k2', {}).has('c')).toBe(true);
  });

  it('rescoring appends a new line that replaces the old scores and keeps the image', async () => {
    const cache = RunCache.open(root, 'k3', {});
    await cache.put(result('t'), Buffer.from('img'));
    await cache.put({ ...result('t'), metricsKey: 'm2', metrics: { style: 0 } }, null);
    const again = RunCache.open(root, 'k3', {});
    expect(again.get('t')!.metricsKey).toBe('m2');
    expect(again.get('t')!.metrics).toEqual({ style: 0 });
    expect(again.readImage('t').toString()).toBe('img');
    await expect(again.put(result('never-written'), null)).rejects.toThrow(/image is missing/);
  });

  it('refuses a key that is not a plain name', () => {
    expect(() => RunCache.open(root, '../x', {})).toThrow(/plain name/);
  });

  it('makes task ids safe file names without collisions', () => {
    expect(safeName('t001')).toBe('t001');
    expect(safeName('u1/t0')).toMatch(/^u1_t0-[0-9a-f]+$/);
    expect(safeName('u1/t0')).not.toBe(safeName('u1_t0'));
    expect(safeName('..')).not.toMatch(/^\./);
  });
});
