import { afterEach, describe, expect, it } from 'vitest';
import { contractPreference, contractReference, runGeneratorContract } from '../contract.testing.js';
import type { GeneratorCallOptionsV1, GeneratorPreferenceV1 } from '../types.js';
import { meanColour, sha256, TEST_COLOURS, generateRemote, testPreference } from '../remote/testImages.testing.js';
import { createComfyEngine, type ComfyEngineSettings } from './engine.js';
import { startFakeComfy, type FakeComfyOptions, type FakeComfyServer } from './fakeServer.testing.js';

const servers: FakeComfyServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});
async function fake(options: FakeComfyOptions = {}): Promise<FakeComfyServer> {
  const s = await startFakeComfy(options);
  servers.push(s);
  return s;
}
const settings = (urls: string[], over: Partial<ComfyEngineSettings> = {}): ComfyEngineSettings => ({ urls, size: 64, pollMs: 20, values: { steps: 4 }, ...over });
const preference = testPreference;
async function request(over: Partial<GeneratorCallOptionsV1> = {}): Promise<GeneratorCallOptionsV1> {
  return { reference: { image: await contractReference(), text: 'grinning face' }, prompt: null, preference: preference({ a: 0.5, b: 0.3, c: 0.2 }), user: 'u1', candidates: 1, seed: 11, ...over };
}
type Wf = FakeComfyServer['prompts'][number]['prompt'];
const nodesOf = (wf: Wf, cls: string) => Object.entries(wf).filter(([, n]) => n.class_type === cls);

// The fake server is started lazily per engine so that the contract suite gets a fresh one each time.
runGeneratorContract('comfyui (fake ComfyUI server)', {
  create: async () => createComfyEngine(settings([(await fake()).url])),
});

describe('comfyui engine against the fake server', () => {
  it('sends the retrieval weights as IPAdapterEncoder weights, the history images, prompt, seed and strength, and records exactly what was sent', async () => {
    const f = await fake();
    const engine = createComfyEngine(settings([f.url], { maxImagePrompts: 2 }));
    const r = await generateRemote(engine, await request({ candidates: 2, strength: 0.7, providerOptions: { comfyui: { imagePromptScale: 0.9 } } }));
    expect(f.prompts).toHaveLength(2);
    for (const [i, sent] of r.sent.entries()) {
      const wf = f.prompts[i].prompt;
      const encoders = nodesOf(wf, 'IPAdapterEncoder');
      // top-2 by weight (a 0.5, b 0.3), c's 0.2 folded in proportion: 0.625 / 0.375
      expect(sent.imagePrompts.map((p) => [p.item, p.retrievalWeight])).toEqual([['a', 0.5], ['b', 0.3]]);
      expect(sent.imagePrompts[0].weight).toBeCloseTo(0.625, 12);
      expect(sent.imagePrompts[1].weight).toBeCloseTo(0.375, 12);
      expect(encoders.map(([, n]) => n.inputs.weight)).toEqual(sent.imagePrompts.map((p) => p.weight));
      for (const [k, [, enc]] of encoders.entries()) {
        const load = wf[(enc.inputs.image as [string, number])[0]];
        expect(load.inputs.image).toBe(sent.imagePrompts[k].image.name);
        const bytes = f.uploads.get(String(load.inputs.image))!;
        expect(sha256(bytes)).toBe(sent.imagePrompts[k].image.sha256);
        expect(await meanColour(bytes)).toEqual(TEST_COLOURS[sent.imagePrompts[k].item]);
      }
      const [, ks] = nodesOf(wf, 'KSampler')[0];
      expect([ks.inputs.seed, ks.inputs.denoise]).toEqual([sent.seed, sent.strength]);
      expect([sent.seed, sent.strength]).toEqual([11 + i, 0.7]);
      const texts = nodesOf(wf, 'CLIPTextEncode').map(([, n]) => n.inputs.text);
      expect(texts).toContain(sent.prompt);
      expect(sent.prompt).toBe('grinning face, flat, pastel');
      expect(nodesOf(wf, 'IPAdapterEmbeds')[0][1].inputs.weight).toBe(0.9);
      expect(sent.imagePromptScale).toBe(0.9);
      const refLoad = nodesOf(wf, 'LoadImage').find(([, n]) => n.inputs.image === sent.reference.name);
      expect(refLoad).toBeDefined();
      expect(sha256(f.uploads.get(sent.reference.name!)!)).toBe(sent.reference.sha256);
      expect(sent.jobId).toMatch(/[0-9a-f-]{36}/);
    }
    expect(r.selection.folded).toEqual([{ item: 'c', retrievalWeight: 0.2 }]);
    expect(r.warnings.join('\n')).toMatch(/folded.*c/);
    // the heavier image prompt (a, blue) dominates the output's colour
    const [red, , blue] = await meanColour(r.candidates[0].png);
    expect(blue).toBeGreaterThan(red);
  });

  it('uniform weights send equal weights in the same call (equal pooling); a changed weight changes the image', async () => {
    const f = await fake();
    const engine = createComfyEngine(settings([f.url]));
    const u = await generateRemote(engine, await request({ preference: preference({ a: 0.5, b: 0.5 }, [], 'uniform') }));
    expect(u.sent[0].imagePrompts.map((p) => p.weight)).toEqual([0.5, 0.5]);
    const w = await generateRemote(engine, await request({ preference: preference({ a: 0.9, b: 0.1 }, []) }));
    expect(w.sent[0].imagePrompts.map((p) => p.weight)).toEqual([0.9, 0.1]);
    expect(Object.keys(f.prompts[0].prompt).sort()).toEqual(Object.keys(f.prompts[1].prompt).sort());
    expect(sha256(u.candidates[0].png)).not.toBe(sha256(w.candidates[0].png));
  });

  it('sums more than five image prompts through a chain of IPAdapterCombineEmbeds (add)', async () => {
    const f = await fake();
    const engine = createComfyEngine(settings([f.url]));
    const weights = { a: 0.3, b: 0.2, c: 0.15, d: 0.15, e: 0.1, f: 0.05, g: 0.05 };
    const r = await generateRemote(engine, await request({ preference: preference(weights) }));
    const wf = f.prompts[0].prompt;
    expect(nodesOf(wf, 'IPAdapterEncoder')).toHaveLength(7);
    const combines = nodesOf(wf, 'IPAdapterCombineEmbeds');
    expect(combines).toHaveLength(3);
    expect(combines.every(([, n]) => n.inputs.method === 'add')).toBe(true);
    expect(r.sent[0].imagePrompts.map((p) => p.weight)).toEqual(Object.values(weights));
  });

  it('bypasses the IPAdapter apply node for a non-personalised request (empty history)', async () => {
    const f = await fake();
    const engine = createComfyEngine(settings([f.url]));
    const r = await generateRemote(engine, await request({ preference: preference({}, []) }));
    const wf = f.prompts[0].prompt;
    expect(nodesOf(wf, 'IPAdapterEmbeds')).toHaveLength(0);
    expect(nodesOf(wf, 'IPAdapterEncoder')).toHaveLength(0);
    expect(r.sent[0].imagePrompts).toEqual([]);
    expect(r.sent[0].prompt).toBe('grinning face');
  });

  it('reports sampling progress from the websocket, and works by polling when there is no websocket', async () => {
    const f = await fake();
    const events: string[] = [];
    await generateRemote(createComfyEngine(settings([f.url])), await request({ onProgress: (e) => events.push(`${e.stage}:${e.done}/${e.total}`) }));
    expect(events).toEqual(expect.arrayContaining(['queue:0/1', 'sampling:1/4', 'sampling:4/4', 'candidates:1/1']));
    const g = await fake({ noWebsocket: true });
    const r = await generateRemote(createComfyEngine(settings([g.url])), await request());
    expect(r.candidates).toHaveLength(1);
    expect(r.warnings.join('\n')).toMatch(/no websocket/);
  });

  it('cancels on abort: interrupts the running prompt and deletes the queued one', async () => {
    const f = await fake({ stepMs: 40 });
    const engine = createComfyEngine(settings([f.url], { concurrencyPerServer: 2, values: { steps: 50 } }));
    const controller = new AbortController();
    const p = generateRemote(engine, await request({ candidates: 2, abortSignal: controller.signal, onProgress: (e) => e.stage === 'sampling' && f.prompts.length === 2 && controller.abort() }));
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    expect(f.interrupts).toHaveLength(1);
    expect(JSON.parse(f.interrupts[0].body).prompt_id).toBeTypeOf('string');
    expect(f.queueDeletes).toHaveLength(1);
  });

  it('times out a prompt that takes too long, and cancels it', async () => {
    const f = await fake({ stepMs: 50 });
    const engine = createComfyEngine(settings([f.url], { timeoutMs: 150, values: { steps: 40 } }));
    await expect(generateRemote(engine, await request())).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/did not finish within 150 ms/) });
    expect(f.interrupts).toHaveLength(1);
  });

  it('names a missing node type (object_info) and a checkpoint the server lacks, before queueing', async () => {
    const f = await fake({ missingNodes: ['IPAdapterEncoder', 'IPAdapterEmbeds'] });
    await expect(generateRemote(createComfyEngine(settings([f.url])), await request())).rejects.toThrow(/lacks node type\(s\) .*IPAdapterEncoder.*ComfyUI_IPAdapter_plus/);
    const g = await fake();
    await expect(generateRemote(createComfyEngine(settings([g.url], { values: { steps: 4, checkpoint: 'missing.safetensors' } })), await request())).rejects.toThrow(/ckpt_name: "missing.safetensors" is not on the server \(it has: v1-5-pruned-emaonly.safetensors/);
    expect(f.prompts).toHaveLength(0);
    expect(g.prompts).toHaveLength(0);
  });

  it('words a rejected prompt with its node errors, and an execution error with the exception', async () => {
    const f = await fake();
    await expect(generateRemote(createComfyEngine(settings([f.url], { values: { steps: 4, cfg: 500 } })), await request())).rejects.toThrow(/rejected the prompt \(HTTP 400\): Prompt outputs failed validation; node 8 \(KSampler\): Value 500 bigger than max of 100/);
    const g = await fake({ failExecution: 'CUDA out of memory. Tried to allocate 2.00 GiB' });
    await expect(generateRemote(createComfyEngine(settings([g.url])), await request())).rejects.toThrow(/failed in node 8 \(KSampler\): RuntimeError: CUDA out of memory/);
  });

  it('says when a server is unreachable, and a pool moves the work to the servers that answer', async () => {
    const dead = await fake();
    const deadUrl = dead.url;
    await servers.pop()!.close();
    await expect(generateRemote(createComfyEngine(settings([deadUrl])), await request())).rejects.toMatchObject({ code: 'UNREACHABLE', message: expect.stringMatching(/unreachable/) });
    const f = await fake();
    const r = await generateRemote(createComfyEngine(settings([deadUrl, f.url])), await request({ candidates: 2 }));
    expect(r.candidates.map((c) => c.seed)).toEqual([11, 12]);
    expect(r.sent.every((s) => s.server === f.url)).toBe(true);
    expect(r.sent.some((s) => s.failedOver.includes(deadUrl))).toBe(true);
  });

  it('spreads candidates over a pool of servers; the image depends on the seed, not the server', async () => {
    const f = await fake({ stepMs: 5 });
    const g = await fake({ stepMs: 5 });
    const pooled = await generateRemote(createComfyEngine(settings([f.url, g.url])), await request({ candidates: 4 }));
    expect(f.prompts.length).toBeGreaterThan(0);
    expect(g.prompts.length).toBeGreaterThan(0);
    expect(f.prompts.length + g.prompts.length).toBe(4);
    const h = await fake();
    const single = await generateRemote(createComfyEngine(settings([h.url])), await request({ candidates: 4 }));
    expect(pooled.candidates.map((c) => sha256(c.png))).toEqual(single.candidates.map((c) => sha256(c.png)));
  });

  it.each([
    ['prompt', /not JSON while trying to queue the prompt/],
    ['history', /not JSON while trying to read the history/],
    ['view', /not an image/],
    ['upload', /upload without a file name/],
    ['ws', /websocket message that is not JSON/],
    ['object_info', /not JSON while trying to read node type/],
  ] as const)('gives a clear error for a garbage %s answer', async (garbage, pattern) => {
    const f = await fake({ garbage });
    await expect(generateRemote(createComfyEngine(settings([f.url])), await request())).rejects.toThrow(pattern);
  });

  it('gives a clear error for an HTTP 500 from /prompt', async () => {
    const f = await fake({ promptHttp500: true });
    await expect(generateRemote(createComfyEngine(settings([f.url])), await request())).rejects.toThrow(/rejected the prompt with HTTP 500: 500 Internal Server Error/);
  });

  it('runs a user template with named placeholders of its own', async () => {
    const f = await fake();
    const { COMFY_TEMPLATES } = await import('./templates.js');
    const wf = JSON.parse(JSON.stringify(COMFY_TEMPLATES.sd15.workflow));
    wf['6'].inputs.text = '{{prompt}}, in the style of {{artist}}';
    const engine = createComfyEngine(settings([f.url], { template: { workflow: wf, source: 'my.json' }, values: { checkpoint: 'v1-5-pruned-emaonly.safetensors', ipadapter_preset: 'PLUS (high strength)', steps: 4, cfg: 7, sampler: 'euler', scheduler: 'normal', artist: 'Hokusai' } }));
    const r = await generateRemote(engine, await request());
    expect(f.prompts[0].prompt['6'].inputs.text).toBe('grinning face, flat, pastel, in the style of Hokusai');
    expect(r.sent[0].prompt).toBe('grinning face, flat, pastel, in the style of Hokusai');
    const noValue = createComfyEngine(settings([f.url], { template: { workflow: wf, source: 'my.json' }, values: { steps: 4 } }));
    await expect(generateRemote(noValue, await request())).rejects.toThrow(/no value for placeholder\(s\) .*\{\{checkpoint\}\}.*\{\{artist\}\}/);
  });

  it('rejects templates that cannot personalise: UI format, missing placeholders', async () => {
    expect(() => createComfyEngine(settings(['http://127.0.0.1:1'], { template: { workflow: { nodes: [], links: [] }, source: 'ui.json' } }))).toThrow(/UI format/);
    const wf = { '1': { class_type: 'SaveImage', inputs: { images: ['1', 0] } } };
    expect(() => createComfyEngine(settings(['http://127.0.0.1:1'], { template: { workflow: wf, source: 'bare.json' } }))).toThrow(/missing placeholder\(s\) \{\{reference_image\}\}, \{\{prompt\}\}, \{\{seed\}\}, \{\{denoise\}\}, \{\{image_prompt_embeds\}\}/);
    expect(() => createComfyEngine(settings(['ftp://x']))).toThrow(/http/);
  });

  it('checks call options and numbers', async () => {
    const f = await fake();
    const engine = createComfyEngine(settings([f.url]));
    await expect(generateRemote(engine, await request({ strength: 1.5 }))).rejects.toThrow(/strength must be a number in \(0, 1\]/);
    await expect(generateRemote(engine, await request({ providerOptions: { comfyui: { bogus: 1 } } }))).rejects.toThrow(/unknown comfyui option "bogus"/);
    await expect(generateRemote(engine, await request({ providerOptions: { comfyui: { strength: 0.5 } } }))).rejects.toThrow(/use the standard strength option/);
    await expect(generateRemote(engine, await request({ providerOptions: { comfyui: { imagePromptScale: 'high' } } }))).rejects.toThrow(/imagePromptScale must be a number/);
    expect(f.prompts).toHaveLength(0);
    // the contract preference's items resolve too
    await generateRemote(engine, await request({ preference: contractPreference() }));
  });
});
