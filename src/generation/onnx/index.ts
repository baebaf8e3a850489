/**
 * A small CPU training engine for convolutional image models on onnxruntime-node: networks are
 * lists of layers ({@link NetSpec}), differentiated into forward and backward ONNX graphs built
 * in TypeScript; parameters live in a flat Float32Array that TypeScript optimisers update.
 *
 * @example
 * import { createUnet } from './generation/onnx/index.js';
 * import { Adam } from './util/adam.js';
 *
 * const net = createUnet({ inChannels: 10, outChannels: 3, base: 32, levels: 3, seed: 1 });
 * const adam = new Adam(net.paramCount, 1e-3);
 * await net.ready(8);
 * for (const { x, target } of batches) {
 *   const y = await net.forward(x, 8);               // 8×3×64×64, NCHW
 *   const dY = lossGradient(y, target);               // computed in TypeScript
 *   adam.step(net.params, await net.backward(dY));
 * }
 * await net.save('runs/generator');
 * await net.dispose();
 */
export { buildForwardGraph, buildTrainingGraphs, type BackwardMode, type TrainingGraphOptions, type TrainingGraphs } from './autodiff.js';
export { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, readCheckpoint, readCheckpointHeader, writeCheckpoint, type CheckpointHeader } from './checkpoint.js';
export type { ConvBackward } from './emit.js';
export { DataType, GraphBuilder, floatAttr, floatsAttr, openSession, tensor, OPSET, type SessionSettings } from './graph.js';
export {
  convParams,
  inferShapes,
  leaky,
  LINEAR,
  macsPerSample,
  paramLayout,
  SILU,
  type Activation,
  type Layer,
  type NetSpec,
  type ParamInfo,
  type ParamSpec,
  type Shape,
} from './layers.js';
export { buildForwardGraphNchwc, nchwcApplicable, nchwcBlockSize } from './nchwc.js';
export { initParams, OnnxNet, type ConditionFeeds, type OnnxNetOptions } from './net.js';
export { createUnet, loadUnet, resolveUnetConfig, unetSpec, type UnetConfig, type UnetRuntimeOptions } from './unet.js';
export { COND_INPUT, COND_UNET_KIND, condUnetSpec, createCondUnet, loadCondUnet, resolveCondUnetConfig, type CondUnetConfig } from './condUnet.js';
export { createPatchDiscriminator, loadPatchDiscriminator, PATCH_DISCRIMINATOR_KIND, patchDiscriminatorSpec, resolvePatchDiscriminatorConfig, type PatchDiscriminatorConfig } from './patchgan.js';
