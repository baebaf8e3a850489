import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { RagarError } from '../../util/errors.js';
import { createA1111Engine } from '../a1111/engine.js';
import { createComfyEngine } from '../comfyui/engine.js';
import { loadEngineConfig } from '../engineConfig.js';
import { warningText } from '../types.js';
import { remoteMetadata } from './engine.js';

/**
 * A smoke run of a remote engine against real servers (used by `scripts/gpu-check.sh`): a
 * synthetic reference (a yellow disc) and three history images (blue, red, green squares with
 * retrieval weights 0.6 / 0.3 / 0.1), two candidates, retrieval then uniform weighting; writes
 * the PNGs and `record.json` (what was sent, timings, warnings) to `outDir`.
 *
 * @example
 * await runRemoteSmoke('comfyui', { urls: ['http://127.0.0.1:8188'] }, '/tmp/smoke');
 */
export async function runRemoteSmoke(engineName: 'comfyui' | 'a1111', settings: Record<string, unknown> & { urls: string[] }, outDir: string, log: (line: string) => void = console.log): Promise<{ seconds: number; files: string[] }> {
  const square = (c: string) => sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="${c}"/><circle cx="128" cy="128" r="60" fill="white"/></svg>`)).png().toBuffer();
  const images: Record<string, Buffer> = { blue: await square('#2255ee'), red: await square('#ee2222'), green: await square('#22bb44') };
  const reference = await sharp(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512"><rect width="512" height="512" fill="white"/><circle cx="256" cy="256" r="180" fill="#ffcc33" stroke="#333" stroke-width="12"/></svg>')).png().toBuffer();
  const engine = engineName === 'comfyui' ? createComfyEngine(settings as never) : createA1111Engine(settings as never);
  mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  const t0 = performance.now();
  const records: unknown[] = [];
  for (const weighting of ['retrieval', 'uniform'] as const) {
    const w = weighting === 'retrieval' ? [0.6, 0.3, 0.1] : [1 / 3, 1 / 3, 1 / 3];
    const r = await engine.doGenerate({
      reference: { image: reference, text: 'a smiling sun' },
      prompt: null,
      preference: { weighting, history: ['blue', 'red', 'green'].map((item, i) => ({ item, weight: w[i], text: item, style: null, image: () => images[item] })), keywords: ['flat', 'sticker'] },
      user: 'smoke',
      candidates: 2,
      seed: 1,
      onProgress: (e) => e.stage !== 'sampling' && log(`${engineName} ${weighting}: ${e.stage} ${e.done}/${e.total}`),
    });
    r.candidates.forEach((c, i) => {
      const f = join(outDir, `${engineName}-${weighting}-${i}.png`);
      writeFileSync(f, c.png);
      files.push(f);
    });
    const meta = remoteMetadata(r, engineName);
    records.push({ weighting, sent: meta?.sent, selection: meta?.selection, timings: r.response.timings, warnings: r.warnings.map(warningText) });
    log(`${engineName} ${weighting}: ${r.candidates.length} images in ${(r.response.timings.total / 1000).toFixed(1)} s; ${r.warnings.length} warning(s)`);
  }
  const recordFile = join(outDir, `${engineName}-record.json`);
  writeFileSync(recordFile, JSON.stringify(records, null, 2));
  files.push(recordFile);
  await engine.dispose();
  return { seconds: (performance.now() - t0) / 1000, files };
}

async function main(): Promise<void> {
  const [engineName, urlsOrConfig, outDir = 'gpu-check-out'] = process.argv.slice(2);
  if ((engineName !== 'comfyui' && engineName !== 'a1111') || !urlsOrConfig) throw new RagarError('usage: tsx src/generation/remote/smoke.ts comfyui|a1111 URL[,URL…]|CONFIG.json [OUT_DIR]', 'BAD_INPUT');
  const settings = urlsOrConfig.endsWith('.json') ? loadEngineConfig(urlsOrConfig).engines[engineName] : { urls: urlsOrConfig.split(',') };
  if (!settings) throw new RagarError(`${urlsOrConfig} has no engines.${engineName}`, 'BAD_INPUT');
  const r = await runRemoteSmoke(engineName, settings as Record<string, unknown> & { urls: string[] }, outDir);
  console.log(`wrote ${r.files.join(', ')} in ${r.seconds.toFixed(1)} s`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(`smoke: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
