import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startFakeA1111 } from '../a1111/fakeServer.testing.js';
import { startFakeComfy } from '../comfyui/fakeServer.testing.js';
import { runRemoteSmoke } from './smoke.js';

describe('the GPU check smoke run (against the fake servers)', () => {
  it.each(['comfyui', 'a1111'] as const)('%s: writes candidates and a record of what was sent', async (name) => {
    const fake = name === 'comfyui' ? await startFakeComfy() : await startFakeA1111();
    try {
      const out = mkdtempSync(join(tmpdir(), 'ragar-smoke-'));
      const settings = name === 'comfyui' ? { urls: [fake.url], size: 64, pollMs: 20, values: { steps: 2 } } : { urls: [fake.url], size: 64, steps: 2, pollMs: 20 };
      const r = await runRemoteSmoke(name, settings, out, () => {});
      expect(r.files).toHaveLength(5);
      const record = JSON.parse(readFileSync(join(out, `${name}-record.json`), 'utf8')) as { weighting: string; sent: { imagePrompts: { item: string; weight: number }[] }[] }[];
      expect(record.map((x) => x.weighting)).toEqual(['retrieval', 'uniform']);
      expect(record[0].sent[0].imagePrompts.map((p) => p.item)).toEqual(['blue', 'red', 'green']);
    } finally {
      await fake.close();
    }
  });
});
