/**
 * ONNX emission of each layer's forward pass and of its backward pass (vector-Jacobian product)
 * as plain ONNX ops that onnxruntime's CPU provider runs:
 *
 * - conv, stride 1 (default `shared` strategy): one "transposed" im2col of the output gradient
 *   (Pad + k² Slices + Concat) feeds both gradients: the input gradient is one MatMul with the
 *   rearranged kernel, the weight gradient one batched `com.microsoft.FusedMatMul` (transB) with
 *   the input and a ReduceSum over the batch. Measured on this machine: backward ≈ 2× forward. Per
 *   layer, the textbook alternatives (ConvTranspose for dx, "Conv with batch and channel axes
 *   swapped" for dW) were 1.5–4× slower; over the whole U-Net, `separate` (im2col of the input
 *   for dW + flipped-kernel Conv for dx) was about 10% slower.
 * - conv, stride 2: im2col of the input (strided Slices) for dW, ConvTranspose for dx.
 * - LeakyReLU: Where(y > 0, dy, alpha·dy) from the saved output; SiLU from the saved pre-activation.
 * - concat: Split; nearest upsampling: Reshape + ReduceSum over each 2×2 block; add: identity.
 * - group normalisation: InstanceNormalization over (N, groups, rest) forward; backward
 *   `(dy − mean(dy) − x̂·mean(dy·x̂))/σ` per group, σ recomputed from the saved input.
 * - FiLM: `dx = dy ⊙ (1 + scale)`, `d scale = Σ_hw dy ⊙ x`, `d shift = Σ_hw dy`.
 *
 * Batch size `n` is a fixed number in every graph (shapes constant, so ORT plans memory once).
 */
import type { GraphBuilder } from './graph.js';
import type { Activation, Layer, Shape } from './layers.js';

/** What an emitter needs to know besides the builder. */
export interface EmitContext {
  g: GraphBuilder;
  /** Batch size of the graph. */
  n: number;
  /** Per-sample shape of an activation. */
  shape(name: string): Shape;
  /** How stride-1 conv gradients are computed (default `shared`); see {@link ConvBackward}. */
  convBackward?: ConvBackward;
}

/**
 * Stride-1 conv backward strategy. `shared`: one im2col of the output gradient feeds a MatMul for
 * the input gradient and a FusedMatMul for the weight gradient. `separate`: im2col of the input
 * for the weight gradient, a Conv with the flipped kernel for the input gradient.
 */
export type ConvBackward = 'shared' | 'separate';

/**
 * Name of the tensor holding a layer's pre-activation value, which the SiLU backward pass reads:
 * the input itself for an `act` layer, `<output>.pre` otherwise.
 */
export function preActName(layer: Layer): string {
  return layer.op === 'act' ? layer.input : `${layer.output}.pre`;
}

/** Emit `out = act(z)`; for the linear activation `z` must already be `out`. */
function emitActivation(g: GraphBuilder, z: string, act: Activation, out: string): string {
  switch (act.kind) {
    case 'linear':
      return z === out ? z : g.node('Identity', [z], out);
    case 'leaky':
      return g.node('LeakyRelu', [z], out, { alpha: act.alpha });
    case 'silu':
      return g.node('Mul', [z, g.node('Sigmoid', [z], `${out}.sig`)], out);
  }
}

/**
 * Emit one layer's forward ops. The layer's output gets exactly its own name; a SiLU layer's
 * pre-activation is named {@link preActName} (the backward pass reads it).
 */
export function emitForward(ctx: EmitContext, layer: Layer): void {
  const { g } = ctx;
  // the name of the last op before the activation: the output itself when linear
  const preName = (act: Activation): string =>
    act.kind === 'linear' ? layer.output : act.kind === 'silu' ? preActName(layer) : `${layer.output}.pre`;
  let made: string;
  switch (layer.op) {
    case 'conv': {
      const p = (layer.kernel - 1) / 2;
      const inputs = [layer.input, layer.weight, ...(layer.bias ? [layer.bias] : [])];
      const attrs = { kernel_shape: [layer.kernel, layer.kernel], strides: [layer.stride, layer.stride], pads: [p, p, p, p] };
      let z: string;
      if (layer.residual) {
        const conv = g.node('Conv', inputs, `${layer.output}.conv`, attrs);
        z = g.node('Add', [conv, layer.residual], preName(layer.act));
      } else {
        z = g.node('Conv', inputs, preName(layer.act), attrs);
      }
      made = emitActivation(g, z, layer.act, layer.output);
      break;
    }
    case 'act':
      made = emitActivation(g, layer.input, layer.act, layer.output);
      break;
    case 'add':
      made = emitActivation(g, g.node('Add', [...layer.inputs], preName(layer.act)), layer.act, layer.output);
      break;
    case 'concat':
      made = g.node('Concat', [...layer.inputs], layer.output, { axis: 1 });
      break;
    case 'upsample':
      made = g.node('Resize', [layer.input, '', g.float([1, 1, 2, 2])], layer.output, {
        mode: 'nearest',
        coordinate_transformation_mode: 'asymmetric',
        nearest_mode: 'floor',
      });
      break;
    case 'groupnorm': {
      // InstanceNormalization over (N, G, C/G·H·W) is group normalisation without an affine part
      const [c, h, w] = ctx.shape(layer.input);
      const grouped = g.node('Reshape', [layer.input, g.int64([ctx.n, layer.groups, (c / layer.groups) * h * w])], `${layer.output}.grouped`);
      const ones = g.float(new Float32Array(layer.groups).fill(1), [layer.groups]);
      const zeros = g.float(new Float32Array(layer.groups), [layer.groups]);
      const normed = g.node('InstanceNormalization', [grouped, ones, zeros], `${layer.output}.normed`, { epsilon: layer.eps });
      made = g.node('Reshape', [normed, g.int64([ctx.n, c, h, w])], layer.output);
      break;
    }
    case 'film': {
      const [scale, shift] = filmParts(ctx, layer.mod, ctx.shape(layer.input)[0], layer.output);
      made = g.node('Add', [g.node('Mul', [layer.input, g.node('Add', [scale, g.float([1], [])], `${layer.output}.gain`)], `${layer.output}.scaled`), shift], layer.output);
      break;
    }
  }
  if (made !== layer.output) throw new Error(`emitForward: tensor name "${layer.output}" clashes with an internal name`);
}

/** The scale (first `c` channels) and shift (last `c`) of a FiLM modulation tensor. */
function filmParts(ctx: EmitContext, mod: string, c: number, label: string): [string, string] {
  const { g } = ctx;
  const parts = g.nodeMulti('Split', [mod, g.int64([c, c])], [`${label}.scale`, `${label}.shift`], { axis: 1 });
  return [parts[0], parts[1]];
}

/**
 * The gradient w.r.t. an activation's input, given `dy` w.r.t. its output. `fwd(name)` returns
 * the name under which a forward tensor is available in the backward graph.
 */
function activationBackward(ctx: EmitContext, layer: Layer, act: Activation, dy: string, fwd: (name: string) => string): string {
  const { g } = ctx;
  switch (act.kind) {
    case 'linear':
      return dy;
    case 'leaky': {
      const mask = g.node('Greater', [fwd(layer.output), g.float([0], [])], `${layer.output}.mask`);
      return g.node('Where', [mask, dy, g.node('Mul', [dy, g.float([act.alpha], [])], `${layer.output}.dyneg`)], `d.${layer.output}.pre`);
    }
    case 'silu': {
      // d/dz z·σ(z) = σ(z)·(1 + z·(1 − σ(z)))
      const z = fwd(preActName(layer));
      const s = g.node('Sigmoid', [z], `${layer.output}.bsig`);
      const oneMinus = g.node('Sub', [g.float([1], []), s], `${layer.output}.1ms`);
      const inner = g.node('Add', [g.float([1], []), g.node('Mul', [z, oneMinus], `${layer.output}.z1ms`)], `${layer.output}.inner`);
      return g.node('Mul', [dy, g.node('Mul', [s, inner], `${layer.output}.dact`)], `d.${layer.output}.pre`);
    }
  }
}

/**
 * im2col of `x` (N,C,H,W) for a k×k, stride-s, pad-(k−1)/2 convolution: (N, k·k·C, Ho·Wo) with
 * row index (i·k + j)·C + c holding x[c, s·h + i − p, s·w + j − p].
 */
function im2col(ctx: EmitContext, x: string, k: number, s: number, out: Shape): string {
  const { g, n } = ctx;
  const [c] = ctx.shape(x);
  const [, ho, wo] = out;
  const p = (k - 1) / 2;
  const xp = p > 0 ? g.node('Pad', [x, g.int64([0, 0, p, p, 0, 0, p, p])], `${x}.pad`) : x;
  const parts: string[] = [];
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const starts = g.int64([i, j]);
      const ends = g.int64([i + s * (ho - 1) + 1, j + s * (wo - 1) + 1]);
      parts.push(g.node('Slice', [xp, starts, ends, g.int64([2, 3]), g.int64([s, s])], `${x}.col`));
    }
  }
  const cols = parts.length === 1 ? parts[0] : g.node('Concat', parts, `${x}.cols`, { axis: 1 });
  return g.node('Reshape', [cols, g.int64([n, k * k * c, ho * wo])], `${x}.im2col`);
}

/**
 * The "transposed" im2col of the output gradient `dz` (N,O,H,W) of a stride-1 k×k conv with
 * padding (k−1)/2: (N, k·k·O, H·W) with row (i·k + j)·O + o holding dz[o, h − i + p, w − j + p]
 * (zero outside). It serves both gradients: dx = W̃ · cols with W̃[c, (i·k+j)·O + o] = W[o,c,i,j],
 * and dW[o,c,i,j] = Σ cols[(i·k+j)·O + o] · x[c].
 */
function dzCols(ctx: EmitContext, dz: string, k: number, shape: Shape): string {
  const { g, n } = ctx;
  const [o, h, w] = shape;
  const p = (k - 1) / 2;
  if (k === 1) return g.node('Reshape', [dz, g.int64([n, o, h * w])], `${dz}.flat`);
  const dzp = g.node('Pad', [dz, g.int64([0, 0, p, p, 0, 0, p, p])], `${dz}.pad`);
  const parts: string[] = [];
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      parts.push(g.node('Slice', [dzp, g.int64([2 * p - i, 2 * p - j]), g.int64([2 * p - i + h, 2 * p - j + w]), g.int64([2, 3])], `${dz}.col`));
    }
  }
  return g.node('Reshape', [g.node('Concat', parts, `${dz}.cols`, { axis: 1 }), g.int64([n, k * k * o, h * w])], `${dz}.im2col`);
}

/** Gradient outputs of one layer's backward pass. */
export interface LayerGrads {
  /** Gradient contributions to activation tensors (by forward name). */
  activations: [string, string][];
  /** Gradients of parameters (by parameter name). */
  params: [string, string][];
}

/**
 * Emit one layer's backward pass. `dy` is the gradient w.r.t. the layer's output; `needsGrad(name)`
 * tells whether an input activation needs a gradient (the network input does not); `fwd(name)`
 * makes a forward tensor available. Parameters are graph inputs under their own names.
 */
export function emitBackward(
  ctx: EmitContext,
  layer: Layer,
  dy: string,
  needsGrad: (name: string) => boolean,
  fwd: (name: string) => string,
): LayerGrads {
  const { g, n } = ctx;
  const out: LayerGrads = { activations: [], params: [] };
  switch (layer.op) {
    case 'conv': {
      const dz = activationBackward(ctx, layer, layer.act, dy, fwd);
      const k = layer.kernel;
      const s = layer.stride;
      const p = (k - 1) / 2;
      const [c, h, w] = ctx.shape(layer.input);
      const oShape = ctx.shape(layer.output);
      const [o, ho, wo] = oShape;
      if (layer.bias) out.params.push([layer.bias, g.node('ReduceSum', [dz, g.int64([0, 2, 3])], `d.${layer.bias}`, { keepdims: 0 })]);
      const x = fwd(layer.input);
      const wantDx = needsGrad(layer.input);
      const sum = (prod: string): string => g.node('ReduceSum', [prod, g.int64([0])], `d.${layer.weight}.sum`, { keepdims: 0 });
      const shared = (ctx.convBackward ?? 'shared') === 'shared';
      if (s === 1 && shared && (wantDx || o <= c)) {
        // one im2col of dz feeds both dx (a MatMul) and dW (a FusedMatMul with x)
        const cols = dzCols(ctx, dz, k, oShape);
        const xf = g.node('Reshape', [x, g.int64([n, c, h * w])], `${layer.input}.flat`);
        const prod = g.node('FusedMatMul', [cols, xf], `d.${layer.weight}.batch`, { transB: 1 }, 'com.microsoft'); // N, k²O, C
        const kkoc = g.node('Reshape', [sum(prod), g.int64([k, k, o, c])], `d.${layer.weight}.kkoc`);
        out.params.push([layer.weight, g.node('Transpose', [kkoc], `d.${layer.weight}`, { perm: [2, 3, 0, 1] })]);
        if (wantDx) {
          const wm = g.node('Reshape', [g.node('Transpose', [layer.weight], `${layer.weight}.ckko`, { perm: [1, 2, 3, 0] }), g.int64([c, k * k * o])], `${layer.weight}.mat`);
          const dxf = g.node('MatMul', [wm, cols], `d.${layer.input}.from.${layer.output}.flat`);
          out.activations.push([layer.input, g.node('Reshape', [dxf, g.int64([n, c, h, w])], `d.${layer.input}.from.${layer.output}`)]);
        }
      } else {
        // weight gradient: sum_n dz_n (O, HoWo) · im2col(x)_nᵀ (HoWo, k²C)
        const cols = k === 1 && s === 1 ? g.node('Reshape', [x, g.int64([n, c, h * w])], `${layer.input}.flat`) : im2col(ctx, x, k, s, oShape);
        const dzf = g.node('Reshape', [dz, g.int64([n, o, ho * wo])], `d.${layer.output}.flat`);
        const prod = g.node('FusedMatMul', [dzf, cols], `d.${layer.weight}.batch`, { transB: 1 }, 'com.microsoft');
        const okkc = g.node('Reshape', [sum(prod), g.int64([o, k, k, c])], `d.${layer.weight}.okkc`);
        out.params.push([layer.weight, g.node('Transpose', [okkc], `d.${layer.weight}`, { perm: [0, 3, 1, 2] })]);
        if (wantDx && s === 1) {
          // dx = conv(dz, W flipped spatially with in/out swapped)
          let wt = g.node('Transpose', [layer.weight], `${layer.weight}.T`, { perm: [1, 0, 2, 3] });
          if (k > 1) wt = g.node('Slice', [wt, g.int64([-1, -1]), g.int64([-(2 ** 31), -(2 ** 31)]), g.int64([2, 3]), g.int64([-1, -1])], `${layer.weight}.flipT`);
          out.activations.push([layer.input, g.node('Conv', [dz, wt], `d.${layer.input}.from.${layer.output}`, { kernel_shape: [k, k], pads: [p, p, p, p] })]);
        } else if (wantDx) {
          const opad = [h - ((ho - 1) * s - 2 * p + k), w - ((wo - 1) * s - 2 * p + k)];
          const dx = g.node('ConvTranspose', [dz, layer.weight], `d.${layer.input}.from.${layer.output}`, {
            kernel_shape: [k, k],
            strides: [s, s],
            pads: [p, p, p, p],
            output_padding: opad,
          });
          out.activations.push([layer.input, dx]);
        }
      }
      if (layer.residual && needsGrad(layer.residual)) out.activations.push([layer.residual, dz]);
      return out;
    }
    case 'act': {
      const dz = activationBackward(ctx, layer, layer.act, dy, fwd);
      if (needsGrad(layer.input)) out.activations.push([layer.input, dz]);
      return out;
    }
    case 'add': {
      const dz = activationBackward(ctx, layer, layer.act, dy, fwd);
      for (const x of layer.inputs) if (needsGrad(x)) out.activations.push([x, dz]);
      return out;
    }
    case 'concat': {
      const sizes = layer.inputs.map((x) => ctx.shape(x)[0]);
      const parts =
        layer.inputs.length === 1
          ? [dy]
          : g.nodeMulti('Split', [dy, g.int64(sizes)], layer.inputs.map((x) => `d.${x}.from.${layer.output}`), { axis: 1 });
      layer.inputs.forEach((x, i) => {
        if (needsGrad(x)) out.activations.push([x, parts[i]]);
      });
      return out;
    }
    case 'upsample': {
      if (!needsGrad(layer.input)) return out;
      const [c, h, w] = ctx.shape(layer.input);
      const r = g.node('Reshape', [dy, g.int64([n, c, h, 2, w, 2])], `d.${layer.output}.blocks`);
      out.activations.push([layer.input, g.node('ReduceSum', [r, g.int64([3, 5])], `d.${layer.input}.from.${layer.output}`, { keepdims: 0 })]);
      return out;
    }
    case 'groupnorm': {
      if (!needsGrad(layer.input)) return out;
      // dx = (dy − mean(dy) − x̂·mean(dy·x̂)) / σ per group, σ recomputed from the input
      const [c, h, w] = ctx.shape(layer.input);
      const dims = g.int64([n, layer.groups, (c / layer.groups) * h * w]);
      const x = g.node('Reshape', [fwd(layer.input), dims], `${layer.output}.bx`);
      const xhat = g.node('Reshape', [fwd(layer.output), dims], `${layer.output}.bxhat`);
      const d = g.node('Reshape', [dy, dims], `d.${layer.output}.grouped`);
      const mean = (t: string, label: string): string => g.node('ReduceMean', [t], label, { axes: [2], keepdims: 1 });
      const xc = g.node('Sub', [x, mean(x, `${layer.output}.bmean`)], `${layer.output}.bxc`);
      const variance = mean(g.node('Mul', [xc, xc], `${layer.output}.bsq`), `${layer.output}.bvar`);
      const inv = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [variance, g.float([layer.eps], [])], `${layer.output}.bvareps`)], `${layer.output}.bstd`)], `${layer.output}.binv`);
      const m1 = mean(d, `d.${layer.output}.m1`);
      const m2 = mean(g.node('Mul', [d, xhat], `d.${layer.output}.dxh`), `d.${layer.output}.m2`);
      const centred = g.node('Sub', [g.node('Sub', [d, m1], `d.${layer.output}.c1`), g.node('Mul', [xhat, m2], `d.${layer.output}.c2`)], `d.${layer.output}.c3`);
      const dx = g.node('Mul', [centred, inv], `d.${layer.output}.dxg`);
      out.activations.push([layer.input, g.node('Reshape', [dx, g.int64([n, c, h, w])], `d.${layer.input}.from.${layer.output}`)]);
      return out;
    }
    case 'film': {
      const c = ctx.shape(layer.input)[0];
      if (needsGrad(layer.input)) {
        const [scale] = filmParts(ctx, fwd(layer.mod), c, `${layer.output}.b`);
        const gain = g.node('Add', [scale, g.float([1], [])], `${layer.output}.bgain`);
        out.activations.push([layer.input, g.node('Mul', [dy, gain], `d.${layer.input}.from.${layer.output}`)]);
      }
      if (needsGrad(layer.mod)) {
        const dScale = g.node('ReduceSum', [g.node('Mul', [dy, fwd(layer.input)], `d.${layer.output}.dyx`), g.int64([2, 3])], `d.${layer.output}.dscale`, { keepdims: 1 });
        const dShift = g.node('ReduceSum', [dy, g.int64([2, 3])], `d.${layer.output}.dshift`, { keepdims: 1 });
        out.activations.push([layer.mod, g.node('Concat', [dScale, dShift], `d.${layer.mod}.from.${layer.output}`, { axis: 1 })]);
      }
      return out;
    }
  }
}
