import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeA1111, type FakeA1111Server } from '../generation/a1111/fakeServer.testing.js';
import { startFakeComfy, type FakeComfyServer } from '../generation/comfyui/fakeServer.testing.js';
import { createRagar } from '../api/ragar.js';
import { createComfyEngine } from '../generation/comfyui/engine.js';
import { Store } from '../store/store.js';
import { writePmgFixture } from './testing/pmgFixture.js';

// `ragar generate` and `ragar eval` with the remote engines against the fake servers, on an
// imported PMG-Bench fixture. The CLI runs as a child process (asynchronously: the fake servers
// answer from this process's event loop).
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsx = path.join(root, 'node_modules/.bin/tsx');
const bin = path.join(root, 'src/cli/bin.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-remote-e2e-'));
const home = path.join(tmp, 'home');
let comfy: FakeComfyServer;
let a1111: FakeA1111Server;

function ragar(...args: string[]): Promise<{ code: number; stdout: string; stderr: string; json: () => any }> {
  return new Promise((resolve) => {
    const child = spawn(tsx, [bin, '--home', home, ...args], { cwd: tmp, env: { ...process.env, RAGAR_HOME: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, json: () => JSON.parse(stdout) }));
  });
}
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  comfy = await startFakeComfy();
  a1111 = await startFakeA1111();
  const file = await writePmgFixture(path.join(tmp, 'pmg'), 8);
  const imported = await ragar('dataset', 'import', 'pmg-bench', file, '--dataset', 'pmg', '--json');
  expect(imported.code, imported.stderr).toBe(0);
  const embed = await ragar('embed', '--dataset', 'pmg', '--workers', '0', '--json');
  expect(embed.code, embed.stderr).toBe(0);
  // settings from the config file (small and fast); the servers' URLs come from the flags
  fs.writeFileSync(
    path.join(tmp, 'ragar.config.json'),
    JSON.stringify({ engines: { comfyui: { urls: ['http://127.0.0.1:9'], size: 64, pollMs: 20, values: { steps: 2 } }, a1111: { urls: ['http://127.0.0.1:9'], size: 64, steps: 2, pollMs: 20 } } }),
  );
}, 240_000);
afterAll(async () => {
  await comfy?.close();
  await a1111?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function firstTask(): { user: string; ref: string; text: string } {
  const store = Store.open(home);
  try {
    return store.db.prepare('SELECT u.external_id AS user, i.external_id AS ref, i.text AS text FROM tasks t JOIN users u ON u.id = t.user_id JOIN items i ON i.id = t.reference_item_id ORDER BY t.id LIMIT 1').get() as { user: string; ref: string; text: string };
  } finally {
    store.close();
  }
}

describe('remote engines from the command line (fake servers, imported PMG-Bench fixture)', () => {
  it('says that generation needs a trained ranker, and that a remote engine needs a server', async () => {
    const { user, ref } = firstTask();
    const noRanker = await ragar('generate', '--dataset', 'pmg', '--engine', 'comfyui', '--comfy-url', comfy.url, '--user', user, '--reference', ref, '--out', path.join(tmp, 'x'));
    expect(noRanker.code).toBe(1);
    expect(noRanker.stderr).toMatch(/rank train/);
    const train = await ragar('rank', 'train', '--dataset', 'pmg', '--epochs', '1', '--samples', '200', '--bprmf-epochs', '2', '--json');
    expect(train.code, train.stderr).toBe(0);
    fs.renameSync(path.join(tmp, 'ragar.config.json'), path.join(tmp, 'off.json'));
    try {
      const noServer = await ragar('generate', '--dataset', 'pmg', '--engine', 'a1111', '--user', user, '--reference', ref, '--out', path.join(tmp, 'x'));
      expect(noServer.code).toBe(2);
      expect(noServer.stderr).toMatch(/--a1111-url URL/);
    } finally {
      fs.renameSync(path.join(tmp, 'off.json'), path.join(tmp, 'ragar.config.json'));
    }
    const wrongFlag = await ragar('generate', '--dataset', 'pmg', '--engine', 'comfyui', '--a1111-url', a1111.url, '--user', user, '--reference', ref, '--out', path.join(tmp, 'x'));
    expect(wrongFlag.code).toBe(2);
  }, 120_000);

  it('ragar generate --engine comfyui writes chosen.png and a record whose weights, prompt and image prompts are what reached the server', async () => {
    const { user, ref, text } = firstTask();
    const out = path.join(tmp, 'gen-comfy');
    const before = comfy.prompts.length;
    const r = await ragar('generate', '--dataset', 'pmg', '--engine', 'comfyui', '--comfy-url', comfy.url, '--user', user, '--reference', ref, '--candidates', '2', '--strength', '0.55', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(fs.readFileSync(path.join(out, 'record.json'), 'utf8'));
    expect(fs.existsSync(path.join(out, 'chosen.png'))).toBe(true);
    const prompts = comfy.prompts.slice(before);
    expect(prompts).toHaveLength(2);
    expect(record.engine).toMatchObject({ provider: 'comfyui', servers: [comfy.url] });
    expect(record.engine.sent).toHaveLength(2);
    // the retrieval weights are the image-prompt weights (no folding with ≤ 8 items)
    const weights = Object.fromEntries(record.retrievalWeights.map((w: { item: string; weight: number }) => [w.item, w.weight]));
    for (const [i, sent] of record.engine.sent.entries()) {
      const wf = prompts[i].prompt;
      const nodes = (cls: string) => Object.values(wf).filter((n) => n.class_type === cls);
      const encoders = nodes('IPAdapterEncoder');
      expect(encoders.map((n) => n.inputs.weight)).toEqual(sent.imagePrompts.map((p: { weight: number }) => p.weight));
      for (const p of sent.imagePrompts) {
        expect(p.retrievalWeight).toBe(weights[p.item]);
        expect(p.weight).toBeCloseTo(weights[p.item], 12);
        expect(sha256(comfy.uploads.get(p.image.name)!)).toBe(p.image.sha256);
      }
      expect(sent.imagePrompts.map((p: { item: string }) => p.item).sort()).toEqual(Object.keys(weights).sort());
      const ks = nodes('KSampler')[0];
      expect([ks.inputs.seed, ks.inputs.denoise]).toEqual([sent.seed, sent.strength]);
      expect([sent.seed, sent.strength]).toEqual([1 + i, 0.55]);
      expect(nodes('CLIPTextEncode').map((n) => n.inputs.text)).toContain(sent.prompt);
      expect(sent.prompt).toBe([text, ...record.keywords.map((k: { keyword: string }) => k.keyword)].join(', '));
      expect(sha256(comfy.uploads.get(sent.reference.name)!)).toBe(sent.reference.sha256);
    }
    // what came back is what was written
    for (const [i, back] of record.engine.returned.entries()) expect(sha256(fs.readFileSync(back.file))).toBe(back.sha256), expect(back.seed).toBe(1 + i);
    expect(sha256(fs.readFileSync(path.join(out, 'chosen.png')))).toBe(record.engine.returned[record.chosen.index].sha256);
  }, 120_000);

  it('ragar generate --engine a1111 does the same through ControlNet units, and --search-rounds records every call', async () => {
    const { user, ref } = firstTask();
    const out = path.join(tmp, 'gen-a1111');
    const before = a1111.img2img.length;
    const r = await ragar('generate', '--dataset', 'pmg', '--engine', 'a1111', '--a1111-url', a1111.url, '--user', user, '--reference', ref, '--candidates', '1', '--weights', 'uniform', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(fs.readFileSync(path.join(out, 'record.json'), 'utf8'));
    const bodies = a1111.img2img.slice(before);
    expect(bodies).toHaveLength(1);
    const sent = record.engine.sent[0];
    const units = ((bodies[0].alwayson_scripts as any).controlnet.args as { weight: number; image: string }[]).filter((u: any) => u.enabled);
    expect(units.map((u) => u.weight)).toEqual(sent.imagePrompts.map((p: { weight: number }) => p.weight));
    expect(units.map((u) => sha256(Buffer.from(u.image, 'base64')))).toEqual(sent.imagePrompts.map((p: { image: { sha256: string } }) => p.image.sha256));
    const n = record.retrievalWeights.length;
    for (const w of record.retrievalWeights) expect(w.weight).toBeCloseTo(1 / n, 12);
    // ControlNet's unit count (3 on the fake) limits the units; the rest is folded, equal shares stay equal
    const kept = sent.imagePrompts.map((p: { item: string }) => p.item);
    expect(kept).toHaveLength(3);
    expect([...kept, ...record.engine.selection.folded.map((f: { item: string }) => f.item)].sort()).toEqual(record.retrievalWeights.map((w: { item: string }) => w.item).sort());
    for (const p of sent.imagePrompts) expect(p.retrievalWeight).toBeCloseTo(1 / n, 12), expect(p.weight).toBeCloseTo(sent.imagePromptScale / 3, 12);
    expect(record.warnings.join('\n')).toMatch(/folded/);
    expect([bodies[0].prompt, bodies[0].seed, bodies[0].denoising_strength]).toEqual([sent.prompt, sent.seed, sent.strength]);
    expect(sha256(Buffer.from((bodies[0].init_images as string[])[0], 'base64'))).toBe(sent.reference.sha256);

    const searchOut = path.join(tmp, 'gen-search');
    const s0 = a1111.img2img.length;
    const s = await ragar('generate', '--dataset', 'pmg', '--engine', 'a1111', '--a1111-url', a1111.url, '--user', user, '--reference', ref, '--candidates', '2', '--search-rounds', '2', '--out', searchOut, '--json');
    expect(s.code, s.stderr).toBe(0);
    const sr = JSON.parse(fs.readFileSync(path.join(searchOut, 'record.json'), 'utf8'));
    expect(sr.search.rounds).toBe(2);
    expect(sr.search.images).toBe(a1111.img2img.length - s0);
    expect(sr.search.calls.length).toBeGreaterThanOrEqual(2);
    expect(sr.search.best.score).toBe(Math.max(...sr.search.calls.flatMap((c: { scores: number[] }) => c.scores)));
    const chosen = sr.candidates.find((c: { chosen: boolean }) => c.chosen);
    expect(chosen.seed).toBe(sr.search.best.seed);
    expect(chosen.rankerScore).toBeCloseTo(sr.search.best.score, 6);
    expect(sr.engine.sent.every((x: { strength: number }) => x.strength === sr.search.best.strength)).toBe(true);
    const builtinSearch = await ragar('generate', '--dataset', 'pmg', '--user', user, '--reference', ref, '--search-rounds', '2', '--out', searchOut);
    expect(builtinSearch.code).toBe(2);
  }, 180_000);

  it('createRagar(...).personalize takes a remote engine and returns the record of what was sent', async () => {
    const { user, ref } = firstTask();
    const engine = createComfyEngine({ urls: [comfy.url], size: 64, pollMs: 20, values: { steps: 2 } });
    const ragarLib = createRagar({ home, dataset: 'pmg', workers: 0 });
    try {
      const before = comfy.prompts.length;
      const out = await ragarLib.personalize({ user, reference: ref, engine, candidates: 2, strength: 0.5 });
      expect(out.candidates).toHaveLength(2);
      const rec = out.record.engine as { provider: string; sent: { seed: number; strength: number; imagePrompts: { item: string; weight: number }[] }[] };
      expect(rec.provider).toBe('comfyui');
      expect(rec.sent.map((x) => [x.seed, x.strength])).toEqual([[1, 0.5], [2, 0.5]]);
      const wf = comfy.prompts[before].prompt;
      expect(Object.values(wf).filter((n) => n.class_type === 'IPAdapterEncoder').map((n) => n.inputs.weight)).toEqual(rec.sent[0].imagePrompts.map((p) => p.weight));
      expect(rec.sent[0].imagePrompts.map((p) => p.item).sort()).toEqual(out.weights.map((w) => w.item).sort());
    } finally {
      await ragarLib.close();
      await engine.dispose();
    }
  }, 120_000);

  it('ragar eval --engine comfyui on the imported PMG-Bench fixture writes a full report (reference-only metrics, intervals, ablation), and a rerun comes from the cache', async () => {
    // seed 2 holds out 4 of the fixture's 34 items (the joint space needs at least 2 held out)
    const joint = await ragar('train', 'joint', '--dataset', 'pmg', '--epochs', '3', '--seed', '2', '--json');
    expect(joint.code, joint.stderr).toBe(0);
    const report = path.join(tmp, 'report');
    const before = comfy.prompts.length;
    const args = ['eval', '--dataset', 'pmg', '--engine', 'comfyui', '--comfy-url', comfy.url, '--methods', 'copy,pooling,retrieval,ragar', '--ablate', 'k', '--ablation-tasks', '2', '--candidates', '2', '--resamples', '100', '--workers', '0', '--report', report, '--json'];
    const r = await ragar(...args);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['report.html', 'metrics.json', 'metrics.csv', 'intervals.csv', 'per-task.csv']) expect(fs.existsSync(path.join(report, f)), f).toBe(true);
    const m = JSON.parse(fs.readFileSync(path.join(report, 'metrics.json'), 'utf8'));
    expect(Object.keys(m.methods)).toEqual(['copy', 'pooling', 'retrieval', 'ragar']);
    const keys = m.metrics.map((x: { key: string }) => x.key);
    for (const k of ['cis', 'cs', 'histCis', 'histCs', 'histSsim', 'rankerScore']) expect(keys).toContain(k);
    for (const k of ['style', 'concept', 'targetSsim', 'frechet']) expect(keys).not.toContain(k);
    expect(m.metrics.find((x: { key: string }) => x.key === 'cis').label).toMatch(/MobileNetV2/);
    for (const method of ['pooling', 'retrieval', 'ragar']) for (const k of ['cis', 'cs', 'histCis', 'histSsim', 'rankerScore']) expect(Number.isFinite(m.methods[method][k]), `${method} ${k}`).toBe(true);
    expect(m.methods.copy.cis).toBeCloseTo(100, 6);
    expect(Object.keys(m.intervals).sort()).toEqual(['ragar vs copy', 'ragar vs pooling', 'ragar vs retrieval']);
    for (const iv of Object.values(m.intervals) as Record<string, { lo: number; hi: number; n: number }>[]) expect(iv.rankerScore.lo).toBeLessThanOrEqual(iv.rankerScore.hi), expect(iv.cis.n).toBe(8);
    expect(m.ablations.k.map((a: { value: string }) => a.value)).toContain('all');
    const tasks = 8;
    // pooling and retrieval one candidate per task, ragar two; the k ablation's non-default settings on 2 tasks
    const sent = comfy.prompts.slice(before);
    expect(sent.length).toBeGreaterThanOrEqual(tasks * 4);
    // pooling sends equal image-prompt weights, retrieval the retrieval weights
    const encoderWeights = (i: number) => Object.values(sent[i].prompt).filter((n) => n.class_type === 'IPAdapterEncoder').map((n) => n.inputs.weight as number);
    const pooled = encoderWeights(0);
    expect(pooled.length).toBeGreaterThan(1);
    for (const w of pooled) expect(w).toBeCloseTo(1 / pooled.length, 12);
    expect(m.notes.join(' ')).toMatch(/references only/);
    expect(fs.readFileSync(path.join(report, 'report.html'), 'utf8')).toMatch(/comfyui/);
    const again = await ragar(...args);
    expect(again.code, again.stderr).toBe(0);
    expect(comfy.prompts.length).toBe(before + sent.length);
    expect(JSON.parse(fs.readFileSync(path.join(report, 'metrics.json'), 'utf8')).methods.ragar.cis).toBe(m.methods.ragar.cis);
    const builtinOnly = await ragar('eval', '--dataset', 'pmg', '--engine', 'comfyui', '--comfy-url', comfy.url, '--cfg', '2', '--report', path.join(tmp, 'r3'));
    expect(builtinOnly.code).not.toBe(0);
    expect(builtinOnly.stderr).toMatch(/--cfg, --cfg-jitter, --sharpen, --generators and --lambda-models are built-in generator options; not with --engine comfyui/);
    const noEngine = await ragar('eval', '--dataset', 'pmg', '--report', path.join(tmp, 'r2'));
    expect(noEngine.code).toBe(1);
    expect(noEngine.stderr).toMatch(/--engine comfyui/);
  }, 300_000);
});
