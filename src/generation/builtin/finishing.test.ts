import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePixels64, PIXEL_SIZE } from '../../encoders/pixels.js';
import { Rng } from '../../util/rng.js';
import type { GeneratorEngineV1 } from '../types.js';
import { toModelSpace, type GeneratorData } from './data.js';
import { modelSpaceToPng } from './engine.js';
import { createStyleStatsEncoder, styleStatistics } from '../../encoders/styleStats.js';
import { l2normalize, type ImageEncoder } from '../../encoders/types.js';
import { fitStyleConditioner } from './conditioning.js';
import { toPixels } from './data.js';
import {
  applyFinishing,
  describeFinishingOption,
  finishPng,
  finishPngAll,
  FINISHING_FORMAT,
  FINISHING_OPTIONS,
  finishingNeedsReference,
  GUIDED_FINISHING_OPTIONS,
  IMAGEQUANT_FINISHING_OPTIONS,
  loadFinishing,
  paramsChecksum,
  saveFinishing,
  type Finishing,
} from './finishing.js';
import { fitFinishing } from './finishingFit.js';
import { trainFinishingCritic, type CriticRow } from './finishingCritic.js';
import { FakeEncoder } from '../../encoders/testing/fakeEncoders.js';
import { colourCount, rgbBytes } from './finishing.testing.js';

const N = PIXEL_SIZE;

/**
 * A 64×64 HWC image in [0, 1]: a disc of `fg` on white, plus Gaussian noise of `noise`; `shaded`
 * darkens it smoothly towards its rim (a radial gradient, as shaded styles draw).
 */
function disc(fg: [number, number, number], noise: number, rng: Rng, radius = 20, shaded = false): Float32Array {
  const px = new Float32Array(N * N * 3);
  for (let y = 0; y < N; y++)
    for (let x = 0; x < N; x++) {
      const r2 = (x - 32) ** 2 + (y - 32) ** 2;
      const inside = r2 < radius * radius;
      const shade = shaded ? 1 - 0.5 * Math.sqrt(r2) / radius : 1;
      for (let c = 0; c < 3; c++) px[(y * N + x) * 3 + c] = Math.min(1, Math.max(0, (inside ? fg[c] * shade : 1) + noise * rng.normal()));
    }
  return px;
}

/** A PNG of HWC pixels in [0, 1]. */
const pngOf = (hwc: Float32Array): Promise<Buffer> => modelSpaceToPng(toModelSpace(hwc));

const finishing = (options: Finishing['options']): Finishing => ({ format: FINISHING_FORMAT, classes: ['a', 'b'], options });

describe('finishing options', () => {
  it('quantise to at most the palette size, take a median, or leave the image as drawn', async () => {
    const png = await pngOf(disc([0.9, 0.3, 0.1], 0.05, new Rng(1)));
    expect(await colourCount(png)).toBeGreaterThan(100);
    for (const colours of [2, 4, 16] as const) expect(await colourCount(await finishPng(png, { median: 1, colours }))).toBeLessThanOrEqual(colours);
    expect(Buffer.compare(await rgbBytes(await finishPng(png, { median: 1, colours: 0 })), await rgbBytes(png))).toBe(0);
    // A single speckle on a flat field goes under the median.
    const flat = disc([0.2, 0.4, 0.8], 0, new Rng(2));
    flat.set([0, 0, 0], (32 * N + 32) * 3);
    const median = await decodePixels64(await finishPng(await pngOf(flat), { median: 3, colours: 0 }));
    expect(median[(32 * N + 32) * 3]).toBeCloseTo(0.2, 1);
    expect(FINISHING_OPTIONS[0]).toEqual({ median: 1, colours: 0 });
    // k-means palettes of any size; the first family's palettes stay distinct from them.
    for (const colours of [3, 5, 6]) expect(await colourCount(await finishPng(png, { median: 1, colours, quantiser: 'kmeans' }))).toBeLessThanOrEqual(colours);
    expect(await colourCount(await finishPng(png, { median: 1, colours: 5, quantiser: 'kmeans' }))).toBeGreaterThan(4);
    expect(FINISHING_OPTIONS).toHaveLength(18);
    expect(IMAGEQUANT_FINISHING_OPTIONS).toHaveLength(8);
  });

  it('finish several options at once exactly as one by one', async () => {
    const png = await pngOf(disc([0.3, 0.6, 0.2], 0.06, new Rng(4)));
    const all = await finishPngAll(png, FINISHING_OPTIONS);
    for (const [k, o] of FINISHING_OPTIONS.entries()) expect(Buffer.compare(await rgbBytes(all[k]), await rgbBytes(await finishPng(png, o))), describeFinishingOption(o)).toBe(0);
    expect(describeFinishingOption({ median: 3, colours: 5, quantiser: 'kmeans' })).toBe('median 3 + 5 colours (k-means)');
    expect(describeFinishingOption({ median: 1, colours: 16 })).toBe('16 colours');
  });

  it('guided by the reference: clean the speckle inside its flat regions, keep its contour, and need it', async () => {
    const rng = new Rng(5);
    // The drawn output: the reference's disc recoloured, with strong speckle; the reference: the clean disc in another colour.
    const clean = disc([0.2, 0.6, 0.3], 0, rng);
    const speckled = await pngOf(disc([0.2, 0.6, 0.3], 0.1, rng));
    const reference = await pngOf(disc([0.9, 0.3, 0.1], 0, rng));
    const guided = { median: 1 as const, colours: 0, guided: { radius: 2, epsilon: 1e-3 } };
    // Inside the disc (the white background clips the noise, which no filter can undo).
    const l1 = async (png: Buffer) => {
      const px = await decodePixels64(png);
      let sum = 0;
      let count = 0;
      for (let p = 0; p < N * N; p++) {
        if ((p % N - 32) ** 2 + (Math.floor(p / N) - 32) ** 2 >= 17 ** 2) continue;
        for (let c = 0; c < 3; c++) sum += Math.abs(px[3 * p + c] - clean[3 * p + c]);
        count += 3;
      }
      return sum / count;
    };
    const [drawn, filtered, median] = [await l1(speckled), await l1(await finishPng(speckled, guided, reference)), await l1(await finishPng(speckled, { median: 3, colours: 0 }))];
    expect(filtered).toBeLessThan(0.5 * drawn);
    expect(filtered).toBeLessThan(median);
    await expect(finishPng(speckled, guided)).rejects.toThrow(/guided by the reference image, and none was given/);
    await expect(applyFinishing(speckled, [1, 0], finishing([guided, { median: 1, colours: 0 }]))).rejects.toThrow(/none was given/);
    expect(finishingNeedsReference(finishing([guided, { median: 1, colours: 0 }]))).toBe(true);
    expect(finishingNeedsReference(finishing([{ median: 3, colours: 0 }, { median: 1, colours: 0 }]))).toBe(false);
    // All at once equals one by one for the whole guided family, and the family is the k-means one plus 36 guided options.
    const all = await finishPngAll(speckled, GUIDED_FINISHING_OPTIONS, reference);
    for (const [k, o] of GUIDED_FINISHING_OPTIONS.entries()) expect(Buffer.compare(await rgbBytes(all[k]), await rgbBytes(await finishPng(speckled, o, reference))), describeFinishingOption(o)).toBe(0);
    expect(GUIDED_FINISHING_OPTIONS).toHaveLength(54);
    expect(GUIDED_FINISHING_OPTIONS.slice(0, 18)).toEqual(FINISHING_OPTIONS);
    expect(describeFinishingOption({ median: 1, colours: 6, quantiser: 'kmeans', guided: { radius: 4, epsilon: 0.01 } })).toBe('guided r4 ε0.01 + 6 colours (k-means)');
    // Mixed by the condition like any other option.
    const f = finishing([guided, { median: 1, colours: 0 }]);
    const half = await rgbBytes(await applyFinishing(speckled, [0.5, 0.5], f, reference));
    const a = await rgbBytes(await finishPng(speckled, guided, reference));
    const b = await rgbBytes(speckled);
    for (let i = 0; i < half.length; i += 97) expect(Math.abs(half[i] - (a[i] + b[i]) / 2)).toBeLessThanOrEqual(1);
  });

  it('mix the styles’ finishes by the condition and give a confident condition its style’s finish exactly', async () => {
    const png = await pngOf(disc([0.9, 0.3, 0.1], 0.05, new Rng(3)));
    const f = finishing([
      { median: 1, colours: 2 },
      { median: 1, colours: 0 },
    ]);
    const onlyA = await applyFinishing(png, [1, 0], f);
    expect(Buffer.compare(await rgbBytes(onlyA), await rgbBytes(await finishPng(png, f.options[0])))).toBe(0);
    const half = await rgbBytes(await applyFinishing(png, [0.5, 0.5], f));
    const a = await rgbBytes(await finishPng(png, f.options[0]));
    const b = await rgbBytes(png);
    for (let i = 0; i < half.length; i += 97) expect(Math.abs(half[i] - (a[i] + b[i]) / 2)).toBeLessThanOrEqual(1);
    await expect(applyFinishing(png, [1], f)).rejects.toThrow(/2 classes, the condition 1/);
    await expect(applyFinishing(png, [0, 0], f)).rejects.toThrow(/no positive weight/);
  });
});


describe('finishing.json', () => {
  it('round-trips, is absent without a file, and names what is wrong in a bad one', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-finishing-'));
    try {
      expect(loadFinishing(dir, ['a', 'b'])).toBeNull();
      const f = { ...finishing([{ median: 3, colours: 4 }, { median: 1, colours: 0 }]), fit: { seed: 1 } };
      saveFinishing(dir, f);
      expect(loadFinishing(dir, ['a', 'b'])).toEqual(f);
      expect(() => loadFinishing(dir, ['a', 'c'])).toThrow(/fitted for styles \["a","b"\].*ragar train finishing/);
      fs.writeFileSync(path.join(dir, 'finishing.json'), JSON.stringify({ ...f, options: [{ median: 2, colours: 4 }, { median: 1, colours: 0 }] }));
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/\(a\): a finishing option needs median 1 or 3/);
      fs.writeFileSync(path.join(dir, 'finishing.json'), JSON.stringify({ ...f, options: [{ median: 1, colours: 5 }, { median: 1, colours: 0 }] }));
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/\(a\): an imagequant palette needs colours 0, 2, 4 or 16/);
      fs.writeFileSync(path.join(dir, 'finishing.json'), JSON.stringify({ ...f, options: [{ median: 1, colours: 17, quantiser: 'kmeans' }, { median: 1, colours: 0 }] }));
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/\(a\): a k-means palette needs colours 0 or 2 to 16/);
      fs.writeFileSync(path.join(dir, 'finishing.json'), JSON.stringify({ ...f, options: [{ median: 1, colours: 4, quantiser: 'octree' }, { median: 1, colours: 0 }] }));
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/\(a\): quantiser must be imagequant or kmeans/);
      fs.writeFileSync(path.join(dir, 'finishing.json'), JSON.stringify({ ...f, options: [{ median: 1, colours: 4, guidance: 0 }, { median: 1, colours: 0 }] }));
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/\(a\): guidance must be a multiplier above 0 and at most 4/);
      fs.writeFileSync(path.join(dir, 'finishing.json'), JSON.stringify({ ...f, options: [{ median: 1, colours: 4, guided: { radius: 0, epsilon: 0.01 } }, { median: 1, colours: 0 }] }));
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/\(a\): guided needs an integer radius from 1 to 16 and epsilon in \(0, 1\]/);
      const guided = finishing([{ median: 1, colours: 6, quantiser: 'kmeans', guided: { radius: 4, epsilon: 0.001 } }, { median: 1, colours: 0 }]);
      saveFinishing(dir, guided);
      expect(loadFinishing(dir, ['a', 'b'])).toEqual({ ...guided, fit: undefined });
      const kmeans = finishing([{ median: 3, colours: 5, quantiser: 'kmeans', guidance: 0.5 }, { median: 1, colours: 0 }]);
      saveFinishing(dir, kmeans);
      expect(loadFinishing(dir, ['a', 'b'])).toEqual({ ...kmeans, fit: undefined });
      saveFinishing(dir, { ...f, sharpen: 0 });
      expect(loadFinishing(dir, ['a', 'b'])?.sharpen).toBe(0);
      fs.writeFileSync(path.join(dir, 'finishing.json'), JSON.stringify({ ...f, sharpen: -1 }));
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/sharpen must be a number from 0 to 10, got -1/);
      saveFinishing(dir, { ...f, cfgScale: 3 });
      expect(loadFinishing(dir, ['a', 'b'])?.cfgScale).toBe(3);
      fs.writeFileSync(path.join(dir, 'finishing.json'), JSON.stringify({ ...f, cfgScale: 21 }));
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/cfgScale must be a number from 0 to 20, got 21/);
      fs.writeFileSync(path.join(dir, 'finishing.json'), JSON.stringify({ ...f, cfgScale: '2' }));
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/cfgScale must be a number from 0 to 20, got "2"/);
      // Beside other weights than it was fitted for, it is refused.
      fs.writeFileSync(path.join(dir, 'params.bin'), 'weights one');
      saveFinishing(dir, { ...f, paramsSha256: paramsChecksum(dir) });
      expect(loadFinishing(dir, ['a', 'b'])?.paramsSha256).toBe(paramsChecksum(dir));
      fs.writeFileSync(path.join(dir, 'params.bin'), 'weights two');
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/fitted for other weights .*ragar train finishing/);
      fs.writeFileSync(path.join(dir, 'finishing.json'), '{"format": "other"}');
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/is not ragar-finishing-v1/);
      fs.writeFileSync(path.join(dir, 'finishing.json'), '{');
      expect(() => loadFinishing(dir, ['a', 'b'])).toThrow(/not valid JSON/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fitting the finishing', () => {
  // Two styles of the same discs: "flat" draws exact flat fills, "shaded" a smooth radial
  // gradient. The fake engine answers every condition with the shaded disc plus light noise (as
  // a smooth generator would): the flat style needs snapping to a palette, the shaded one must
  // keep its gradient (no palette).
  const colours: [number, number, number][] = [
    [0.9, 0.3, 0.1],
    [0.2, 0.5, 0.9],
    [0.3, 0.7, 0.2],
    [0.6, 0.2, 0.6],
    [0.9, 0.8, 0.2],
    [0.1, 0.4, 0.4],
  ];
  const radiusOf = (c: number) => 12 + 3 * c;
  function toyData(): GeneratorData {
    const rng = new Rng(7);
    const pixels = new Map<number, Float32Array>();
    const renditions = new Map<string, Map<string, number>>();
    colours.forEach((fg, c) => {
      pixels.set(2 * c, toModelSpace(disc(fg, 0, rng, radiusOf(c))));
      pixels.set(2 * c + 1, toModelSpace(disc(fg, 0, rng, radiusOf(c), true)));
      renditions.set(`c${c}`, new Map([['flat', 2 * c], ['shaded', 2 * c + 1]]));
    });
    return { pixels, renditions } as unknown as GeneratorData;
  }
  /** A fake engine that draws the reference's toy disc shaded with light noise (exactly flat instead when the guidance scale is below `flatBelow`). */
  const fakeEngine = (flatBelow = 0, noise = 0.02): GeneratorEngineV1 => ({
    specificationVersion: 'v1',
    provider: 'fake',
    modelId: 'smooth',
    maxCandidatesPerCall: 1,
    outputSize: N,
    async doGenerate(request) {
      // Which toy disc the reference is (by its foreground size).
      const ref = await decodePixels64(request.reference.image);
      let area = 0;
      for (let p = 0; p < N * N; p++) if (ref[p * 3] + ref[p * 3 + 1] + ref[p * 3 + 2] < 2.9) area++;
      let c = 0;
      for (let k = 1; k < colours.length; k++) if (Math.abs(Math.PI * radiusOf(k) ** 2 - area) < Math.abs(Math.PI * radiusOf(c) ** 2 - area)) c = k;
      const scale = (request.providerOptions?.builtin as { cfgScale?: number } | undefined)?.cfgScale ?? 2;
      const shaded = scale >= flatBelow;
      const out = toModelSpace(disc(colours[c], shaded ? noise : 0, new Rng(request.seed), radiusOf(c), shaded));
      return { candidates: [{ png: await modelSpaceToPng(out), seed: request.seed, milliseconds: 0 }], warnings: [], response: { provider: 'fake', modelId: 'smooth', timings: {} } };
    },
    async dispose() {},
  });
  const engine = fakeEngine();
  /** The toy's own style classifier, fitted on its real renditions' style statistics, as the generator's is. */
  function toyConditioner(data: GeneratorData) {
    const rows: Float32Array[] = [];
    const labels: string[] = [];
    for (const r of data.renditions.values())
      for (const [style, item] of r) {
        rows.push(l2normalize(Float32Array.from(styleStatistics(toPixels(data.pixels.get(item)!)))));
        labels.push(style);
      }
    return fitStyleConditioner(rows, labels);
  }

  it('by the paired style-statistics objective: snaps the flat style to a palette and keeps the shaded one unquantised, deterministically', async () => {
    const fitted = await fitFinishing(engine, toyData(), ['flat', 'shaded'], { conceptsPerStyle: 6, seed: 3, objective: 'paired' });
    expect(fitted.classes).toEqual(['flat', 'shaded']);
    expect(fitted.options[0].colours).toBeGreaterThan(0);
    expect(fitted.options[1].colours).toBe(0);
    expect(fitted.scores.flat).toHaveLength(FINISHING_OPTIONS.length);
    const again = await fitFinishing(engine, toyData(), ['flat', 'shaded'], { conceptsPerStyle: 6, seed: 3, objective: 'paired' });
    expect(again.options).toEqual(fitted.options);
    expect(again.scores).toEqual(fitted.scores);
    await expect(fitFinishing(engine, toyData(), ['flat', 'cubist'], { conceptsPerStyle: 6, objective: 'paired' })).rejects.toThrow(/style cubist/);
  });

  it('by the classifier objective: the finish the style classifier names as the style (flat: a palette; shaded: none)', async () => {
    const data = toyData();
    const conditioner = toyConditioner(data);
    const fitted = await fitFinishing(engine, data, ['flat', 'shaded'], { conceptsPerStyle: 6, seed: 3, objective: 'classifier', conditioner });
    expect(fitted.options[0].colours).toBeGreaterThan(0);
    expect(fitted.options[1].colours).toBe(0);
    const flat = fitted.scores.flat;
    expect(flat.every((r) => r.crossEntropy === r.score)).toBe(true);
    expect(flat[0].score).toBeGreaterThan(Math.min(...flat.map((r) => r.score)));
    expect(String(fitted.fit!.objective)).toMatch(/^classifier: /);
    await expect(fitFinishing(engine, data, ['flat', 'shaded'], { conceptsPerStyle: 6 })).rejects.toThrow(/needs the generator's style classifier/);
    await expect(fitFinishing(engine, data, ['shaded', 'flat'], { conceptsPerStyle: 6, objective: 'classifier', conditioner })).rejects.toThrow(/needs the generator's style classifier/);
  });

  it('by the critic objective: the finish a critic trained on the real renditions names as the style (flat: a palette; shaded: none)', async () => {
    const data = toyData();
    // The critic reads an uninformative image feature (one vector for every image) and the style statistics.
    const encoders = { image: new FakeEncoder<Buffer>('image', { keyOf: () => 'any', dimension: 4 }) as unknown as ImageEncoder, style: createStyleStatsEncoder() };
    const rows: CriticRow[] = [];
    for (const r of data.renditions.values())
      for (const [label, item] of r) {
        const png = await modelSpaceToPng(data.pixels.get(item)!);
        rows.push({ image: (await encoders.image.encode([png]))[0], style: (await encoders.style.encode([png]))[0], label, concept: '' });
      }
    const critic = trainFinishingCritic(rows, ['flat', 'shaded'], encoders, { dataset: 'toy', seed: 1 });
    const fitted = await fitFinishing(engine, data, ['flat', 'shaded'], { conceptsPerStyle: 6, seed: 3, objective: 'critic', critic });
    expect(fitted.options[0].colours).toBeGreaterThan(0);
    expect(fitted.options[1].colours).toBe(0);
    expect(fitted.scores.flat.every((r) => r.crossEntropy === r.score)).toBe(true);
    expect(String(fitted.fit!.objective)).toMatch(/^critic: /);
    expect(fitted.fit!.critic).toMatchObject({ trainItems: rows.length, features: 'fake-image+style-stats-v1@64' });
    await expect(fitFinishing(engine, data, ['flat', 'shaded'], { conceptsPerStyle: 6, objective: 'critic' })).rejects.toThrow(/needs a style critic over the styles/);
    await expect(fitFinishing(engine, data, ['shaded', 'flat'], { conceptsPerStyle: 6, objective: 'critic', critic })).rejects.toThrow(/needs a style critic over the styles/);
  });

  it('by the judge objective: style accuracy plus concept top-1 among 9 distractors, each option scored by both', async () => {
    const data = toyData();
    // Image features that tell the toy concepts apart: the mean foreground colour and the foreground's share.
    const features: ImageEncoder = {
      modelId: 'toy-features',
      dimension: 4,
      modality: 'image',
      async encode(pngs) {
        return Promise.all(
          pngs.map(async (png) => {
            const px = await decodePixels64(png as Buffer);
            const v = new Float32Array(4);
            let n = 0;
            for (let p = 0; p < N * N; p++)
              if (px[p * 3] + px[p * 3 + 1] + px[p * 3 + 2] < 2.9) {
                for (let c = 0; c < 3; c++) v[c] += px[p * 3 + c];
                n++;
              }
            for (let c = 0; c < 3; c++) v[c] /= Math.max(1, n);
            v[3] = (4 * n) / (N * N);
            return l2normalize(v);
          }),
        );
      },
      async dispose() {},
    };
    const encoders = { image: features, style: createStyleStatsEncoder() };
    const rows: CriticRow[] = [];
    const add = async (model: Float32Array, label: string, concept: string) => {
      const png = await modelSpaceToPng(model);
      rows.push({ image: (await features.encode([png]))[0], style: (await encoders.style.encode([png]))[0], label, concept });
    };
    for (const [concept, r] of data.renditions) for (const [label, item] of r) await add(data.pixels.get(item)!, label, concept);
    // Six more concepts, only in the critic's gallery: the distractors need 9 besides the true one.
    const more: [number, number, number][] = [[0.5, 0.5, 0.9], [0.9, 0.5, 0.5], [0.4, 0.9, 0.6], [0.2, 0.2, 0.3], [0.7, 0.7, 0.4], [0.3, 0.5, 0.6]];
    for (const [k, fg] of more.entries()) {
      await add(toModelSpace(disc(fg, 0, new Rng(k), 14 + 2 * k)), 'flat', `d${k}`);
      await add(toModelSpace(disc(fg, 0, new Rng(k), 14 + 2 * k, true)), 'shaded', `d${k}`);
    }
    const critic = trainFinishingCritic(rows, ['flat', 'shaded'], encoders, { dataset: 'toy', seed: 1 });
    const fitted = await fitFinishing(engine, data, ['flat', 'shaded'], { conceptsPerStyle: 6, seed: 3, objective: 'judge', critic });
    for (const style of ['flat', 'shaded'])
      for (const r of fitted.scores[style]) {
        expect(r.styleAccuracy! >= 0 && r.styleAccuracy! <= 1 && r.conceptTop1! >= 0 && r.conceptTop1! <= 1).toBe(true);
        expect(r.score).toBeCloseTo(2 - r.styleAccuracy! - r.conceptTop1!, 12);
      }
    // The flat style wants a palette, the shaded one none; the chosen finishes keep the concept.
    expect(fitted.options[0].colours).toBeGreaterThan(0);
    expect(fitted.options[1].colours).toBe(0);
    const chosen = (style: string, k: number) => fitted.scores[style].find((r) => r.option === describeFinishingOption(fitted.options[k]))!;
    expect([chosen('flat', 0).styleAccuracy, chosen('shaded', 1).styleAccuracy]).toEqual([1, 1]);
    expect(chosen('flat', 0).conceptTop1).toBeGreaterThan(0.5);
    expect(String(fitted.fit!.objective)).toMatch(/^judge: /);
    // Without the distractors it asks for, it says so.
    const small = trainFinishingCritic(rows.filter((r) => !r.concept.startsWith('d')), ['flat', 'shaded'], encoders, { dataset: 'toy', seed: 1 });
    await expect(fitFinishing(engine, data, ['flat', 'shaded'], { conceptsPerStyle: 6, seed: 3, objective: 'judge', critic: small })).rejects.toThrow(/needs 9 distractor concepts in flat, the critic's gallery has 5/);
  });

  it('offers the reference to the guided options: they clean a speckled engine’s outputs toward the targets', async () => {
    const data = toyData();
    const options = [{ median: 1 as const, colours: 0 }, { median: 1 as const, colours: 0, guided: { radius: 2, epsilon: 1e-3 } }];
    const fitted = await fitFinishing(fakeEngine(0, 0.2), data, ['flat', 'shaded'], { conceptsPerStyle: 6, seed: 3, objective: 'paired', options });
    for (const style of ['flat', 'shaded']) {
      const [asDrawn, guided] = fitted.scores[style];
      expect(guided.option).toBe('guided r2 ε0.001');
      // (The clipped noise on the white background and the styles' different shading stay: about 0.1 of L1.)
      expect(guided.l1, style).toBeLessThan(asDrawn.l1 - 0.01);
    }
  });

  it('chooses a guidance multiplier per style when offered (flat: the one that draws flat; shaded: the scale as it is)', async () => {
    // This engine draws flat discs below guidance 1.5 and shaded ones from 1.5: at scale 2, ×0.5 draws flat.
    // Offered no palette or median, only the guidance can make the flat style flat.
    const data = toyData();
    const conditioner = toyConditioner(data);
    const asDrawn = [{ median: 1, colours: 0 }] as const;
    const fitted = await fitFinishing(fakeEngine(1.5), data, ['flat', 'shaded'], { conceptsPerStyle: 6, seed: 3, conditioner, options: asDrawn, guidanceMultipliers: [0.5, 1], engineOptions: { cfgScale: 2 } });
    expect(fitted.options).toEqual([{ median: 1, colours: 0, guidance: 0.5 }, { median: 1, colours: 0 }]);
    expect(fitted.scores.flat.map((r) => r.option)).toEqual(['guidance ×0.5, as drawn', 'as drawn']);
    // With the whole family the draws are scored for every finish.
    const all = await fitFinishing(fakeEngine(1.5), data, ['flat', 'shaded'], { conceptsPerStyle: 2, seed: 3, conditioner, guidanceMultipliers: [0.5, 1], engineOptions: { cfgScale: 2.5 } });
    expect(all.scores.flat).toHaveLength(2 * FINISHING_OPTIONS.length);
    expect(fitted.fit).toMatchObject({ guidanceMultipliers: [0.5, 1], guidanceScale: 2 });
    // The scale the outputs were drawn at is saved with the finishing: the engine's default while it is applied.
    expect([fitted.cfgScale, all.cfgScale]).toEqual([2, 2.5]);
    for (const bad of [[0], [1, 1], [], [5]]) await expect(fitFinishing(engine, data, ['flat', 'shaded'], { conceptsPerStyle: 6, conditioner, guidanceMultipliers: bad })).rejects.toThrow(/guidance multipliers must be distinct numbers above 0 and at most 4/);
  });

  it('by the perceptual and combined objectives: image features against the real rendition of the same concept', async () => {
    // Any image encoder will do for the mechanics; the style-statistics one needs no model file.
    const imageEncoder = createStyleStatsEncoder();
    const perceptual = await fitFinishing(engine, toyData(), ['flat', 'shaded'], { conceptsPerStyle: 6, seed: 3, objective: 'perceptual', imageEncoder });
    for (const rows of Object.values(perceptual.scores)) for (const r of rows) expect(r.score).toBe(r.perceptualDistance);
    expect(perceptual.fit!.imageModel).toBe(imageEncoder.modelId);
    const combined = await fitFinishing(engine, toyData(), ['flat', 'shaded'], { conceptsPerStyle: 6, seed: 3, objective: 'combined', imageEncoder });
    for (const rows of Object.values(combined.scores)) {
      const meanOf = (f: (r: (typeof rows)[number]) => number) => rows.reduce((a, r) => a + f(r), 0) / rows.length;
      const [ms, mp] = [meanOf((r) => r.styleDistance), meanOf((r) => r.perceptualDistance!)];
      for (const r of rows) expect(r.score).toBeCloseTo(r.styleDistance / ms + r.perceptualDistance! / mp, 9);
    }
    await expect(fitFinishing(engine, toyData(), ['flat', 'shaded'], { conceptsPerStyle: 6, objective: 'perceptual' })).rejects.toThrow(/needs an image encoder/);
    await expect(fitFinishing(engine, toyData(), ['flat', 'shaded'], { conceptsPerStyle: 6, objective: 'cosmic' as never })).rejects.toThrow(/one of classifier, critic, judge, paired, mean, perceptual, combined/);
  });
});
