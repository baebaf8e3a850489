import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

/**
 * A fake AUTOMATIC1111 web UI (`--api`) with sd-webui-controlnet, for tests, on loopback: the
 * endpoints the `a1111` engine uses with their request and answer shapes (A1111
 * `modules/api/api.py` and `models.py`: `StableDiffusionProcessingImg2Img`, `ImageToImageResponse`
 * `{images, parameters, info}`, `ProgressResponse`, 422 `{detail: [{loc, msg, type}]}`, 500
 * `{error, detail, body, errors}`; sd-webui-controlnet `scripts/api.py` and `internal_controlnet/args.py`:
 * `/controlnet/model_list`, `/module_list`, `/settings`, unit fields and bounds). It records every
 * request and renders with a tiny deterministic "model": the init image pulled towards the
 * unit-weighted mean colours of the IP-Adapter images by `denoising_strength`, plus seed noise.
 */

/** Behaviour switches of the fake server. */
export interface FakeA1111Options {
  models?: string[];
  modules?: string[];
  /** ControlNet's unit count (`control_net_unit_count`), default 3. */
  unitCount?: number;
  /** Milliseconds per sampling step. */
  stepMs?: number;
  /** No ControlNet extension (the /controlnet routes are 404). */
  noControlNet?: boolean;
  garbage?: 'img2img' | 'img2img-image' | 'model_list';
  /** Answer img2img with a 500 carrying this exception text. */
  fail?: string;
}

/** A running fake A1111 server. */
export interface FakeA1111Server {
  url: string;
  requests: { method: string; path: string; body: Buffer }[];
  /** Parsed img2img bodies. */
  img2img: Record<string, unknown>[];
  interrupts: number;
  close(): Promise<void>;
}

const hash32 = (s: string) => createHash('sha256').update(s).digest().readUInt32LE(0);

/**
 * Start a fake A1111 server on 127.0.0.1.
 *
 * @example
 * const fake = await startFakeA1111({ unitCount: 2 });
 */
export async function startFakeA1111(options: FakeA1111Options = {}): Promise<FakeA1111Server> {
  const models = options.models ?? ['control_v11p_sd15_canny [d14c016b]', 'ip-adapter_sd15_plus [32cd8f7f]', 'ip-adapter_sd15 [6a3f6166]'];
  const modules = options.modules ?? ['none', 'canny', 'ip-adapter-auto', 'ip-adapter_clip_sd15', 'ip-adapter_clip_h'];
  const state: FakeA1111Server = { url: '', requests: [], img2img: [], interrupts: 0, close: async () => {} };
  let progress = { step: 0, steps: 0, job_count: 0 };
  let interrupted = false;
  let busy: Promise<void> = Promise.resolve();

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const decode = async (b64: unknown) => {
    if (typeof b64 !== 'string') throw new Error('image is not a string');
    const { data, info } = await sharp(Buffer.from(b64.replace(/^data:image\/\w+;base64,/, ''), 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { px: data, w: info.width, h: info.height };
  };

  async function img2img(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const detail: { loc: (string | number)[]; msg: string; type: string }[] = [];
    const need = (k: string, ok: (v: unknown) => boolean, msg: string) => {
      if (body[k] !== undefined && !ok(body[k])) detail.push({ loc: ['body', k], msg, type: 'type_error' });
    };
    need('init_images', (v) => Array.isArray(v), 'value is not a valid list');
    need('denoising_strength', (v) => typeof v === 'number', 'value is not a valid float');
    need('seed', (v) => Number.isInteger(v), 'value is not a valid integer');
    need('steps', (v) => Number.isInteger(v), 'value is not a valid integer');
    need('width', (v) => Number.isInteger(v), 'value is not a valid integer');
    need('prompt', (v) => typeof v === 'string', 'str type expected');
    if (detail.length) return json(res, 422, { detail });
    if (options.fail) return json(res, 500, { error: 'RuntimeError', detail: '', body: '', errors: options.fail });
    const units = ((body.alwayson_scripts as { controlnet?: { args?: Record<string, unknown>[] } } | undefined)?.controlnet?.args ?? []).filter((u) => u.enabled);
    const fail500 = (errors: string) => json(res, 500, { error: 'ValueError', detail: '', body: '', errors });
    if (units.length > (options.unitCount ?? 3)) return fail500(`too many ControlNet units: ${units.length} > ${options.unitCount ?? 3}`);
    for (const u of units) {
      if (!modules.includes(String(u.module))) return fail500(`module(${String(u.module)}) not found in supported modules.`);
      if (!models.includes(String(u.model)) && !models.some((m) => m.startsWith(`${String(u.model)} [`))) return fail500(`model(${String(u.model)}) not found in supported models.`);
      if (typeof u.weight !== 'number' || u.weight < 0 || u.weight > 2) return fail500(`1 validation error for ControlNetUnit\nweight\n  ensure this value is less than or equal to 2.0`);
    }
    const init = await decode((body.init_images as unknown[])[0]);
    const w = Number(body.width ?? 512);
    const h = Number(body.height ?? 512);
    const base = await sharp(Buffer.from(init.px), { raw: { width: init.w, height: init.h, channels: 3 } }).resize(w, h, { fit: 'cover' }).raw().toBuffer();
    const means: number[][] = [];
    for (const u of units) {
      const im = await decode(u.image);
      const m = [0, 0, 0];
      for (let i = 0; i < im.px.length; i++) m[i % 3] += im.px[i] / (im.px.length / 3);
      means.push(m);
    }
    const steps = Number(body.steps ?? 20);
    progress = { step: 0, steps, job_count: 1 };
    interrupted = false;
    for (let s = 1; s <= steps && !interrupted; s++) {
      if (options.stepMs) await new Promise((r) => setTimeout(r, options.stepMs));
      progress.step = s;
    }
    const d = Number(body.denoising_strength ?? 0.75);
    const seed = Number(body.seed ?? -1);
    const totalW = units.reduce((s, u) => s + Number(u.weight), 0);
    const out = Buffer.alloc(base.length);
    for (let i = 0; i < out.length; i++) {
      const target = units.reduce((s, u, j) => s + Number(u.weight) * means[j][i % 3], 0) + Math.max(0, 1 - totalW) * base[i];
      out[i] = Math.max(0, Math.min(255, Math.round((1 - d) * base[i] + d * target + ((hash32(`${seed}:${i}`) % 41) - 20) * d)));
    }
    progress = { step: 0, steps: 0, job_count: 0 };
    const png = await sharp(out, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
    if (options.garbage === 'img2img') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Internal</html>');
    const images = [options.garbage === 'img2img-image' ? 'bm90IGFuIGltYWdl' : png.toString('base64')];
    const { init_images: _i, alwayson_scripts: _a, ...parameters } = body;
    json(res, 200, { images, parameters, info: JSON.stringify({ prompt: body.prompt, all_prompts: [body.prompt], seed, all_seeds: [seed], denoising_strength: d, width: w, height: h }) });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (path.startsWith('/controlnet/') && options.noControlNet) return json(res, 404, { detail: 'Not Found' });
    if (req.method === 'GET' && path === '/controlnet/model_list') {
      if (options.garbage === 'model_list') return json(res, 200, { models: 'nope' });
      return json(res, 200, { model_list: models });
    }
    if (req.method === 'GET' && path === '/controlnet/module_list') return json(res, 200, { module_list: modules, module_detail: {} });
    if (req.method === 'GET' && path === '/controlnet/settings') return json(res, 200, { control_net_unit_count: options.unitCount ?? 3 });
    if (req.method === 'GET' && path === '/sdapi/v1/progress') {
      const p = progress.steps ? progress.step / progress.steps : 0;
      return json(res, 200, { progress: p, eta_relative: 0, state: { skipped: false, interrupted, job: progress.job_count ? 'img2img' : '', job_count: progress.job_count, job_timestamp: '0', job_no: 0, sampling_step: progress.step, sampling_steps: progress.steps }, current_image: null, textinfo: null });
    }
    if (req.method === 'POST' && path === '/sdapi/v1/interrupt') {
      state.interrupts++;
      interrupted = true;
      return json(res, 200, {});
    }
    if (req.method === 'POST' && path === '/sdapi/v1/img2img') {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        return json(res, 422, { detail: [{ loc: ['body'], msg: 'Expecting value', type: 'value_error.jsondecode' }] });
      }
      state.img2img.push(parsed);
      // A1111 runs one generation at a time (its queue lock).
      const run = busy.then(() => img2img(parsed, res));
      busy = run.catch(() => undefined);
      return run;
    }
    json(res, 404, { detail: 'Not Found' });
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      state.requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      handle(req, res, body).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(e));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return state;
}
