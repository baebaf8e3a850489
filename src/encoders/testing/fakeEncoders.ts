import { createHash } from 'node:crypto';
import { RagarError } from '../../util/errors.js';
import { l2normalize, type Encoder, type EncodeOptions, type Modality } from '../types.js';

/**
 * A deterministic test encoder: the vector of an input is a seeded pseudo-random unit vector
 * of `keyOf(input)`, so inputs with the same key get the same vector. Counts encoded inputs.
 */
export class FakeEncoder<I> implements Encoder<I> {
  readonly modelId: string;
  readonly dimension: number;
  readonly modality: Modality;
  encodedInputs = 0;
  calls = 0;
  private readonly keyOf: (input: I) => string;
  private failAfterCalls: number | null = null;

  constructor(modality: Modality, options: { modelId?: string; dimension?: number; keyOf?: (input: I) => string } = {}) {
    this.modality = modality;
    this.modelId = options.modelId ?? `fake-${modality}`;
    this.dimension = options.dimension ?? 16;
    this.keyOf = options.keyOf ?? ((x) => (typeof x === 'string' ? x : createHash('sha256').update(x as unknown as Buffer).digest('hex')));
  }

  /** Make the call after `n` successful calls fail (to test resuming). */
  failAfter(n: number): void {
    this.failAfterCalls = n;
  }

  async encode(inputs: readonly I[], options: EncodeOptions = {}): Promise<Float32Array[]> {
    if (options.signal?.aborted) throw new RagarError('aborted', 'ABORTED');
    if (this.failAfterCalls !== null && this.calls >= this.failAfterCalls) throw new RagarError('simulated encoder failure', 'INTERNAL');
    this.calls++;
    this.encodedInputs += inputs.length;
    return inputs.map((x) => vectorOfKey(this.keyOf(x), this.dimension));
  }

  async dispose(): Promise<void> {}
}

/** A seeded unit vector for a key. */
export function vectorOfKey(key: string, dimension: number): Float32Array {
  const v = new Float32Array(dimension);
  let h = createHash('sha256').update(key).digest();
  for (let i = 0; i < dimension; i++) {
    if (i % 16 === 0 && i > 0) h = createHash('sha256').update(h).digest();
    v[i] = h.readInt16LE((i % 16) * 2) / 32768;
  }
  return l2normalize(v);
}
