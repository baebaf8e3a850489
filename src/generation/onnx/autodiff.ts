/**
 * Reverse-mode differentiation of a {@link NetSpec} into two ONNX graphs for one batch size:
 *
 * - forward: inputs `x` and every parameter; outputs the network output and (in `saved` mode)
 *   the activations the backward pass reads;
 * - backward: inputs `x`, every parameter, `dy` (gradient of the loss w.r.t. the output) and the
 *   saved activations (or, in `recompute` mode, none: it runs the forward pass again inside);
 *   output `grads`, the gradients of all parameters concatenated in `spec.params` order (the
 *   same layout as the flat parameter array, so an optimiser can use it directly).
 *
 * @example
 * const { forward, backward, saved } = buildTrainingGraphs(spec, 8, { mode: 'saved' });
 * const fwd = await openSession(forward);
 * const bwd = await openSession(backward);
 */
import { RagarError } from '../../util/errors.js';
import { GraphBuilder } from './graph.js';
import { emitBackward, emitForward, type ConvBackward, type EmitContext } from './emit.js';
import { inferShapes, layerInputs, type NetSpec, type Shape } from './layers.js';
import { buildForwardGraphNchwc } from './nchwc.js';

/** `saved`: the forward pass hands activations to the backward pass; `recompute`: backward recomputes them. */
export type BackwardMode = 'saved' | 'recompute';

/** Name of the gradient input of the backward graph. */
export const DY = 'dy';
/** Name of the concatenated parameter-gradient output of the backward graph. */
export const GRADS = 'grads';
/** Name of the input-gradient output of the backward graph (with `inputGradient`). */
export const DX = 'dx';

/** Layers whose outputs the backward pass recomputes instead of receiving them (pure data movement). */
const CHEAP = new Set(['concat', 'upsample']);

/** Choices of {@link buildTrainingGraphs}. */
export interface TrainingGraphOptions {
  /** `saved` (default) or `recompute`. */
  mode?: BackwardMode;
  /** Stride-1 conv backward strategy (default `shared`). */
  convBackward?: ConvBackward;
  /** Build the forward graph in the blocked layout with this block size (see `nchwc.ts`); 0/absent: NCHW. */
  nchwcBlock?: number;
  /**
   * Also output {@link DX}, the gradient w.r.t. the network input `x` (e.g. a discriminator's
   * gradient w.r.t. the image it judged, passed on to a generator).
   */
  inputGradient?: boolean;
}

/** The two graphs of one batch size, as ONNX bytes. */
export interface TrainingGraphs {
  forward: Uint8Array;
  backward: Uint8Array;
  /** Activations the forward graph outputs for the backward graph (after the network output), in order. */
  saved: string[];
}

function batchDims(n: number, s: Shape): number[] {
  return [n, ...s];
}

function declareInputs(g: GraphBuilder, spec: NetSpec, n: number, shapes: Map<string, Shape>): void {
  g.input(spec.input.name, batchDims(n, shapes.get(spec.input.name)!));
  for (const c of spec.conditions ?? []) g.input(c.name, [n, c.channels, 1, 1]);
  for (const p of spec.params) g.input(p.name, p.shape);
}

/**
 * The forward graph alone: inputs `x` and parameters, outputs the network output then `saved`.
 *
 * @example
 * const bytes = buildForwardGraph(spec, 4); // inference only
 */
export function buildForwardGraph(spec: NetSpec, n: number, saved: readonly string[] = []): Uint8Array {
  const shapes = inferShapes(spec);
  const g = new GraphBuilder('forward');
  declareInputs(g, spec, n, shapes);
  const ctx: EmitContext = { g, n, shape: (name) => shapes.get(name)! };
  for (const layer of spec.layers) emitForward(ctx, layer);
  g.output(spec.output, batchDims(n, shapes.get(spec.output)!));
  for (const name of saved) if (name !== spec.output) g.output(name);
  return g.build();
}

/** Which activations depend on parameters (or, with `withInput`, on the input) and so need a gradient. */
function gradientNeeds(spec: NetSpec, withInput: boolean): Set<string> {
  const params = new Set(spec.params.map((p) => p.name));
  const needs = new Set<string>(withInput ? [spec.input.name] : []);
  for (const layer of spec.layers) {
    if (layerInputs(layer).some((x) => params.has(x) || needs.has(x))) needs.add(layer.output);
  }
  return needs;
}

/**
 * Build the forward and backward graphs of `spec` for batch size `n`.
 * Throws a `BAD_INPUT` RagarError when the spec is inconsistent (see `inferShapes`).
 */
export function buildTrainingGraphs(spec: NetSpec, n: number, options: TrainingGraphOptions = {}): TrainingGraphs {
  const mode = options.mode ?? 'saved';
  const convBackward = options.convBackward ?? 'shared';
  if (!(Number.isInteger(n) && n > 0)) throw new RangeError(`batch size must be a positive integer, got ${n}`);
  const shapes = inferShapes(spec);
  const g = new GraphBuilder('backward');
  declareInputs(g, spec, n, shapes);
  const ctx: EmitContext = { g, n, shape: (name) => shapes.get(name)!, convBackward };
  const paramNames = new Set([...spec.params.map((p) => p.name), ...(spec.conditions ?? []).map((c) => c.name)]);
  const saved: string[] = [];
  if (mode === 'recompute') {
    for (const layer of spec.layers) emitForward(ctx, layer);
  }
  const producers = new Map(spec.layers.map((l) => [l.output, l]));
  const recomputed = new Set<string>();
  const fwd = (name: string): string => {
    if (mode === 'recompute' || name === spec.input.name || paramNames.has(name)) return name;
    if (saved.includes(name) || recomputed.has(name)) return name;
    const layer = producers.get(name);
    if (layer && CHEAP.has(layer.op)) {
      // cheaper to redo (a copy) than to hand over from the forward pass
      for (const x of layerInputs(layer)) fwd(x);
      emitForward(ctx, layer);
      recomputed.add(name);
      return name;
    }
    const base = shapes.get(name) ?? (name.endsWith('.pre') ? shapes.get(name.slice(0, -4)) : undefined);
    if (!base) throw new Error(`autodiff: no shape for saved tensor "${name}"`);
    g.input(name, batchDims(n, base));
    saved.push(name);
    return name;
  };
  const needs = gradientNeeds(spec, options.inputGradient ?? false);
  const contributions = new Map<string, string[]>();
  const paramGrads = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, key: string, grad: string): void => {
    const list = map.get(key);
    if (list) list.push(grad);
    else map.set(key, [grad]);
  };
  const total = (list: string[], label: string): string => (list.length === 1 ? list[0] : g.node('Sum', list, label));
  add(contributions, spec.output, g.input(DY, batchDims(n, shapes.get(spec.output)!)));
  for (let i = spec.layers.length - 1; i >= 0; i--) {
    const layer = spec.layers[i];
    const list = contributions.get(layer.output);
    if (!list) continue; // does not influence the output
    const dy = total(list, `d.${layer.output}`);
    const grads = emitBackward(ctx, layer, dy, (x) => needs.has(x), fwd);
    for (const [name, grad] of grads.activations) add(contributions, name, grad);
    for (const [name, grad] of grads.params) add(paramGrads, name, grad);
  }
  const flat = spec.params.map((p) => {
    const list = paramGrads.get(p.name);
    if (!list) throw new RagarError(`network spec: parameter "${p.name}" does not influence the output`, 'BAD_INPUT');
    return g.node('Reshape', [total(list, `d.${p.name}.total`), g.int64([-1])], `d.${p.name}.flat`);
  });
  if (g.node('Concat', flat, GRADS, { axis: 0 }) !== GRADS) throw new Error(`autodiff: internal name clash on "${GRADS}"`);
  g.output(GRADS, [spec.params.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0)]);
  if (options.inputGradient) {
    const list = contributions.get(spec.input.name);
    if (!list) throw new RagarError('network spec: the output does not depend on the input', 'BAD_INPUT');
    if (g.node('Identity', [total(list, `d.${spec.input.name}.total`)], DX) !== DX) throw new Error(`autodiff: internal name clash on "${DX}"`);
    g.output(DX, batchDims(n, shapes.get(spec.input.name)!));
  }
  const backward = g.build();
  const handed = mode === 'saved' ? saved : [];
  const forward = (options.nchwcBlock ? buildForwardGraphNchwc(spec, n, handed, options.nchwcBlock) : null) ?? buildForwardGraph(spec, n, handed);
  return { forward, backward, saved: handed };
}
