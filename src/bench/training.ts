/**
 * The generator's training step, the ONNX engine (`src/generation/onnx`) against PyTorch on the
 * same network, batch and threads: the built-in U-Net of `onnxTrain.ts` (64×64, 10 → 3 channels,
 * base 32, 3 levels), one step = forward, mean |y − target|, backward, Adam. PyTorch is Debian's
 * `python3-torch`, found by {@link findTorchPython} and run only when installed; it rebuilds the
 * network from the engine's own NetSpec and parameters (`peers/torch_train.py`) and checks that
 * its forward output equals the engine's before timing.
 *
 * Side by side: each run times the engine's steps, then the peer's (a subprocess), and the ratio
 * of that run is taken; the medians over runs are reported.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createUnet, type UnetConfig } from '../generation/onnx/unet.js';
import { Adam } from '../util/adam.js';
import { RagarError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { median } from './stats.js';

/** The network both engines train (the generator's U-Net shape, as in `onnxTrain.ts`). */
export const TRAINING_BENCH_CONFIG: UnetConfig = { inChannels: 10, outChannels: 3, base: 32, levels: 3, size: 64, seed: 1 };

/**
 * A Python interpreter that imports torch: `$RAGAR_TORCH_PYTHON`, else `python3`, else Debian's
 * `/usr/bin/python3` (where `apt-get install python3-torch` puts it); null when none does.
 *
 * @example
 * findTorchPython(); // '/usr/bin/python3' or null
 */
export function findTorchPython(): string | null {
  const candidates = [process.env.RAGAR_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => Boolean(c));
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch, numpy'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}

/** Where the peer script is: beside this module (source runs) or in the repository's `src/bench/peers` (built runs). */
function peerScript(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const p of [path.join(here, 'peers', 'torch_train.py'), path.join(here, '..', '..', 'src', 'bench', 'peers', 'torch_train.py')]) {
    if (fs.existsSync(p)) return p;
  }
  throw new RagarError('src/bench/peers/torch_train.py is missing', 'NOT_FOUND');
}

function randomData(seed: number, n: number): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.next() * 2 - 1;
  return a;
}

/** Result of {@link trainingStepComparison}. */
export interface TrainingComparison {
  batch: number;
  threads: number;
  /** Per run: median ms per sample of the engine's steps. */
  onnxMsPerSample: number[];
  /** Per run: median ms per sample of PyTorch's steps; null without torch. */
  torchMsPerSample: number[] | null;
  /** Per run: engine / PyTorch (above 1 = the engine is slower). */
  ratios: number[] | null;
  /** Max |Δ| between PyTorch's forward output and the engine's on the same input and weights. */
  forwardMaxAbsDiff: number | null;
  torch: { python: string; version: string } | null;
  /** Why PyTorch did not run, when it did not. */
  torchMissing?: string;
  params: number;
  macsPerSample: number;
}

/**
 * Time the training step on both engines, `runs` times side by side, `steps` steps each after
 * warm-up. `onProgress` gets a line per run.
 *
 * @example
 * const r = await trainingStepComparison({ batch: 8, steps: 5, runs: 3 });
 * median(r.ratios ?? []); // engine ms / PyTorch ms per sample
 */
export async function trainingStepComparison(o: { batch: number; steps: number; runs: number; threads?: number; onProgress?: (line: string) => void }): Promise<TrainingComparison> {
  const threads = o.threads ?? 2;
  const net = createUnet(TRAINING_BENCH_CONFIG, { session: { threads } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-bench-train-'));
  try {
    const [c, h, w] = net.inputShape;
    const [co, ho, wo] = net.outputShape;
    const x = randomData(o.batch, o.batch * c * h * w);
    const target = randomData(o.batch + 1000, o.batch * co * ho * wo);
    await net.ready(o.batch);
    const y = await net.predict(x, o.batch);
    const write = (name: string, a: Float32Array) => fs.writeFileSync(path.join(dir, name), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    fs.writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(net.spec));
    write('params.bin', net.params);
    write('x.bin', x);
    write('target.bin', target);
    write('y.bin', y);

    const adam = new Adam(net.paramCount, 1e-3);
    const scale = 1 / y.length;
    const step = async () => {
      const out = await net.forward(x, o.batch);
      const g = new Float32Array(out.length);
      for (let i = 0; i < out.length; i++) g[i] = out[i] > target[i] ? scale : out[i] < target[i] ? -scale : 0;
      adam.step(net.params, await net.backward(g));
    };
    for (let i = 0; i < 2; i++) await step();

    const python = findTorchPython();
    const onnx: number[] = [];
    const torch: number[] = [];
    let forwardMaxAbsDiff: number | null = null;
    let version = '';
    for (let r = 0; r < o.runs; r++) {
      const times: number[] = [];
      for (let i = 0; i < o.steps; i++) {
        const t = performance.now();
        await step();
        times.push(performance.now() - t);
      }
      onnx.push(median(times) / o.batch);
      if (python) {
        const res = spawnSync(python, [peerScript(), dir, '--batch', String(o.batch), '--steps', String(o.steps), '--warmup', '2', '--threads', String(threads)], {
          encoding: 'utf8',
          timeout: 600_000,
          // OpenMP threads of the peer wait passively, as onnxruntime's threads do here (spinning
          // off, see openSession): spinning on a shared 2-core machine made a conv step 4× slower
          env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
        });
        if (res.status !== 0) throw new RagarError(`the PyTorch peer failed: ${(res.stderr || res.error?.message || '').trim().split('\n').pop()}`, 'INTERNAL');
        const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as { stepMs: number[]; forwardMaxAbsDiff: number; torch: string };
        torch.push(median(out.stepMs) / o.batch);
        forwardMaxAbsDiff = out.forwardMaxAbsDiff;
        version = out.torch;
      }
      o.onProgress?.(`training run ${r + 1}/${o.runs}: onnx ${onnx[r].toFixed(1)} ms/sample${python ? `, torch ${torch[r].toFixed(1)} ms/sample` : ''}`);
    }
    return {
      batch: o.batch,
      threads,
      onnxMsPerSample: onnx,
      torchMsPerSample: python ? torch : null,
      ratios: python ? onnx.map((v, i) => v / torch[i]) : null,
      forwardMaxAbsDiff,
      torch: python ? { python, version } : null,
      ...(python ? {} : { torchMissing: 'no python3 with torch and numpy (install Debian python3-torch, or set RAGAR_TORCH_PYTHON)' }),
      params: net.paramCount,
      macsPerSample: net.macsPerSample,
    };
  } finally {
    await net.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
