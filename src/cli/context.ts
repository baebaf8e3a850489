import type { Command } from 'commander';
import { Store } from '../store/store.js';
import { resolveHome } from '../util/home.js';
import type { Progress } from '../util/progress.js';
import { terminalProgress } from './progress.js';

/** Options every command inherits from the root program. */
export interface GlobalOptions {
  home?: string;
  json?: boolean;
  quiet?: boolean;
}

/**
 * The environment variables the CLI reads, read once here (library code reads none): the data
 * home (`RAGAR_HOME`, resolved into the store) and a local CLIP folder (`RAGAR_CLIP`).
 */
export interface CliEnvironment {
  clip?: string;
}

/**
 * Read {@link CliEnvironment} from `env`.
 *
 * @example
 * cliEnvironment({ RAGAR_CLIP: '/models/clip' }).clip; // '/models/clip'
 */
export function cliEnvironment(env: NodeJS.ProcessEnv): CliEnvironment {
  return { clip: env.RAGAR_CLIP || undefined };
}

/** What a command handler gets: the store, the options, the environment and output helpers. */
export interface CommandContext {
  store: Store;
  options: GlobalOptions;
  env: CliEnvironment;
  progress: Progress;
  /** Print `json` as one JSON object with `--json`, else `text`. */
  emit(json: unknown, text: string | (() => string)): void;
  /** Print a line on stderr unless `--quiet` or `--json`. */
  note(line: string): void;
  /** Print `warning: line` on stderr unless `--quiet` (also with `--json`: stdout stays one JSON object). */
  warn(line: string): void;
}

/**
 * Run `fn` with the store of the data home opened, and close it afterwards.
 *
 * @example
 * .action((opts, cmd) => withStore(cmd, (ctx) => ctx.emit({ ok: true }, 'ok')))
 */
export async function withStore(cmd: Command, fn: (ctx: CommandContext) => Promise<void> | void): Promise<void> {
  const options = cmd.optsWithGlobals() as GlobalOptions;
  const store = Store.open(resolveHome(options.home, process.env));
  const quiet = Boolean(options.quiet || options.json);
  const ctx: CommandContext = {
    store,
    options,
    env: cliEnvironment(process.env),
    progress: terminalProgress({ quiet }),
    emit(json, text) {
      if (options.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
      else process.stdout.write(`${typeof text === 'function' ? text() : text}\n`);
    },
    note(line) {
      if (!quiet) process.stderr.write(`${line}\n`);
    },
    warn(line) {
      if (!options.quiet) process.stderr.write(`warning: ${line}\n`);
    },
  };
  try {
    await fn(ctx);
  } finally {
    store.close();
  }
}
