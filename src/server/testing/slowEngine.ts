import fs from 'node:fs';
import { MockGeneratorEngine } from '../../generation/mockEngine.js';
import type { GeneratorCallOptionsV1, GeneratorEngineV1, GeneratorResultV1 } from '../../generation/types.js';

/** Options of {@link SlowEngine}. */
export interface SlowEngineOptions {
  /** Wait this long in every call before generating (honouring the abort signal). */
  delayMs?: number;
  /** Or wait until this promise settles. */
  gate?: Promise<void>;
  /** Append `start <tag>` and `done <tag>` lines (`tag` = `label seed`) to this file. */
  logFile?: string;
  /** Who writes the log lines (a worker's name). */
  label?: string;
}

/**
 * The mock engine behind a delay or a gate, for tests that need a job to stay running: it
 * records when a call starts and when it finishes (to count executions across processes) and
 * stops at once when the call is aborted.
 */
export class SlowEngine implements GeneratorEngineV1 {
  readonly specificationVersion = 'v1' as const;
  readonly provider = 'mock';
  readonly modelId = 'slow-mock-v1';
  readonly maxCandidatesPerCall = undefined;
  readonly outputSize = 64;
  /** Calls started, and calls that ended by an abort. */
  started = 0;
  aborted = 0;
  private readonly inner = new MockGeneratorEngine();

  constructor(private readonly o: SlowEngineOptions = {}) {}

  private note(what: string, options: GeneratorCallOptionsV1): void {
    if (this.o.logFile) fs.appendFileSync(this.o.logFile, `${what} ${this.o.label ?? '-'} ${options.seed}\n`);
  }

  async doGenerate(options: GeneratorCallOptionsV1): Promise<GeneratorResultV1> {
    this.started++;
    this.note('start', options);
    const signal = options.abortSignal;
    try {
      await new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const t = this.o.delayMs !== undefined ? setTimeout(resolve, this.o.delayMs) : undefined;
        void this.o.gate?.then(resolve);
        signal?.addEventListener('abort', () => {
          if (t) clearTimeout(t);
          reject(signal.reason);
        });
      });
    } catch (err) {
      this.aborted++;
      this.note('aborted', options);
      throw err;
    }
    const r = await this.inner.doGenerate(options);
    this.note('done', options);
    return r;
  }

  async dispose(): Promise<void> {
    await this.inner.dispose();
  }
}
