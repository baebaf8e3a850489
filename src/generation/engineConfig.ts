import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { RagarError } from '../util/errors.js';
import { createA1111Engine, type A1111EngineSettings } from './a1111/engine.js';
import { createComfyEngine, type ComfyEngineSettings } from './comfyui/engine.js';
import type { RemoteGeneratorEngine } from './remote/engine.js';

/**
 * The engine settings file (`ragar.config.json`): settings of the remote engines, validated by
 * hand (every unknown key and wrong type is an error naming its path). Command-line flags
 * override it.
 *
 * ```json
 * {
 *   "engines": {
 *     "comfyui": { "urls": ["http://gpu0:8188", "http://gpu1:8188"], "template": "sdxl", "values": { "checkpoint": "sd_xl_base_1.0.safetensors" }, "strength": 0.55 },
 *     "a1111": { "urls": ["http://127.0.0.1:7860"], "ipAdapterModel": "ip-adapter_sd15_plus", "steps": 25 }
 *   }
 * }
 * ```
 */
export interface EngineConfig {
  engines: { comfyui?: ComfyEngineSettings; a1111?: A1111EngineSettings };
}

/** The file name looked for in the working directory when no `--config` is given. */
export const ENGINE_CONFIG_FILE = 'ragar.config.json';

type Check = (v: unknown, path: string) => unknown;
const fail = (source: string, path: string, why: string): never => {
  throw new RagarError(`${source}: ${path}: ${why}`, 'BAD_INPUT');
};

function validator(source: string) {
  const num = (lo: number, hi: number, int = false): Check => (v, p) => (typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi && (!int || Number.isInteger(v)) ? v : fail(source, p, `must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${JSON.stringify(v)}`));
  const str: Check = (v, p) => (typeof v === 'string' && v.length > 0 ? v : fail(source, p, `must be a non-empty string, got ${JSON.stringify(v)}`));
  const urls: Check = (v, p) => {
    const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v;
    if (!Array.isArray(list) || list.length === 0) return fail(source, p, 'must be a non-empty list of http(s) URLs (or one comma-separated string)');
    return list.map((u, i) => (typeof u === 'string' && /^https?:\/\/[^\s]+$/.test(u) ? u : fail(source, `${p}[${i}]`, `is not an http(s) URL: ${JSON.stringify(u)}`)));
  };
  const values: Check = (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(source, p, 'must be an object of placeholder name → string or number');
    for (const [k, x] of Object.entries(v)) {
      if (!/^[a-z_][a-z0-9_]*$/.test(k)) fail(source, `${p}.${k}`, 'placeholder names are lower_snake_case');
      if (typeof x !== 'string' && !(typeof x === 'number' && Number.isFinite(x))) fail(source, `${p}.${k}`, `must be a string or a number, got ${JSON.stringify(x)}`);
    }
    return v;
  };
  const object = (fields: Record<string, Check>, required: string[]): Check => (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(source, p, 'must be an object');
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (!(k in fields)) fail(source, `${p}.${k}`, `unknown setting (known: ${Object.keys(fields).join(', ')})`);
      out[k] = fields[k](x, `${p}.${k}`);
    }
    for (const r of required) if (!(r in out)) fail(source, `${p}.${r}`, 'is required');
    return out;
  };
  return { num, str, urls, values, object };
}

/**
 * Validate a parsed config object. `source` names it in messages; a user template path
 * (`engines.comfyui.template` other than `sd15`/`sdxl`) is read relative to `baseDir`.
 *
 * @example
 * parseEngineConfig({ engines: { comfyui: { urls: ['http://127.0.0.1:8188'] } } }, 'ragar.config.json', process.cwd());
 */
export function parseEngineConfig(raw: unknown, source: string, baseDir: string): EngineConfig {
  const { num, str, urls, values, object } = validator(source);
  const common = {
    urls,
    size: num(64, 4096, true),
    negativePrompt: (v: unknown, p: string) => (typeof v === 'string' ? v : fail(source, p, 'must be a string')),
    strength: num(0.01, 1),
    imagePromptScale: num(0, 2),
    maxImagePrompts: num(1, 64, true),
    timeoutMs: num(100, 86_400_000, true),
    requestTimeoutMs: num(100, 3_600_000, true),
    pollMs: num(5, 60_000, true),
  };
  const template: Check = (v, p) => {
    const name = str(v, p) as string;
    if (name === 'sd15' || name === 'sdxl') return name;
    const file = isAbsolute(name) ? name : resolve(baseDir, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return fail(source, p, `template file ${file} cannot be read (give sd15, sdxl or a workflow saved with "Save (API Format)")`);
    }
    try {
      return { workflow: JSON.parse(text) as unknown, source: file };
    } catch (e) {
      return fail(source, p, `template file ${file} is not JSON (${e instanceof Error ? e.message : String(e)})`);
    }
  };
  const comfyui = object({ ...common, template, values, concurrencyPerServer: num(1, 16, true) }, ['urls']);
  const a1111 = object({ ...common, ipAdapterModel: str, ipAdapterModule: str, checkpoint: str, steps: num(1, 500, true), cfg: num(0, 100), sampler: str }, ['urls']);
  const top = object({ engines: object({ comfyui, a1111 }, []), $schema: str }, ['engines'])(raw, '$') as { engines: EngineConfig['engines'] };
  return { engines: top.engines };
}

/**
 * Read and validate a config file.
 *
 * @example
 * const config = loadEngineConfig('ragar.config.json');
 * const engine = createComfyEngine(config.engines.comfyui!, resolver);
 */
export function loadEngineConfig(file: string): EngineConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new RagarError(`engine config ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, 'NOT_FOUND', { cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new RagarError(`engine config ${file} is not JSON (${e instanceof Error ? e.message : String(e)})`, 'BAD_INPUT', { cause: e });
  }
  return parseEngineConfig(raw, file, dirname(resolve(file)));
}

/** The remote engines `ragar generate --engine` and `ragar eval --engine` accept. */
export const REMOTE_ENGINES = ['comfyui', 'a1111'] as const;
/** A remote engine's name (its provider). */
export type RemoteEngineName = (typeof REMOTE_ENGINES)[number];

/**
 * Open a remote engine from the config file's block for it, with `urls` (from the command line)
 * replacing the block's server list. Errors (`USAGE`) when neither gives a server.
 *
 * @example
 * const engine = openRemoteEngine('comfyui', loadEngineConfig('ragar.config.json'), ['http://127.0.0.1:8188']);
 */
export function openRemoteEngine(name: RemoteEngineName, config: EngineConfig | null, urls?: readonly string[]): RemoteGeneratorEngine {
  if (!(REMOTE_ENGINES as readonly string[]).includes(name)) throw new RagarError(`unknown remote engine ${JSON.stringify(name)} (known: ${REMOTE_ENGINES.join(', ')})`, 'BAD_INPUT');
  const block = config?.engines[name];
  const servers = urls && urls.length ? [...urls] : block?.urls;
  const flag = name === 'comfyui' ? '--comfy-url' : '--a1111-url';
  if (!servers || servers.length === 0) throw new RagarError(`--engine ${name} needs a server: ${flag} URL[,URL…] or engines.${name}.urls in ${ENGINE_CONFIG_FILE} (--config FILE)`, 'USAGE');
  return name === 'comfyui' ? createComfyEngine({ ...(block as ComfyEngineSettings | undefined), urls: servers }) : createA1111Engine({ ...(block as A1111EngineSettings | undefined), urls: servers });
}
