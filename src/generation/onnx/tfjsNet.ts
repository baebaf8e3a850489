/**
 * The same {@link NetSpec} run by `@tensorflow/tfjs` (NHWC), for two jobs: the alternative the
 * ONNX engine is benchmarked against (wasm backend), and an independent check of the engine's
 * gradients (cpu backend, tfjs's own autodiff). Not used for training in the project.
 *
 * The wasm backend has no conv weight-gradient kernel (`Conv2DBackpropFilter`); with
 * `customConvGrad` the convolutions get a `tf.customGrad` whose gradients are forward
 * convolutions (input gradient: a conv with the flipped kernel, or conv2dTranspose for stride 2;
 * weight gradient: a dilated conv of the input, batch and channel axes swapped, with the output
 * gradient as the kernel).
 *
 * @example
 * const tf = await loadTfjs('wasm');
 * const ref = createTfjsNet(tf, spec, net.params, { customConvGrad: true, learningRate: 1e-3 });
 * const y = ref.forward(xNchw, 8);           // NCHW, like OnnxNet
 * const ms = await ref.trainStepL1(xNchw, targetNchw, 8);
 */
import { RagarError } from '../../util/errors.js';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { inferShapes, paramLayout, type Activation, type ConvLayer, type NetSpec } from './layers.js';

type Tf = typeof TF;

/**
 * Import tfjs and switch it to `backend` (`wasm`: binaries from node_modules, single-threaded in
 * Node; `cpu`: plain JS, slow, every gradient kernel).
 *
 * @example
 * const tf = await loadTfjs('cpu');
 */
export async function loadTfjs(backend: 'wasm' | 'cpu'): Promise<Tf> {
  const tf = await import('@tensorflow/tfjs');
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const dir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
    wasm.setWasmPaths(dir + path.sep);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`could not start the tfjs ${backend} backend`);
  await tf.ready();
  return tf;
}

/** Options of {@link createTfjsNet}. */
export interface TfjsNetOptions {
  /** Use forward-conv gradients (needed on wasm). Default false. */
  customConvGrad?: boolean;
  /** Adam learning rate for {@link TfjsNet.trainStepL1} (default 1e-3). */
  learningRate?: number;
}

/** A NetSpec on tfjs; inputs and outputs in NCHW like `OnnxNet`. */
export interface TfjsNet {
  /** Output for `batch` NCHW samples. */
  forward(x: Float32Array, batch: number): Float32Array;
  /** Gradients of sum(c ⊙ y) w.r.t. every parameter, flat in `paramLayout(spec)` order (OIHW). */
  gradients(x: Float32Array, c: Float32Array, batch: number): Float32Array;
  /** One Adam step on the L1 loss mean|y − target|; resolves when done. */
  trainStepL1(x: Float32Array, target: Float32Array, batch: number): Promise<void>;
  dispose(): void;
}

let instances = 0;

/**
 * Build `spec` on tfjs with the given flat parameters (OIHW weights, as `OnnxNet` stores them).
 *
 * @example
 * const ref = createTfjsNet(tf, spec, net.params);
 */
export function createTfjsNet(tf: Tf, spec: NetSpec, params: Float32Array, options: TfjsNetOptions = {}): TfjsNet {
  const shapes = inferShapes(spec);
  const id = ++instances;
  const layout = paramLayout(spec);
  const vars = new Map<string, TF.Variable>();
  for (const p of layout) {
    const t = tf.tensor(params.slice(p.offset, p.offset + p.size), p.shape);
    vars.set(p.name, tf.variable(p.shape.length === 4 ? tf.transpose(t, [2, 3, 1, 0]) : t, true, `${p.name}#${id}`));
    t.dispose();
  }
  const optimizer = tf.train.adam(options.learningRate ?? 1e-3);

  const convOp = (layer: ConvLayer, needDx: boolean): ((x: TF.Tensor4D, w: TF.Tensor4D) => TF.Tensor4D) => {
    const k = layer.kernel;
    const s = layer.stride;
    const p = (k - 1) / 2;
    const pads: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [p, p], [p, p], [0, 0]];
    if (!options.customConvGrad) return (x, w) => tf.conv2d(x, w, s, pads);
    return tf.customGrad((...args: unknown[]) => {
      const [x, w, save] = args as [TF.Tensor4D, TF.Tensor4D, TF.GradSaveFunc];
      save([x, w]);
      return {
        value: tf.conv2d(x, w, s, pads),
        gradFunc: (dy: TF.Tensor | TF.Tensor[], saved: TF.Tensor[]) => {
          const g = dy as TF.Tensor4D;
          const [xs, ws] = saved as [TF.Tensor4D, TF.Tensor4D];
          let dx: TF.Tensor4D;
          if (!needDx) dx = tf.zerosLike(xs);
          else if (s === 1) dx = tf.conv2d(g, tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]) as TF.Tensor4D, 1, pads);
          else dx = tf.conv2dTranspose(g, ws, xs.shape as [number, number, number, number], s, pads);
          const xT = tf.transpose(tf.pad(xs, pads), [3, 1, 2, 0]) as TF.Tensor4D; // C, Hp, Wp, N
          const gT = tf.transpose(g, [1, 2, 0, 3]) as TF.Tensor4D; // Ho, Wo, N, O
          const r = tf.conv2d(xT, gT, 1, 'valid', 'NHWC', [s, s]); // C, k', k', O
          const c = xs.shape[3];
          const o = ws.shape[3];
          const dw = tf.transpose(tf.slice(r, [0, 0, 0, 0], [c, k, k, o]), [1, 2, 0, 3]);
          return [dx, dw];
        },
      };
    }) as unknown as (x: TF.Tensor4D, w: TF.Tensor4D) => TF.Tensor4D;
  };
  const convs = new Map<ConvLayer, (x: TF.Tensor4D, w: TF.Tensor4D) => TF.Tensor4D>();
  for (const layer of spec.layers) if (layer.op === 'conv') convs.set(layer, convOp(layer, layer.input !== spec.input.name));

  const activate = (z: TF.Tensor4D, act: Activation): TF.Tensor4D => {
    if (act.kind === 'leaky') return tf.leakyRelu(z, act.alpha);
    if (act.kind === 'silu') return tf.mul(z, tf.sigmoid(z));
    return z;
  };

  const run = (xNhwc: TF.Tensor4D): TF.Tensor4D => {
    const t = new Map<string, TF.Tensor4D>([[spec.input.name, xNhwc]]);
    const get = (name: string): TF.Tensor4D => t.get(name)!;
    for (const layer of spec.layers) {
      let out: TF.Tensor4D;
      switch (layer.op) {
        case 'conv': {
          let z = convs.get(layer)!(get(layer.input), vars.get(layer.weight)! as TF.Tensor4D);
          if (layer.bias) z = tf.add(z, vars.get(layer.bias)!);
          if (layer.residual) z = tf.add(z, get(layer.residual));
          out = activate(z, layer.act);
          break;
        }
        case 'act':
          out = activate(get(layer.input), layer.act);
          break;
        case 'add':
          out = activate(tf.add(get(layer.inputs[0]), get(layer.inputs[1])), layer.act);
          break;
        case 'concat':
          out = tf.concat(layer.inputs.map(get), 3);
          break;
        case 'upsample': {
          const [, h, w] = shapes.get(layer.input)!;
          out = tf.image.resizeNearestNeighbor(get(layer.input), [2 * h, 2 * w]);
          break;
        }
        default:
          throw new RagarError(`tfjs reference network: layer "${layer.op}" is not implemented (use the ONNX engine)`, 'BAD_INPUT');
      }
      t.set(layer.output, out);
    }
    return get(spec.output);
  };

  const [ci, hi, wi] = shapes.get(spec.input.name)!;
  const [co, ho, wo] = shapes.get(spec.output)!;
  const nhwc = (x: Float32Array, n: number, c: number, h: number, w: number): TF.Tensor4D => tf.transpose(tf.tensor4d(x, [n, c, h, w]), [0, 2, 3, 1]);
  const nchwData = (y: TF.Tensor4D): Float32Array => tf.transpose(y, [0, 3, 1, 2]).dataSync() as Float32Array;

  return {
    forward(x, batch) {
      return tf.tidy(() => nchwData(run(nhwc(x, batch, ci, hi, wi))));
    },
    gradients(x, c, batch) {
      return tf.tidy(() => {
        const xt = nhwc(x, batch, ci, hi, wi);
        const ct = nhwc(c, batch, co, ho, wo);
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(run(xt), ct)) as TF.Scalar);
        const out = new Float32Array(params.length);
        for (const p of layout) {
          const g = grads[`${p.name}#${id}`];
          const data = (p.shape.length === 4 ? tf.transpose(g, [3, 2, 0, 1]) : g).dataSync() as Float32Array;
          out.set(data, p.offset);
        }
        return out;
      });
    },
    async trainStepL1(x, target, batch) {
      const cost = tf.tidy(() => {
        const xt = nhwc(x, batch, ci, hi, wi);
        const tt = nhwc(target, batch, co, ho, wo);
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.abs(tf.sub(run(xt), tt))) as TF.Scalar);
        // tfjs types ask for variables here; at run time it takes the gradient map (its documented use)
        optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
        return value;
      });
      await cost.data();
      cost.dispose();
    },
    dispose() {
      for (const v of vars.values()) v.dispose();
      optimizer.dispose();
    },
  };
}
