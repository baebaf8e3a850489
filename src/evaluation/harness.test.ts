import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetView } from '../data/access.js';
import { buildEmojiStyles, DEFAULT_EMOJI_BUILD } from '../data/emoji/build.js';
import { createClipEncoders } from '../encoders/clip.js';
import { embedDataset } from '../encoders/embed.js';
import { DEFAULT_JOINT } from '../encoders/joint.js';
import { createStyleStatsEncoder } from '../encoders/styleStats.js';
import { FakeEncoder } from '../encoders/testing/fakeEncoders.js';
import { writeTinyClip } from '../encoders/testing/tinyClip.js';
import { jointSpaceDir, trainJointForDataset } from '../encoders/trainJoint.js';
import type { ImageEncoder, ImageInput } from '../encoders/types.js';
import type { PersonalizationSetup } from '../pipeline/personalize.js';
import { generationSetupFrom } from '../pipeline/setup.js';
import { MockGeneratorEngine } from '../generation/mockEngine.js';
import { prepareRanking, trainRankingModels } from '../ranking/pipeline.js';
import { DEFAULT_RANKER } from '../ranking/ranker.js';
import { Store } from '../store/store.js';
import { DEFAULT_EVAL_METHODS, perTaskCsv, runEvaluation, type EvalEngines, type EvaluationOptions } from './harness.js';
import { metricsJson } from './report/json.js';
import { validateReport } from './report/types.js';
import { writeReport } from './report/write.js';
import { openTaskInstruments, prepareEvalTasks, type TaskInstruments } from './taskMetrics.js';

let home: string;
let store: Store;
let setup: PersonalizationSetup;
let instruments: TaskInstruments;
const imageEncoder = new FakeEncoder<ImageInput>('image', { modelId: 'mobilenetv2-fake' });
let styleEncoder: ImageEncoder;
/** The target styles the oracle runs asked the engine for. */
const oracleCalls: string[] = [];

/**
 * The shared mock engine under the built-in provider's name (the reference with its hue turned by
 * the seed and the preference; none when non-personalised); `onCall` can abort mid-run.
 */
function fakeEngine(onCall?: (n: number) => void): MockGeneratorEngine {
  return new MockGeneratorEngine({
    provider: 'builtin',
    onCall: (n, options) => {
      const oracleStyle = (options.providerOptions?.builtin as { oracleStyle?: string } | undefined)?.oracleStyle;
      if (oracleStyle) oracleCalls.push(oracleStyle);
      onCall?.(n);
    },
  });
}

function engines(onCall?: (n: number) => void): EvalEngines {
  return {
    ragar: { engine: fakeEngine(onCall), checksum: 'fake-ragar', dir: '/fake/ragar', lambda: 0.01 },
    norank: { engine: fakeEngine(onCall), checksum: 'fake-norank', dir: '/fake/ragar-norank', lambda: 0 },
    l1: { engine: fakeEngine(onCall), checksum: 'fake-l1', dir: '/fake/l1', lambda: 0 },
  };
}

function options(over: Partial<EvaluationOptions> = {}): EvaluationOptions {
  return {
    split: 'test',
    tasks: 6,
    seed: 1,
    methods: DEFAULT_EVAL_METHODS,
    candidates: 2,
    ablate: ['k', 'lambda'],
    ablationTasks: 3,
    gridTasks: 2,
    resamples: 200,
    cacheDir: path.join(home, 'cache-main'),
    command: 'ragar eval (test)',
    rankerKey: 'ranker-1',
    ...over,
  };
}

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-harness-'));
  store = Store.open(home);
  await buildEmojiStyles(store, { ...DEFAULT_EMOJI_BUILD, users: 40, maxConcepts: 60, size: 16, historyMin: 6, historyMax: 10, validConcepts: 0.25, testConcepts: 0.25, validUsers: 0.25 });
  await embedDataset(store, 'emoji-styles', { text: new FakeEncoder<string>('text', { modelId: 'use-fake' }), image: imageEncoder });
  styleEncoder = createStyleStatsEncoder();
  await embedDataset(store, 'emoji-styles', { image: styleEncoder });
  const rc = prepareRanking(DatasetView.open(store, 'emoji-styles'));
  await trainRankingModels(rc, home, { models: ['bprmf', 'ranker'], ranker: { ...DEFAULT_RANKER, epochs: 1, samplesPerEpoch: 200 }, bprmf: { epochs: 2, seed: 1 } });
  setup = generationSetupFrom(rc, home);
  trainJointForDataset(store, 'emoji-styles', { image: 'mobilenet', text: 'use' }, { ...DEFAULT_JOINT, dimension: 8, epochs: 2 });
  instruments = openTaskInstruments(setup, { split: 'test', seed: 1, jointDir: jointSpaceDir(home, 'emoji-styles'), rankerKey: 'ranker-1' });
}, 240_000);

afterAll(() => {
  store?.close();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('prepareEvalTasks', () => {
  it('weights the history yardstick by the tuned retrieval weights and samples other users of the split', () => {
    const tasks = prepareEvalTasks(instruments, DatasetView.open(store, 'emoji-styles').tasks('test').slice(0, 4));
    for (const t of tasks) {
      expect(t.history.length).toBeGreaterThan(0);
      expect(t.history.length).toBeLessThanOrEqual(instruments.histK);
      expect(t.history.reduce((s, h) => s + h.weight, 0)).toBeCloseTo(1, 6);
      expect(t.history.every((h, i) => i === 0 || h.retrievalWeight <= t.history[i - 1].retrievalWeight)).toBe(true);
      expect(t.others.some((u) => u.userId === t.task.userId)).toBe(false);
      expect(t.others.every((u) => u.split === 'test')).toBe(true);
      expect(t.target!.concept).toBe(t.reference.concept);
    }
    // the candidate seed depends on the task, not on its position
    const again = prepareEvalTasks(instruments, DatasetView.open(store, 'emoji-styles').tasks('test').slice(2, 4));
    expect(again.map((t) => t.seed)).toEqual(tasks.slice(2, 4).map((t) => t.seed));
  });
});

describe('runEvaluation', () => {
  let first: Awaited<ReturnType<typeof runEvaluation>>;

  it('runs every method, scores each task and builds a valid report', async () => {
    first = await runEvaluation(setup, instruments, engines(), { image: imageEncoder, style: styleEncoder }, options());
    const { report } = first;
    validateReport(report);
    expect(report.methods.map((m) => m.name)).toEqual(['copy', 'non-personalised', 'pooling', 'retrieval', 'ragar', 'lambda0', 'oracle', 'target']);
    // style accuracy per target style: one entry per style among the tasks' targets, each a share
    for (const m of report.methods) {
      const by = m.styleByTarget!;
      expect(Object.keys(by).length).toBeGreaterThan(0);
      for (const v of Object.values(by)) expect(v >= 0 && v <= 1).toBe(true);
    }
    const evaluated = prepareEvalTasks(instruments, DatasetView.open(store, 'emoji-styles').tasks('test').filter((t) => t.targetItemId !== null).slice(0, 6));
    const styleCounts = new Map<string, number>();
    for (const t of evaluated) styleCounts.set(t.target!.style!, (styleCounts.get(t.target!.style!) ?? 0) + 1);
    // the oracle conditions on each task's true target style
    expect(oracleCalls.slice(0, 6)).toEqual(evaluated.map((t) => t.target!.style));
    // the overall style accuracy is the per-style accuracies weighted by each style's task count
    for (const m of report.methods) {
      const weighted = [...styleCounts].reduce((a, [st, c]) => a + c * m.styleByTarget![st], 0) / 6;
      expect(weighted).toBeCloseTo(m.values.style, 10);
    }
    const by = Object.fromEntries(report.methods.map((m) => [m.name, m.values]));
    // the copy is the reference, the target is the ground truth
    expect(by.copy.cis).toBeCloseTo(100, 4);
    expect(by.target.targetSsim).toBeCloseTo(1, 6);
    expect(by.target.perceptual).toBeCloseTo(0, 6);
    expect(by.target.concept).toBe(1);
    expect(by.target.frechet).toBeCloseTo(0, 6);
    for (const m of report.methods) {
      expect(m.n).toBe(6);
      for (const key of ['style', 'concept', 'rankerTop1']) {
        expect(m.values[key]).toBeGreaterThanOrEqual(0);
        expect(m.values[key]).toBeLessThanOrEqual(1);
      }
      expect(m.values.rankerRank).toBeGreaterThanOrEqual(1);
      expect(Number.isFinite(m.values.cs)).toBe(true); // the joint space exists
      expect(Number.isFinite(m.values.histMsSsim)).toBe(true);
    }
    // every label names its extractor
    expect(report.metrics.find((m) => m.key === 'cis')!.label).toBe('CIS [mobilenetv2-fake]');
    expect(report.metrics.find((m) => m.key === 'cs')!.label).toMatch(/joint/);
    // paired intervals of ragar against every other method but the ground truth
    expect(new Set(report.intervals.map((iv) => iv.b))).toEqual(new Set(['copy', 'non-personalised', 'pooling', 'retrieval', 'lambda0', 'oracle']));
    expect(report.intervals.every((iv) => iv.a === 'ragar' && iv.n === 6 && iv.lo <= iv.diff + 1e-12 && iv.diff <= iv.hi + 1e-12)).toBe(true);
    // ablations: one default each; the default k is the tuned (here: built-in) k; λ from the two models
    const k = report.ablations.find((a) => a.parameter === 'k')!;
    expect(k.settings.filter((s) => s.isDefault).map((s) => s.value)).toEqual([String(setup.retrieval.k ?? 'all')]);
    expect(k.settings.map((s) => s.value)).toContain('all');
    expect(report.ablations.find((a) => a.parameter === 'lambda')!.settings.map((s) => [s.value, s.isDefault === true])).toEqual([
      ['0', false],
      ['0.01', true],
    ]);
    expect(k.settings.every((s) => s.n === 3)).toBe(true);
    // the default ablation setting reuses the main ragar run: same per-task results on those tasks
    const ragar3 = first.perTask.filter((r) => r.method === 'ragar').slice(0, 3);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(k.settings.find((s) => s.isDefault)!.values.rankerScore).toBeCloseTo(mean(ragar3.map((r) => r.scores.rankerScore)), 10);
    // grid: two tasks; generated methods only (copy and target are the reference and target columns)
    expect(report.tasks).toHaveLength(2);
    expect(Object.keys(report.tasks[0].outputs)).toEqual(['non-personalised', 'pooling', 'retrieval', 'ragar', 'lambda0', 'oracle']);
    expect(report.tasks[0].history.length).toBeGreaterThan(0);
    expect(report.tasks[0].history.length).toBeLessThanOrEqual(5);
    // 6 tasks × 6 generating methods + 3 tasks × (6 k settings − default) generated; the λ = 0
    // ablation setting is the lambda0 method's configuration, so its results are reused
    expect(first.counts.generated).toBe(6 * 6 + 3 * (k.settings.length - 1));
    expect(first.counts.cached).toBe(0);

    const dir = path.join(home, 'report');
    await writeReport(dir, report, first.images);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8'));
    expect(Object.keys(json.methods)).toContain('ragar');
    expect(typeof json.methods.ragar.style).toBe('number');
    expect(json.intervals['ragar vs pooling'].style).toHaveProperty('pValue');
    expect(fs.readFileSync(path.join(dir, 'metrics.csv'), 'utf8').split('\n')[0]).toMatch(/^method,n,style,/);
    expect(metricsJson(report).ablations.k.length).toBe(k.settings.length);
    const csv = perTaskCsv(first.perTask, report.metrics).trim().split('\n');
    expect(csv).toHaveLength(1 + 6 * 8);
    expect(csv[0]).not.toMatch(/frechet/);
  });

  it('resumes from the cache: a rerun generates nothing, a changed setting regenerates only what it changes', async () => {
    const again = await runEvaluation(setup, instruments, engines(), { image: imageEncoder, style: styleEncoder }, options());
    expect(again.counts.generated).toBe(0);
    expect(again.counts.cached).toBe(first.counts.generated);
    expect(again.report.methods).toEqual(first.report.methods);
    expect(again.report.ablations).toEqual(first.report.ablations);

    const more = await runEvaluation(setup, instruments, engines(), { image: imageEncoder, style: styleEncoder }, options({ candidates: 3, ablate: [] }));
    expect(more.counts.generated).toBe(6 * 3); // only ragar, λ = 0 with selection and the oracle (candidates changed)
    expect(more.counts.cached).toBe(6 * 3);
  });

  it('rescores cached outputs when the instruments change, without generating again', async () => {
    const other = openTaskInstruments(setup, { split: 'test', seed: 1, jointDir: jointSpaceDir(home, 'emoji-styles'), rankerKey: 'ranker-1', otherUsers: 3 });
    expect(other.key).not.toBe(instruments.key);
    const run = await runEvaluation(setup, other, engines(), { image: imageEncoder, style: styleEncoder }, options({ ablate: [] }));
    expect(run.counts.generated).toBe(0);
    expect(run.counts.rescored).toBe(6 * 6);
    const ragar = run.report.methods.find((m) => m.name === 'ragar')!;
    expect(ragar.values.rankerRank).toBeLessThanOrEqual(4);
    expect(ragar.values.style).toBe(first.report.methods.find((m) => m.name === 'ragar')!.values.style);
  });

  it('an interrupted run leaves a consistent cache and resuming gives the uninterrupted result', async () => {
    const controller = new AbortController();
    const cacheDir = path.join(home, 'cache-abort');
    const stop = (n: number) => {
      if (n === 7) controller.abort();
    };
    const interrupted = runEvaluation(setup, instruments, engines(stop), { image: imageEncoder, style: styleEncoder }, options({ cacheDir, signal: controller.signal }));
    await expect(interrupted).rejects.toMatchObject({ code: 'ABORTED', message: expect.stringMatching(/run the same command again to resume/) });
    const resumed = await runEvaluation(setup, instruments, engines(), { image: imageEncoder, style: styleEncoder }, options({ cacheDir }));
    expect(resumed.counts.cached).toBe(6);
    expect(resumed.counts.generated).toBe(first.counts.generated - 6);
    expect(resumed.report.methods).toEqual(first.report.methods);
    expect(resumed.report.intervals).toEqual(first.report.intervals);
  });

  it('without the joint space CS is unavailable with a note; with a CLIP folder the CLIP metrics appear', async () => {
    const clipDir = path.join(home, 'tiny-clip');
    await writeTinyClip(clipDir, { seed: 2 });
    const clip = await createClipEncoders({ modelPath: clipDir });
    try {
      const noJoint = openTaskInstruments(setup, { split: 'test', seed: 1, jointDir: path.join(home, 'no-such-joint'), clip, rankerKey: 'ranker-1' });
      expect(noJoint.jointNote).toMatch(/ragar train joint/);
      const run = await runEvaluation(setup, noJoint, engines(), { image: imageEncoder, style: styleEncoder }, options({ methods: ['copy', 'ragar', 'l1'], ablate: [], tasks: 4 }));
      const ragar = run.report.methods.find((m) => m.name === 'ragar')!;
      expect(Number.isNaN(ragar.values.cs)).toBe(true);
      expect(Number.isNaN(ragar.values.histCs)).toBe(true);
      for (const key of ['clipCis', 'clipCs', 'clipHistCis', 'clipHistCs', 'clipFrechet']) expect(Number.isFinite(ragar.values[key]), key).toBe(true);
      expect(run.report.methods.find((m) => m.name === 'copy')!.values.clipCis).toBeCloseTo(100, 3);
      expect(run.report.methods.map((m) => m.name)).toEqual(['copy', 'ragar', 'l1']);
      expect(run.report.intervals.filter((iv) => iv.metric === 'style').map((iv) => iv.b)).toEqual(['copy', 'l1']);
      expect(run.report.metrics.find((m) => m.key === 'clipCis')!.label).toMatch(/^CIS \[CLIP clip:tiny-clip:/);
      expect(run.report.notes.join('\n')).toMatch(/ragar train joint/);
      expect(run.report.intervals.some((iv) => iv.metric === 'cs')).toBe(false);
      validateReport(run.report);
    } finally {
      await Promise.all([clip.image.dispose(), clip.text.dispose()]);
    }
  });

  it('refuses an unknown method or ablation, a missing generator and a split without tasks', async () => {
    const enc = { image: imageEncoder, style: styleEncoder };
    await expect(runEvaluation(setup, instruments, engines(), enc, options({ methods: ['copy', 'nope' as never] }))).rejects.toThrow(/unknown method "nope"/);
    await expect(runEvaluation(setup, instruments, engines(), enc, options({ ablate: ['beta' as never] }))).rejects.toThrow(/unknown ablation "beta"/);
    await expect(runEvaluation(setup, instruments, { ragar: engines().ragar }, enc, options({ methods: ['pooling'] }))).rejects.toThrow(/ragar-norank generator/);
    await expect(runEvaluation(setup, instruments, engines(), enc, options({ split: 'nowhere' }))).rejects.toThrow(/no nowhere tasks/);
  });
});
