/**
 * The two matrix products of ranker training on onnxruntime: the item tower `G = Φ·W` of a batch's
 * items and the weight gradient `∂L/∂W = Φᵀ·∂L/∂G`. In plain TypeScript they were nearly all of a
 * training step (each item costs inDim × dimension multiply-adds, about 59 k for emoji-styles); as
 * one MatMul each over the batch's distinct items onnxruntime runs them many times faster.
 *
 * @module
 */
import * as ort from 'onnxruntime-node';
import { OnnxGraph, openCpuSession } from '../util/onnx.js';
import { RagarError } from '../util/errors.js';

/** Batched tower products for a ranker with `inDim`-long content rows and `dimension`-d projections. */
export interface ProjectionEngine {
  /** `Φ·W`: `rows × inDim` content rows times the `inDim × dimension` weights → `rows × dimension`. */
  project(phi: Float32Array, rows: number, w: Float32Array): Promise<Float32Array>;
  /** `Φᵀ·DG`: the weight gradient (`inDim × dimension`) from per-row gradients `rows × dimension`. */
  gradient(phi: Float32Array, rows: number, dg: Float32Array): Promise<Float32Array>;
  /** Release the sessions. */
  release(): Promise<void>;
}

/**
 * Open the two MatMul sessions (single-threaded by default: the products are small, and the
 * machine is shared).
 *
 * @example
 * const engine = await createProjectionEngine(1839, 32);
 * const g = await engine.project(phi, rows, weights.w); // rows × 32
 */
export async function createProjectionEngine(inDim: number, dimension: number, threads = 1): Promise<ProjectionEngine> {
  if (!(Number.isInteger(inDim) && inDim > 0 && Number.isInteger(dimension) && dimension > 0)) {
    throw new RagarError(`projection engine needs positive dimensions, got ${inDim} × ${dimension}`, 'BAD_INPUT');
  }
  const tensor = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, dims);
  const pg = new OnnxGraph('ranker-project');
  pg.output(pg.node('MatMul', [pg.input('phi', ['n', inDim]), pg.input('w', [inDim, dimension])], 'g'), ['n', dimension]);
  const gg = new OnnxGraph('ranker-gradient');
  const phiT = gg.node('Transpose', [gg.input('phi', ['n', inDim])], 'phiT', { perm: [1, 0] });
  gg.output(gg.node('MatMul', [phiT, gg.input('dg', ['n', dimension])], 'gw'), [inDim, dimension]);
  const [projectSession, gradientSession] = await Promise.all([openCpuSession(pg.build(), threads), openCpuSession(gg.build(), threads)]);
  const check = (phi: Float32Array, rows: number, other: Float32Array, otherLength: number, what: string) => {
    if (phi.length < rows * inDim || other.length !== otherLength) throw new RagarError(`projection engine: ${what} has the wrong size`, 'INTERNAL');
  };
  const out = (r: ort.InferenceSession.OnnxValueMapType, name: string) => r[name].data as Float32Array;
  return {
    async project(phi, rows, w) {
      check(phi, rows, w, inDim * dimension, 'W');
      if (rows === 0) return new Float32Array(0);
      return out(await projectSession.run({ phi: tensor(phi.subarray(0, rows * inDim), [rows, inDim]), w: tensor(w, [inDim, dimension]) }), 'g');
    },
    async gradient(phi, rows, dg) {
      check(phi, rows, dg, rows * dimension, 'the row gradient');
      if (rows === 0) return new Float32Array(inDim * dimension);
      return out(await gradientSession.run({ phi: tensor(phi.subarray(0, rows * inDim), [rows, inDim]), dg: tensor(dg, [rows, dimension]) }), 'gw');
    },
    async release() {
      await Promise.all([projectSession.release(), gradientSession.release()]);
    },
  };
}
