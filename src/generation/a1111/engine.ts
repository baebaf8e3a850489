import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { RagarError } from '../../util/errors.js';
import { ImagePromptEngine, RemoteGeneratorEngine, type PreparedImage, type RemoteBackend, type RemoteJob, type RemoteJobResult, type SentImage } from '../remote/engine.js';
import { excerpt, expectOk, httpCall, isObject, normaliseServerUrl, parseJson, RemoteError, type HttpResponse } from '../remote/http.js';

/** Settings of the `a1111` engine (also the `engines.a1111` block of the config file). */
export interface A1111EngineSettings {
  /** One or more AUTOMATIC1111 web UIs started with `--api` (`http://host:7860`); several form one pool. */
  urls: readonly string[];
  /** The ControlNet IP-Adapter model, as `/controlnet/model_list` names it (with or without the `[hash]`), default `ip-adapter_sd15_plus`. */
  ipAdapterModel?: string;
  /** The ControlNet preprocessor (module), default `ip-adapter-auto`. */
  ipAdapterModule?: string;
  /** The checkpoint (`override_settings.sd_model_checkpoint`); undefined = the one loaded. */
  checkpoint?: string;
  /** Side of the square output, default 512. */
  size?: number;
  steps?: number;
  cfg?: number;
  sampler?: string;
  negativePrompt?: string;
  /** Default `denoising_strength`, 0.6. */
  strength?: number;
  /** Default image-prompt scale (the unit weights sum to it), 0.8. */
  imagePromptScale?: number;
  /** Most history images per request (further capped by ControlNet's unit count), 8. */
  maxImagePrompts?: number;
  /** Milliseconds one candidate may take, 600000. */
  timeoutMs?: number;
  /** Milliseconds one auxiliary HTTP call may take, 30000. */
  requestTimeoutMs?: number;
  /** Milliseconds between `/sdapi/v1/progress` polls, 1000. */
  pollMs?: number;
}

const DEFAULT_NEGATIVE = 'blurry, lowres, watermark, text';

/** The AUTOMATIC1111 API with sd-webui-controlnet (`/sdapi/v1/img2img`, `/progress`, `/interrupt`, `/controlnet/*`). */
export class A1111Backend implements RemoteBackend {
  readonly provider = 'a1111';
  readonly modelId: string;
  readonly outputSize: number;
  readonly defaults: { strength: number; imagePromptScale: number };
  readonly callOptions = ['negativePrompt', 'steps', 'cfg'] as const;
  private readonly s: A1111EngineSettings;
  private readonly t: { job: number; request: number; poll: number };
  private readonly checked = new Map<string, Promise<{ units: number; model: string }>>();

  constructor(settings: A1111EngineSettings) {
    this.s = settings;
    this.outputSize = settings.size ?? 512;
    if (!Number.isInteger(this.outputSize) || this.outputSize < 64 || this.outputSize > 4096 || this.outputSize % 8 !== 0) throw new RagarError(`A1111 size must be a multiple of 8 in [64, 4096], got ${this.outputSize}`, 'BAD_INPUT');
    this.defaults = { strength: settings.strength ?? 0.6, imagePromptScale: settings.imagePromptScale ?? 0.8 };
    this.t = { job: settings.timeoutMs ?? 600_000, request: settings.requestTimeoutMs ?? 30_000, poll: settings.pollMs ?? 1000 };
    this.modelId = `${settings.checkpoint ?? '(loaded checkpoint)'}+${this.ipModel}`;
  }

  private get ipModel(): string {
    return this.s.ipAdapterModel ?? 'ip-adapter_sd15_plus';
  }
  private get ipModule(): string {
    return this.s.ipAdapterModule ?? 'ip-adapter-auto';
  }

  private async getJson(server: string, path: string, what: string, signal: AbortSignal | undefined): Promise<unknown> {
    const res = await httpCall(server, path, { timeoutMs: this.t.request, signal, what });
    if (res.status === 404 && path.startsWith('/controlnet/')) throw new RemoteError(server, `has no ControlNet API (${path} is 404): install sd-webui-controlnet and start the web UI with --api`, 'UNSUPPORTED', 404);
    if (res.status === 404) throw new RemoteError(server, `${path} is 404: start the web UI with --api`, 'UNSUPPORTED', 404);
    return parseJson(server, expectOk(server, res, what), what);
  }

  /** Check the ControlNet extension, the IP-Adapter model and module, and read the unit count (once per server). */
  private check(server: string, signal: AbortSignal | undefined): Promise<{ units: number; model: string }> {
    let p = this.checked.get(server);
    if (!p) {
      p = (async () => {
        const models = await this.getJson(server, '/controlnet/model_list', 'list ControlNet models (/controlnet/model_list)', signal);
        if (!isObject(models) || !Array.isArray(models.model_list)) throw new RemoteError(server, `answered /controlnet/model_list without a model_list: ${excerpt(Buffer.from(JSON.stringify(models)))}`, 'BAD_RESPONSE');
        const names = models.model_list.filter((m): m is string => typeof m === 'string');
        const want = this.ipModel;
        const model = names.find((m) => m === want) ?? names.find((m) => m.replace(/\s*\[[0-9a-f]+\]$/i, '') === want);
        if (!model) throw new RemoteError(server, `has no ControlNet model "${want}" (it has: ${names.join(', ') || 'none'}); put the IP-Adapter weights in the ControlNet models folder or set ipAdapterModel`, 'NOT_FOUND');
        const modules = await this.getJson(server, '/controlnet/module_list', 'list ControlNet modules (/controlnet/module_list)', signal);
        if (!isObject(modules) || !Array.isArray(modules.module_list)) throw new RemoteError(server, `answered /controlnet/module_list without a module_list`, 'BAD_RESPONSE');
        if (!modules.module_list.includes(this.ipModule)) throw new RemoteError(server, `has no ControlNet module "${this.ipModule}" (IP-Adapter modules: ${modules.module_list.filter((m) => typeof m === 'string' && m.includes('ip-adapter')).join(', ') || 'none'})`, 'NOT_FOUND');
        const settings = await this.getJson(server, '/controlnet/settings', 'read ControlNet settings (/controlnet/settings)', signal);
        const units = isObject(settings) ? settings.control_net_unit_count : undefined;
        if (typeof units !== 'number' || !Number.isInteger(units) || units < 0) throw new RemoteError(server, `answered /controlnet/settings without an integer control_net_unit_count`, 'BAD_RESPONSE');
        return { units, model };
      })();
      p.catch(() => this.checked.delete(server));
      this.checked.set(server, p);
    }
    return p;
  }

  /** ControlNet's unit count on the server (Settings → ControlNet → "Multi-ControlNet: max models"). */
  async imagePromptLimit(server: string, signal: AbortSignal | undefined): Promise<number> {
    return (await this.check(server, signal)).units;
  }

  /** Run one candidate: one `/sdapi/v1/img2img` call with one IP-Adapter unit per image prompt. */
  async runJob(server: string, job: RemoteJob, signal: AbortSignal): Promise<RemoteJobResult> {
    const { model } = await this.check(server, signal);
    const over = job.options as { negativePrompt?: string; steps?: number; cfg?: number };
    const b64 = (p: PreparedImage) => p.png.toString('base64');
    const units = job.imagePrompts.map((p) => ({
      enabled: true,
      module: this.ipModule,
      model,
      weight: p.share * job.imagePromptScale,
      image: b64(p.image),
      resize_mode: 'Crop and Resize',
      processor_res: 512,
      guidance_start: 0,
      guidance_end: 1,
      control_mode: 'Balanced',
      pixel_perfect: false,
    }));
    const body = {
      init_images: [b64(job.reference)],
      denoising_strength: job.strength,
      prompt: job.prompt,
      negative_prompt: over.negativePrompt ?? this.s.negativePrompt ?? DEFAULT_NEGATIVE,
      seed: job.seed,
      subseed: -1,
      subseed_strength: 0,
      steps: over.steps ?? this.s.steps ?? 25,
      cfg_scale: over.cfg ?? this.s.cfg ?? 7,
      sampler_name: this.s.sampler ?? 'DPM++ 2M',
      width: this.outputSize,
      height: this.outputSize,
      batch_size: 1,
      n_iter: 1,
      resize_mode: 0,
      send_images: true,
      save_images: false,
      ...(this.s.checkpoint ? { override_settings: { sd_model_checkpoint: this.s.checkpoint }, override_settings_restore_afterwards: true } : {}),
      ...(units.length ? { alwayson_scripts: { controlnet: { args: units } } } : {}),
    };
    const deadline = AbortSignal.timeout(this.t.job);
    const stop = AbortSignal.any([signal, deadline]);
    const polling = this.pollProgress(server, job, stop);
    let res: HttpResponse;
    try {
      res = await httpCall(server, '/sdapi/v1/img2img', { json: body, timeoutMs: this.t.job + 1000, signal: stop, what: 'run img2img (/sdapi/v1/img2img)' });
    } catch (e) {
      if (stop.aborted) {
        await httpCall(server, '/sdapi/v1/interrupt', { method: 'POST', timeoutMs: 5000, what: 'interrupt' }).catch(() => undefined);
        if (signal.aborted) throw new RemoteError(server, 'generation aborted (img2img interrupted)', 'ABORTED', undefined, { cause: e });
        throw new RemoteError(server, `img2img did not finish within ${this.t.job} ms (interrupted)`, 'TIMEOUT', undefined, { cause: e });
      }
      throw e;
    } finally {
      polling.stop();
    }
    await polling.done;
    if (res.status !== 200) throw a1111Error(server, res);
    const answer = parseJson(server, res, 'run img2img');
    if (!isObject(answer) || !Array.isArray(answer.images) || typeof answer.images[0] !== 'string') throw new RemoteError(server, `answered img2img without images: ${excerpt(res.bytes)}`, 'BAD_RESPONSE');
    const warnings: string[] = [];
    let png: Buffer;
    try {
      const bytes = Buffer.from(answer.images[0].replace(/^data:image\/\w+;base64,/, ''), 'base64');
      const meta = await sharp(bytes).metadata();
      let s = sharp(bytes).flatten({ background: '#ffffff' });
      if (meta.width !== this.outputSize || meta.height !== this.outputSize) {
        warnings.push(`${server} returned ${meta.width}×${meta.height}; resized to ${this.outputSize}×${this.outputSize}`);
        s = s.resize(this.outputSize, this.outputSize, { fit: 'contain', background: '#ffffff' });
      }
      png = await s.removeAlpha().png().toBuffer();
    } catch {
      throw new RemoteError(server, `answered img2img with an image that cannot be decoded: ${excerpt(Buffer.from(answer.images[0]), 60)}`, 'BAD_RESPONSE');
    }
    if (typeof answer.info === 'string') {
      try {
        const info = JSON.parse(answer.info) as { seed?: unknown };
        if (typeof info.seed === 'number' && info.seed !== job.seed) warnings.push(`${server} reports seed ${info.seed} for a request with seed ${job.seed}`);
      } catch {
        warnings.push(`${server} answered img2img with an info field that is not JSON`);
      }
    }
    return { png, warnings, sent: readSent(res.sentBody!, job) };
  }

  /** Poll `/sdapi/v1/progress` while the img2img call runs (A1111 runs one job at a time). */
  private pollProgress(server: string, job: RemoteJob, stop: AbortSignal): { stop: () => void; done: Promise<void> } {
    let running = true;
    let wake: () => void = () => {};
    const done = (async () => {
      while (running && !stop.aborted) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, this.t.poll);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
        if (!running || stop.aborted) break;
        try {
          const res = await httpCall(server, '/sdapi/v1/progress?skip_current_image=true', { timeoutMs: this.t.request, signal: stop, what: 'read progress' });
          const p = JSON.parse(res.bytes.toString('utf8')) as { state?: { sampling_step?: unknown; sampling_steps?: unknown } };
          const step = p.state?.sampling_step;
          const steps = p.state?.sampling_steps;
          if (running && typeof step === 'number' && typeof steps === 'number' && steps > 0) job.onProgress(step, steps);
        } catch {
          // Progress is informational; the img2img call reports real failures.
        }
      }
    })();
    return {
      stop: () => {
        running = false;
        wake();
      },
      done,
    };
  }
}

function a1111Error(server: string, res: HttpResponse): RemoteError {
  let body: unknown;
  try {
    body = JSON.parse(res.bytes.toString('utf8'));
  } catch {
    return new RemoteError(server, `img2img failed with HTTP ${res.status}: ${excerpt(res.bytes)}`, 'REMOTE', res.status);
  }
  if (res.status === 422 && isObject(body) && Array.isArray(body.detail)) {
    const parts = body.detail.map((d) => (isObject(d) ? `${Array.isArray(d.loc) ? d.loc.join('.') : '?'}: ${String(d.msg)}` : String(d)));
    return new RemoteError(server, `rejected the img2img request (HTTP 422): ${parts.join('; ')}`, 'REMOTE', 422);
  }
  if (isObject(body) && (body.errors !== undefined || body.error !== undefined)) {
    return new RemoteError(server, `img2img failed (HTTP ${res.status}): ${String(body.error ?? '')}${body.errors ? `: ${String(body.errors)}` : ''}${body.detail ? ` (${String(body.detail)})` : ''}`, 'REMOTE', res.status);
  }
  return new RemoteError(server, `img2img failed with HTTP ${res.status}: ${excerpt(res.bytes)}`, 'REMOTE', res.status);
}

/** Read the record of what was sent from the request body as serialised. */
function readSent(sentBody: string, job: RemoteJob): RemoteJobResult['sent'] {
  const b = JSON.parse(sentBody) as {
    init_images: string[];
    prompt: string;
    negative_prompt: string;
    seed: number;
    denoising_strength: number;
    alwayson_scripts?: { controlnet: { args: { weight: number; image: string }[] } };
  };
  const units = b.alwayson_scripts?.controlnet.args ?? [];
  const img = (b64: string): SentImage => {
    const bytes = Buffer.from(b64, 'base64');
    return { sha256: sha(bytes), bytes: bytes.length, name: null };
  };
  return {
    seed: b.seed,
    prompt: b.prompt,
    negativePrompt: b.negative_prompt,
    strength: b.denoising_strength,
    imagePromptScale: job.imagePromptScale,
    imagePrompts: units.map((u, i) => ({ item: job.imagePrompts[i].item, retrievalWeight: job.imagePrompts[i].retrievalWeight, weight: u.weight, image: img(u.image) })),
    reference: img(b.init_images[0]),
    jobId: null,
  };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Create the `a1111` engine (engine spec v1) from its settings; history images come with the
 * preference (`history[].image`).
 *
 * @example
 * const engine = createA1111Engine({ urls: ['http://127.0.0.1:7860'], ipAdapterModel: 'ip-adapter_sd15_plus' });
 */
export function createA1111Engine(settings: A1111EngineSettings): RemoteGeneratorEngine {
  const urls = settings.urls.map(normaliseServerUrl);
  const core = new ImagePromptEngine(new A1111Backend(settings), urls, { concurrencyPerServer: 1, maxImagePrompts: settings.maxImagePrompts });
  return new RemoteGeneratorEngine(core);
}
