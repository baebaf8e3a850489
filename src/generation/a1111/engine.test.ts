import { afterEach, describe, expect, it } from 'vitest';
import { contractReference, runGeneratorContract } from '../contract.testing.js';
import type { GeneratorCallOptionsV1, GeneratorPreferenceV1 } from '../types.js';
import { meanColour, sha256, TEST_COLOURS, generateRemote, testPreference } from '../remote/testImages.testing.js';
import { createA1111Engine, type A1111EngineSettings } from './engine.js';
import { startFakeA1111, type FakeA1111Options, type FakeA1111Server } from './fakeServer.testing.js';

const servers: FakeA1111Server[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});
async function fake(options: FakeA1111Options = {}): Promise<FakeA1111Server> {
  const s = await startFakeA1111(options);
  servers.push(s);
  return s;
}
const settings = (urls: string[], over: Partial<A1111EngineSettings> = {}): A1111EngineSettings => ({ urls, size: 64, steps: 4, pollMs: 10, ...over });
const preference = testPreference;
async function request(over: Partial<GeneratorCallOptionsV1> = {}): Promise<GeneratorCallOptionsV1> {
  return { reference: { image: await contractReference(), text: 'grinning face' }, prompt: null, preference: preference({ a: 0.5, b: 0.3, c: 0.2 }), user: 'u1', candidates: 1, seed: 11, ...over };
}
type Unit = { weight: number; image: string; module: string; model: string; enabled: boolean };
const unitsOf = (b: Record<string, unknown>) => ((b.alwayson_scripts as { controlnet?: { args: Unit[] } } | undefined)?.controlnet?.args ?? []);

runGeneratorContract('a1111 (fake AUTOMATIC1111 + ControlNet server)', {
  create: async () => createA1111Engine(settings([(await fake()).url])),
});

describe('a1111 engine against the fake server', () => {
  it('sends one IP-Adapter unit per history image (weight = share × scale), the init image, prompt, seed and strength, and records exactly what was sent', async () => {
    const f = await fake();
    const engine = createA1111Engine(settings([f.url]));
    const r = await generateRemote(engine, await request({ candidates: 2, strength: 0.7, providerOptions: { a1111: { imagePromptScale: 1 } } }));
    expect(f.img2img).toHaveLength(2);
    for (const [i, sent] of r.sent.entries()) {
      const body = f.img2img[i];
      const units = unitsOf(body);
      expect(units.map((u) => u.weight)).toEqual(sent.imagePrompts.map((p) => p.weight));
      expect(sent.imagePrompts.map((p) => [p.item, p.retrievalWeight, p.weight])).toEqual([['a', 0.5, 0.5], ['b', 0.3, 0.3], ['c', 0.2, 0.2]]);
      expect(units.every((u) => u.enabled && u.module === 'ip-adapter-auto' && u.model === 'ip-adapter_sd15_plus [32cd8f7f]')).toBe(true);
      for (const [k, u] of units.entries()) {
        const bytes = Buffer.from(u.image, 'base64');
        expect(sha256(bytes)).toBe(sent.imagePrompts[k].image.sha256);
        expect(await meanColour(bytes)).toEqual(TEST_COLOURS[sent.imagePrompts[k].item]);
      }
      expect(sha256(Buffer.from((body.init_images as string[])[0], 'base64'))).toBe(sent.reference.sha256);
      expect([body.prompt, body.seed, body.denoising_strength, body.negative_prompt]).toEqual([sent.prompt, sent.seed, sent.strength, sent.negativePrompt]);
      expect([sent.prompt, sent.seed, sent.strength]).toEqual(['grinning face, flat, pastel', 11 + i, 0.7]);
    }
    const [red, , blue] = await meanColour(r.candidates[0].png);
    expect(blue).toBeGreaterThan(red);
  });

  it('uses as many units as ControlNet allows and folds the rest by weight', async () => {
    const f = await fake({ unitCount: 2 });
    const r = await generateRemote(createA1111Engine(settings([f.url], { imagePromptScale: 0.8 })), await request());
    const units = unitsOf(f.img2img[0]);
    expect(units).toHaveLength(2);
    expect(units[0].weight).toBeCloseTo(0.625 * 0.8, 12);
    expect(units[1].weight).toBeCloseTo(0.375 * 0.8, 12);
    expect(r.selection.folded.map((x) => x.item)).toEqual(['c']);
    expect(r.warnings.join('\n')).toMatch(/limit of 2 image prompts/);
  });

  it('uniform weights are equal pooling in the same call; an empty history sends no ControlNet unit', async () => {
    const f = await fake();
    const engine = createA1111Engine(settings([f.url], { imagePromptScale: 1 }));
    await generateRemote(engine, await request({ preference: preference({ a: 0.5, b: 0.5 }, [], 'uniform') }));
    expect(unitsOf(f.img2img[0]).map((u) => u.weight)).toEqual([0.5, 0.5]);
    const r = await generateRemote(engine, await request({ preference: preference({}, []) }));
    expect(f.img2img[1].alwayson_scripts).toBeUndefined();
    expect(r.sent[0].imagePrompts).toEqual([]);
  });

  it('reports progress from /sdapi/v1/progress', async () => {
    const f = await fake({ stepMs: 15 });
    const events: string[] = [];
    await generateRemote(createA1111Engine(settings([f.url], { steps: 12 })), await request({ onProgress: (e) => events.push(`${e.stage}:${e.done}/${e.total}`) }));
    expect(events.filter((e) => e.startsWith('sampling:')).length).toBeGreaterThan(0);
    expect(events.some((e) => /^sampling:\d+\/12$/.test(e))).toBe(true);
  });

  it('interrupts on abort and on timeout', async () => {
    const f = await fake({ stepMs: 30 });
    const controller = new AbortController();
    const engine = createA1111Engine(settings([f.url], { steps: 100 }));
    const p = generateRemote(engine, await request({ abortSignal: controller.signal, onProgress: (e) => e.stage === 'sampling' && controller.abort() }));
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    expect(f.interrupts).toBe(1);
    const g = await fake({ stepMs: 30 });
    await expect(generateRemote(createA1111Engine(settings([g.url], { steps: 100, timeoutMs: 150 })), await request())).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(g.interrupts).toBe(1);
  });

  it('checks the ControlNet extension and the IP-Adapter model before generating', async () => {
    const f = await fake({ noControlNet: true });
    await expect(generateRemote(createA1111Engine(settings([f.url])), await request())).rejects.toThrow(/no ControlNet API.*install sd-webui-controlnet/);
    const g = await fake({ models: ['control_v11p_sd15_canny [d14c016b]'] });
    await expect(generateRemote(createA1111Engine(settings([g.url])), await request())).rejects.toThrow(/no ControlNet model "ip-adapter_sd15_plus" \(it has: control_v11p_sd15_canny/);
    const h = await fake();
    await expect(generateRemote(createA1111Engine(settings([h.url], { ipAdapterModule: 'ip-adapter_face_id' })), await request())).rejects.toThrow(/no ControlNet module "ip-adapter_face_id"/);
    expect([...f.img2img, ...g.img2img, ...h.img2img]).toHaveLength(0);
  });

  it('words validation (422) and server (500) errors', async () => {
    const f = await fake();
    await expect(generateRemote(createA1111Engine(settings([f.url])), await request({ providerOptions: { a1111: { steps: 2.5 } } }))).rejects.toThrow(/rejected the img2img request \(HTTP 422\): body.steps: value is not a valid integer/);
    const g = await fake({ fail: 'CUDA out of memory' });
    await expect(generateRemote(createA1111Engine(settings([g.url])), await request())).rejects.toThrow(/img2img failed \(HTTP 500\): RuntimeError: CUDA out of memory/);
  });

  it('says when a server is unreachable; a pool moves the work and spreads candidates', async () => {
    const dead = await fake();
    const deadUrl = dead.url;
    await servers.pop()!.close();
    await expect(generateRemote(createA1111Engine(settings([deadUrl])), await request())).rejects.toMatchObject({ code: 'UNREACHABLE' });
    const f = await fake({ stepMs: 5 });
    const g = await fake({ stepMs: 5 });
    const r = await generateRemote(createA1111Engine(settings([deadUrl, f.url, g.url])), await request({ candidates: 4 }));
    expect(r.sent.some((s) => s.failedOver.includes(deadUrl))).toBe(true);
    expect(r.sent.every((s) => s.server !== deadUrl)).toBe(true);
    expect(f.img2img.length).toBeGreaterThan(0);
    expect(g.img2img.length).toBeGreaterThan(0);
    expect(r.candidates.map((c) => c.seed)).toEqual([11, 12, 13, 14]);
  });

  it.each([
    ['img2img', /not JSON while trying to run img2img/],
    ['img2img-image', /image that cannot be decoded/],
    ['model_list', /without a model_list/],
  ] as const)('gives a clear error for a garbage %s answer', async (garbage, pattern) => {
    const f = await fake({ garbage });
    await expect(generateRemote(createA1111Engine(settings([f.url])), await request())).rejects.toThrow(pattern);
  });
});
