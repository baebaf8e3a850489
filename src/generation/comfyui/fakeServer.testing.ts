import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A fake ComfyUI server for tests, on loopback: the endpoints the `comfyui` engine uses, with
 * ComfyUI's request and answer shapes (server.py, execution.py's validate_prompt, the node
 * definitions of ComfyUI core and ComfyUI_IPAdapter_plus): `POST /upload/image` (multipart),
 * `GET /object_info[/{class}]`, `POST /prompt` (validation → 400 with `error` and `node_errors`),
 * `GET /ws?clientId=` (status, execution_start, executing, progress, executed, execution_success,
 * execution_error, execution_interrupted), `GET /history/{id}`, `GET /view`, `GET/POST /queue`,
 * `POST /interrupt`. It records every request and executes workflows with a tiny deterministic
 * "model": the KSampler output is the reference latent pulled towards the weighted sum of the
 * image prompts' mean colours (IPAdapterEncoder weight × IPAdapterEmbeds weight) by `denoise`,
 * plus seed noise, so tests can see weights, images, strength and seeds at work.
 */

type Spec = [unknown, Record<string, unknown>?];
interface NodeDef { input: { required: Record<string, Spec>; optional?: Record<string, Spec> }; output: string[]; output_node?: boolean }

const SAMPLERS = ['euler', 'euler_ancestral', 'dpmpp_2m', 'dpmpp_sde'];
const SCHEDULERS = ['normal', 'karras', 'exponential', 'simple'];
const PRESETS = ['LIGHT - SD1.5 only (low strength)', 'STANDARD (medium strength)', 'VIT-G (medium strength)', 'PLUS (high strength)', 'PLUS FACE (portraits)', 'FULL FACE - SD1.5 only (portraits stronger)'];
const WEIGHT_TYPES = ['linear', 'ease in', 'ease out', 'ease in-out', 'reverse in-out', 'weak input', 'weak output', 'weak middle', 'strong middle', 'style transfer', 'composition'];

function nodeDefs(checkpoints: string[]): Record<string, NodeDef> {
  return {
    CheckpointLoaderSimple: { input: { required: { ckpt_name: [checkpoints] } }, output: ['MODEL', 'CLIP', 'VAE'] },
    CLIPTextEncode: { input: { required: { text: ['STRING', { multiline: true, dynamicPrompts: true }], clip: ['CLIP'] } }, output: ['CONDITIONING'] },
    LoadImage: { input: { required: { image: [[], { image_upload: true }] } }, output: ['IMAGE', 'MASK'] },
    VAEEncode: { input: { required: { pixels: ['IMAGE'], vae: ['VAE'] } }, output: ['LATENT'] },
    VAEDecode: { input: { required: { samples: ['LATENT'], vae: ['VAE'] } }, output: ['IMAGE'] },
    KSampler: {
      input: {
        required: {
          model: ['MODEL'],
          seed: ['INT', { default: 0, min: 0, max: 0xffffffffffffffff }],
          steps: ['INT', { default: 20, min: 1, max: 10000 }],
          cfg: ['FLOAT', { default: 8, min: 0, max: 100, step: 0.1 }],
          sampler_name: [SAMPLERS],
          scheduler: [SCHEDULERS],
          positive: ['CONDITIONING'],
          negative: ['CONDITIONING'],
          latent_image: ['LATENT'],
          denoise: ['FLOAT', { default: 1, min: 0, max: 1, step: 0.01 }],
        },
      },
      output: ['LATENT'],
    },
    SaveImage: { input: { required: { images: ['IMAGE'], filename_prefix: ['STRING', { default: 'ComfyUI' }] } }, output: [], output_node: true },
    IPAdapterUnifiedLoader: { input: { required: { model: ['MODEL'], preset: [PRESETS] }, optional: { ipadapter: ['IPADAPTER'] } }, output: ['MODEL', 'IPADAPTER'] },
    IPAdapterEncoder: {
      input: { required: { ipadapter: ['IPADAPTER'], image: ['IMAGE'], weight: ['FLOAT', { default: 1, min: -1, max: 3, step: 0.01 }] }, optional: { mask: ['MASK'], clip_vision: ['CLIP_VISION'] } },
      output: ['EMBEDS', 'EMBEDS'],
    },
    IPAdapterCombineEmbeds: {
      input: { required: { embed1: ['EMBEDS'], method: [['concat', 'add', 'subtract', 'average', 'norm average', 'max', 'min']] }, optional: { embed2: ['EMBEDS'], embed3: ['EMBEDS'], embed4: ['EMBEDS'], embed5: ['EMBEDS'] } },
      output: ['EMBEDS'],
    },
    IPAdapterEmbeds: {
      input: {
        required: {
          model: ['MODEL'],
          ipadapter: ['IPADAPTER'],
          pos_embed: ['EMBEDS'],
          weight: ['FLOAT', { default: 1, min: -1, max: 3, step: 0.05 }],
          weight_type: [WEIGHT_TYPES],
          start_at: ['FLOAT', { default: 0, min: 0, max: 1, step: 0.001 }],
          end_at: ['FLOAT', { default: 1, min: 0, max: 1, step: 0.001 }],
          embeds_scaling: [['V only', 'K+V', 'K+V w/ C penalty', 'K+mean(V) w/ C penalty']],
        },
        optional: { neg_embed: ['EMBEDS'], attn_mask: ['MASK'], clip_vision: ['CLIP_VISION'] },
      },
      output: ['MODEL'],
    },
  };
}

/** Behaviour switches of the fake server (all off by default). */
export interface FakeComfyOptions {
  checkpoints?: string[];
  /** Node types the server does not have. */
  missingNodes?: string[];
  /** Milliseconds per sampling step (progress messages are sent per step). */
  stepMs?: number;
  /** Serve no websocket (the engine must poll the history). */
  noWebsocket?: boolean;
  /** Answer one endpoint with garbage. */
  garbage?: 'prompt' | 'history' | 'view' | 'upload' | 'ws' | 'object_info';
  /** Fail execution of KSampler with this exception message. */
  failExecution?: string;
  /** Answer /prompt with HTTP 500 and a text body. */
  promptHttp500?: boolean;
}

/** A request the fake received. */
export interface FakeRequest {
  method: string;
  path: string;
  body: Buffer;
}

interface Job { id: string; number: number; prompt: Record<string, { class_type: string; inputs: Record<string, unknown> }>; clientId: string | null; outputs: string[] }

/** A running fake ComfyUI server; `url` is its base URL. */
export interface FakeComfyServer {
  url: string;
  requests: FakeRequest[];
  /** Bodies of accepted and rejected POST /prompt calls, parsed. */
  prompts: { prompt: Record<string, { class_type: string; inputs: Record<string, unknown> }>; client_id?: string }[];
  /** Uploaded files by `subfolder/name`. */
  uploads: Map<string, Buffer>;
  interrupts: { body: string }[];
  queueDeletes: string[];
  close(): Promise<void>;
}

type Value = { kind: 'model'; style: number[] | null } | { kind: 'image'; w: number; h: number; px: Float32Array } | { kind: 'embeds'; v: number[] } | { kind: 'other' };

const hash32 = (s: string) => createHash('sha256').update(s).digest().readUInt32LE(0);

/**
 * Start a fake ComfyUI server on 127.0.0.1 (a free port).
 *
 * @example
 * const fake = await startFakeComfy({ stepMs: 5 });
 * // … engine against fake.url …
 * await fake.close();
 */
export async function startFakeComfy(options: FakeComfyOptions = {}): Promise<FakeComfyServer> {
  const defs = nodeDefs(options.checkpoints ?? ['v1-5-pruned-emaonly.safetensors', 'sd_xl_base_1.0.safetensors']);
  for (const m of options.missingNodes ?? []) delete defs[m];
  const state: FakeComfyServer = { url: '', requests: [], prompts: [], uploads: new Map(), interrupts: [], queueDeletes: [], close: async () => {} };
  const outputs = new Map<string, Buffer>();
  const history = new Map<string, unknown>();
  const pending: Job[] = [];
  let running: Job | null = null;
  let interrupt = false;
  let number = 0;
  const sockets = new Map<string, WebSocket>();
  const send = (clientId: string | null, type: string, data: unknown) => {
    const ws = clientId ? sockets.get(clientId) : undefined;
    if (ws && ws.readyState === ws.OPEN) ws.send(options.garbage === 'ws' ? '{not json' : JSON.stringify({ type, data }));
  };

  const info = (c: string) => {
    const d = defs[c];
    const input = JSON.parse(JSON.stringify(d.input)) as NodeDef['input'];
    if (c === 'LoadImage') input.required.image = [[...state.uploads.keys()].filter((k) => !k.includes('/')), { image_upload: true }];
    return { input, input_order: Object.fromEntries(Object.entries(input).map(([k, v]) => [k, Object.keys(v)])), output: d.output, output_is_list: d.output.map(() => false), output_name: d.output, name: c, display_name: c, description: '', python_module: 'nodes', category: 'fake', output_node: d.output_node === true };
  };

  const isLink = (v: unknown): v is [string, number] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'number';

  /** ComfyUI's validate_prompt, reduced to what a client can get wrong. */
  function validate(prompt: Job['prompt']): { error: unknown; node_errors: Record<string, unknown>; outputs: string[] } | { outputs: string[] } {
    for (const [id, n] of Object.entries(prompt)) {
      if (!n || typeof n.class_type !== 'string') return { error: { type: 'invalid_prompt', message: 'Cannot execute because a node is missing the class_type property.', details: `Node ID '#${id}'`, extra_info: {} }, node_errors: {}, outputs: [] };
      if (!defs[n.class_type]) return { error: { type: 'invalid_prompt', message: `Cannot execute because node ${n.class_type} does not exist.`, details: `Node ID '#${id}'`, extra_info: {} }, node_errors: {}, outputs: [] };
    }
    const outs = Object.keys(prompt).filter((id) => defs[prompt[id].class_type].output_node);
    if (!outs.length) return { error: { type: 'prompt_no_outputs', message: 'Prompt has no outputs', details: '', extra_info: {} }, node_errors: {}, outputs: [] };
    const nodeErrors: Record<string, { errors: unknown[]; dependent_outputs: string[]; class_type: string }> = {};
    const seen = new Set<string>();
    const visit = (id: string, out: string) => {
      if (seen.has(id)) return;
      seen.add(id);
      const n = prompt[id];
      const d = defs[n.class_type];
      const specs = { ...d.input.required, ...(d.input.optional ?? {}) };
      const errs: unknown[] = [];
      for (const name of Object.keys(d.input.required)) if (!(name in (n.inputs ?? {}))) errs.push({ type: 'required_input_missing', message: 'Required input is missing', details: name, extra_info: { input_name: name } });
      for (const [name, v] of Object.entries(n.inputs ?? {})) {
        const spec = specs[name];
        if (!spec) continue;
        const [type, extra] = spec;
        if (isLink(v)) {
          const src = prompt[v[0]];
          if (!src) {
            errs.push({ type: 'invalid_input', message: 'Bad linked input', details: `${name}: node ${v[0]} does not exist`, extra_info: {} });
            continue;
          }
          const rt = defs[src.class_type]?.output[v[1]];
          if (rt !== type) errs.push({ type: 'return_type_mismatch', message: 'Return type mismatch between linked nodes', details: `${name}, received_type(${rt}) mismatch input_type(${String(type)})`, extra_info: {} });
          else visit(v[0], out);
        } else if (type === 'INT' || type === 'FLOAT') {
          if (typeof v !== 'number' || (type === 'INT' && !Number.isInteger(v))) errs.push({ type: 'invalid_input_type', message: `Failed to convert an input value to a ${type} value`, details: `${name}, ${String(v)}`, extra_info: {} });
          else if (extra && typeof extra.min === 'number' && v < extra.min) errs.push({ type: 'value_smaller_than_min', message: `Value ${v} smaller than min of ${extra.min}`, details: name, extra_info: {} });
          else if (extra && typeof extra.max === 'number' && v > extra.max) errs.push({ type: 'value_bigger_than_max', message: `Value ${v} bigger than max of ${extra.max}`, details: name, extra_info: {} });
        } else if (Array.isArray(type)) {
          if (n.class_type === 'LoadImage') {
            if (typeof v !== 'string' || !state.uploads.has(v)) errs.push({ type: 'custom_validation_failed', message: 'Custom validation failed for node', details: `image - Invalid image file: ${String(v)}`, extra_info: {} });
          } else if (!type.includes(v)) errs.push({ type: 'value_not_in_list', message: 'Value not in list', details: `${name}: '${String(v)}' not in ${JSON.stringify(type)}`, extra_info: {} });
        } else if (type === 'STRING' && typeof v !== 'string') errs.push({ type: 'invalid_input_type', message: 'Failed to convert an input value to a STRING value', details: name, extra_info: {} });
      }
      if (errs.length) nodeErrors[id] = { errors: errs, dependent_outputs: [out], class_type: n.class_type };
    };
    for (const o of outs) visit(o, o);
    if (Object.keys(nodeErrors).length) return { error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} }, node_errors: nodeErrors, outputs: [] };
    return { outputs: outs };
  }

  async function loadImage(name: string): Promise<Value> {
    const { data, info: meta } = await sharp(state.uploads.get(name)!).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { kind: 'image', w: meta.width, h: meta.height, px: Float32Array.from(data) };
  }

  async function execute(job: Job): Promise<void> {
    const values = new Map<string, Value[]>();
    const messages: unknown[] = [['execution_start', { prompt_id: job.id, timestamp: Date.now() }]];
    send(job.clientId, 'execution_start', { prompt_id: job.id, timestamp: Date.now() });
    const saved: Record<string, { images: { filename: string; subfolder: string; type: string }[] }> = {};
    const get = (v: unknown): Value => (isLink(v) ? values.get(v[0])![v[1]] : { kind: 'other' });
    const order: string[] = [];
    const seen = new Set<string>();
    const topo = (id: string) => {
      if (seen.has(id)) return;
      seen.add(id);
      for (const v of Object.values(job.prompt[id].inputs)) if (isLink(v)) topo(v[0]);
      order.push(id);
    };
    job.outputs.forEach(topo);
    try {
      for (const id of order) {
        const n = job.prompt[id];
        const inp = n.inputs;
        send(job.clientId, 'executing', { node: id, display_node: id, prompt_id: job.id });
        let out: Value[];
        switch (n.class_type) {
          case 'CheckpointLoaderSimple':
            out = [{ kind: 'model', style: null }, { kind: 'other' }, { kind: 'other' }];
            break;
          case 'IPAdapterUnifiedLoader':
            out = [get(inp.model), { kind: 'other' }];
            break;
          case 'LoadImage':
            out = [await loadImage(String(inp.image)), { kind: 'other' }];
            break;
          case 'IPAdapterEncoder': {
            const im = get(inp.image) as Extract<Value, { kind: 'image' }>;
            const mean = [0, 0, 0];
            for (let i = 0; i < im.px.length; i++) mean[i % 3] += im.px[i] / (im.px.length / 3);
            out = [{ kind: 'embeds', v: mean.map((m) => m * Number(inp.weight)) }, { kind: 'embeds', v: [0, 0, 0] }];
            break;
          }
          case 'IPAdapterCombineEmbeds': {
            const parts = ['embed1', 'embed2', 'embed3', 'embed4', 'embed5'].filter((k) => inp[k] !== undefined).map((k) => (get(inp[k]) as Extract<Value, { kind: 'embeds' }>).v);
            if (inp.method !== 'add') throw new Error(`fake server implements method "add" only, got ${String(inp.method)}`);
            out = [{ kind: 'embeds', v: [0, 1, 2].map((c) => parts.reduce((s, p) => s + p[c], 0)) }];
            break;
          }
          case 'IPAdapterEmbeds': {
            const e = (get(inp.pos_embed) as Extract<Value, { kind: 'embeds' }>).v;
            out = [{ kind: 'model', style: e.map((x) => x * Number(inp.weight)) }];
            break;
          }
          case 'VAEEncode':
          case 'VAEDecode':
            out = [get(inp.pixels ?? inp.samples)];
            break;
          case 'CLIPTextEncode':
            out = [{ kind: 'other' }];
            break;
          case 'KSampler': {
            if (options.failExecution) throw new Error(options.failExecution);
            const steps = Number(inp.steps);
            for (let s = 1; s <= steps; s++) {
              if (interrupt) throw Object.assign(new Error('interrupted'), { interrupted: true });
              if (options.stepMs) await new Promise((r) => setTimeout(r, options.stepMs));
              send(job.clientId, 'progress', { value: s, max: steps, prompt_id: job.id, node: id });
            }
            if (interrupt) throw Object.assign(new Error('interrupted'), { interrupted: true });
            const lat = get(inp.latent_image) as Extract<Value, { kind: 'image' }>;
            const model = get(inp.model) as Extract<Value, { kind: 'model' }>;
            const d = Number(inp.denoise);
            const seed = Number(inp.seed);
            const px = new Float32Array(lat.px.length);
            for (let i = 0; i < px.length; i++) {
              const target = model.style ? model.style[i % 3] : lat.px[i];
              const noise = ((hash32(`${seed}:${i}`) % 41) - 20) * d;
              px[i] = Math.max(0, Math.min(255, (1 - d) * lat.px[i] + d * target + noise));
            }
            out = [{ kind: 'image', w: lat.w, h: lat.h, px }];
            break;
          }
          case 'SaveImage': {
            const im = get(inp.images) as Extract<Value, { kind: 'image' }>;
            const filename = `${String(inp.filename_prefix)}_${String(outputs.size + 1).padStart(5, '0')}_.png`;
            outputs.set(filename, await sharp(Buffer.from(Uint8Array.from(im.px, (x) => Math.round(x))), { raw: { width: im.w, height: im.h, channels: 3 } }).png().toBuffer());
            saved[id] = { images: [{ filename, subfolder: '', type: 'output' }] };
            send(job.clientId, 'executed', { node: id, display_node: id, output: saved[id], prompt_id: job.id });
            out = [];
            break;
          }
          default:
            throw new Error(`fake server cannot execute ${n.class_type}`);
        }
        values.set(id, out);
      }
      messages.push(['execution_success', { prompt_id: job.id, timestamp: Date.now() }]);
      history.set(job.id, { prompt: [job.number, job.id, job.prompt, { client_id: job.clientId }, job.outputs], outputs: saved, status: { status_str: 'success', completed: true, messages }, meta: {} });
      send(job.clientId, 'execution_success', { prompt_id: job.id, timestamp: Date.now() });
      send(job.clientId, 'executing', { node: null, prompt_id: job.id });
    } catch (e) {
      const interrupted = (e as { interrupted?: boolean }).interrupted === true;
      const [type, data] = interrupted
        ? ['execution_interrupted', { prompt_id: job.id, node_id: 'x', node_type: 'KSampler', executed: [] }]
        : ['execution_error', { prompt_id: job.id, node_id: order.find((i) => job.prompt[i].class_type === 'KSampler') ?? '?', node_type: 'KSampler', executed: [], exception_message: (e as Error).message, exception_type: 'RuntimeError', traceback: [], current_inputs: {}, current_outputs: {} }];
      messages.push([type, data]);
      history.set(job.id, { prompt: [job.number, job.id, job.prompt, {}, job.outputs], outputs: {}, status: { status_str: 'error', completed: false, messages }, meta: {} });
      send(job.clientId, type, data);
    }
  }

  async function worker(): Promise<void> {
    while (!running && pending.length) {
      running = pending.shift()!;
      interrupt = false;
      await execute(running);
      running = null;
    }
  }

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (req.method === 'POST' && path === '/upload/image') {
      if (options.garbage === 'upload') return json(res, 200, { ok: true });
      const form = await new Request('http://x', { method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body: new Uint8Array(body) }).formData();
      const image = form.get('image');
      if (!(image instanceof Blob) || !(image as File).name) return void res.writeHead(400).end();
      const sub = String(form.get('subfolder') ?? '');
      const name = (image as File).name;
      state.uploads.set(sub ? `${sub}/${name}` : name, Buffer.from(await image.arrayBuffer()));
      return json(res, 200, { name, subfolder: sub, type: String(form.get('type') ?? 'input') });
    }
    if (req.method === 'GET' && path === '/object_info') return json(res, 200, Object.fromEntries(Object.keys(defs).map((c) => [c, info(c)])));
    if (req.method === 'GET' && path.startsWith('/object_info/')) {
      if (options.garbage === 'object_info') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>oops</html>');
      const c = decodeURIComponent(path.slice('/object_info/'.length));
      return json(res, 200, defs[c] ? { [c]: info(c) } : {});
    }
    if (req.method === 'POST' && path === '/prompt') {
      if (options.promptHttp500) return void res.writeHead(500, { 'content-type': 'text/plain' }).end('500 Internal Server Error\n\nServer got itself in trouble');
      const data = JSON.parse(body.toString('utf8')) as { prompt?: Job['prompt']; client_id?: string };
      if (data.prompt) state.prompts.push(data as FakeComfyServer['prompts'][number]);
      if (options.garbage === 'prompt') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"prompt_id": ');
      if (!data.prompt) return json(res, 400, { error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} });
      const v = validate(data.prompt);
      if ('error' in v) return json(res, 400, { error: v.error, node_errors: v.node_errors });
      const id = randomUUID();
      pending.push({ id, number: number, prompt: data.prompt, clientId: data.client_id ?? null, outputs: v.outputs });
      json(res, 200, { prompt_id: id, number: number++, node_errors: {} });
      void worker();
      return;
    }
    if (req.method === 'GET' && path.startsWith('/history/')) {
      if (options.garbage === 'history') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('garbage');
      const id = decodeURIComponent(path.slice('/history/'.length));
      return json(res, 200, history.has(id) ? { [id]: history.get(id) } : {});
    }
    if (req.method === 'GET' && path === '/view') {
      const f = outputs.get(url.searchParams.get('filename') ?? '');
      if (!f || url.searchParams.get('type') !== 'output') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'image/png' });
      return void res.end(options.garbage === 'view' ? Buffer.from('GIF89a garbage') : f);
    }
    if (req.method === 'GET' && path === '/queue') {
      const entry = (j: Job) => [j.number, j.id, j.prompt, { client_id: j.clientId }, j.outputs];
      return json(res, 200, { queue_running: running ? [entry(running)] : [], queue_pending: pending.map(entry) });
    }
    if (req.method === 'POST' && path === '/queue') {
      const data = JSON.parse(body.toString('utf8')) as { delete?: string[] };
      for (const id of data.delete ?? []) {
        state.queueDeletes.push(id);
        const i = pending.findIndex((j) => j.id === id);
        if (i >= 0) pending.splice(i, 1);
      }
      return void res.writeHead(200).end();
    }
    if (req.method === 'POST' && path === '/interrupt') {
      state.interrupts.push({ body: body.toString('utf8') });
      interrupt = true;
      return void res.writeHead(200).end();
    }
    res.writeHead(404).end();
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      state.requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      handle(req, res, body).catch((e: unknown) => {
        res.writeHead(500).end(String(e));
      });
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (options.noWebsocket || url.pathname !== '/ws') return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => {
      const sid = url.searchParams.get('clientId') || randomUUID().replace(/-/g, '');
      sockets.set(sid, ws);
      ws.on('close', () => sockets.delete(sid));
      ws.send(JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: pending.length + (running ? 1 : 0) } }, sid } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    for (const ws of sockets.values()) ws.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return state;
}
