import { describe, expect, it } from 'vitest';
import { lineProgress } from './progress.js';

describe('lineProgress (stderr not a terminal)', () => {
  it('prints a start line, a throttled line with rate and time left, and a finish line', () => {
    const lines: string[] = [];
    let t = 0;
    const p = lineProgress((l) => lines.push(l), { intervalMs: 10_000, now: () => t });
    p.start('image embeddings', 1000);
    t = 4_000;
    p.update(100); // within the interval: silent
    t = 10_000;
    p.update(250);
    t = 12_000;
    p.update(300); // silent again
    t = 40_000;
    p.update(1000);
    p.stop();
    p.stop(); // once only
    expect(lines).toEqual([
      'image embeddings: 0/1000',
      'image embeddings: 250/1000 (25.0%) after 10.0 s, 25/s, about 30.0 s left',
      'image embeddings: 1000/1000 (100.0%) after 40.0 s, 25/s',
      'image embeddings: 1000 done in 40.0 s',
    ]);
  });

  it('reports slow phases (epochs) with minutes and fractional rates', () => {
    const lines: string[] = [];
    let t = 0;
    const p = lineProgress((l) => lines.push(l), { now: () => t });
    p.start('ranker training', 10);
    t = 75_000;
    p.update(1);
    expect(lines[1]).toBe('ranker training: 1/10 (10.0%) after 1 min 15 s, 0.01/s, about 11 min 15 s left');
  });
});
