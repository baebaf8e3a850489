/**
 * A trainable network on onnxruntime-node: parameters in one flat Float32Array owned by
 * TypeScript (so an optimiser such as `Adam` updates them in place), fed to the ONNX graphs as
 * inputs on every call; one forward and one backward session per batch size, built on first use.
 *
 * @example
 * const net = new OnnxNet(spec, { seed: 1 });
 * await net.ready(8);
 * const y = await net.forward(x, 8);            // N×C×H×W
 * const grads = await net.backward(dY);          // d sum(dY ⊙ y) / d params, flat
 * adam.step(net.params, grads);
 * await net.dispose();
 */
import type * as ort from 'onnxruntime-node';
import { RagarError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import { buildForwardGraph, buildTrainingGraphs, DX, DY, GRADS, type BackwardMode } from './autodiff.js';
import { checkLayout, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { ConvBackward } from './emit.js';
import { openSession, tensor, type SessionSettings } from './graph.js';
import { inferShapes, macsPerSample, paramLayout, type NetSpec, type ParamInfo, type Shape } from './layers.js';
import { buildForwardGraphNchwc, nchwcApplicable, nchwcBlockSize } from './nchwc.js';

/** Options of {@link OnnxNet}. */
export interface OnnxNetOptions {
  /** Seed of the He initialisation (default 1). Ignored when `params` is given. */
  seed?: number;
  /** Initial parameters in layout order (copied). */
  params?: Float32Array;
  /** `saved` (default, measured faster) or `recompute`; see `autodiff.ts`. */
  mode?: BackwardMode;
  /** Stride-1 conv backward strategy (default `shared`, measured faster); see `emit.ts`. */
  convBackward?: ConvBackward;
  /**
   * Forward-pass layout: `auto` (default) uses onnxruntime's blocked NCHWc convolutions when the
   * CPU and the network allow (see `nchwc.ts`, about 1.5× faster forward here), `nchw` never.
   */
  layout?: 'auto' | 'nchw';
  /** onnxruntime session settings (threads etc.). */
  session?: SessionSettings;
  /** What `save` records so that a loader can rebuild the network. */
  meta?: { kind: string; config: unknown };
  /** Build backward graphs that also return the gradient w.r.t. the input (see {@link OnnxNet.backwardWithInput}). */
  inputGradient?: boolean;
}

/** Per-sample condition vectors by condition name (N × channels each), for nets with `spec.conditions`. */
export type ConditionFeeds = Readonly<Record<string, Float32Array>>;

interface Sessions {
  forward: ort.InferenceSession;
  backward: ort.InferenceSession;
  saved: string[];
}

interface LastForward {
  batch: number;
  x: ort.Tensor;
  conds: Record<string, ort.Tensor>;
  saved: ort.Tensor[];
}

/**
 * He-normal / zero initial parameters of `spec` from a seeded generator.
 *
 * @example
 * const params = initParams(spec, 7);
 */
export function initParams(spec: NetSpec, seed: number): Float32Array {
  const layout = paramLayout(spec);
  const total = layout.reduce((a, p) => a + p.size, 0);
  const out = new Float32Array(total);
  const rng = new Rng(seed);
  spec.params.forEach((p, i) => {
    if (p.init.kind === 'zeros') return;
    const std = p.init.gain / Math.sqrt(p.init.fanIn);
    const r = rng.fork(p.name);
    const { offset, size } = layout[i];
    for (let j = 0; j < size; j++) out[offset + j] = r.normal() * std;
  });
  return out;
}

/** A trainable network; see the file comment. */
export class OnnxNet {
  /** The network definition. */
  readonly spec: NetSpec;
  /** All parameters, flat, in {@link OnnxNet.paramShapes} order. Update in place. */
  readonly params: Float32Array;
  /** Name, shape and offset of each parameter tensor in {@link OnnxNet.params}. */
  readonly paramShapes: readonly ParamInfo[];
  /** Per-sample input shape [C,H,W]. */
  readonly inputShape: Shape;
  /** Per-sample output shape [C,H,W]. */
  readonly outputShape: Shape;
  /** Multiply-adds of one sample's forward pass. */
  readonly macsPerSample: number;
  /** How the backward pass gets forward activations (see `autodiff.ts`). */
  readonly mode: BackwardMode;
  private readonly options: OnnxNetOptions;
  private readonly paramFeeds: Record<string, ort.Tensor>;
  private readonly sessions = new Map<number, Promise<Sessions>>();
  private readonly inference = new Map<number, Promise<ort.InferenceSession>>();
  private last: LastForward | undefined;
  private disposed = false;

  constructor(spec: NetSpec, options: OnnxNetOptions = {}) {
    const shapes = inferShapes(spec);
    this.spec = spec;
    this.options = options;
    this.mode = options.mode ?? 'saved';
    this.paramShapes = paramLayout(spec);
    const total = this.paramShapes.reduce((a, p) => a + p.size, 0);
    if (options.params) {
      if (options.params.length !== total) throw new RagarError(`expected ${total} parameters, got ${options.params.length}`, 'BAD_INPUT');
      this.params = options.params.slice();
    } else {
      this.params = initParams(spec, options.seed ?? 1);
    }
    this.inputShape = shapes.get(spec.input.name)!;
    this.outputShape = shapes.get(spec.output)!;
    this.macsPerSample = macsPerSample(spec);
    this.paramFeeds = {};
    for (const p of this.paramShapes) this.paramFeeds[p.name] = tensor(this.params.subarray(p.offset, p.offset + p.size), p.shape);
  }

  /** Number of parameters. */
  get paramCount(): number {
    return this.params.length;
  }

  /** Build and open the forward and backward sessions for `batch` (done lazily otherwise). */
  async ready(batch = 1): Promise<void> {
    await this.sessionsFor(batch);
  }

  private sessionsFor(batch: number): Promise<Sessions> {
    this.checkAlive();
    if (!(Number.isInteger(batch) && batch > 0)) throw new RagarError(`batch size must be a positive integer, got ${batch}`, 'BAD_INPUT');
    let s = this.sessions.get(batch);
    if (!s) {
      s = (async () => {
        const graphs = buildTrainingGraphs(this.spec, batch, {
          mode: this.mode,
          convBackward: this.options.convBackward,
          nchwcBlock: await this.block(),
          inputGradient: this.options.inputGradient,
        });
        const [forward, backward] = await Promise.all([openSession(graphs.forward, this.options.session), openSession(graphs.backward, this.options.session)]);
        return { forward, backward, saved: graphs.saved };
      })();
      this.sessions.set(batch, s);
      s.catch(() => this.sessions.delete(batch));
    }
    return s;
  }

  /** The NCHWc block size to build forward graphs with (0: plain NCHW). */
  private async block(): Promise<number> {
    return this.options.layout === 'nchw' ? 0 : nchwcBlockSize();
  }

  /** Whether this network's forward graphs use the blocked NCHWc layout on this machine. */
  async usesNchwc(): Promise<boolean> {
    const block = await this.block();
    return block > 0 && nchwcApplicable(this.spec, block);
  }

  private checkAlive(): void {
    if (this.disposed) throw new RagarError('this network was disposed', 'BAD_INPUT');
  }

  private inputTensor(x: Float32Array, batch: number): ort.Tensor {
    const [c, h, w] = this.inputShape;
    if (!(x instanceof Float32Array)) throw new RagarError('input must be a Float32Array', 'BAD_INPUT');
    if (x.length !== batch * c * h * w) {
      throw new RagarError(`input has ${x.length} values; batch ${batch} of ${c}×${h}×${w} needs ${batch * c * h * w}`, 'BAD_INPUT');
    }
    return tensor(x, [batch, c, h, w]);
  }

  private conditionTensors(conds: ConditionFeeds | undefined, batch: number): Record<string, ort.Tensor> {
    const out: Record<string, ort.Tensor> = {};
    for (const { name, channels } of this.spec.conditions ?? []) {
      const v = conds?.[name];
      if (!(v instanceof Float32Array)) throw new RagarError(`condition "${name}" is missing (a Float32Array of batch × ${channels} values)`, 'BAD_INPUT');
      if (v.length !== batch * channels) throw new RagarError(`condition "${name}" has ${v.length} values; batch ${batch} of ${channels} needs ${batch * channels}`, 'BAD_INPUT');
      out[name] = tensor(v, [batch, channels, 1, 1]);
    }
    return out;
  }

  /**
   * Training forward pass over `batch` samples (N×C×H×W, NCHW order); returns the output
   * (N×C'×H'×W') and keeps what {@link OnnxNet.backward} needs. `x` must not change until then.
   */
  async forward(x: Float32Array, batch: number, conds?: ConditionFeeds): Promise<Float32Array> {
    const xt = this.inputTensor(x, batch);
    const ct = this.conditionTensors(conds, batch);
    const s = await this.sessionsFor(batch);
    const out = await s.forward.run({ [this.spec.input.name]: xt, ...ct, ...this.paramFeeds });
    const y = out[this.spec.output];
    this.last = { batch, x: xt, conds: ct, saved: s.saved.map((name) => out[name]) };
    return y.data as Float32Array;
  }

  /**
   * Gradients of `sum(dY ⊙ y)` w.r.t. every parameter, for the last {@link OnnxNet.forward}
   * (with the parameters it used: call before updating them). Flat, in `params` order.
   */
  async backward(dY: Float32Array): Promise<Float32Array> {
    return (await this.runBackward(dY)).grads;
  }

  /**
   * Like {@link OnnxNet.backward}, and also the gradient of `sum(dY ⊙ y)` w.r.t. the input of the
   * last forward pass (N×C×H×W). Needs the `inputGradient` option.
   */
  async backwardWithInput(dY: Float32Array): Promise<{ grads: Float32Array; dx: Float32Array }> {
    if (!this.options.inputGradient) throw new RagarError('this network was built without inputGradient', 'BAD_INPUT');
    const r = await this.runBackward(dY);
    return { grads: r.grads, dx: r.dx! };
  }

  private async runBackward(dY: Float32Array): Promise<{ grads: Float32Array; dx: Float32Array | null }> {
    const last = this.last;
    if (!last) throw new RagarError('backward() needs a forward() first', 'BAD_INPUT');
    const [c, h, w] = this.outputShape;
    const n = last.batch;
    if (!(dY instanceof Float32Array) || dY.length !== n * c * h * w) {
      throw new RagarError(`output gradient has ${dY?.length} values; batch ${n} of ${c}×${h}×${w} needs ${n * c * h * w}`, 'BAD_INPUT');
    }
    const s = await this.sessionsFor(n);
    const feeds: Record<string, ort.Tensor> = { [this.spec.input.name]: last.x, ...last.conds, ...this.paramFeeds, [DY]: tensor(dY, [n, c, h, w]) };
    s.saved.forEach((name, i) => (feeds[name] = last.saved[i]));
    const out = await s.backward.run(feeds);
    return { grads: out[GRADS].data as Float32Array, dx: this.options.inputGradient ? (out[DX].data as Float32Array) : null };
  }

  /** Inference only (no state kept for backward): the output for `batch` samples. */
  async predict(x: Float32Array, batch: number, conds?: ConditionFeeds): Promise<Float32Array> {
    const xt = this.inputTensor(x, batch);
    const ct = this.conditionTensors(conds, batch);
    this.checkAlive();
    let s = this.inference.get(batch);
    if (!s) {
      s = (async () => {
        const block = await this.block();
        const bytes = (block ? buildForwardGraphNchwc(this.spec, batch, [], block) : null) ?? buildForwardGraph(this.spec, batch);
        return openSession(bytes, this.options.session);
      })();
      this.inference.set(batch, s);
      s.catch(() => this.inference.delete(batch));
    }
    const out = await (await s).run({ [this.spec.input.name]: xt, ...ct, ...this.paramFeeds });
    return out[this.spec.output].data as Float32Array;
  }

  /**
   * Save the parameters (and the `meta` given at construction) into `dir`; see `checkpoint.ts`.
   *
   * @example
   * await net.save('runs/gen1');
   */
  async save(dir: string): Promise<void> {
    const meta = this.options.meta ?? { kind: 'net', config: null };
    await writeCheckpoint(dir, { kind: meta.kind, config: meta.config, layout: this.paramShapes, params: this.params });
  }

  /** Load parameters saved by {@link OnnxNet.save} from a network of the same layout (checked). */
  async load(dir: string): Promise<void> {
    const { header, params } = await readCheckpoint(dir);
    checkLayout(header, this.paramShapes);
    this.params.set(params);
  }

  /** Release every session. The network cannot run afterwards. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.last = undefined;
    const all: Promise<unknown>[] = [];
    for (const s of this.sessions.values()) all.push(s.then((x) => Promise.all([x.forward.release(), x.backward.release()])).catch(() => undefined));
    for (const s of this.inference.values()) all.push(s.then((x) => x.release()).catch(() => undefined));
    this.sessions.clear();
    this.inference.clear();
    await Promise.all(all);
  }
}
