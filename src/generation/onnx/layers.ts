/**
 * The layer vocabulary of the ONNX training engine: a network is a list of these layers over named
 * NCHW float32 tensors, plus a list of parameters. Shapes are checked here; graph emission lives in
 * `emit.ts` and `autodiff.ts`.
 *
 * @example
 * const spec: NetSpec = {
 *   input: { name: 'x', channels: 3, height: 16, width: 16 },
 *   output: 'y',
 *   params: [convParams('c1', 3, 8, 3)].flat(),
 *   layers: [{ op: 'conv', input: 'x', output: 'y', weight: 'c1.w', bias: 'c1.b', kernel: 3, stride: 1, act: LINEAR }],
 * };
 * const shapes = inferShapes(spec); // Map { 'x' => [3,16,16], 'y' => [8,16,16] }
 */
import { RagarError } from '../../util/errors.js';

/** An elementwise activation: none (linear), LeakyReLU with slope `alpha`, or SiLU (x·sigmoid(x)). */
export type Activation = { kind: 'linear' } | { kind: 'leaky'; alpha: number } | { kind: 'silu' };

/** The identity activation. */
export const LINEAR: Activation = { kind: 'linear' };
/** SiLU, x·sigmoid(x). */
export const SILU: Activation = { kind: 'silu' };

/**
 * LeakyReLU with negative slope `alpha` (0 < alpha < 1).
 *
 * @example
 * const act = leaky(0.1);
 */
export function leaky(alpha = 0.1): Activation {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`leaky slope must be in (0, 1), got ${alpha}`);
  return { kind: 'leaky', alpha };
}

/**
 * `output = act(conv(input, weight) + bias + residual)`: a square `kernel`×`kernel` convolution
 * (odd kernel, padding kernel/2, so stride 1 keeps the size and stride 2 halves it), optional
 * bias, optional residual tensor of the output's shape added before the activation.
 */
export interface ConvLayer {
  op: 'conv';
  input: string;
  output: string;
  weight: string;
  bias?: string;
  kernel: number;
  stride: number;
  act: Activation;
  residual?: string;
}

/** `output = act(input)`. */
export interface ActLayer {
  op: 'act';
  input: string;
  output: string;
  act: Activation;
}

/** `output = act(a + b)` for two tensors of one shape. */
export interface AddLayer {
  op: 'add';
  inputs: [string, string];
  output: string;
  act: Activation;
}

/** Channel concatenation of tensors with one spatial size. */
export interface ConcatLayer {
  op: 'concat';
  inputs: string[];
  output: string;
}

/** Nearest-neighbour ×2 upsampling. */
export interface UpsampleLayer {
  op: 'upsample';
  input: string;
  output: string;
}

/**
 * Group normalisation without an affine part: the channels are split into `groups` groups and
 * each group of each sample is shifted and scaled to mean 0, variance 1 (over its channels and
 * pixels; `eps` is added to the variance). The per-channel scale and shift come from a
 * {@link FilmLayer} after it (adaptive group normalisation, as in ADM-style diffusion U-Nets).
 */
export interface GroupNormLayer {
  op: 'groupnorm';
  input: string;
  output: string;
  groups: number;
  eps: number;
}

/**
 * Feature-wise linear modulation: `output = input ⊙ (1 + scale) + shift`, per sample and
 * channel, where `mod` is a per-sample tensor of shape [2·C, 1, 1] holding `scale` (first C)
 * then `shift` (typically a 1×1 conv of a condition vector, see {@link NetSpec.conditions}).
 */
export interface FilmLayer {
  op: 'film';
  input: string;
  mod: string;
  output: string;
}

/** One layer of a {@link NetSpec}. */
export type Layer = ConvLayer | ActLayer | AddLayer | ConcatLayer | UpsampleLayer | GroupNormLayer | FilmLayer;

/** How a parameter starts: He-normal (`std = gain·sqrt(1/fanIn)`) or zeros. */
export type ParamInit = { kind: 'he'; gain: number; fanIn: number } | { kind: 'zeros' };

/** A named parameter tensor. */
export interface ParamSpec {
  name: string;
  shape: number[];
  init: ParamInit;
}

/**
 * A network: one image input, optional condition vectors, one output, layers in execution
 * order, parameters. A condition `{ name, channels }` is a per-sample vector, seen by the layers
 * as a tensor of shape [channels, 1, 1] (1×1 convs on it form an MLP; {@link FilmLayer} applies
 * the result to image tensors). Conditions receive no gradient.
 */
export interface NetSpec {
  input: { name: string; channels: number; height: number; width: number };
  conditions?: { name: string; channels: number }[];
  output: string;
  layers: Layer[];
  params: ParamSpec[];
}

/** Per-sample shape `[channels, height, width]`. */
export type Shape = [number, number, number];

/** Where one parameter sits in the flat parameter array. */
export interface ParamInfo {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/** Names of the tensors a layer reads (activations and parameters). */
export function layerInputs(layer: Layer): string[] {
  switch (layer.op) {
    case 'conv':
      return [layer.input, layer.weight, ...(layer.bias ? [layer.bias] : []), ...(layer.residual ? [layer.residual] : [])];
    case 'act':
    case 'upsample':
    case 'groupnorm':
      return [layer.input];
    case 'film':
      return [layer.input, layer.mod];
    case 'add':
    case 'concat':
      return [...layer.inputs];
  }
}

/** The gain of He initialisation for a layer followed by `act`. */
export function heGain(act: Activation): number {
  if (act.kind === 'leaky') return Math.sqrt(2 / (1 + act.alpha * act.alpha));
  if (act.kind === 'silu') return Math.sqrt(2);
  return 1;
}

/**
 * The weight and bias parameters of a conv layer named `name` (`name.w`, `name.b`), He-initialised
 * for the activation that follows, scaled by `scale` (e.g. a small value for the last conv of a
 * residual branch).
 *
 * @example
 * params.push(...convParams('enc0', 32, 64, 3, leaky(0.1)));
 */
export function convParams(name: string, inCh: number, outCh: number, kernel: number, act: Activation = LINEAR, scale = 1): ParamSpec[] {
  const fanIn = inCh * kernel * kernel;
  return [
    { name: `${name}.w`, shape: [outCh, inCh, kernel, kernel], init: { kind: 'he', gain: heGain(act) * scale, fanIn } },
    { name: `${name}.b`, shape: [outCh], init: { kind: 'zeros' } },
  ];
}

function bad(message: string): never {
  throw new RagarError(`network spec: ${message}`, 'BAD_INPUT');
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:/-]*$/;
/** Names the training graphs use for their own inputs and outputs. */
const RESERVED = new Set(['dy', 'grads']);

/**
 * Check a spec and compute every activation's per-sample shape. Throws a `BAD_INPUT`
 * {@link RagarError} naming the layer on any mismatch (unknown tensor, channel count, size).
 */
export function inferShapes(spec: NetSpec): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  const params = new Map<string, ParamSpec>();
  for (const p of spec.params) {
    if (!NAME.test(p.name) || RESERVED.has(p.name)) bad(`bad parameter name "${p.name}"`);
    if (params.has(p.name)) bad(`parameter "${p.name}" is declared twice`);
    if (!p.shape.every((d) => Number.isInteger(d) && d > 0)) bad(`parameter "${p.name}" has shape [${p.shape}]`);
    params.set(p.name, p);
  }
  const { input } = spec;
  if (!NAME.test(input.name) || RESERVED.has(input.name)) bad(`bad input name "${input.name}"`);
  if (![input.channels, input.height, input.width].every((d) => Number.isInteger(d) && d > 0)) bad('input sizes must be positive integers');
  shapes.set(input.name, [input.channels, input.height, input.width]);
  for (const cond of spec.conditions ?? []) {
    if (!NAME.test(cond.name) || RESERVED.has(cond.name) || shapes.has(cond.name) || params.has(cond.name)) bad(`bad or repeated condition name "${cond.name}"`);
    if (!(Number.isInteger(cond.channels) && cond.channels > 0)) bad(`condition "${cond.name}" needs a positive channel count`);
    shapes.set(cond.name, [cond.channels, 1, 1]);
  }
  const used = new Set<string>();
  const get = (name: string, where: string): Shape => {
    const s = shapes.get(name);
    if (!s) bad(`${where}: unknown tensor "${name}"`);
    return s;
  };
  const param = (name: string, where: string): ParamSpec => {
    const p = params.get(name);
    if (!p) bad(`${where}: unknown parameter "${name}"`);
    used.add(name);
    return p;
  };
  spec.layers.forEach((layer, i) => {
    const where = `layer ${i} (${layer.op} -> ${layer.output})`;
    if (!NAME.test(layer.output) || RESERVED.has(layer.output)) bad(`${where}: bad output name (reserved: ${[...RESERVED].join(', ')})`);
    if (shapes.has(layer.output) || params.has(layer.output)) bad(`${where}: tensor "${layer.output}" is written twice`);
    let out: Shape;
    switch (layer.op) {
      case 'conv': {
        const [c, h, w] = get(layer.input, where);
        const k = layer.kernel;
        const s = layer.stride;
        if (!(Number.isInteger(k) && k >= 1 && k % 2 === 1)) bad(`${where}: kernel must be odd, got ${k}`);
        if (!(s === 1 || s === 2)) bad(`${where}: stride must be 1 or 2, got ${s}`);
        const wp = param(layer.weight, where);
        const [o, ci, kh, kw] = wp.shape;
        if (wp.shape.length !== 4 || ci !== c || kh !== k || kw !== k) {
          bad(`${where}: weight "${layer.weight}" has shape [${wp.shape}], expected [O,${c},${k},${k}]`);
        }
        if (layer.bias) {
          const bp = param(layer.bias, where);
          if (bp.shape.length !== 1 || bp.shape[0] !== o) bad(`${where}: bias "${layer.bias}" has shape [${bp.shape}], expected [${o}]`);
        }
        const p = (k - 1) / 2;
        out = [o, Math.floor((h + 2 * p - k) / s) + 1, Math.floor((w + 2 * p - k) / s) + 1];
        if (layer.residual) {
          const r = get(layer.residual, where);
          if (r.join() !== out.join()) bad(`${where}: residual "${layer.residual}" is [${r}], output is [${out}]`);
        }
        break;
      }
      case 'act':
        out = get(layer.input, where);
        break;
      case 'add': {
        const a = get(layer.inputs[0], where);
        const b = get(layer.inputs[1], where);
        if (a.join() !== b.join()) bad(`${where}: shapes [${a}] and [${b}] differ`);
        out = a;
        break;
      }
      case 'concat': {
        if (layer.inputs.length < 1) bad(`${where}: nothing to concatenate`);
        const all = layer.inputs.map((n) => get(n, where));
        const [, h, w] = all[0];
        if (!all.every((s) => s[1] === h && s[2] === w)) bad(`${where}: spatial sizes differ (${all.map((s) => `[${s}]`).join(' ')})`);
        out = [all.reduce((a, s) => a + s[0], 0), h, w];
        break;
      }
      case 'upsample': {
        const [c, h, w] = get(layer.input, where);
        out = [c, 2 * h, 2 * w];
        break;
      }
      case 'groupnorm': {
        out = get(layer.input, where);
        if (!(Number.isInteger(layer.groups) && layer.groups > 0 && out[0] % layer.groups === 0)) bad(`${where}: ${out[0]} channels cannot form ${layer.groups} groups`);
        if (!(layer.eps > 0)) bad(`${where}: eps must be positive, got ${layer.eps}`);
        break;
      }
      case 'film': {
        out = get(layer.input, where);
        const m = get(layer.mod, where);
        if (m.join() !== [2 * out[0], 1, 1].join()) bad(`${where}: modulation "${layer.mod}" is [${m}], expected [${2 * out[0]},1,1]`);
        break;
      }
    }
    shapes.set(layer.output, out);
  });
  if (!shapes.has(spec.output)) bad(`output "${spec.output}" is not produced by any layer`);
  for (const p of spec.params) if (!used.has(p.name)) bad(`parameter "${p.name}" is not used by any layer`);
  return shapes;
}

/** Where each parameter lives in one flat Float32Array, in `spec.params` order. */
export function paramLayout(spec: NetSpec): ParamInfo[] {
  let offset = 0;
  return spec.params.map((p) => {
    const size = p.shape.reduce((a, b) => a * b, 1);
    const info = { name: p.name, shape: [...p.shape], offset, size };
    offset += size;
    return info;
  });
}

/** Multiply-adds of one sample's forward pass (convolutions only). */
export function macsPerSample(spec: NetSpec): number {
  const shapes = inferShapes(spec);
  let macs = 0;
  for (const layer of spec.layers) {
    if (layer.op !== 'conv') continue;
    const [o, h, w] = shapes.get(layer.output)!;
    const c = shapes.get(layer.input)![0];
    macs += o * h * w * c * layer.kernel * layer.kernel;
  }
  return macs;
}
