import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../store/store.js';

// End to end with the real embedded encoders (MobileNetV2 + USE) on a tiny benchmark.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsx = path.join(root, 'node_modules/.bin/tsx');
const bin = path.join(root, 'src/cli/bin.ts');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-e2e3-'));
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

function ragar(...args: string[]): { code: number; stdout: string; stderr: string; json: () => any } {
  const r = spawnSync(tsx, [bin, '--home', home, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

describe('embed → train joint → retrieve → retrieve evaluate', () => {
  it('runs on the embedded default encoders', async () => {
    const build = ragar('dataset', 'build', 'emoji-styles', '--users', '40', '--concepts', '60', '--valid-concepts', '0.25', '--test-concepts', '0.25', '--valid-users', '0.25', '--size', '32', '--history-min', '6', '--history-max', '10', '--quiet');
    expect(build.code, build.stderr).toBe(0);

    const embed = ragar('embed', '--json');
    expect(embed.code, embed.stderr).toBe(0);
    const e = embed.json();
    expect(e.text).toMatchObject({ modelId: 'use-energetic-ai-0.2.0', dimension: 512, computed: 300, encoded: 60 });
    expect(e.image).toMatchObject({ dimension: 1280, computed: 300 });
    expect(e.style).toMatchObject({ modelId: 'style-stats-v1@64', dimension: 48, computed: 300 });
    const again = ragar('embed', '--json').json();
    expect(again.text.computed).toBe(0);
    expect(again.image.computed).toBe(0);
    expect(again.style.computed).toBe(0);

    const joint = ragar('train', 'joint', '--epochs', '5', '--json');
    expect(joint.code, joint.stderr).toBe(0);
    const j = joint.json();
    expect(j.heldOut.candidates).toBeGreaterThan(1);
    expect(fs.existsSync(path.join(home, 'models/emoji-styles/joint/joint.bundle'))).toBe(true);
    expect(j.options.seed).toBe(1);

    const ev = ragar('retrieve', 'evaluate', '--dataset', 'emoji-styles', '--split', 'test', '--json');
    expect(ev.code, ev.stderr).toBe(0);
    const r = ev.json();
    expect(typeof r.retrieval.styleMatch).toBe('number');
    expect(typeof r.uniform.styleMatch).toBe('number');
    expect(fs.existsSync(path.join(home, 'models/emoji-styles/retrieval.json'))).toBe(true);

    const store = Store.open(home);
    const task = store.db
      .prepare('SELECT u.external_id AS user, i.external_id AS ref FROM tasks t JOIN users u ON u.id = t.user_id JOIN items i ON i.id = t.reference_item_id LIMIT 1')
      .get() as { user: string; ref: string };
    store.close();
    const one = ragar('retrieve', '--user', task.user, '--reference', task.ref, '--json');
    expect(one.code, one.stderr).toBe(0);
    const p = one.json();
    expect(p.history.reduce((s: number, h: { weight: number }) => s + h.weight, 0)).toBeCloseTo(1, 6);
    expect(p.paramsSource).toMatch(/tuned on valid/);
    expect(p.keywords.length).toBeGreaterThan(0);
    const text = ragar('retrieve', '--user', task.user, '--reference', task.ref, '--weights', 'uniform');
    expect(text.stdout).toMatch(/weights: uniform/);

    const unknown = ragar('retrieve', '--user', 'nobody', '--reference', task.ref);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no user "nobody"/);

    // Ranking: train (briefly), evaluate against the baselines, score an image no one has seen.
    const train = ragar('rank', 'train', '--epochs', '1', '--samples', '300', '--bprmf-epochs', '2', '--json');
    expect(train.code, train.stderr).toBe(0);
    expect(train.json()).toHaveProperty('ranker.epochsRun', 1);
    expect(fs.existsSync(path.join(home, 'models/emoji-styles/rank/ranker/ranker.bundle'))).toBe(true);
    const rankEval = ragar('rank', 'eval', '--dataset', 'emoji-styles', '--split', 'test', '--json');
    expect(rankEval.code, rankEval.stderr).toBe(0);
    const m = rankEval.json();
    for (const name of ['ranker', 'popularity', 'bprmf', 'content']) {
      expect(m.models[name]['ndcg@10']).toBeGreaterThanOrEqual(0);
      expect(m.models[name]['recall@20']).toBeGreaterThanOrEqual(0);
    }
    expect(m.coldPairwiseAccuracy).toBeGreaterThanOrEqual(0);
    expect(m.coldPairwiseAccuracy).toBeLessThanOrEqual(1);
    const png = path.join(home, 'probe.png');
    fs.copyFileSync(fs.readdirSync(path.join(home, 'images'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name))[0], png);
    const score = ragar('rank', 'score', '--user', task.user, '--image', png, '--json');
    expect(score.code, score.stderr).toBe(0);
    expect(Number.isFinite(score.json().score)).toBe(true);
    const corrupt = path.join(home, 'corrupt.png');
    fs.writeFileSync(corrupt, 'not an image');
    const bad = ragar('rank', 'score', '--user', task.user, '--image', corrupt);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/corrupt\.png/);
    expect(score.json().styleModel).toBe('style-stats-v1@64');

    // The pixel-space tower distilled from the ranker: agreement measured on held-out concepts.
    const distill = ragar('rank', 'distill', '--epochs', '2', '--json');
    expect(distill.code, distill.stderr).toBe(0);
    const dm = distill.json();
    expect(dm.format).toBe('ragar-tower-distill-v1');
    expect(dm.heldOutItems).toBeGreaterThan(0);
    expect(dm.agreement.spearmanFull).toBeGreaterThanOrEqual(-1);
    expect(dm.agreement.spearmanFull).toBeLessThanOrEqual(1);
    expect(fs.existsSync(path.join(home, 'models/emoji-styles/rank/tower/distill.json'))).toBe(true);
    // The built-in generator: train tiny variants for a few steps, generate, evaluate.
    for (const variant of ['ragar', 'ragar-norank', 'l1']) {
      // ragar-norank also exercises the style classifier's (K+1)-th class, "generated"; l1 the non-residual output
      const fake = variant === 'ragar-norank' ? ['--fake-class'] : variant === 'l1' ? ['--no-residual'] : [];
      const tg = ragar('train', 'generator', '--variant', variant, '--steps', '3', '--minutes', '0', '--batch-size', '2', '--base', '4', '--levels', '2', ...fake, '--json');
      expect(tg.code, tg.stderr).toBe(0);
      const rec = tg.json();
      expect(rec.steps).toBe(3);
      expect(rec.options.lambda > 0).toBe(variant === 'ragar');
      expect(rec.options.fakeClass).toBe(variant === 'ragar-norank');
      expect(rec.options.residual).toBe(variant !== 'l1');
      expect(rec.seconds).toBeGreaterThan(0);
      expect(fs.existsSync(path.join(home, `models/emoji-styles/generator/${variant}/generator.json`))).toBe(true);
    }
    // the per-style finishing, fitted on train concepts beside the weights (kept for ragar, which generates below)
    // (ragar's by the judge objective: a style critic of the evaluation judge's kind, trained on the train concepts' renditions,
    // and concept top-1 among train distractors; l1's by that critic's cross-entropy)
    for (const variant of ['ragar', 'l1']) {
      const fit = ragar('train', 'finishing', '--variant', variant, '--concepts', '2', '--objective', variant === 'l1' ? 'critic' : 'judge', '--json');
      expect(fit.code, fit.stderr).toBe(0);
      const f = fit.json();
      expect(f.options).toHaveLength(f.classes.length);
      expect(f.paramsSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(f.cfgScale).toBe(2);
      expect(f.fit.objective).toMatch(variant === 'l1' ? /^critic: / : /^judge: /);
      if (variant === 'l1') {
        expect(f.fit.critic.trainItems).toBeGreaterThan(0);
        expect(f.fit.critic.features).toMatch(/\+style-stats/);
      }
      expect(fs.existsSync(path.join(home, `models/emoji-styles/generator/${variant}/finishing.json`))).toBe(true);
    }
    // resuming: a second run with a larger step budget continues from the checkpoint (and drops the finishing fitted for the old weights)
    const resumed = ragar('train', 'generator', '--variant', 'l1', '--steps', '4', '--minutes', '0', '--batch-size', '2', '--base', '4', '--levels', '2', '--no-residual', '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.json()).toMatchObject({ steps: 4, resumedFrom: 3 });
    expect(fs.existsSync(path.join(home, 'models/emoji-styles/generator/l1/finishing.json'))).toBe(false);
    const out = path.join(home, 'gen-out');
    const gen = ragar('generate', '--user', task.user, '--reference', task.ref, '--candidates', '2', '--out', out, '--json');
    expect(gen.code, gen.stderr).toBe(0);
    const record = gen.json();
    expect(record.candidates).toHaveLength(2);
    expect(record.candidates.filter((c: { chosen: boolean }) => c.chosen)).toHaveLength(1);
    expect(record.retrievalWeights.reduce((s: number, h: { weight: number }) => s + h.weight, 0)).toBeCloseTo(1, 5);
    expect(fs.existsSync(path.join(out, 'chosen.png'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'record.json'), 'utf8')).engine).toMatchObject({ provider: 'builtin', modelId: 'ragar' });
    // the finishing fitted above is applied and recorded
    const byStyle = record.generator.finishing.byStyle as Record<string, { median: number; colours: number }>;
    expect(Object.keys(byStyle).length).toBeGreaterThan(1);
    for (const o of Object.values(byStyle)) expect([1, 3]).toContain(o.median);
    const fromFile = ragar('generate', '--user', task.user, '--reference-image', png, '--reference-text', 'a smiling face', '--lambda', '0', '--weights', 'uniform', '--candidates', '1', '--out', path.join(home, 'gen-file'), '--json');
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.json().generator.variant).toBe('ragar-norank');
    const badRef = ragar('generate', '--user', task.user, '--reference-image', corrupt, '--reference-text', 'x', '--out', path.join(home, 'gen-bad'));
    expect(badRef.code).toBe(1);
    expect(badRef.stderr).toMatch(/corrupt\.png/);
    const badUser = ragar('generate', '--user', 'nobody', '--reference', task.ref, '--out', path.join(home, 'gen-bad'));
    expect(badUser.code).toBe(1);
    expect(badUser.stderr).toMatch(/nobody/);
    const gev = ragar('generate', 'evaluate', '--tasks', '3', '--candidates', '2', '--speed-runs', '2', '--json');
    expect(gev.code, gev.stderr).toBe(0);
    const ge = gev.json();
    for (const run of ['retrieval+rank', 'retrieval', 'uniform+rank', 'uniform', 'oracle']) {
      for (const metric of ['styleAccuracy', 'conceptTop1', 'ssim', 'frechet', 'userRankerScore']) expect(typeof ge.runs[run][metric]).toBe('number');
      expect(Object.values(ge.runs[run].styleAccuracyByTarget).every((v) => typeof v === 'number')).toBe(true);
      // the confusion rows count every task once, and their diagonal is the style accuracy
      const confusion = ge.runs[run].styleConfusion as Record<string, Record<string, number>>;
      const cells = Object.entries(confusion).flatMap(([target, row]) => Object.entries(row).map(([named, count]) => ({ target, named, count })));
      expect(cells.reduce((a, c) => a + c.count, 0)).toBe(ge.runs[run].n);
      expect(cells.filter((c) => c.target === c.named).reduce((a, c) => a + c.count, 0) / ge.runs[run].n).toBeCloseTo(ge.runs[run].styleAccuracy, 9);
    }
    expect(typeof ge.baselines.l1Regressor.ssim).toBe('number');
    const noWeights = ragar('generate', 'evaluate', '--tasks', '1', '--runs', 'retrieval', '--speed-runs', '0', '--generators', path.join(home, 'no-such-weights'));
    expect(noWeights.code).toBe(1);
    expect(noWeights.stderr).toMatch(/no-such-weights[\/]ragar-norank/);
    // Several evaluation seeds: the means, each seed's runs, the oracle's confusion counts summed over the seeds
    const seeded = ragar('generate', 'evaluate', '--tasks', '3', '--runs', 'retrieval,oracle', '--speed-runs', '0', '--seeds', '1-2', '--json');
    expect(seeded.code, seeded.stderr).toBe(0);
    const gs = seeded.json();
    expect(gs.seeds).toEqual([1, 2]);
    expect(gs.runs.retrieval.styleAccuracy).toBeCloseTo((gs.bySeed['1'].retrieval.styleAccuracy + gs.bySeed['2'].retrieval.styleAccuracy) / 2, 9);
    expect(gs.runs.retrieval.conceptTop1).toBeCloseTo((gs.bySeed['1'].retrieval.conceptTop1 + gs.bySeed['2'].retrieval.conceptTop1) / 2, 9);
    const summed = Object.values(gs.runs.oracle.styleConfusion as Record<string, Record<string, number>>).flatMap((row) => Object.values(row));
    expect(summed.reduce((a, b) => a + b, 0)).toBe(gs.bySeed['1'].oracle.n + gs.bySeed['2'].oracle.n);
    const both = ragar('generate', 'evaluate', '--seed', '3', '--seeds', '1-2', '--tasks', '1', '--runs', 'retrieval', '--speed-runs', '0');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--seed or --seeds, not both/);
    expect(ge.ceilings.styleRealAccuracy).toBeGreaterThan(0);
    expect(ge.secondsPerImage).toBeGreaterThan(0);

    // The evaluation harness: the report contract, resuming from its cache, clear errors.
    const reportDir = path.join(home, 'eval-report');
    const evalArgs = ['eval', '--dataset', 'emoji-styles', '--split', 'test', '--tasks', '3', '--ablation-tasks', '2', '--grid-tasks', '2', '--candidates', '2', '--resamples', '200', '--ablate', 'k,lambda', '--workers', '0', '--report', reportDir];
    const ev1 = ragar(...evalArgs, '--json');
    expect(ev1.code, ev1.stderr).toBe(0);
    const mj = JSON.parse(fs.readFileSync(path.join(reportDir, 'metrics.json'), 'utf8'));
    for (const name of ['copy', 'non-personalised', 'pooling', 'retrieval', 'ragar', 'lambda0', 'oracle', 'target']) {
      for (const metric of ['style', 'concept', 'targetSsim', 'cis', 'cs', 'histCis', 'histSsim', 'rankerScore', 'frechet']) expect(typeof mj.methods[name][metric], `${name} ${metric}`).toBe('number');
      expect(mj.methods[name].n).toBe(3);
    }
    expect(mj.intervals['ragar vs pooling'].style).toHaveProperty('lo');
    expect(Object.keys(mj.styleByTarget.oracle).length).toBeGreaterThan(0);
    expect(mj.ablations.k.filter((s: { isDefault: boolean }) => s.isDefault)).toHaveLength(1);
    expect(mj.metrics.find((m: { key: string }) => m.key === 'cis').label).toMatch(/^CIS \[MobileNetV2 flatten_1\]$/);
    expect(fs.readFileSync(path.join(reportDir, 'metrics.csv'), 'utf8')).toMatch(/^method,n,style,/);
    expect(fs.readFileSync(path.join(reportDir, 'report.html'), 'utf8')).toMatch(/Ablation of/);
    expect(ev1.json().files.html).toBe(path.join(reportDir, 'report.html'));
    const ev2 = ragar(...evalArgs, '--prepare'); // everything is prepared already: a no-op, then all results from the cache
    expect(ev2.code, ev2.stderr).toBe(0);
    expect(ev2.stdout).toMatch(/^ragar\s/m);
    expect(JSON.parse(fs.readFileSync(path.join(reportDir, 'metrics.json'), 'utf8')).extra.counts.generated).toBe(0);
    // Another guidance scale and sharpening: recorded, and generated anew rather than taken from the cache.
    const ev3 = ragar(...evalArgs, '--cfg', '1', '--sharpen', '0');
    expect(ev3.code, ev3.stderr).toBe(0);
    const mj3 = JSON.parse(fs.readFileSync(path.join(reportDir, 'metrics.json'), 'utf8'));
    expect(mj3.extra.engineOptions).toEqual({ cfgScale: 1, sharpen: 0 });
    expect(mj3.extra.counts.generated).toBeGreaterThan(0);
    for (const [args, message] of [
      [['--methods', 'ragar,magic'], /unknown method "magic"/],
      [['--ablate', 'beta'], /unknown ablation "beta"/],
      [['--split', 'nope'], /no "nope" tasks/],
      [['--generators', path.join(home, 'nowhere')], /no ragar generator weights .*ragar train generator/],
    ] as const) {
      const bad = ragar('eval', ...args, '--report', path.join(home, 'eval-bad'));
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(message);
    }
    expect(fs.existsSync(path.join(home, 'eval-bad'))).toBe(false);

    // Retraining the ranker makes the tower stale: it is refused, not silently used.
    expect(ragar('rank', 'train', '--models', 'ranker', '--epochs', '1', '--samples', '100', '--seed', '2', '--quiet').code).toBe(0);
    const { loadDistilledTower } = await import('../ranking/distill.js');
    const { prepareRanking } = await import('../ranking/pipeline.js');
    const { DatasetView } = await import('../data/access.js');
    const store2 = Store.open(home);
    try {
      const ctx = prepareRanking(DatasetView.open(store2, 'emoji-styles'));
      await expect(loadDistilledTower(home, ctx)).rejects.toThrow(/another ranker/);
    } finally {
      store2.close();
    }
  }, 600_000);
});
