import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DatasetView } from '../../data/access.js';
import { Rng } from '../../util/rng.js';
import { DEFAULT_GENERATOR_TRAIN, trainGenerator, trainingOptionsKey } from './train.js';
import { PLANE, type GeneratorData, type GeneratorItem } from './data.js';
import { paramsChecksum } from './finishing.js';
import { BuiltinGenerator } from './model.js';
import { addGradientL1, addSpeckleL1 } from './gradientLoss.js';
import { loadPatchDiscriminator } from '../onnx/patchgan.js';

describe('trainGenerator option checks', () => {
  const noData = {} as GeneratorData;
  it('refuses an auxiliary style classifier without the projection discriminator', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, discriminator: 'concat', styleClassifier: 0.05 })).rejects.toThrow(/projection/);
  });
  it('refuses an auxiliary style classifier without a discriminator', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, adversarial: 0, styleClassifier: 0.05 })).rejects.toThrow(/adversarial/);
  });
  it('refuses an unknown discriminator kind', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, discriminator: 'wide' as 'concat' })).rejects.toThrow(/concat or projection/);
  });
  it('refuses a negative gradient-matching weight', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, gradientLoss: -1 })).rejects.toThrow(/gradient-matching/);
  });
  it('refuses a negative edge-keeping weight', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, edgeKeepLoss: -1 })).rejects.toThrow(/edge-keeping weight must be ≥ 0, got -1/);
  });
  it('refuses a negative speckle weight', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, speckleLoss: -2 })).rejects.toThrow(/speckle weight must be ≥ 0, got -2/);
  });
  it('refuses a negative reference-structure weight', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, referenceGradientLoss: -0.5 })).rejects.toThrow(/reference-structure weight must be ≥ 0, got -0.5/);
  });
  it('refuses fake-class and residual settings that are not booleans', async () => {
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, fakeClass: 'yes' as unknown as boolean })).rejects.toThrow(/fakeClass/);
    await expect(trainGenerator(noData, null, '/nonexistent', { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, residual: 1 as unknown as boolean })).rejects.toThrow(/residual/);
  });
});

describe('trainingOptionsKey (what a checkpoint must match to be resumed)', () => {
  it('ignores run-only options and leaves out options added later while they are off', () => {
    const key = trainingOptionsKey(DEFAULT_GENERATOR_TRAIN);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, threads: 1, minutes: 90, steps: 5, checkpointEvery: 7 })).toBe(key);
    // a checkpoint written before --output-blur, --segment-pool, --gradient-loss, --reference-gradient-loss, --edge-keep-loss, --speckle-loss, --ema, --init and --init-state existed
    const { outputBlur: _b, segmentPool: _p, gradientLoss: _g, referenceGradientLoss: _r, edgeKeepLoss: _e, speckleLoss: _sp, ema: _ema, init: _i, initState: _is, minutes: _m, steps: _s, checkpointEvery: _c, threads: _t, ...older } = DEFAULT_GENERATOR_TRAIN;
    expect(key).toBe(JSON.stringify(older, Object.keys(older).sort()));
  });
  it('changes with every option that changes the result, including the later ones when on', () => {
    const key = trainingOptionsKey(DEFAULT_GENERATOR_TRAIN);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, gradientLoss: 1 })).not.toBe(key);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, outputBlur: true })).not.toBe(key);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, segmentPool: true })).not.toBe(key);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, referenceGradientLoss: 1 })).not.toBe(key);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, edgeKeepLoss: 1 })).not.toBe(key);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, speckleLoss: 1 })).not.toBe(key);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, ema: 0.999 })).not.toBe(key);
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, seed: 2 })).not.toBe(key);
  });
});

/** A toy emoji-styles: `concepts` concepts drawn as a blob in two styles (light and dark background), one group, all train. */
function toyData(concepts = 6): GeneratorData {
  const rng = new Rng(5);
  const styles = ['dark', 'light'];
  const items: GeneratorItem[] = [];
  const pixels = new Map<number, Float32Array>();
  const renditions = new Map<string, Map<string, number>>();
  for (let c = 0; c < concepts; c++) {
    const concept = `c${c}`;
    const cx = 16 + rng.int(32);
    const cy = 16 + rng.int(32);
    const r = new Map<string, number>();
    for (const style of styles) {
      const index = items.length;
      items.push({ index, concept, style, group: 'g', split: 'train' });
      const x = new Float32Array(3 * PLANE);
      for (let i = 0; i < PLANE; i++) x[i] = x[PLANE + i] = x[2 * PLANE + i] = (i % 64 - cx) ** 2 + (Math.floor(i / 64) - cy) ** 2 < 100 ? 0 : style === 'dark' ? -0.8 : 0.8;
      pixels.set(index, x);
      r.set(style, index);
    }
    renditions.set(concept, r);
  }
  const styleVectors = items.map((it) => Float32Array.from({ length: 4 }, () => rng.normal() + (it.style === 'dark' ? -2 : 2)));
  return {
    view: { dataset: { name: 'toy' } } as DatasetView,
    items,
    styles,
    pixels,
    styleOf: (i) => styleVectors[i],
    styleDim: 4,
    gOf: () => new Float32Array(4),
    q: new Float32Array(4),
    renditions,
    conceptsByGroup: new Map([['train', new Map([['g', [...renditions.keys()]]])]]),
  };
}

/** Run `fn` with a fresh temporary folder, removed afterwards. */
async function withTempDir(prefix: string, fn: (root: string) => Promise<void>): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    await fn(root);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('trainGenerator from given weights (init: fine-tuning from a shared trunk)', () => {
  const tiny = { ...DEFAULT_GENERATOR_TRAIN, lambda: 0, base: 8, levels: 2, batchSize: 2, minutes: 0, threads: 1, checkpointEvery: 1000 };

  it('starts from the given weights and records their digest and training record', async () => {
    await withTempDir('ragar-init-', async (root) => {
      const data = toyData();
      const trunk = await trainGenerator(data, null, path.join(root, 'trunk'), { ...tiny, steps: 3 });
      const trunkParams = (await BuiltinGenerator.load(path.join(root, 'trunk'))).generator.net.params.slice();
      // A vanishing learning rate: the fine-tuned weights must still be the trunk's, not a fresh network's.
      const tuned = await trainGenerator(data, null, path.join(root, 'tuned'), { ...tiny, steps: 1, seed: 2, learningRate: 1e-9, init: path.join(root, 'trunk') });
      const tunedParams = (await BuiltinGenerator.load(path.join(root, 'tuned'))).generator.net.params;
      expect(maxAbsDiff(tunedParams, trunkParams)).toBeLessThan(1e-6);
      const fresh = await trainGenerator(data, null, path.join(root, 'fresh'), { ...tiny, steps: 1, seed: 2, learningRate: 1e-9 });
      expect(fresh.initFrom).toBeUndefined();
      expect(maxAbsDiff((await BuiltinGenerator.load(path.join(root, 'fresh'))).generator.net.params, trunkParams)).toBeGreaterThan(1e-3);
      expect(tuned.initFrom).toEqual({ dir: path.join(root, 'trunk'), paramsSha256: paramsChecksum(path.join(root, 'trunk')), training: JSON.parse(JSON.stringify(trunk)) });
      expect(tuned.steps).toBe(1);
    });
  });

  it('pulls the output toward the reference\'s edges with the reference-structure term (and records it and the edge-keeping term in the loss curve)', async () => {
    await withTempDir('ragar-refgrad-', async (root) => {
      const data = toyData();
      const run = async (w: number) => {
        const rec = await trainGenerator(data, null, path.join(root, `w${w}`), { ...tiny, adversarial: 0, styleClassifier: 0, steps: 100, learningRate: 3e-3, referenceGradientLoss: w });
        return rec.lossCurve;
      };
      const off = await run(0);
      const on = await run(4);
      expect(off.every((p) => p.refGrad === undefined)).toBe(true);
      expect(on.every((p) => typeof p.refGrad === 'number')).toBe(true);
      // The targets' edges sit where the references' do but with the opposite sign (dark and light
      // backgrounds): the term must keep the outputs' edges nearer the reference's than pixel L1 alone.
      const refDistance = async (w: number) => {
        const { generator } = await BuiltinGenerator.load(path.join(root, `w${w}`));
        let total = 0;
        for (const it of data.items) {
          const ref = data.pixels.get(it.index)!;
          const [out] = await generator.infer([null], [{ reference: ref, style: generator.conditionOfStyle(it.style === 'dark' ? 'light' : 'dark') }], [0], 1);
          total += addGradientL1(out, ref, 3, 64, new Float32Array(out.length), 0, 0, 1);
        }
        await generator.dispose();
        return total / data.items.length;
      };
      expect(await refDistance(4)).toBeLessThan(await refDistance(0));
      // the edge-keeping term runs in the same loop and is recorded beside it
      const edge = await trainGenerator(data, null, path.join(root, 'edge'), { ...tiny, adversarial: 0, styleClassifier: 0, steps: 50, edgeKeepLoss: 1 });
      expect(edge.lossCurve.map((p) => typeof p.edge)).toEqual(['number']);
      expect(on.every((p) => p.edge === undefined)).toBe(true);
    });
  });

  it('flattens what neither drawing has an edge for with the speckle term (and records it in the loss curve)', async () => {
    await withTempDir('ragar-speckle-', async (root) => {
      const data = toyData();
      const run = async (w: number) => (await trainGenerator(data, null, path.join(root, `w${w}`), { ...tiny, adversarial: 0, styleClassifier: 0, steps: 100, learningRate: 3e-3, speckleLoss: w })).lossCurve;
      const off = await run(0);
      const on = await run(4);
      expect(off.every((p) => p.speckle === undefined)).toBe(true);
      expect(on.every((p) => typeof p.speckle === 'number')).toBe(true);
      // the outputs' edges where neither the reference nor the target (the other style's rendition) has one
      const speckle = async (w: number) => {
        const { generator } = await BuiltinGenerator.load(path.join(root, `w${w}`));
        let total = 0;
        for (const it of data.items) {
          const other = it.style === 'dark' ? 'light' : 'dark';
          const ref = data.pixels.get(it.index)!;
          const target = data.pixels.get(data.renditions.get(it.concept)!.get(other)!)!;
          const [out] = await generator.infer([null], [{ reference: ref, style: generator.conditionOfStyle(other) }], [0], 1);
          total += addSpeckleL1(out, ref, target, 3, 64, new Float32Array(out.length), 0, 0, 1, 0.1);
        }
        await generator.dispose();
        return total / data.items.length;
      };
      expect(await speckle(4)).toBeLessThan(0.8 * (await speckle(0)));
    });
  });

  it('saves the moving average of the weights with ema, keeps the raw ones for a resume, and resumes from them', async () => {
    await withTempDir('ragar-ema-', async (root) => {
      const data = toyData();
      const trunk = path.join(root, 'trunk');
      await trainGenerator(data, null, trunk, { ...tiny, steps: 3 });
      const load = async (dir: string) => {
        const { generator } = await BuiltinGenerator.load(dir);
        const p = generator.net.params.slice();
        await generator.dispose();
        return p;
      };
      const p0 = await load(trunk);
      // one step from the same weights, same seed, fresh optimisers: with ema 0.75 the saved weights are 0.75·p0 + 0.25·p1
      await trainGenerator(data, null, path.join(root, 'plain'), { ...tiny, steps: 1, seed: 4, init: trunk });
      const p1 = await load(path.join(root, 'plain'));
      expect(maxAbsDiff(p1, p0)).toBeGreaterThan(1e-4);
      const avg = path.join(root, 'avg');
      await trainGenerator(data, null, avg, { ...tiny, steps: 1, seed: 4, init: trunk, ema: 0.75 });
      expect(maxAbsDiff(await load(avg), p0.map((v, i) => 0.75 * v + 0.25 * p1[i]))).toBeLessThan(1e-6);
      const raw = fs.readFileSync(path.join(avg, 'raw.bin'));
      expect(maxAbsDiff(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), p1)).toBeLessThan(1e-6);
      // a resume continues from the raw weights (not the average) and from the average kept in the checkpoint
      await trainGenerator(data, null, avg, { ...tiny, steps: 2, seed: 4, init: trunk, ema: 0.75 });
      await trainGenerator(data, null, path.join(root, 'plain'), { ...tiny, steps: 2, seed: 4, init: trunk });
      const p2 = await load(path.join(root, 'plain'));
      const expected = p0.map((v, i) => 0.75 * (0.75 * v + 0.25 * p1[i]) + 0.25 * p2[i]);
      expect(maxAbsDiff(await load(avg), expected)).toBeLessThan(1e-6);
      await expect(trainGenerator(data, null, path.join(root, 'bad'), { ...tiny, steps: 1, ema: 1 })).rejects.toThrow(/weight-average decay must be in \[0, 1\), got 1/);
    });
  });

  it('refuses missing weights, the folder being trained, and weights of another shape', async () => {
    await withTempDir('ragar-init-', async (root) => {
      const data = toyData();
      await expect(trainGenerator(data, null, path.join(root, 'out'), { ...tiny, steps: 1, init: path.join(root, 'missing') })).rejects.toThrow(/no generator weights to start from/);
      await trainGenerator(data, null, path.join(root, 'trunk'), { ...tiny, steps: 1 });
      await expect(trainGenerator(data, null, path.join(root, 'trunk'), { ...tiny, steps: 1, init: path.join(root, 'trunk') })).rejects.toThrow(/folder being trained/);
      await expect(trainGenerator(data, null, path.join(root, 'out'), { ...tiny, steps: 1, base: 16, init: path.join(root, 'trunk') })).rejects.toThrow(/base \(8 there, 16 asked\)/);
      await expect(trainGenerator(data, null, path.join(root, 'out'), { ...tiny, steps: 1, residual: false, init: path.join(root, 'trunk') })).rejects.toThrow(/residual \(true there, false asked\)/);
    });
  });

  it('carries the discriminator and optimiser state of the starting checkpoint when asked (initState), and refuses what cannot carry it', async () => {
    await withTempDir('ragar-initstate-', async (root) => {
      const data = toyData();
      const trunk = path.join(root, 'trunk');
      await trainGenerator(data, null, trunk, { ...tiny, steps: 3 });
      const trunkDisc = (await loadPatchDiscriminator(path.join(trunk, 'discriminator'))).params.slice();
      const frozen = { ...tiny, steps: 1, seed: 2, learningRate: 1e-9, discriminatorLearningRate: 1e-9, init: trunk };
      const warm = await trainGenerator(data, null, path.join(root, 'warm'), { ...frozen, initState: true });
      expect(warm.initFrom?.stateStep).toBe(3);
      expect(maxAbsDiff((await loadPatchDiscriminator(path.join(root, 'warm', 'discriminator'))).params, trunkDisc)).toBeLessThan(1e-6);
      const cold = await trainGenerator(data, null, path.join(root, 'cold'), frozen);
      expect(cold.initFrom?.stateStep).toBeUndefined();
      expect(maxAbsDiff((await loadPatchDiscriminator(path.join(root, 'cold', 'discriminator'))).params, trunkDisc)).toBeGreaterThan(1e-3);
      // refusals: no init; weights without a checkpoint beside them; a discriminator with other heads; a corrupt checkpoint state
      await expect(trainGenerator(data, null, path.join(root, 'x'), { ...tiny, steps: 1, initState: true })).rejects.toThrow(/needs the weights to start from/);
      const bare = path.join(root, 'bare');
      fs.mkdirSync(bare);
      for (const f of ['generator.json', 'net.json', 'params.bin']) fs.copyFileSync(path.join(trunk, f), path.join(bare, f));
      await expect(trainGenerator(data, null, path.join(root, 'x'), { ...frozen, init: bare, initState: true })).rejects.toThrow(/holds no training checkpoint .*missing train-state.json, optimizer.bin, discriminator, optimizer-d.bin/);
      await expect(trainGenerator(data, null, path.join(root, 'x'), { ...frozen, initState: true, fakeClass: true })).rejects.toThrow(/output maps, these options need/);
      fs.writeFileSync(path.join(trunk, 'train-state.json'), '{"step": ');
      await expect(trainGenerator(data, null, path.join(root, 'x'), { ...frozen, initState: true })).rejects.toThrow(/train-state.json: not valid JSON/);
    });
  });

  it('keeps the starting weights in the resume key (a checkpoint from other weights is not resumed)', () => {
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, init: '/a' })).not.toBe(trainingOptionsKey(DEFAULT_GENERATOR_TRAIN));
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, init: '/a' })).not.toBe(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, init: '/b' }));
    expect(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, init: '/a', initState: true })).not.toBe(trainingOptionsKey({ ...DEFAULT_GENERATOR_TRAIN, init: '/a' }));
  });
});
