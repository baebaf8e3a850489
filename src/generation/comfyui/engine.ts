import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import WebSocket from 'ws';
import { RagarError } from '../../util/errors.js';
import { RemoteGeneratorEngine, ImagePromptEngine, type PreparedImage, type RemoteBackend, type RemoteJob, type RemoteJobResult, type SentImage } from '../remote/engine.js';
import { expectOk, excerpt, httpCall, isObject, normaliseServerUrl, parseJson, RemoteError } from '../remote/http.js';
import { fillComfyTemplate, parseComfyTemplate, type ComfyTemplate } from './template.js';
import { COMFY_TEMPLATES, type ComfyTemplateName, type ComfyWorkflow } from './templates.js';

/** Settings of the `comfyui` engine (also the `engines.comfyui` block of the config file). */
export interface ComfyEngineSettings {
  /** One or more ComfyUI servers (`http://host:8188`); several form one pool. */
  urls: readonly string[];
  /** A shipped template (`sd15`, default; `sdxl`) or a user workflow in API format with placeholders. */
  template?: ComfyTemplateName | { workflow: unknown; source: string };
  /** Side of the square output (the reference is resized to it); default: the template's (512 for user templates). */
  size?: number;
  /** Values of placeholders (override the template's defaults: checkpoint, ipadapter_preset, steps, cfg, sampler, scheduler, or your own). */
  values?: Record<string, string | number>;
  negativePrompt?: string;
  /** Default img2img strength (`denoise`), 0.6. */
  strength?: number;
  /** Default image-prompt scale (IPAdapterEmbeds `weight`), 0.8. */
  imagePromptScale?: number;
  /** Most history images per request (top-k by weight, the rest folded), 8. */
  maxImagePrompts?: number;
  /** Prompts in flight per server, 1. */
  concurrencyPerServer?: number;
  /** Milliseconds one candidate may take from queueing to its image, 600000. */
  timeoutMs?: number;
  /** Milliseconds one HTTP call may take, 30000. */
  requestTimeoutMs?: number;
  /** Milliseconds between history polls (the websocket usually answers first), 1000. */
  pollMs?: number;
}

const DEFAULT_NEGATIVE = 'blurry, lowres, watermark, text';

/** The ComfyUI server API (`/upload/image`, `/object_info`, `/prompt`, `/ws`, `/history`, `/view`, `/queue`, `/interrupt`). */
export class ComfyBackend implements RemoteBackend {
  readonly provider = 'comfyui';
  readonly modelId: string;
  readonly outputSize: number;
  readonly defaults: { strength: number; imagePromptScale: number };
  readonly callOptions = ['negativePrompt', 'steps', 'cfg'] as const;
  readonly template: ComfyTemplate;
  private readonly values: Record<string, string | number>;
  private readonly settings: ComfyEngineSettings;
  private readonly uploads = new Map<string, string>();
  private readonly nodeInfo = new Map<string, Record<string, unknown> | null>();
  private readonly t: { job: number; request: number; poll: number };

  constructor(settings: ComfyEngineSettings) {
    this.settings = settings;
    const tpl = settings.template ?? 'sd15';
    if (typeof tpl === 'string') {
      if (!(tpl in COMFY_TEMPLATES)) throw new RagarError(`unknown ComfyUI template "${tpl}" (shipped: ${Object.keys(COMFY_TEMPLATES).join(', ')}; or give a workflow file)`, 'BAD_INPUT');
      const shipped = COMFY_TEMPLATES[tpl];
      this.template = parseComfyTemplate(shipped.workflow, tpl);
      this.values = { ...shipped.values, ...settings.values };
      this.outputSize = settings.size ?? shipped.size;
      this.modelId = `${tpl}:${String(this.values.checkpoint)}`;
    } else {
      this.template = parseComfyTemplate(tpl.workflow, tpl.source);
      this.values = { ...settings.values };
      this.outputSize = settings.size ?? 512;
      this.modelId = `template:${tpl.source}`;
    }
    if (!Number.isInteger(this.outputSize) || this.outputSize < 64 || this.outputSize > 4096 || this.outputSize % 8 !== 0) throw new RagarError(`ComfyUI size must be a multiple of 8 in [64, 4096], got ${this.outputSize}`, 'BAD_INPUT');
    this.defaults = { strength: settings.strength ?? 0.6, imagePromptScale: settings.imagePromptScale ?? 0.8 };
    this.t = { job: settings.timeoutMs ?? 600_000, request: settings.requestTimeoutMs ?? 30_000, poll: settings.pollMs ?? 1000 };
  }

  /** ComfyUI has no limit on encoders; the engine's `maxImagePrompts` applies. */
  async imagePromptLimit(): Promise<number> {
    return Number.MAX_SAFE_INTEGER;
  }

  private async upload(server: string, image: PreparedImage, signal: AbortSignal): Promise<string> {
    const key = `${server}\n${image.sha256}`;
    const known = this.uploads.get(key);
    if (known) return known;
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(image.png)], { type: 'image/png' }), `ragar-${image.sha256.slice(0, 24)}.png`);
    form.append('type', 'input');
    form.append('subfolder', 'ragar');
    form.append('overwrite', 'true');
    const what = 'upload an image (/upload/image)';
    const res = expectOk(server, await httpCall(server, '/upload/image', { body: form, timeoutMs: this.t.request, signal, what }), what);
    const body = parseJson(server, res, what);
    if (!isObject(body) || typeof body.name !== 'string' || !body.name) throw new RemoteError(server, `answered the upload without a file name: ${excerpt(res.bytes)}`, 'BAD_RESPONSE');
    const sub = typeof body.subfolder === 'string' ? body.subfolder : '';
    const name = sub ? `${sub}/${body.name}` : body.name;
    this.uploads.set(key, name);
    return name;
  }

  /** Check that every node type exists on the server and that option-list inputs name values it has. */
  private async checkNodes(server: string, workflow: ComfyWorkflow, signal: AbortSignal): Promise<void> {
    const classes = [...new Set(Object.values(workflow).map((n) => n.class_type))];
    const missing: string[] = [];
    for (const c of classes) {
      const key = `${server}\n${c}`;
      if (!this.nodeInfo.has(key)) {
        const what = `read node type ${c} (/object_info)`;
        const res = expectOk(server, await httpCall(server, `/object_info/${encodeURIComponent(c)}`, { timeoutMs: this.t.request, signal, what }), what);
        const body = parseJson(server, res, what);
        if (!isObject(body)) throw new RemoteError(server, `answered /object_info/${c} with something that is not an object: ${excerpt(res.bytes)}`, 'BAD_RESPONSE');
        const info = body[c];
        this.nodeInfo.set(key, isObject(info) ? info : null);
      }
      if (this.nodeInfo.get(key) === null) missing.push(c);
    }
    if (missing.length) {
      const hint = missing.some((m) => m.startsWith('IPAdapter')) ? ' (install ComfyUI_IPAdapter_plus: github.com/cubiq/ComfyUI_IPAdapter_plus)' : '';
      throw new RemoteError(server, `ComfyUI lacks node type(s) ${missing.join(', ')} that the workflow uses${hint}`, 'UNSUPPORTED');
    }
    const problems: string[] = [];
    for (const [id, node] of Object.entries(workflow)) {
      if (node.class_type === 'LoadImage') continue;
      const info = this.nodeInfo.get(`${server}\n${node.class_type}`)!;
      const input = isObject(info.input) ? info.input : {};
      const specs = { ...(isObject(input.required) ? input.required : {}), ...(isObject(input.optional) ? input.optional : {}) };
      for (const [name, v] of Object.entries(node.inputs)) {
        const spec = specs[name];
        if (typeof v !== 'string' || !Array.isArray(spec) || !Array.isArray(spec[0])) continue;
        const options = spec[0] as unknown[];
        if (!options.includes(v)) problems.push(`node ${id} (${node.class_type}) input ${name}: "${v}" is not on the server (it has: ${options.slice(0, 12).map(String).join(', ')}${options.length > 12 ? ', …' : ''})`);
      }
    }
    if (problems.length) throw new RemoteError(server, `the workflow names values the server lacks: ${problems.join('; ')}`, 'NOT_FOUND');
  }

  /** Stop our prompt: interrupt it if it is running, delete it if it is queued (best effort). */
  private async cancel(server: string, promptId: string): Promise<void> {
    try {
      const res = await httpCall(server, '/queue', { timeoutMs: 5000, what: 'read the queue' });
      const q = JSON.parse(res.bytes.toString('utf8')) as { queue_running?: unknown[][]; queue_pending?: unknown[][] };
      const has = (list: unknown[][] | undefined) => Array.isArray(list) && list.some((e) => Array.isArray(e) && e[1] === promptId);
      if (has(q.queue_running)) await httpCall(server, '/interrupt', { json: { prompt_id: promptId }, timeoutMs: 5000, what: 'interrupt' });
      else if (has(q.queue_pending)) await httpCall(server, '/queue', { json: { delete: [promptId] }, timeoutMs: 5000, what: 'delete from the queue' });
    } catch {
      // Cancelling is best effort: the caller already fails with ABORTED or TIMEOUT.
    }
  }

  /** Connect to `/ws` (null when the server has no websocket: history polling then does the work). */
  private openSocket(server: string, clientId: string): Promise<WebSocket | null> {
    const url = `${server.replace(/^http/, 'ws')}/ws?clientId=${encodeURIComponent(clientId)}`;
    return new Promise((resolve) => {
      const ws = new WebSocket(url, { handshakeTimeout: this.t.request });
      const done = (v: WebSocket | null) => {
        ws.removeAllListeners('open');
        ws.removeAllListeners('error');
        if (!v) ws.terminate();
        resolve(v);
      };
      ws.once('open', () => done(ws));
      ws.once('error', () => done(null));
    });
  }

  /** Run one candidate: upload, fill, check, queue, follow, fetch. */
  async runJob(server: string, job: RemoteJob, signal: AbortSignal): Promise<RemoteJobResult> {
    const warnings: string[] = [];
    const refName = await this.upload(server, job.reference, signal);
    const files: string[] = [];
    for (const p of job.imagePrompts) files.push(await this.upload(server, p.image, signal));
    const over = job.options as { negativePrompt?: string; steps?: number; cfg?: number };
    const values: Record<string, string | number> = {
      ...this.values,
      ...(over.steps !== undefined ? { steps: over.steps } : {}),
      ...(over.cfg !== undefined ? { cfg: over.cfg } : {}),
      reference_image: refName,
      prompt: job.prompt,
      negative_prompt: over.negativePrompt ?? this.settings.negativePrompt ?? DEFAULT_NEGATIVE,
      seed: job.seed,
      denoise: job.strength,
      image_prompt_scale: job.imagePromptScale,
    };
    const { workflow, imagePromptNodes } = fillComfyTemplate(this.template, values, job.imagePrompts.map((p, i) => ({ file: files[i], weight: p.share })));
    for (const name of ['seed', 'denoise', 'prompt'] as const) {
      if (!this.template.sites.get(name)?.length) warnings.push(`the template has no {{${name}}}`);
    }
    await this.checkNodes(server, workflow, signal);
    const clientId = randomUUID();
    const ws = await this.openSocket(server, clientId);
    if (!ws) warnings.push(`${server}: no websocket at /ws; progress is not reported and completion is polled`);
    try {
      const what = 'queue the prompt (/prompt)';
      const res = await httpCall(server, '/prompt', { json: { prompt: workflow, client_id: clientId }, timeoutMs: this.t.request, signal, what });
      if (res.status !== 200) throw rejection(server, res.status, res.bytes, workflow);
      const body = parseJson(server, res, what);
      if (!isObject(body) || typeof body.prompt_id !== 'string' || !body.prompt_id) throw new RemoteError(server, `answered /prompt without a prompt_id: ${excerpt(res.bytes)}`, 'BAD_RESPONSE');
      const promptId = body.prompt_id;
      const entry = await this.follow(server, promptId, ws, job, signal);
      const png = await this.fetchOutput(server, entry, workflow, signal, warnings);
      const sent = JSON.parse(res.sentBody!) as { prompt: ComfyWorkflow };
      return { png, warnings, sent: readSent(sent.prompt, this.template, imagePromptNodes, job, promptId) };
    } finally {
      ws?.terminate();
    }
  }

  /** Wait for the prompt to finish (websocket events, history polls), cancelling on abort or timeout. */
  private async follow(server: string, promptId: string, ws: WebSocket | null, job: RemoteJob, signal: AbortSignal): Promise<Record<string, unknown>> {
    const deadline = AbortSignal.timeout(this.t.job);
    const stop = AbortSignal.any([signal, deadline]);
    let wake: (() => void) | null = null;
    let wsError: RemoteError | null = null;
    const onMessage = (data: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary) return; // previews
      let msg: unknown;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        wsError = new RemoteError(server, `sent a websocket message that is not JSON: ${excerpt(Buffer.from(data.toString()))}`, 'BAD_RESPONSE');
        wake?.();
        return;
      }
      if (!isObject(msg) || typeof msg.type !== 'string' || !isObject(msg.data)) return;
      const d = msg.data;
      if (d.prompt_id !== undefined && d.prompt_id !== promptId) return;
      if (msg.type === 'progress' && typeof d.value === 'number' && typeof d.max === 'number') job.onProgress(d.value, d.max);
      if (['execution_success', 'execution_error', 'execution_interrupted'].includes(msg.type) || (msg.type === 'executing' && d.node === null && d.prompt_id === promptId)) wake?.();
    };
    ws?.on('message', onMessage);
    const cancelled = async (): Promise<RemoteError> => {
      await this.cancel(server, promptId);
      if (signal.aborted) return new RemoteError(server, `generation aborted (prompt ${promptId} cancelled)`, 'ABORTED');
      return new RemoteError(server, `prompt ${promptId} did not finish within ${this.t.job} ms (cancelled)`, 'TIMEOUT');
    };
    try {
      for (;;) {
        if (wsError) throw wsError;
        if (stop.aborted) throw await cancelled();
        const what = `read the history of prompt ${promptId}`;
        let raw;
        try {
          raw = await httpCall(server, `/history/${encodeURIComponent(promptId)}`, { timeoutMs: this.t.request, signal, what });
        } catch (e) {
          // Aborted while reading the history: the prompt still runs on the server, so cancel it.
          if (stop.aborted) throw await cancelled();
          throw e;
        }
        const res = expectOk(server, raw, what);
        const body = parseJson(server, res, what);
        if (!isObject(body)) throw new RemoteError(server, `answered /history with something that is not an object: ${excerpt(res.bytes)}`, 'BAD_RESPONSE');
        const entry = body[promptId];
        if (entry !== undefined) {
          if (!isObject(entry)) throw new RemoteError(server, `answered /history with a malformed entry: ${excerpt(res.bytes)}`, 'BAD_RESPONSE');
          const status = isObject(entry.status) ? entry.status : null;
          if (status?.status_str === 'error') throw executionError(server, promptId, status);
          if (status === null || status.completed === true) return entry;
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, this.t.poll);
          function done() {
            clearTimeout(t);
            stop.removeEventListener('abort', done);
            resolve();
          }
          wake = done;
          stop.addEventListener('abort', done, { once: true });
        });
        wake = null;
      }
    } finally {
      ws?.off('message', onMessage);
    }
  }

  /** Download the first image a SaveImage node of the workflow saved. */
  private async fetchOutput(server: string, entry: Record<string, unknown>, workflow: ComfyWorkflow, signal: AbortSignal, warnings: string[]): Promise<Buffer> {
    const outputs = isObject(entry.outputs) ? entry.outputs : null;
    if (!outputs) throw new RemoteError(server, `the finished prompt has no outputs in /history: ${excerpt(Buffer.from(JSON.stringify(entry)))}`, 'BAD_RESPONSE');
    const saveNodes = Object.keys(workflow).filter((id) => workflow[id].class_type === 'SaveImage');
    let ref: { filename: string; subfolder: string; type: string } | null = null;
    for (const id of saveNodes) {
      const out = outputs[id];
      const images = isObject(out) && Array.isArray(out.images) ? out.images : [];
      const first = images.find((im): im is { filename: string; subfolder?: unknown; type?: unknown } => isObject(im) && typeof im.filename === 'string');
      if (first) {
        ref = { filename: first.filename, subfolder: typeof first.subfolder === 'string' ? first.subfolder : '', type: typeof first.type === 'string' ? first.type : 'output' };
        break;
      }
    }
    if (!ref) throw new RemoteError(server, `the prompt finished without an image from its SaveImage node(s) ${saveNodes.join(', ')}`, 'BAD_RESPONSE');
    const q = new URLSearchParams({ filename: ref.filename, subfolder: ref.subfolder, type: ref.type });
    const what = `download ${ref.filename} (/view)`;
    const res = expectOk(server, await httpCall(server, `/view?${q}`, { timeoutMs: this.t.request, signal, what }), what);
    let meta: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
    try {
      meta = await sharp(res.bytes).metadata();
    } catch {
      throw new RemoteError(server, `/view returned something that is not an image for ${ref.filename}: ${excerpt(res.bytes, 80)}`, 'BAD_RESPONSE');
    }
    let s = sharp(res.bytes).flatten({ background: '#ffffff' });
    if (meta.width !== this.outputSize || meta.height !== this.outputSize) {
      warnings.push(`${server} returned ${meta.width}×${meta.height}; resized to ${this.outputSize}×${this.outputSize}`);
      s = s.resize(this.outputSize, this.outputSize, { fit: 'contain', background: '#ffffff' });
    }
    return s.removeAlpha().png().toBuffer();
  }
}

function rejection(server: string, status: number, bytes: Buffer, workflow: ComfyWorkflow): RemoteError {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    return new RemoteError(server, `rejected the prompt with HTTP ${status}: ${excerpt(bytes)}`, status >= 500 ? 'REMOTE' : 'BAD_RESPONSE', status);
  }
  const parts: string[] = [];
  const err = isObject(body) ? body.error : undefined;
  if (isObject(err)) parts.push(`${String(err.message ?? err.type ?? 'error')}${err.details ? ` (${String(err.details)})` : ''}`);
  else if (typeof err === 'string') parts.push(err);
  const nodeErrors = isObject(body) && isObject(body.node_errors) ? body.node_errors : {};
  for (const [id, ne] of Object.entries(nodeErrors)) {
    const errors = isObject(ne) && Array.isArray(ne.errors) ? ne.errors : [];
    const cls = (isObject(ne) && typeof ne.class_type === 'string' ? ne.class_type : workflow[id]?.class_type) ?? '?';
    for (const e of errors) if (isObject(e)) parts.push(`node ${id} (${cls}): ${String(e.message ?? '')}${e.details ? `: ${String(e.details)}` : ''}`);
  }
  const missingNode = parts.join(' ').match(/node (\S+) does not exist/);
  const code = missingNode ? 'UNSUPPORTED' : 'REMOTE';
  return new RemoteError(server, `rejected the prompt (HTTP ${status}): ${parts.join('; ') || excerpt(bytes)}`, code, status);
}

function executionError(server: string, promptId: string, status: Record<string, unknown>): RemoteError {
  const messages = Array.isArray(status.messages) ? status.messages : [];
  for (const m of messages) {
    if (Array.isArray(m) && m[0] === 'execution_interrupted') return new RemoteError(server, `prompt ${promptId} was interrupted on the server`, 'ABORTED');
    if (Array.isArray(m) && m[0] === 'execution_error' && isObject(m[1])) {
      const d = m[1];
      return new RemoteError(server, `prompt ${promptId} failed in node ${String(d.node_id)} (${String(d.node_type)}): ${String(d.exception_type ?? '')}: ${String(d.exception_message ?? '').trim()}`, 'REMOTE');
    }
  }
  return new RemoteError(server, `prompt ${promptId} failed (status "error", no message)`, 'REMOTE');
}

/** Read the record of what was sent from the workflow as serialised into the request body. */
function readSent(sent: ComfyWorkflow, template: ComfyTemplate, nodes: { load: string; encoder: string }[], job: RemoteJob, promptId: string): RemoteJobResult['sent'] {
  const at = (name: string): unknown => {
    const site = template.sites.get(name)?.[0];
    return site && sent[site.node] ? sent[site.node].inputs[site.input] : undefined;
  };
  const img = (p: PreparedImage, name: string): SentImage => ({ sha256: p.sha256, bytes: p.png.length, name });
  const applyInputs = sent[template.applyNode]?.inputs;
  const scale = template.sites.get('image_prompt_scale')?.[0];
  return {
    seed: Number(at('seed')),
    prompt: String(at('prompt')),
    negativePrompt: at('negative_prompt') === undefined ? '' : String(at('negative_prompt')),
    strength: Number(at('denoise')),
    imagePromptScale: applyInputs && scale ? Number(applyInputs[scale.input]) : 0,
    imagePrompts: nodes.map((n, i) => ({
      item: job.imagePrompts[i].item,
      retrievalWeight: job.imagePrompts[i].retrievalWeight,
      weight: Number(sent[n.encoder].inputs.weight),
      image: img(job.imagePrompts[i].image, String(sent[n.load].inputs.image)),
    })),
    reference: img(job.reference, String(at('reference_image'))),
    jobId: promptId,
  };
}

/**
 * Create the `comfyui` engine (engine spec v1) from its settings; history images come with the
 * preference (`history[].image`).
 *
 * @example
 * const engine = createComfyEngine({ urls: ['http://127.0.0.1:8188'], template: 'sd15' });
 */
export function createComfyEngine(settings: ComfyEngineSettings): RemoteGeneratorEngine {
  const urls = settings.urls.map(normaliseServerUrl);
  const core = new ImagePromptEngine(new ComfyBackend(settings), urls, { concurrencyPerServer: settings.concurrencyPerServer, maxImagePrompts: settings.maxImagePrompts });
  return new RemoteGeneratorEngine(core);
}

