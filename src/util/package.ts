import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The installed package's root folder (where `package.json` and `weights/` are), found from this
 * module's own location: `src/util` when run from source, `dist/util` when installed. The only
 * place the package locates itself; settings (`createRagar({ weights })`, `--generator`) override
 * what is found here.
 *
 * @example
 * path.join(packageRoot(), 'weights'); // the shipped weights
 */
export function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
}

/** The shipped weights folder of the package (`<package>/weights`). */
export function packageWeightsDir(): string {
  return path.join(packageRoot(), 'weights');
}
