import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { RagarError } from '../util/errors.js';
import type { GeneratorCallOptionsV1, GeneratorEngineV1, GeneratorResultV1, GeneratorWarningV1 } from './types.js';

/** Options of {@link MockGeneratorEngine}. */
export interface MockGeneratorOptions {
  /** Provider name (also its `providerOptions` key); default `mock`. */
  provider?: string;
  /** Model id; default `mock-v1`. */
  modelId?: string;
  /** Side of its square output; default 64. */
  outputSize?: number;
  /** Most candidates per call; default undefined (no limit). */
  maxCandidatesPerCall?: number;
  /** Called at the start of every call with the call's number (from 1): lets a test abort or fail mid-run. */
  onCall?: (n: number, options: GeneratorCallOptionsV1) => void;
}

/**
 * The shift of the mock's hue that a preference causes: a stable number in [0, 360) from the
 * attended items and their weights (0 for an empty history, i.e. non-personalised).
 */
export function mockPreferenceShift(options: GeneratorCallOptionsV1): number {
  const history = options.preference.history.filter((h) => h.weight > 0);
  if (!history.length) return 0;
  const key = history.map((h) => `${h.item}:${h.weight.toFixed(6)}`).join('|');
  return createHash('sha256').update(key).digest().readUInt16BE(0) % 360;
}

/**
 * A deterministic generator engine for tests (the AI SDK's `MockImageModelV*` idea): it returns
 * the reference, resized to its output size on white, with the hue turned by the seed and by the
 * preference ({@link mockPreferenceShift}). It checks its inputs like a real engine, honours the
 * abort signal, reports progress, records every call in `calls`, and passes the engine contract
 * suite (`contract.testing.ts`).
 *
 * @example
 * const engine = new MockGeneratorEngine({ provider: 'builtin' });
 * const r = await engine.doGenerate({ reference: { image: png, text: 'fox' }, prompt: null, preference: { weighting: 'retrieval', history: [], keywords: [] }, user: 'u1', candidates: 2, seed: 1 });
 * engine.calls.length; // 1
 */
export class MockGeneratorEngine implements GeneratorEngineV1 {
  readonly specificationVersion = 'v1' as const;
  readonly provider: string;
  readonly modelId: string;
  readonly outputSize: number;
  readonly maxCandidatesPerCall: number | undefined;
  /** Every call's options, in order. */
  readonly calls: GeneratorCallOptionsV1[] = [];
  private readonly onCall?: (n: number, options: GeneratorCallOptionsV1) => void;
  private disposed = false;

  constructor(options: MockGeneratorOptions = {}) {
    this.provider = options.provider ?? 'mock';
    this.modelId = options.modelId ?? 'mock-v1';
    this.outputSize = options.outputSize ?? 64;
    this.maxCandidatesPerCall = options.maxCandidatesPerCall;
    this.onCall = options.onCall;
  }

  async doGenerate(options: GeneratorCallOptionsV1): Promise<GeneratorResultV1> {
    if (this.disposed) throw new RagarError('the mock engine was disposed', 'BAD_INPUT');
    const started = performance.now();
    this.calls.push(options);
    this.onCall?.(this.calls.length, options);
    options.abortSignal?.throwIfAborted();
    const m = options.candidates;
    const max = this.maxCandidatesPerCall ?? Infinity;
    if (!(Number.isInteger(m) && m >= 1 && m <= max)) throw new RagarError(`candidates must be an integer from 1 to ${max}, got ${m}`, 'BAD_INPUT');
    if (!Number.isInteger(options.seed)) throw new RagarError(`seed must be an integer, got ${options.seed}`, 'BAD_INPUT');
    const warnings: GeneratorWarningV1[] = [];
    if (options.size !== undefined && options.size !== this.outputSize) warnings.push({ type: 'unsupported-setting', setting: 'size', details: `the mock draws ${this.outputSize}×${this.outputSize}` });
    let base: Buffer;
    try {
      base = await sharp(options.reference.image).resize(this.outputSize, this.outputSize).flatten({ background: '#ffffff' }).png().toBuffer();
    } catch (err) {
      throw new RagarError(`reference image: ${(err as Error).message}`, 'BAD_IMAGE', { cause: err });
    }
    const shift = mockPreferenceShift(options);
    const candidates: GeneratorResultV1['candidates'] = [];
    for (let i = 0; i < m; i++) {
      options.abortSignal?.throwIfAborted();
      const t0 = performance.now();
      const seed = options.seed + i;
      const hue = (((seed * 37 + shift) % 360) + 360) % 360;
      const png = await sharp(base).modulate({ hue }).png().toBuffer();
      candidates.push({ png, seed, milliseconds: performance.now() - t0 });
      options.onProgress?.({ stage: 'sampling', done: i + 1, total: m });
    }
    return { candidates, warnings, response: { provider: this.provider, modelId: this.modelId, timings: { total: performance.now() - started } } };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}
