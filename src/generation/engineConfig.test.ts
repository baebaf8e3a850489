import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMFY_TEMPLATES } from './comfyui/templates.js';
import { createComfyEngine } from './comfyui/engine.js';
import { loadEngineConfig, parseEngineConfig } from './engineConfig.js';

describe('engine config file', () => {
  it('reads both engines, comma-separated URLs and a user template relative to the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ragar-config-'));
    writeFileSync(join(dir, 'wf.json'), JSON.stringify(COMFY_TEMPLATES.sd15.workflow));
    writeFileSync(
      join(dir, 'ragar.config.json'),
      JSON.stringify({ engines: { comfyui: { urls: 'http://a:8188, http://b:8188', template: 'wf.json', values: { checkpoint: 'x.safetensors', steps: 20 }, strength: 0.5 }, a1111: { urls: ['http://c:7860'], ipAdapterModel: 'ip-adapter_sd15', steps: 30 } } }),
    );
    const config = loadEngineConfig(join(dir, 'ragar.config.json'));
    expect(config.engines.comfyui!.urls).toEqual(['http://a:8188', 'http://b:8188']);
    expect(config.engines.comfyui!.template).toMatchObject({ source: join(dir, 'wf.json') });
    expect(config.engines.a1111).toEqual({ urls: ['http://c:7860'], ipAdapterModel: 'ip-adapter_sd15', steps: 30 });
    const engine = createComfyEngine(config.engines.comfyui!);
    expect(engine.outputSize).toBe(512);
    expect(engine.core.pool.servers).toEqual(['http://a:8188', 'http://b:8188']);
  });

  it.each([
    [{ engines: { comfyui: { urls: ['http://a'], strenght: 0.5 } } }, /\$\.engines\.comfyui\.strenght: unknown setting/],
    [{ engines: { comfyui: { urls: [] } } }, /urls: must be a non-empty list/],
    [{ engines: { comfyui: { urls: ['ftp://a'] } } }, /urls\[0\]: is not an http\(s\) URL/],
    [{ engines: { a1111: { urls: ['http://a'], steps: 2.5 } } }, /a1111\.steps: must be an integer in \[1, 500\]/],
    [{ engines: { comfyui: { template: 'sd15' } } }, /comfyui\.urls: is required/],
    [{ engines: { comfyui: { urls: ['http://a'], template: 'missing.json' } } }, /template file .*missing\.json cannot be read/],
    [{ engines: { comfyui: { urls: ['http://a'], values: { Bad: 1 } } } }, /values\.Bad: placeholder names are lower_snake_case/],
    [{ engine: {} }, /\$\.engine: unknown setting/],
  ])('rejects %j with a message naming the path', (raw, pattern) => {
    expect(() => parseEngineConfig(raw, 'ragar.config.json', tmpdir())).toThrow(pattern);
  });

  it('names a file that is not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ragar-config-'));
    writeFileSync(join(dir, 'c.json'), '{ engines: ');
    expect(() => loadEngineConfig(join(dir, 'c.json'))).toThrow(/c\.json is not JSON/);
    expect(() => loadEngineConfig(join(dir, 'none.json'))).toThrow(/cannot be read \(ENOENT\)/);
  });
});
