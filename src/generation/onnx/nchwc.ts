/**
 * A faster forward graph: the same network in onnxruntime's blocked "NCHWc" layout, using the
 * CPU provider's `com.microsoft.nchwc` ops (direct convolutions on channel blocks of 16 with
 * AVX-512, 8 with AVX2) with the weights reordered inside the graph from the OIHW parameter
 * inputs. onnxruntime applies this layout by itself only when weights are constant
 * initializers, which training weights are not; on this machine it made the U-Net's forward pass
 * about 1.5× faster than plain NCHW `Conv` with weights as inputs.
 *
 * Activations stay blocked from the first conv to the last; the output and the tensors the
 * backward pass needs are reordered back to NCHW (`ReorderOutput`), so the backward graph does
 * not change. Applicable when every internal tensor's channel count is a multiple of the block
 * (the network input may have fewer channels than a block, the output any count); otherwise
 * {@link buildForwardGraphNchwc} returns null and the caller uses the NCHW graph.
 *
 * @example
 * const block = await nchwcBlockSize();              // 16 here, 0 where unsupported
 * const bytes = buildForwardGraphNchwc(spec, 8, saved, block) ?? buildForwardGraph(spec, 8, saved);
 */
import { GraphBuilder, floatsAttr, openSession, tensor } from './graph.js';
import { inferShapes, type Activation, type ConvLayer, type Layer, type NetSpec, type Shape } from './layers.js';
import { preActName } from './emit.js';

const DOMAIN = 'com.microsoft.nchwc';

let blockSize: Promise<number> | undefined;

/**
 * The NCHWc block size of this machine's onnxruntime (channels per block), found once by running
 * a tiny `ReorderInput` graph; 0 when the nchwc ops are unavailable.
 *
 * @example
 * if ((await nchwcBlockSize()) > 0) console.log('blocked convolutions available');
 */
export function nchwcBlockSize(): Promise<number> {
  blockSize ??= (async () => {
    try {
      const g = new GraphBuilder('nchwc_probe');
      g.input('x', [1, 4, 1, 1]);
      g.output(g.node('ReorderInput', ['x'], 'y', {}, DOMAIN));
      const session = await openSession(g.build(), { threads: 1 });
      const out = await session.run({ x: tensor(new Float32Array(4), [1, 4, 1, 1]) });
      const b = Number(out.y.dims[1]);
      await session.release();
      return b >= 4 ? b : 0;
    } catch {
      return 0;
    }
  })();
  return blockSize;
}

const ceilTo = (v: number, b: number): number => Math.ceil(v / b) * b;

/**
 * Whether the blocked layout can run `spec` with block size `block`: convs read the network input
 * with fewer channels than a block (or a multiple of it) and every other tensor that a layer reads
 * has a multiple of `block` channels.
 */
export function nchwcApplicable(spec: NetSpec, block: number): boolean {
  if (!(block > 0)) return false;
  // condition vectors, group normalisation and FiLM have no blocked kernels here
  if (spec.conditions?.length || spec.layers.some((l) => l.op === 'groupnorm' || l.op === 'film')) return false;
  const shapes = inferShapes(spec);
  const ok = (name: string): boolean => shapes.get(name)![0] % block === 0;
  for (const layer of spec.layers) {
    const reads = layer.op === 'conv' ? [layer.input, ...(layer.residual ? [layer.residual] : [])] : layer.op === 'add' || layer.op === 'concat' ? layer.inputs : [layer.input];
    for (const name of reads) {
      if (name === spec.input.name) {
        const c = shapes.get(name)![0];
        const viaConv = layer.op === 'conv' && name === layer.input;
        if (!(c % block === 0 || (viaConv && c < block))) return false;
      } else if (!ok(name)) {
        return false;
      }
    }
  }
  return true;
}

function activationAttrs(act: Activation): Record<string, string | ReturnType<typeof floatsAttr>> {
  return act.kind === 'leaky' ? { activation: 'LeakyRelu', activation_params: floatsAttr([act.alpha]) } : {};
}

/**
 * The forward graph in the blocked layout (inputs and outputs exactly as `buildForwardGraph`:
 * NCHW `x`, OIHW parameters; the network output then `saved`, NCHW), or null when
 * {@link nchwcApplicable} says no.
 */
export function buildForwardGraphNchwc(spec: NetSpec, n: number, saved: readonly string[], block: number): Uint8Array | null {
  if (!nchwcApplicable(spec, block)) return null;
  const shapes = inferShapes(spec);
  const g = new GraphBuilder('forward_nchwc');
  g.input(spec.input.name, [n, ...shapes.get(spec.input.name)!]);
  for (const p of spec.params) g.input(p.name, p.shape);
  const blocked = new Map<string, string>(); // forward name → blocked tensor
  const channels = (name: string): number => (shapes.get(name) ?? shapes.get(name.replace(/\.pre$/, '')) as Shape)[0];
  const inBlocked = (name: string): string => {
    let b = blocked.get(name);
    if (!b) {
      // only the network input is ever reordered on demand
      b = g.node('ReorderInput', [name], `${name}.nchwc`, {}, DOMAIN);
      blocked.set(name, b);
    }
    return b;
  };
  const weights = new Map<string, string>();
  const reorderedWeight = (layer: ConvLayer, nchwInput: boolean): string => {
    const key = `${layer.weight}:${nchwInput}`;
    const known = weights.get(key);
    if (known) return known;
    const [o, c, k] = [shapes.get(layer.output)![0], channels(layer.input), layer.kernel];
    const op = ceilTo(o, block);
    let w = layer.weight;
    if (op !== o) w = g.node('Pad', [w, g.int64([0, 0, 0, 0, op - o, 0, 0, 0])], `${layer.weight}.padO`);
    let r: string;
    if (nchwInput) {
      // OIHW → OIHWBo: [o/B][i][kh][kw][bo]
      const w5 = g.node('Reshape', [w, g.int64([op / block, block, c, k, k])], `${layer.weight}.o5`);
      r = g.node('Transpose', [w5], `${layer.weight}.OIHWBo`, { perm: [0, 2, 3, 4, 1] });
    } else {
      // OIHW → OIHWBiBo: [o/B][i/B][kh][kw][bi][bo]
      const w6 = g.node('Reshape', [w, g.int64([op / block, block, c / block, block, k, k])], `${layer.weight}.o6`);
      r = g.node('Transpose', [w6], `${layer.weight}.OIHWBiBo`, { perm: [0, 2, 4, 5, 3, 1] });
    }
    const out = g.node('Reshape', [r, g.int64([op, c, k, k])], `${layer.weight}.nchwc`);
    weights.set(key, out);
    return out;
  };
  const bias = (layer: ConvLayer): string => {
    const o = shapes.get(layer.output)![0];
    const op = ceilTo(o, block);
    if (!layer.bias) return g.float(new Float32Array(op), [op]);
    return op === o ? layer.bias : g.node('Pad', [layer.bias, g.int64([0, op - o])], `${layer.bias}.pad`);
  };
  const silu = (z: string, out: string): string => g.node('Mul', [z, g.node('Sigmoid', [z], `${out}.sig`)], out);
  const emit = (layer: Layer): void => {
    const out = `${layer.output}.nchwc`;
    switch (layer.op) {
      case 'conv': {
        const nchwInput = layer.input === spec.input.name && channels(layer.input) < block;
        const x = nchwInput ? layer.input : inBlocked(layer.input);
        const p = (layer.kernel - 1) / 2;
        const inputs = [x, reorderedWeight(layer, nchwInput), bias(layer), ...(layer.residual ? [inBlocked(layer.residual)] : [])];
        const attrs = { kernel_shape: [layer.kernel, layer.kernel], strides: [layer.stride, layer.stride], pads: [p, p, p, p], ...activationAttrs(layer.act) };
        if (layer.act.kind === 'silu') {
          const z = g.node('Conv', inputs, `${layer.output}.pre.nchwc`, attrs, DOMAIN);
          blocked.set(preActName(layer), z);
          blocked.set(layer.output, silu(z, out));
        } else {
          blocked.set(layer.output, g.node('Conv', inputs, out, attrs, DOMAIN));
        }
        return;
      }
      case 'act': {
        const x = inBlocked(layer.input);
        const a = layer.act;
        blocked.set(layer.output, a.kind === 'leaky' ? g.node('LeakyRelu', [x], out, { alpha: a.alpha }) : a.kind === 'silu' ? silu(x, out) : x);
        return;
      }
      case 'add': {
        const z = g.node('Add', layer.inputs.map(inBlocked), layer.act.kind === 'linear' ? out : `${layer.output}.pre.nchwc`);
        if (layer.act.kind === 'silu') blocked.set(preActName(layer), z);
        blocked.set(layer.output, layer.act.kind === 'leaky' ? g.node('LeakyRelu', [z], out, { alpha: layer.act.alpha }) : layer.act.kind === 'silu' ? silu(z, out) : z);
        return;
      }
      case 'concat':
        blocked.set(layer.output, g.node('Concat', layer.inputs.map(inBlocked), out, { axis: 1 }));
        return;
      case 'upsample':
        blocked.set(layer.output, g.node('Upsample', [inBlocked(layer.input)], out, { scales: [1, 1, 2, 2], mode: 'nearest' }, DOMAIN));
        return;
      default:
        throw new Error(`nchwc: layer "${layer.op}" has no blocked form (nchwcApplicable should have said so)`);
    }
  };
  for (const layer of spec.layers) emit(layer);
  const names = [spec.output, ...saved.filter((s) => s !== spec.output)];
  for (const name of names) {
    const b = blocked.get(name);
    if (!b) throw new Error(`nchwc: no blocked tensor for "${name}"`);
    const made = g.node('ReorderOutput', [b], name, { channels: channels(name) }, DOMAIN);
    if (made !== name) throw new Error(`nchwc: tensor name "${name}" clashes with an internal name`);
    g.output(name, name === spec.output ? [n, ...shapes.get(name)!] : undefined);
  }
  return g.build();
}
