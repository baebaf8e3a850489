/**
 * Building ONNX graphs in TypeScript (`onnx-proto`) and opening them with `onnxruntime-node`.
 *
 * A {@link GraphBuilder} collects nodes, graph inputs, outputs and constant initializers and
 * encodes them as ModelProto bytes (opset {@link OPSET}); {@link openSession} turns those bytes
 * into an `InferenceSession` with the settings this project measured fastest on its 2-core CPU.
 *
 * @example
 * const g = new GraphBuilder('double');
 * const x = g.input('x', ['n', 4]);
 * g.output(g.node('Add', [x, x], 'y'), ['n', 4]);
 * const session = await openSession(g.build());
 * const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(8), [2, 4]) });
 */
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';

const { onnx } = onnxProto;
type INode = import('onnx-proto').onnx.INodeProto;
type ITensor = import('onnx-proto').onnx.ITensorProto;
type IValueInfo = import('onnx-proto').onnx.IValueInfoProto;
type IAttribute = import('onnx-proto').onnx.IAttributeProto;

/** ONNX element types used here (`TensorProto.DataType`). */
export const DataType = { FLOAT: 1, FLOAT16: 10, INT64: 7 } as const;

/** The default-domain opset every graph built here imports. */
export const OPSET = 17;

/** A dimension of a graph input or output: a fixed size or a symbolic name such as `'n'`. */
export type Dim = number | string;

/** A float attribute whose value happens to be integral (plain integral numbers encode as INT). */
export interface FloatAttr {
  readonly float: number;
}

/** A list-of-floats attribute (plain number arrays encode as INTS). */
export interface FloatsAttr {
  readonly floats: readonly number[];
}

/**
 * An attribute value: an integer (INT), a non-integral number or {@link floatAttr} (FLOAT), an
 * array of integers (INTS), {@link floatsAttr} (FLOATS), or a string (STRING).
 */
export type AttrValue = number | FloatAttr | FloatsAttr | readonly number[] | string;

/**
 * Mark a number as a FLOAT attribute even when it is integral.
 *
 * @example
 * g.node('LeakyRelu', [x], 'y', { alpha: floatAttr(0) });
 */
export function floatAttr(value: number): FloatAttr {
  return { float: value };
}

/**
 * Mark a number list as a FLOATS attribute.
 *
 * @example
 * g.node('Conv', [x, w], 'y', { activation: 'LeakyRelu', activation_params: floatsAttr([0.1]) }, 'com.microsoft.nchwc');
 */
export function floatsAttr(values: readonly number[]): FloatsAttr {
  return { floats: values };
}

function encodeAttribute(name: string, value: AttrValue): IAttribute {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  }
  if (Array.isArray(value)) return { name, type: T.INTS, ints: [...value] };
  if ('floats' in (value as object)) return { name, type: T.FLOATS, floats: [...(value as FloatsAttr).floats] };
  return { name, type: T.FLOAT, f: (value as FloatAttr).float };
}

function valueInfo(name: string, dims: readonly Dim[], elemType: number): IValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * Collects the pieces of one ONNX graph. Tensor names are plain strings; {@link GraphBuilder.node}
 * returns its (first) output name so that calls chain.
 */
export class GraphBuilder {
  private readonly nodes: INode[] = [];
  private readonly initializers: ITensor[] = [];
  private readonly inputs: IValueInfo[] = [];
  private readonly outputs: IValueInfo[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A name not used before in this graph, from a readable prefix. */
  fresh(prefix: string): string {
    let name = prefix;
    while (this.names.has(name)) name = `${prefix}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  /** Declare a graph input (float32 unless `elemType`, an ONNX `TensorProto.DataType`); returns its name. */
  input(name: string, dims: readonly Dim[], elemType: number = DataType.FLOAT): string {
    if (this.names.has(name)) throw new Error(`GraphBuilder: name "${name}" is already used`);
    this.names.add(name);
    this.inputs.push(valueInfo(name, dims, elemType));
    return name;
  }

  /** Declare an existing tensor as a graph output (float32 unless `elemType`; `dims` may be left open). */
  output(name: string, dims?: readonly Dim[], elemType: number = DataType.FLOAT): void {
    const info: IValueInfo = dims ? valueInfo(name, dims, elemType) : { name, type: { tensorType: { elemType } } };
    this.outputs.push(info);
  }

  /**
   * Add a node. `outputs` is one name prefix or a list of prefixes (made unique); returns the
   * first output's name. Use {@link GraphBuilder.nodeMulti} for all outputs.
   */
  node(opType: string, inputs: readonly string[], output: string, attrs: Record<string, AttrValue> = {}, domain = ''): string {
    return this.nodeMulti(opType, inputs, [output], attrs, domain)[0];
  }

  /** Add a node with several outputs; returns their (unique) names. */
  nodeMulti(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attrs: Record<string, AttrValue> = {},
    domain = '',
  ): string[] {
    const outNames = outputs.map((o) => this.fresh(o));
    this.nodes.push({
      opType,
      domain,
      input: [...inputs],
      output: outNames,
      name: `${opType}_${outNames[0]}`,
      attribute: Object.entries(attrs).map(([k, v]) => encodeAttribute(k, v)),
    });
    return outNames;
  }

  /** A constant int64 tensor (1-D unless `dims` says otherwise), shared between identical uses. */
  int64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.fresh('const_i64');
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({
      name,
      dims: [...dims],
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: new Uint8Array(data.buffer),
    });
    this.constants.set(key, name);
    return name;
  }

  /** A constant float32 tensor (a scalar when `dims` is `[]`). Small constants are shared. */
  float(values: Float32Array | readonly number[], dims: readonly number[] = [values.length]): string {
    const small = values.length <= 16;
    const key = small ? `f32:${dims.join('x')}:${Array.from(values).join(',')}` : '';
    if (small && this.constants.has(key)) return this.constants.get(key)!;
    const name = this.fresh('const_f32');
    const data = values instanceof Float32Array ? values.slice() : Float32Array.from(values);
    this.initializers.push({
      name,
      dims: [...dims],
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    if (small) this.constants.set(key, name);
    return name;
  }

  /** Number of nodes so far. */
  get size(): number {
    return this.nodes.length;
  }

  /** Encode as ModelProto bytes. */
  build(): Uint8Array {
    const domains = new Set(this.nodes.map((n) => n.domain ?? ''));
    const opsetImport = [{ domain: '', version: OPSET }];
    for (const d of domains) if (d !== '') opsetImport.push({ domain: d, version: 1 });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'ragar-onnx-train',
      opsetImport,
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** Session settings; defaults are the ones measured fastest for training graphs on 2 cores. */
export interface SessionSettings {
  /** Threads inside one operator (default 2, this machine's core count). */
  threads?: number;
  /** ORT graph optimisation level (default `'all'`). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Run independent graph branches concurrently with this many inter-op threads (ORT's `parallel`
   * execution mode); default 0: sequential, all threads inside operators.
   */
  interOpThreads?: number;
  /** ORT's CPU memory arena (default true). */
  memArena?: boolean;
  /**
   * Let idle intra-op threads busy-wait for work (ORT's own default). Default here: false. On this
   * shared 2-core machine, with other processes running, spinning made a training step about
   * 1.6× slower (the spinning thread competes for the core the work needs).
   */
  spinning?: boolean;
  /** Write the optimised graph here (debugging). */
  optimizedModelFilePath?: string;
}

/**
 * Open ONNX bytes as an `onnxruntime-node` session on the CPU.
 *
 * @example
 * const session = await openSession(builder.build(), { threads: 2 });
 */
export async function openSession(bytes: Uint8Array, settings: SessionSettings = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: settings.threads ?? 2,
    interOpNumThreads: settings.interOpThreads || 1,
    executionMode: settings.interOpThreads ? 'parallel' : 'sequential',
    graphOptimizationLevel: settings.optimization ?? 'all',
    enableCpuMemArena: settings.memArena ?? true,
    enableMemPattern: true,
    ...(settings.optimizedModelFilePath ? { optimizedModelFilePath: settings.optimizedModelFilePath } : {}),
    ...(settings.spinning ? {} : { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }),
  });
}

/** A float32 `ort.Tensor` over `data` (no copy). */
export function tensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}
