/**
 * A small ONNX graph builder and session opener for the lower stages (encoders, ranking) that run
 * fixed inference or product graphs on `onnxruntime-node`. The generator's training engine has
 * its own, fuller builder (`generation/onnx/graph.ts`: multi-output nodes, int64 constants,
 * contrib domains); this one holds only what a plain float graph needs, so that a lower stage
 * does not import the generation stage.
 *
 * @example
 * const g = new OnnxGraph('double');
 * const x = g.input('x', ['n', 4]);
 * g.output(g.node('Add', [x, x], 'y'), ['n', 4]);
 * const session = await openCpuSession(g.build(), 2);
 */
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { RagarError } from './errors.js';

const { onnx } = onnxProto;
type INode = import('onnx-proto').onnx.INodeProto;
type ITensor = import('onnx-proto').onnx.ITensorProto;
type IValueInfo = import('onnx-proto').onnx.IValueInfoProto;
type IAttribute = import('onnx-proto').onnx.IAttributeProto;

/** An attribute: an integer (INT), a non-integral number (FLOAT), an integer list (INTS) or a string. */
export type OnnxAttr = number | readonly number[] | string;

function attribute(name: string, value: OnnxAttr): IAttribute {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  return { name, type: T.INTS, ints: [...value] };
}

function valueInfo(name: string, dims: readonly (number | string)[]): IValueInfo {
  return { name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

/** A float32 ONNX graph (default domain, opset 17) built node by node. */
export class OnnxGraph {
  private readonly nodes: INode[] = [];
  private readonly initializers: ITensor[] = [];
  private readonly inputs: IValueInfo[] = [];
  private readonly outputs: IValueInfo[] = [];
  private readonly names = new Set<string>();

  constructor(readonly name: string) {}

  private fresh(prefix: string): string {
    let name = prefix;
    for (let i = 1; this.names.has(name); i++) name = `${prefix}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Declare a float32 graph input; returns its name. */
  input(name: string, dims: readonly (number | string)[]): string {
    if (this.names.has(name)) throw new RagarError(`OnnxGraph: name "${name}" is already used`, 'INTERNAL');
    this.names.add(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Declare a tensor as a float32 graph output. */
  output(name: string, dims: readonly (number | string)[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  /** Add a node with one output (named from `output`, made unique); returns the output's name. */
  node(opType: string, inputs: readonly string[], output: string, attrs: Record<string, OnnxAttr> = {}): string {
    const out = this.fresh(output);
    this.nodes.push({ opType, domain: '', input: [...inputs], output: [out], name: `${opType}_${out}`, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return out;
  }

  /** A float32 constant (a scalar when `dims` is `[]`); returns its name. */
  float(values: Float32Array | readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh('const');
    const data = values instanceof Float32Array ? values.slice() : Float32Array.from(values);
    this.initializers.push({ name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  /** Encode as ModelProto bytes. */
  build(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'ragar',
      opsetImport: [{ domain: '', version: 17 }],
      graph: { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/**
 * Open ONNX bytes on the CPU with `threads` intra-op threads, all graph optimisations and idle
 * threads not spinning (spinning competes for the cores of this shared 2-core machine; the
 * generator engine measured it 1.6× slower).
 *
 * @example
 * const session = await openCpuSession(graph.build(), 2);
 */
export async function openCpuSession(bytes: Uint8Array, threads = 2): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
}
