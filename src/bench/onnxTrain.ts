/**
 * Training-speed benchmark of the ONNX engine (`src/generation/onnx`): milliseconds per training
 * SAMPLE (forward + backward + Adam update) for the generator's 64×64 U-Net (10 → 3 channels,
 * base 32, 3 levels: 0.71 M parameters, 657 M multiply-adds per image), at batch 8 and 16; the
 * engine's own alternatives (backward mode, conv-gradient strategy, threads, spinning) side by
 * side; and the same network and step on `@tensorflow/tfjs` with the wasm backend.
 *
 * Run: `npx tsx src/bench/onnxTrain.ts [--batches 8,16] [--steps 7] [--variants-batch 8]
 *       [--no-variants] [--tfjs-batches 8] [--tfjs-steps 3] [--no-tfjs] [--json FILE]`
 *
 * Timings are medians over `--steps` measured steps after two warm-up steps; "CPU-ms/sample" is
 * the process's CPU time (all threads) per sample, stabler than wall time when other processes
 * compete for the 2 cores. The machine's load average is printed before and after.
 * Not a test.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Adam } from '../util/adam.js';
import { Rng } from '../util/rng.js';
import type { OnnxNet } from '../generation/onnx/net.js';
import { createTfjsNet, loadTfjs } from '../generation/onnx/tfjsNet.js';
import { createUnet, type UnetConfig, type UnetRuntimeOptions } from '../generation/onnx/unet.js';
import { machineDescription, percentile } from './stats.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const list = (s: string): number[] => s.split(',').filter(Boolean).map(Number);
const batches = list(arg('--batches', '8,16'));
const steps = Number(arg('--steps', '7'));
const variantsBatch = Number(arg('--variants-batch', '8'));
const tfjsBatches = args.includes('--no-tfjs') ? [] : list(arg('--tfjs-batches', '8'));
const tfjsSteps = Number(arg('--tfjs-steps', '3'));
const jsonFile = args.includes('--json') ? arg('--json', '') : '';

const CONFIG: UnetConfig = { inChannels: 10, outChannels: 3, base: 32, levels: 3, size: 64, seed: 1 };

/** Median of each phase over the measured steps. */
interface Timing {
  forward: number;
  backward: number;
  adam: number;
  step: number;
  /** CPU time of the whole process during the step (all threads), ms: stabler than wall time under load. */
  cpu: number;
}

function median(values: number[]): number {
  return percentile(values, 50);
}

function randomData(seed: number, n: number): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.next() * 2 - 1;
  return a;
}

/** The gradient of mean |y − target| w.r.t. y, computed in TypeScript like a real trainer. */
function l1Grad(y: Float32Array, target: Float32Array): Float32Array {
  const g = new Float32Array(y.length);
  const scale = 1 / y.length;
  for (let i = 0; i < y.length; i++) g[i] = y[i] > target[i] ? scale : y[i] < target[i] ? -scale : 0;
  return g;
}

/** A training-step runner over one network, timing each phase. */
function stepper(net: OnnxNet, batch: number): { step: () => Promise<void>; times: Timing[] } {
  const [c, h, w] = net.inputShape;
  const [co, ho, wo] = net.outputShape;
  const x = randomData(batch, batch * c * h * w);
  const target = randomData(batch + 1000, batch * co * ho * wo);
  const adam = new Adam(net.paramCount, 1e-3);
  const times: Timing[] = [];
  return {
    times,
    step: async () => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const y = await net.forward(x, batch);
      const dY = l1Grad(y, target);
      const t1 = performance.now();
      const grads = await net.backward(dY);
      const t2 = performance.now();
      adam.step(net.params, grads);
      const t3 = performance.now();
      const c = process.cpuUsage(c0);
      times.push({ forward: t1 - t0, backward: t2 - t1, adam: t3 - t2, step: t3 - t0, cpu: (c.user + c.system) / 1000 });
    },
  };
}

function summarise(times: Timing[]): Timing {
  return {
    forward: median(times.map((t) => t.forward)),
    backward: median(times.map((t) => t.backward)),
    adam: median(times.map((t) => t.adam)),
    step: median(times.map((t) => t.step)),
    cpu: median(times.map((t) => t.cpu)),
  };
}

interface Row {
  engine: string;
  batch: number;
  timing: Timing;
  note?: string;
}

const rows: Row[] = [];
const loadBefore = os.loadavg();
const probe = createUnet(CONFIG);
const macs = probe.macsPerSample;
const paramCount = probe.paramCount;
console.log(`U-Net ${JSON.stringify(CONFIG)}`);
console.log(`parameters ${probe.paramCount.toLocaleString('en')}, forward multiply-adds per image ${(macs / 1e6).toFixed(0)} M (training step ≈ 3× that)`);
console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
await probe.dispose();

// 1. the engine with its defaults, per batch size
for (const batch of batches) {
  const net = createUnet(CONFIG);
  const t = performance.now();
  await net.ready(batch);
  const openMs = performance.now() - t;
  const s = stepper(net, batch);
  for (let i = 0; i < 2; i++) await s.step();
  s.times.length = 0;
  for (let i = 0; i < steps; i++) await s.step();
  rows.push({ engine: 'onnxruntime (2 threads)', batch, timing: summarise(s.times), note: `sessions opened in ${openMs.toFixed(0)} ms` });
  console.log(`onnxruntime batch ${batch}: ${(summarise(s.times).step / batch).toFixed(1)} ms/sample`);
  await net.dispose();
}

// 2. the engine's alternatives, interleaved step by step so that load changes hit all alike
const variants: [string, UnetRuntimeOptions][] = [
  ['defaults (NCHWc fwd, saved, shared, 2 thr)', {}],
  ['forward in plain NCHW (Conv, weights as inputs)', { layout: 'nchw' }],
  ['backward recomputes the forward', { mode: 'recompute' }],
  ['conv backward "separate"', { convBackward: 'separate' }],
  ['1 intra-op thread', { session: { threads: 1 } }],
  ['parallel branches: 2 inter-op x 1 intra-op', { session: { threads: 1, interOpThreads: 2 } }],
  ['2 threads, spinning on (ORT default)', { session: { spinning: true } }],
  ['graph optimisation "basic"', { session: { optimization: 'basic' } }],
  ['CPU memory arena off', { session: { memArena: false } }],
];
if (!args.includes('--no-variants')) {
  const runners = [];
  for (const [label, runtime] of variants) {
    const net = createUnet(CONFIG, runtime);
    await net.ready(variantsBatch);
    runners.push({ label, net, s: stepper(net, variantsBatch) });
  }
  for (const r of runners) for (let i = 0; i < 2; i++) await r.s.step();
  for (const r of runners) r.s.times.length = 0;
  for (let i = 0; i < steps; i++) for (const r of runners) await r.s.step();
  for (const r of runners) {
    rows.push({ engine: `  variant: ${r.label}`, batch: variantsBatch, timing: summarise(r.s.times) });
    await r.net.dispose();
  }
}

// 3. the alternative: the same network and step on tfjs with the wasm backend
let tfjsNote = '';
if (tfjsBatches.length > 0) {
  const tf = await loadTfjs('wasm');
  const net = createUnet(CONFIG);
  for (const batch of tfjsBatches) {
    const [c, h, w] = net.inputShape;
    const x = randomData(batch, batch * c * h * w);
    const target = randomData(batch + 1000, batch * 3 * h * w);
    const ref = createTfjsNet(tf, net.spec, net.params, { customConvGrad: true, learningRate: 1e-3 });
    const yOnnx = await net.predict(x, batch);
    let t = performance.now();
    const yTf = ref.forward(x, batch);
    const firstForward = performance.now() - t;
    let diff = 0;
    for (let i = 0; i < yOnnx.length; i++) diff = Math.max(diff, Math.abs(yOnnx[i] - yTf[i]));
    const fwd: number[] = [];
    for (let i = 0; i < 2; i++) {
      t = performance.now();
      ref.forward(x, batch);
      fwd.push(performance.now() - t);
    }
    await ref.trainStepL1(x, target, batch); // warm-up
    const stepsMs: number[] = [];
    const cpuMs: number[] = [];
    for (let i = 0; i < tfjsSteps; i++) {
      const c0 = process.cpuUsage();
      t = performance.now();
      await ref.trainStepL1(x, target, batch);
      stepsMs.push(performance.now() - t);
      const c = process.cpuUsage(c0);
      cpuMs.push((c.user + c.system) / 1000);
    }
    const step = median(stepsMs);
    rows.push({
      engine: 'tfjs wasm (1 thread)',
      batch,
      timing: { forward: median(fwd), backward: NaN, adam: NaN, step, cpu: median(cpuMs) },
      note: `fwd+bwd+Adam in one tf.variableGrads step; output max |Δ| vs onnxruntime ${diff.toExponential(1)}; first forward ${firstForward.toFixed(0)} ms`,
    });
    console.log(`tfjs wasm batch ${batch}: ${(step / batch).toFixed(1)} ms/sample`);
    ref.dispose();
  }
  await net.dispose();
  tfjsNote =
    'tfjs wasm lacks Conv2DBackpropFilter (conv weight gradient): its convolutions use tf.customGrad with forward-conv gradients; ' +
    'it runs single-threaded in Node.';
}

// 4. the table
const loadAfter = os.loadavg();
const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const num = (v: number, d = 0): string => (Number.isFinite(v) ? v.toFixed(d) : '-');
console.log('');
console.log(`${pad('engine', 48)} batch  fwd ms  bwd ms  adam ms  step ms  ms/sample  GFLOP/s  CPU-ms/sample`);
for (const r of rows) {
  const t = r.timing;
  const gflops = (3 * 2 * macs * r.batch) / (t.step * 1e6);
  console.log(
    `${pad(r.engine, 48)} ${pad(String(r.batch), 5)}  ${pad(num(t.forward), 6)}  ${pad(num(t.backward), 6)}  ${pad(num(t.adam), 7)}  ${pad(num(t.step), 7)}  ${pad(num(t.step / r.batch, 1), 9)}  ${pad(num(gflops, 1), 7)}  ${num(t.cpu / r.batch, 1)}`,
  );
}
for (const r of rows) if (r.note) console.log(`  ${r.engine.trim()}, batch ${r.batch}: ${r.note}`);
if (!args.includes('--no-variants')) {
  console.log('  variants: NCHWc = blocked-layout forward (com.microsoft.nchwc ops, weights reordered in the graph);');
  console.log('  saved = activations handed from forward to backward; shared = one im2col of the output gradient feeds dx and dW;');
  console.log('  "separate" = im2col of the input for dW and a flipped-kernel Conv for dx; recompute = backward reruns the forward pass.');
}
if (tfjsNote) console.log(`  ${tfjsNote}`);
console.log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')} (2 cores; above ~0.5 other processes were competing)`);
if (jsonFile) {
  fs.writeFileSync(jsonFile, JSON.stringify({ machine: machineDescription(), config: CONFIG, params: paramCount, macsPerSample: macs, rows, loadBefore, loadAfter }, null, 2) + '\n');
  console.log(`wrote ${jsonFile}`);
}
