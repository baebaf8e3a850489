import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RagarError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { readTensorBundleHeader, writeTensorBundle } from '../util/tensorBundle.js';
import { STYLE_CLASSIFIER_FILE, STYLE_CLASSIFIER_FORMAT, StyleClassifier, trainStyleClassifier, type StyleClassifierMeta } from './styleClassifier.js';

const IDS = { dataset: 'synthetic', featureModel: 'test-features' };
const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-stylecls-'));
  tmpDirs.push(d);
  return d;
}

/**
 * Gaussian clusters: `k` classes with random centres (spread `sep`) in `d` dimensions, unit noise;
 * features on very different scales (dimension j multiplied by 10^(j mod 4 − 1)) so that
 * standardisation matters.
 */
function clusters(n: number, k: number, d: number, sep: number, seed: number): { x: Float32Array[]; y: string[] } {
  const rng = new Rng(seed);
  const centres = Array.from({ length: k }, () => Float64Array.from({ length: d }, () => sep * rng.normal()));
  const x: Float32Array[] = [];
  const y: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % k;
    x.push(Float32Array.from({ length: d }, (_, j) => (centres[c][j] + rng.normal()) * 10 ** ((j % 4) - 1) + 5));
    y.push(`style-${c}`);
  }
  return { x, y };
}

describe('trainStyleClassifier', () => {
  // one data set: the same seed, so train and test share their centres; split by index
  const all = clusters(600, 4, 24, 1.5, 1);
  const train = { x: all.x.slice(0, 300), y: all.y.slice(0, 300) };
  const test = { x: all.x.slice(300), y: all.y.slice(300) };

  it('separates well-separated clusters on held-out items', () => {
    const clf = trainStyleClassifier(train.x, train.y, { ...IDS, epochs: 30, seed: 3 });
    expect(clf.classes).toEqual(['style-0', 'style-1', 'style-2', 'style-3']);
    expect(clf.dimension).toBe(24);
    expect(clf.accuracy(test.x, test.y)).toBeGreaterThan(0.95);
    expect(clf.meta.trainAccuracy).toBeGreaterThan(0.95);
    // the objective goes down
    const curve = clf.meta.lossCurve;
    expect(curve.length).toBe(30);
    expect(curve[curve.length - 1]).toBeLessThan(0.5 * curve[0]);
    expect(curve[0]).toBeLessThan(Math.log(4) + 0.1);
    // a fitted model is confident on held-out items, not merely right by arg max (an untrained
    // or barely moved model has log-loss ≈ log 4 = 1.386 even when its arg max is right)
    let logLoss = 0;
    test.x.forEach((x, i) => (logLoss -= Math.log(clf.predictProba(x)[clf.classes.indexOf(test.y[i])])));
    expect(logLoss / test.x.length).toBeLessThan(0.2);
  });

  it('stays near chance on held-out items when labels are random', () => {
    const rng = new Rng(9);
    const labels = train.y.map(() => `style-${rng.int(4)}`);
    const heldOut = test.y.map(() => `style-${rng.int(4)}`);
    const clf = trainStyleClassifier(train.x, labels, { ...IDS, epochs: 30, seed: 3 });
    // chance = 0.25; 300 held-out items: 3 standard deviations ≈ 0.075
    expect(clf.accuracy(test.x, heldOut)).toBeLessThan(0.25 + 0.1);
  });

  it('returns probabilities that sum to 1 and predicts their arg max', () => {
    const clf = trainStyleClassifier(train.x, train.y, { ...IDS, epochs: 5 });
    for (const x of test.x.slice(0, 10)) {
      const p = clf.predictProba(x);
      expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
      const best = p.indexOf(Math.max(...p));
      expect(clf.predict(x)).toBe(clf.classes[best]);
    }
  });

  it('is deterministic for a seed', () => {
    const a = trainStyleClassifier(train.x, train.y, { ...IDS, epochs: 3, seed: 7 });
    const b = trainStyleClassifier(train.x, train.y, { ...IDS, epochs: 3, seed: 7 });
    const c = trainStyleClassifier(train.x, train.y, { ...IDS, epochs: 3, seed: 8 });
    expect(Array.from(a.predictProba(test.x[0]))).toEqual(Array.from(b.predictProba(test.x[0])));
    expect(a.meta.lossCurve).toEqual(b.meta.lossCurve);
    expect(Array.from(a.predictProba(test.x[0]))).not.toEqual(Array.from(c.predictProba(test.x[0])));
  });

  it('rejects bad training input with BAD_INPUT', () => {
    const bad = (f: () => unknown) => {
      expect(f).toThrow(RagarError);
      try {
        f();
      } catch (err) {
        expect((err as RagarError).code).toBe('BAD_INPUT');
      }
    };
    bad(() => trainStyleClassifier(train.x, train.y.slice(1), IDS));
    bad(() => trainStyleClassifier([Float32Array.of(1, 2), Float32Array.of(1)], ['a', 'b'], IDS));
    bad(() => trainStyleClassifier([Float32Array.of(1, 2), Float32Array.of(1, 3)], ['a', 'a'], IDS));
    bad(() => trainStyleClassifier([Float32Array.of(1, NaN), Float32Array.of(1, 3)], ['a', 'b'], IDS));
    bad(() => trainStyleClassifier([Float32Array.of(1, 2), Float32Array.of(1, 3)], ['a', 'b'], { ...IDS, epochs: 0 }));
    bad(() => trainStyleClassifier([Float32Array.of(1, 2), Float32Array.of(1, 3)], ['a', 'b'], { dataset: '', featureModel: 'x' }));
  });
});

describe('StyleClassifier', () => {
  const data = clusters(120, 3, 10, 2, 4);
  const clf = trainStyleClassifier(data.x, data.y, { ...IDS, epochs: 10, seed: 1 });

  it('rejects a vector of the wrong dimension with a clear BAD_INPUT error', () => {
    expect(() => clf.predict(new Float32Array(11))).toThrow(/11 features, the style classifier expects 10/);
    try {
      clf.predictProba(new Float32Array(3));
    } catch (err) {
      expect(err).toBeInstanceOf(RagarError);
      expect((err as RagarError).code).toBe('BAD_INPUT');
    }
    expect(() => clf.accuracy([data.x[0]], ['unknown-style'])).toThrow(/not a class/);
    expect(() => clf.accuracy([data.x[0]], [])).toThrow(RagarError);
  });

  it('saves and loads with identical predictions and recorded ids', () => {
    const dir = tmpDir();
    clf.save(dir);
    const header = readTensorBundleHeader<StyleClassifierMeta>(path.join(dir, STYLE_CLASSIFIER_FILE))!;
    expect(header.kind).toBe(STYLE_CLASSIFIER_FORMAT);
    expect(header.meta.dataset).toBe('synthetic');
    expect(header.meta.featureModel).toBe('test-features');
    expect(header.meta.classes).toEqual(['style-0', 'style-1', 'style-2']);
    // weights 3×10 + bias 3 + mean 10 + std 10 floats
    expect(header.tensors.reduce((s, t) => s + t.length, 0)).toBe(30 + 3 + 20);
    const back = StyleClassifier.load(dir, { dataset: 'synthetic', featureModel: 'test-features' });
    expect(back.classes).toEqual(clf.classes);
    expect(back.meta.lossCurve).toEqual(clf.meta.lossCurve);
    for (const x of data.x.slice(0, 20)) expect(Array.from(back.predictProba(x))).toEqual(Array.from(clf.predictProba(x)));
    expect(back.accuracy(data.x, data.y)).toBe(clf.accuracy(data.x, data.y));
  });

  it('refuses another dataset, feature model, format or damaged weights', () => {
    const dir = tmpDir();
    clf.save(dir);
    expect(() => StyleClassifier.load(dir, { dataset: 'other' })).toThrow(/trained on dataset synthetic/);
    expect(() => StyleClassifier.load(dir, { featureModel: 'clip' })).toThrow(/over test-features features/);
    const file = path.join(dir, STYLE_CLASSIFIER_FILE);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 5] ^= 0xff;
    fs.writeFileSync(file, bytes);
    expect(() => StyleClassifier.load(dir)).toThrow(expect.objectContaining({ code: 'CORRUPT', message: expect.stringMatching(/checksum/) }));
    writeTensorBundle(file, 'ragar-style-classifier-v0', clf.meta, {});
    expect(() => StyleClassifier.load(dir)).toThrow(expect.objectContaining({ code: 'VERSION' }));
    expect(() => StyleClassifier.load(path.join(dir, 'nowhere'))).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });
});
