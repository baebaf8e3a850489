/**
 * A small U-Net on NCHW float32 images (64×64 by default) for the project's conditional image
 * generator, as a {@link NetSpec} trained by the ONNX engine ({@link OnnxNet}).
 *
 * ```
 * stem      act(conv3×3 in→w0)
 * level l   `blocks` residual blocks at width w_l = base·2^l:  act(conv3×3(act(conv3×3 h)) + h)
 *           then (l < levels−1) act(conv3×3 stride 2  w_l→w_{l+1})       skip_l = h before it
 * up l      act(conv3×3(concat(upsample×2 h, skip_l)) → w_l), then `blocks` residual blocks
 * head      conv k×k w0→out, linear output
 * ```
 *
 * @example
 * const net = createUnet({ inChannels: 10, outChannels: 3, base: 32, levels: 3, seed: 1 });
 * await net.ready(8);
 * const y = await net.forward(x, 8);       // Float32Array 8×3×64×64
 * const grads = await net.backward(dY);     // d sum(dY ⊙ y) / d params
 * new Adam(net.paramCount, 1e-3).step(net.params, grads);
 * await net.save('runs/gen1');
 * const again = await loadUnet('runs/gen1');
 */
import { RagarError } from '../../util/errors.js';
import { readCheckpointHeader } from './checkpoint.js';
import type { SessionSettings } from './graph.js';
import { convParams, LINEAR, leaky, SILU, type Activation, type Layer, type NetSpec, type ParamSpec } from './layers.js';
import { OnnxNet } from './net.js';
import type { BackwardMode } from './autodiff.js';
import type { ConvBackward } from './emit.js';

/** The shape of a U-Net; everything {@link createUnet} needs to rebuild one (stored in checkpoints). */
export interface UnetConfig {
  inChannels: number;
  outChannels: number;
  /** Width of the first level; level l has base·2^l channels. */
  base: number;
  /** Number of resolutions (1 = no downsampling). */
  levels: number;
  /** Side of the square input (default 64); must be divisible by 2^(levels−1). */
  size?: number;
  /** Residual blocks per level on each side (default 1). */
  blocks?: number;
  /** Hidden activation (default `leaky`). */
  activation?: 'leaky' | 'silu';
  /** LeakyReLU slope (default 0.1). */
  leakyAlpha?: number;
  /** Kernel of the output conv, 1 or 3 (default 3). */
  headKernel?: number;
  /** Init scale of each residual branch's last conv (default 0.5). */
  residualScale?: number;
  /** Seed of the initial weights (default 1). */
  seed?: number;
}

/** Runtime options of a U-Net (not stored in checkpoints). */
export interface UnetRuntimeOptions {
  mode?: BackwardMode;
  convBackward?: ConvBackward;
  layout?: 'auto' | 'nchw';
  session?: SessionSettings;
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new RagarError(`unet: ${message}`, 'BAD_INPUT');
}

function positiveInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** The config with every default filled in, checked. */
export function resolveUnetConfig(config: UnetConfig): Required<UnetConfig> {
  const c: Required<UnetConfig> = {
    size: 64,
    blocks: 1,
    activation: 'leaky',
    leakyAlpha: 0.1,
    headKernel: 3,
    residualScale: 0.5,
    seed: 1,
    ...config,
  };
  for (const key of ['inChannels', 'outChannels', 'base', 'levels', 'size'] as const) check(positiveInt(c[key]), `${key} must be a positive integer, got ${c[key]}`);
  check(Number.isInteger(c.blocks) && c.blocks >= 0, `blocks must be a non-negative integer, got ${c.blocks}`);
  check(c.size % 2 ** (c.levels - 1) === 0, `size ${c.size} is not divisible by 2^(levels-1) = ${2 ** (c.levels - 1)}`);
  check(c.headKernel === 1 || c.headKernel === 3, `headKernel must be 1 or 3, got ${c.headKernel}`);
  check(c.activation === 'leaky' || c.activation === 'silu', `activation must be "leaky" or "silu", got ${c.activation}`);
  return c;
}

/** What {@link unetLevels} builds with: the network's own conv and block builders. */
export interface UnetLevelBuilders {
  levels: number;
  blocks: number;
  /** Channels of level l. */
  width: (l: number) => number;
  /** The layer list to append to. */
  layers: Layer[];
  /** Add a 3×3 conv named `name` (its parameters too); returns its output. */
  conv: (name: string, input: string, inCh: number, outCh: number, opts?: { stride?: number }) => string;
  /** Add one block at width w; returns its output. */
  block: (name: string, h: string, w: number) => string;
  /** Output of the stem (level 0 width). */
  stem: string;
}

/**
 * The U-Net's levels, shared by every U-Net built here: per level `blocks` blocks (`enc{l}.res{b}`)
 * then a stride-2 conv (`down{l}`); back up, nearest ×2 upsampling, concatenation with the
 * skip, a fusing conv (`up{l}.fuse`) and `blocks` blocks (`dec{l}.res{b}`). Returns the last tensor.
 *
 * @example
 * const h = unetLevels({ levels: 3, blocks: 1, width, layers, conv, block, stem: conv('stem', 'x', 3, 32) });
 */
export function unetLevels(o: UnetLevelBuilders): string {
  let h = o.stem;
  const skips: string[] = [];
  for (let l = 0; l < o.levels; l++) {
    for (let b = 0; b < o.blocks; b++) h = o.block(`enc${l}.res${b}`, h, o.width(l));
    skips.push(h);
    if (l < o.levels - 1) h = o.conv(`down${l}`, h, o.width(l), o.width(l + 1), { stride: 2 });
  }
  for (let l = o.levels - 2; l >= 0; l--) {
    const up = `up${l}.upsample`;
    o.layers.push({ op: 'upsample', input: h, output: up });
    const cat = `up${l}.concat`;
    o.layers.push({ op: 'concat', inputs: [up, skips[l]], output: cat });
    h = o.conv(`up${l}.fuse`, cat, o.width(l + 1) + o.width(l), o.width(l));
    for (let b = 0; b < o.blocks; b++) h = o.block(`dec${l}.res${b}`, h, o.width(l));
  }
  return h;
}

/**
 * The {@link NetSpec} of a U-Net: input `x` (in×size×size), output `y` (out×size×size).
 *
 * @example
 * const spec = unetSpec({ inChannels: 4, outChannels: 3, base: 8, levels: 2, size: 16 });
 */
export function unetSpec(config: UnetConfig): NetSpec {
  const c = resolveUnetConfig(config);
  const act: Activation = c.activation === 'silu' ? SILU : leaky(c.leakyAlpha);
  const layers: Layer[] = [];
  const params: ParamSpec[] = [];
  const width = (l: number): number => c.base * 2 ** l;
  const conv = (name: string, input: string, inCh: number, outCh: number, opts: { k?: number; stride?: number; act?: Activation; residual?: string; scale?: number; output?: string } = {}): string => {
    const k = opts.k ?? 3;
    const a = opts.act ?? act;
    params.push(...convParams(name, inCh, outCh, k, a, opts.scale ?? 1));
    const output = opts.output ?? name;
    layers.push({ op: 'conv', input, output, weight: `${name}.w`, bias: `${name}.b`, kernel: k, stride: opts.stride ?? 1, act: a, residual: opts.residual });
    return output;
  };
  const resblock = (name: string, h: string, w: number): string => {
    const r = conv(`${name}.a`, h, w, w);
    return conv(`${name}.b`, r, w, w, { residual: h, scale: c.residualScale });
  };
  const h = unetLevels({ levels: c.levels, blocks: c.blocks, width, layers, conv, block: resblock, stem: conv('stem', 'x', c.inChannels, width(0)) });
  const y = conv('head', h, width(0), c.outChannels, { k: c.headKernel, act: LINEAR, output: 'y' });
  return { input: { name: 'x', channels: c.inChannels, height: c.size, width: c.size }, output: y, layers, params };
}

/**
 * Create a U-Net with He-initialised weights from `config.seed`. Sessions open on
 * `ready(batch)` or on the first `forward` of a batch size.
 *
 * @example
 * const net = createUnet({ inChannels: 10, outChannels: 3, base: 32, levels: 3, seed: 1 });
 */
export function createUnet(config: UnetConfig, runtime: UnetRuntimeOptions = {}): OnnxNet {
  const c = resolveUnetConfig(config);
  return new OnnxNet(unetSpec(c), { seed: c.seed, ...runtime, meta: { kind: 'unet', config: c } });
}

/**
 * Rebuild a U-Net saved with `net.save(dir)` and load its weights (format, version, layout and
 * checksum are checked).
 *
 * @example
 * const net = await loadUnet('runs/gen1');
 */
export async function loadUnet(dir: string, runtime: UnetRuntimeOptions = {}): Promise<OnnxNet> {
  const header = await readCheckpointHeader(dir);
  if (header.kind !== 'unet') throw new RagarError(`checkpoint in ${dir} is a "${header.kind}", not a unet`, 'BAD_INPUT');
  const net = createUnet(header.config as UnetConfig, runtime);
  await net.load(dir);
  return net;
}
