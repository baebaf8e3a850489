/**
 * A U-Net built to be conditioned (ADM-style): group normalisation in every block and the
 * condition applied in every block as a per-channel scale and shift (FiLM / adaptive group
 * normalisation) computed by a small MLP from a condition vector. Runs on the ONNX training
 * engine ({@link OnnxNet}); the condition is the network's condition input `cond`.
 *
 * ```
 * emb       silu(W₂·silu(W₁·cond))                               (1×1 convs on a [d,1,1] tensor)
 * stem      conv3×3 in→w0
 * block     h + conv3×3(silu(FiLM(GN(conv3×3(silu(GN(h)))), emb)))   FiLM: ·(1+scale)+shift from emb
 * level l   `blocks` blocks at width w_l = base·2^l, then (l < levels−1) conv3×3 stride 2 → w_{l+1}
 * up l      conv3×3(concat(upsample×2 h, skip_l)) → w_l, then `blocks` blocks
 * head      conv3×3(silu(GN(h))) w0→out, linear output
 * ```
 * The modulation convs start at zero (every FiLM starts as the identity) and each block's last
 * conv at `residualScale` of its He scale, so a new network is close to a plain normalised U-Net.
 *
 * @example
 * const net = createCondUnet({ inChannels: 12, outChannels: 12, condChannels: 6, base: 32, levels: 3, size: 32 });
 * const y = await net.forward(x, 8, { cond });   // cond: 8 × 6 values
 */
import { RagarError } from '../../util/errors.js';
import { readCheckpointHeader } from './checkpoint.js';
import { convParams, LINEAR, SILU, type Layer, type NetSpec, type ParamSpec } from './layers.js';
import { OnnxNet, type OnnxNetOptions } from './net.js';
import { unetLevels } from './unet.js';

/** Network kind recorded in checkpoints. */
export const COND_UNET_KIND = 'cond-unet';

/** Name of the condition input. */
export const COND_INPUT = 'cond';

/** The shape of a conditioned U-Net (stored in checkpoints). */
export interface CondUnetConfig {
  inChannels: number;
  outChannels: number;
  /** Length of the condition vector. */
  condChannels: number;
  base: number;
  levels: number;
  /** Side of the square input (default 32). */
  size?: number;
  /** Blocks per level on each side (default 1). */
  blocks?: number;
  /** Groups of every group normalisation (default: 8, or the largest of 4, 2, 1 that divides `base`). */
  groups?: number;
  /** Width of the condition MLP (default 128). */
  embed?: number;
  /** Init scale of each block's last conv (default 0.2). */
  residualScale?: number;
  /** Seed of the initial weights (default 1). */
  seed?: number;
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new RagarError(`cond-unet: ${message}`, 'BAD_INPUT');
}

/** The config with defaults filled in, checked. */
export function resolveCondUnetConfig(config: CondUnetConfig): Required<CondUnetConfig> {
  const groups = [8, 4, 2, 1].find((g) => Number.isInteger(config.base) && config.base % g === 0) ?? 1;
  const c: Required<CondUnetConfig> = { size: 32, blocks: 1, groups, embed: 128, residualScale: 0.2, seed: 1, ...config };
  for (const key of ['inChannels', 'outChannels', 'condChannels', 'base', 'levels', 'size', 'groups', 'embed'] as const) {
    check(Number.isInteger(c[key]) && c[key] > 0, `${key} must be a positive integer, got ${c[key]}`);
  }
  check(Number.isInteger(c.blocks) && c.blocks >= 0, `blocks must be a non-negative integer, got ${c.blocks}`);
  check(c.size % 2 ** (c.levels - 1) === 0, `size ${c.size} is not divisible by 2^(levels-1)`);
  check(c.base % c.groups === 0, `base width ${c.base} is not divisible by ${c.groups} groups`);
  return c;
}

/**
 * The {@link NetSpec} of a conditioned U-Net: image input `x`, condition `cond`, output `y`.
 *
 * @example
 * const spec = condUnetSpec({ inChannels: 3, outChannels: 3, condChannels: 4, base: 8, levels: 2, size: 8, groups: 4, embed: 16 });
 */
export function condUnetSpec(config: CondUnetConfig): NetSpec {
  const c = resolveCondUnetConfig(config);
  const layers: Layer[] = [];
  const params: ParamSpec[] = [];
  const width = (l: number): number => c.base * 2 ** l;
  const conv = (name: string, input: string, inCh: number, outCh: number, opts: { k?: number; stride?: number; residual?: string; scale?: number; zero?: boolean; act?: typeof SILU } = {}): string => {
    const k = opts.k ?? 3;
    const act = opts.act ?? LINEAR;
    const ps = convParams(name, inCh, outCh, k, act, opts.scale ?? 1);
    if (opts.zero) ps[0] = { ...ps[0], init: { kind: 'zeros' } };
    params.push(...ps);
    layers.push({ op: 'conv', input, output: name, weight: `${name}.w`, bias: `${name}.b`, kernel: k, stride: opts.stride ?? 1, act, residual: opts.residual });
    return name;
  };
  const norm = (name: string, input: string): string => {
    layers.push({ op: 'groupnorm', input, output: name, groups: c.groups, eps: 1e-5 });
    return name;
  };
  const silu = (name: string, input: string): string => {
    layers.push({ op: 'act', input, output: name, act: SILU });
    return name;
  };
  const emb1 = conv('emb.1', COND_INPUT, c.condChannels, c.embed, { k: 1, act: SILU });
  const emb = conv('emb.2', emb1, c.embed, c.embed, { k: 1, act: SILU });
  const block = (name: string, h: string, w: number): string => {
    const a = conv(`${name}.a`, silu(`${name}.a.act`, norm(`${name}.a.norm`, h)), w, w);
    const mod = conv(`${name}.mod`, emb, c.embed, 2 * w, { k: 1, zero: true });
    layers.push({ op: 'film', input: norm(`${name}.b.norm`, a), mod, output: `${name}.film` });
    return conv(`${name}.b`, silu(`${name}.b.act`, `${name}.film`), w, w, { residual: h, scale: c.residualScale });
  };
  const h = unetLevels({ levels: c.levels, blocks: c.blocks, width, layers, conv, block, stem: conv('stem', 'x', c.inChannels, width(0)) });
  const headIn = silu('head.act', norm('head.norm', h));
  params.push(...convParams('head', width(0), c.outChannels, 3, LINEAR));
  layers.push({ op: 'conv', input: headIn, output: 'y', weight: 'head.w', bias: 'head.b', kernel: 3, stride: 1, act: LINEAR });
  return {
    input: { name: 'x', channels: c.inChannels, height: c.size, width: c.size },
    conditions: [{ name: COND_INPUT, channels: c.condChannels }],
    output: 'y',
    layers,
    params,
  };
}

/**
 * Create a conditioned U-Net with initial weights from `config.seed`.
 *
 * @example
 * const net = createCondUnet({ inChannels: 12, outChannels: 12, condChannels: 6, base: 32, levels: 3 });
 */
export function createCondUnet(config: CondUnetConfig, runtime: Omit<OnnxNetOptions, 'meta' | 'params' | 'seed'> = {}): OnnxNet {
  const c = resolveCondUnetConfig(config);
  return new OnnxNet(condUnetSpec(c), { seed: c.seed, ...runtime, meta: { kind: COND_UNET_KIND, config: c } });
}

/**
 * Rebuild a conditioned U-Net saved with `net.save(dir)` and load its weights (checked).
 *
 * @example
 * const net = await loadCondUnet('runs/gen3');
 */
export async function loadCondUnet(dir: string, runtime: Omit<OnnxNetOptions, 'meta' | 'params' | 'seed'> = {}): Promise<OnnxNet> {
  const header = await readCheckpointHeader(dir);
  if (header.kind !== COND_UNET_KIND) throw new RagarError(`checkpoint in ${dir} is a "${header.kind}", not a ${COND_UNET_KIND}`, 'BAD_INPUT');
  const net = createCondUnet(header.config as CondUnetConfig, runtime);
  await net.load(dir);
  return net;
}
