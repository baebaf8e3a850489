import path from 'node:path';

/** Default data home, relative to the working directory. */
export const DEFAULT_HOME = '.ragar';

/**
 * Resolve the data home folder: an explicit `--home` wins, then `RAGAR_HOME`, then `./.ragar`.
 *
 * @example
 * resolveHome(undefined, { RAGAR_HOME: '/data/ragar' }) // -> '/data/ragar'
 */
export function resolveHome(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(explicit ?? env.RAGAR_HOME ?? DEFAULT_HOME);
}
