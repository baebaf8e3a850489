import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyEmojiHome } from '../ranking/tinyHome.testing.js';
import { MockGeneratorEngine } from '../generation/mockEngine.js';
import { createRagar } from '../index.js';

// A tiny emoji-styles home with the real embedded encoders (the library's defaults) and a quickly trained ranker.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-api-'));

beforeAll(async () => {
  await buildTinyEmojiHome(home, { users: 16, maxConcepts: 24, historyMax: 10 });
}, 300_000);

afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe('the README program', () => {
  it('runs as written against a tiny data home', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const match = /<!-- readme-program -->\n```ts\n([\s\S]*?)\n```/.exec(readme);
    expect(match, 'README.md has the marked program').not.toBeNull();
    const program = match![1];
    expect(program.split('\n').length).toBeLessThanOrEqual(20);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-readme-'));
    try {
      fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
      fs.writeFileSync(path.join(dir, 'program.ts'), program.replace("from 'ragar'", `from ${JSON.stringify(path.join(root, 'src/index.ts'))}`));
      const r = spawnSync(path.join(root, 'node_modules/.bin/tsx'), ['program.ts', home], { cwd: dir, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^weights: .+\[.+\] \d\.\d\d/m);
      expect(r.stdout).toMatch(/^chosen [1-4] of 4; ranks \d+ of \d+ items$/m);
      const png = fs.readFileSync(path.join(dir, 'personalized.png'));
      expect(png.subarray(1, 4).toString()).toBe('PNG');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createRagar', () => {
  it('lists, retrieves, ranks and personalises with any v1 engine, a file reference and the non-personalised preference', async () => {
    const ragar = createRagar({ home });
    const engine = new MockGeneratorEngine({ provider: 'mock' });
    try {
      expect(ragar.datasets().map((d) => d.name)).toEqual(['emoji-styles']);
      const user = ragar.users()[0].externalId;
      const item = ragar.items().find((i) => i.style === 'twemoji')!;
      const pref = await ragar.retrieve({ user, reference: item.externalId });
      expect(pref.history.reduce((s, h) => s + h.weight, 0)).toBeCloseTo(1, 6);
      const uniform = await ragar.retrieve({ user, reference: item.externalId, weighting: 'uniform' });
      expect(new Set(uniform.history.map((h) => h.weight.toFixed(9))).size).toBe(1);

      const out = await ragar.personalize({ user, reference: item.externalId, engine, candidates: 3, seed: 4, providerOptions: { mock: { any: 1 } } });
      expect(out.candidates.map((c) => c.seed)).toEqual([4, 5, 6]);
      expect(out.scores.filter((s) => s.chosen)).toHaveLength(1);
      expect(out.image.equals(out.candidates[out.scores.findIndex((s) => s.chosen)].png)).toBe(true);
      expect(out.weights.reduce((s, w) => s + w.weight, 0)).toBeCloseTo(1, 5);
      expect(engine.calls[0].preference.history.length).toBeGreaterThan(0);
      expect(engine.calls[0].preference.history[0].image?.()).toBeInstanceOf(Buffer);
      expect(engine.calls[0].providerOptions?.mock).toEqual({ any: 1 });
      expect(engine.calls[0].prompt).toContain(item.text);
      expect(JSON.parse(JSON.stringify(out.record))).toMatchObject({ user, reference: { item: item.externalId }, engine: { provider: 'mock' } });

      await ragar.personalize({ user, reference: item.externalId, engine, candidates: 1, weighting: 'none' });
      expect(engine.calls[1].preference).toEqual({ weighting: 'retrieval', history: [], keywords: [] });

      const png = await sharp({ create: { width: 40, height: 30, channels: 4, background: '#3366ffcc' } }).png().toBuffer();
      const fromFile = await ragar.personalize({ user, reference: { image: png, text: 'a blue square' }, engine, candidates: 2 });
      expect(fromFile.candidates).toHaveLength(2);
      await expect(ragar.personalize({ user, reference: { image: Buffer.from('nope'), text: 'x' }, engine })).rejects.toMatchObject({ code: 'BAD_IMAGE' });

      const scores = await ragar.rank({ user, images: [out.image, png], text: 'a face' });
      expect(scores).toHaveLength(2);
      for (const s of scores) {
        expect(Number.isFinite(s.score)).toBe(true);
        expect(s.rankAmongItems).toBeGreaterThanOrEqual(1);
        expect(s.rankAmongItems).toBeLessThanOrEqual(s.items + 1);
      }
      await expect(ragar.personalize({ user: 'nobody', reference: item.externalId, engine })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      await ragar.close();
      await ragar.close();
    }
    expect(() => ragar.users()).toThrow(/closed/);
  });
});
