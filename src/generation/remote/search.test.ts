import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractReference } from '../contract.testing.js';
import { createComfyEngine } from '../comfyui/engine.js';
import { startFakeComfy, type FakeComfyServer } from '../comfyui/fakeServer.testing.js';
import { meanColour, testPreference } from './testImages.testing.js';
import { searchForRanker } from './search.js';

let fake: FakeComfyServer;
beforeAll(async () => {
  fake = await startFakeComfy();
});
afterAll(async () => fake.close());

describe('rank-task search on a black-box engine', () => {
  it('varies strength, image-prompt scale and seeds over rounds, keeps the best-scored image and records every call as sent', async () => {
    const engine = createComfyEngine({ urls: [fake.url], size: 64, pollMs: 20, values: { steps: 2 } });
    // a "ranker" that likes blue (history item a is blue)
    const score = async (pngs: Buffer[]) => Promise.all(pngs.map(async (p) => { const [r, , b] = await meanColour(p); return (b - r) / 255; }));
    const request = { reference: { image: await contractReference(), text: 'grinning face' }, prompt: null, preference: testPreference({ a: 1 }, []), user: 'u1', candidates: 1, seed: 100 };
    const r = await searchForRanker(engine, request, score, { rounds: 3, perCall: 2, strength: 0.4, imagePromptScale: 0.5 });
    expect(r.calls[0]).toMatchObject({ round: 0, strength: 0.4, imagePromptScale: 0.5, seeds: [100, 101] });
    expect(r.calls.length).toBe(fake.prompts.length / 2);
    expect(r.images).toBe(fake.prompts.length);
    // every recorded setting is what the server received
    const received = fake.prompts.map((p) => Object.values(p.prompt).find((n) => n.class_type === 'KSampler')!.inputs.denoise);
    expect(received).toEqual(r.calls.flatMap((c) => c.seeds.map(() => c.strength)));
    const seeds = r.calls.flatMap((c) => c.seeds);
    expect(new Set(seeds).size).toBe(seeds.length);
    expect(r.best.score).toBe(Math.max(...r.calls.flatMap((c) => c.scores)));
    expect(r.best.score).toBeGreaterThan(Math.max(...r.calls[0].scores));
    expect(r.best.strength).toBeGreaterThan(0.4); // pulling harder towards the blue image prompt ranks higher
    expect(await score([r.best.png])).toEqual([r.best.score]);
    // the winning call's whole result comes back, with the record of what was sent
    expect(r.bestResult.candidates.map((c) => c.seed)).toEqual(r.calls[r.best.call].seeds);
    expect((r.bestResult.providerMetadata!.comfyui.sent as { strength: number }[]).every((s) => s.strength === r.best.strength)).toBe(true);
  });
});
