/**
 * A progress sink for long work. Library code reports through it; the CLI renders a bar on a
 * terminal, and tests or `--json` runs pass {@link silentProgress}.
 */
export interface Progress {
  /** A new phase with `total` steps. */
  start(label: string, total: number): void;
  /** `done` steps of the current phase are complete. */
  update(done: number): void;
  /** The current phase is finished. */
  stop(): void;
}

/** A progress sink that shows nothing. */
export const silentProgress: Progress = {
  start() {},
  update() {},
  stop() {},
};
