import { RagarError } from '../../util/errors.js';
import type { ComfyWorkflow } from './templates.js';

/**
 * Placeholders the engine fills in every template. `reference_image`, `prompt`, `seed`,
 * `denoise` and `image_prompt_embeds` are required (a template without them cannot personalise
 * or be reproduced); any other `{{name}}` takes its value from the settings' `values`.
 */
export const COMFY_PLACEHOLDERS = {
  reference_image: 'file name of the uploaded reference (a LoadImage `image` input)',
  prompt: 'the text prompt: reference text + keyword preference',
  negative_prompt: 'the negative prompt (setting `negativePrompt`)',
  seed: 'the candidate seed (seed + i)',
  denoise: 'img2img strength (KSampler `denoise`)',
  image_prompt_embeds: 'a link to the weighted sum of the history images\' IPAdapter embeddings (the input `pos_embed` of IPAdapterEmbeds)',
  image_prompt_neg_embeds: 'a link to the matching negative embeddings (IPAdapterEmbeds `neg_embed`; optional)',
  image_prompt_scale: 'overall image-prompt strength (IPAdapterEmbeds `weight`)',
} as const;

const REQUIRED = ['reference_image', 'prompt', 'seed', 'denoise', 'image_prompt_embeds'] as const;
const LINK_ONLY = new Set(['image_prompt_embeds', 'image_prompt_neg_embeds']);
const WHOLE = /^\{\{([a-z_][a-z0-9_]*)\}\}$/;
const ANY = /\{\{([a-z_][a-z0-9_]*)\}\}/g;

/** Where a placeholder sits: node id and input name. */
export interface PlaceholderSite {
  node: string;
  input: string;
  /** True when the placeholder is the whole value (typed substitution), false inside a string. */
  whole: boolean;
}

/** A checked template: the workflow and where each placeholder sits. */
export interface ComfyTemplate {
  workflow: ComfyWorkflow;
  sites: Map<string, PlaceholderSite[]>;
  /** The node that consumes `{{image_prompt_embeds}}` (its `ipadapter` input feeds the encoders). */
  applyNode: string;
}

const isLink = (v: unknown): v is [string, number] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isInteger(v[1]);

/**
 * Check a workflow in ComfyUI's API format and find its placeholders: every node has a string
 * `class_type` and an `inputs` object, links point at existing nodes, the required placeholders
 * are present, link placeholders are whole values, and the node consuming
 * `{{image_prompt_embeds}}` has an `ipadapter` link and a `model` link (it is bypassed when a
 * request has no image prompts).
 *
 * @example
 * const t = parseComfyTemplate(COMFY_TEMPLATES.sd15.workflow, 'sd15');
 */
export function parseComfyTemplate(raw: unknown, source: string): ComfyTemplate {
  const bad = (why: string) => new RagarError(`ComfyUI template ${source}: ${why}`, 'BAD_INPUT');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('must be a JSON object of nodes in ComfyUI\'s API format ("Save (API Format)"), node id → { class_type, inputs }');
  const obj = raw as Record<string, unknown>;
  if ('nodes' in obj && 'links' in obj) throw bad('this is the UI format (it has "nodes" and "links"); export it with "Save (API Format)"');
  const workflow: ComfyWorkflow = {};
  const sites = new Map<string, PlaceholderSite[]>();
  for (const [id, node] of Object.entries(obj)) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) throw bad(`node ${id} is not an object`);
    const n = node as Record<string, unknown>;
    if (typeof n.class_type !== 'string' || !n.class_type) throw bad(`node ${id} has no class_type`);
    if (typeof n.inputs !== 'object' || n.inputs === null || Array.isArray(n.inputs)) throw bad(`node ${id} (${n.class_type}) has no inputs object`);
    for (const [input, v] of Object.entries(n.inputs as Record<string, unknown>)) {
      if (typeof v === 'string') {
        const whole = v.match(WHOLE);
        if (whole) {
          const list = sites.get(whole[1]) ?? [];
          list.push({ node: id, input, whole: true });
          sites.set(whole[1], list);
        } else {
          for (const m of v.matchAll(ANY)) {
            if (LINK_ONLY.has(m[1])) throw bad(`node ${id} input ${input}: {{${m[1]}}} must be the whole value`);
            const list = sites.get(m[1]) ?? [];
            list.push({ node: id, input, whole: false });
            sites.set(m[1], list);
          }
        }
      }
    }
    workflow[id] = JSON.parse(JSON.stringify({ class_type: n.class_type, inputs: n.inputs, ...(n._meta ? { _meta: n._meta } : {}) }));
  }
  for (const [id, node] of Object.entries(workflow)) {
    for (const [input, v] of Object.entries(node.inputs)) {
      if (isLink(v) && !(v[0] in workflow)) throw bad(`node ${id} input ${input} links to node ${v[0]}, which is not in the template`);
    }
  }
  const missing = REQUIRED.filter((p) => !sites.has(p));
  if (missing.length) throw bad(`missing placeholder(s) ${missing.map((m) => `{{${m}}}`).join(', ')}`);
  const apply = sites.get('image_prompt_embeds')!;
  if (apply.length !== 1) throw bad('{{image_prompt_embeds}} must appear exactly once');
  const applyNode = apply[0].node;
  const an = workflow[applyNode];
  if (!isLink(an.inputs.ipadapter)) throw bad(`node ${applyNode} (${an.class_type}) consumes {{image_prompt_embeds}} but has no ipadapter link`);
  if (!isLink(an.inputs.model)) throw bad(`node ${applyNode} (${an.class_type}) consumes {{image_prompt_embeds}} but has no model link (needed to bypass it without image prompts)`);
  if (!Object.values(workflow).some((n) => n.class_type === 'SaveImage')) throw bad('has no SaveImage node (the engine reads the images it saves)');
  return { workflow, sites, applyNode };
}

/** One image prompt for the workflow: the uploaded file name and the encoder weight. */
export interface WorkflowImagePrompt {
  file: string;
  weight: number;
}

/**
 * Fill a template: placeholders get `values` (typed when they are the whole value), the image
 * prompts become `LoadImage` → `IPAdapterEncoder` (weight) pairs summed by a chain of
 * `IPAdapterCombineEmbeds` (`add`, at most five inputs each), wired into the apply node; with no
 * image prompts the apply node is bypassed (its consumers take its `model` input). Returns the
 * workflow and the ids of the nodes added per image prompt.
 *
 * @example
 * const { workflow } = fillComfyTemplate(t, { prompt: 'fox', seed: 1, denoise: 0.6, reference_image: 'ragar/a.png', image_prompt_scale: 0.8 }, [{ file: 'ragar/b.png', weight: 0.7 }]);
 */
export function fillComfyTemplate(
  template: ComfyTemplate,
  values: Record<string, string | number>,
  imagePrompts: readonly WorkflowImagePrompt[],
): { workflow: ComfyWorkflow; imagePromptNodes: { load: string; encoder: string }[] } {
  const wf: ComfyWorkflow = JSON.parse(JSON.stringify(template.workflow));
  const unknown = [...template.sites.keys()].filter((k) => !LINK_ONLY.has(k) && !(k in values));
  if (unknown.length) throw new RagarError(`ComfyUI template: no value for placeholder(s) ${unknown.map((u) => `{{${u}}}`).join(', ')} (set them in the engine settings' "values")`, 'BAD_INPUT');
  for (const [name, list] of template.sites) {
    if (LINK_ONLY.has(name)) continue;
    for (const site of list) {
      const inputs = wf[site.node].inputs;
      inputs[site.input] = site.whole ? values[name] : String(inputs[site.input]).replace(ANY, (m, k: string) => (k in values ? String(values[k]) : m));
    }
  }
  let next = Math.max(0, ...Object.keys(wf).map((k) => (/^\d+$/.test(k) ? Number(k) : 0))) + 1;
  const newId = () => String(next++);
  const apply = wf[template.applyNode];
  const negSite = template.sites.get('image_prompt_neg_embeds') ?? [];
  const imagePromptNodes: { load: string; encoder: string }[] = [];
  if (imagePrompts.length === 0) {
    const model = apply.inputs.model;
    for (const node of Object.values(wf)) {
      for (const [k, v] of Object.entries(node.inputs)) if (isLink(v) && v[0] === template.applyNode) node.inputs[k] = model;
    }
    delete wf[template.applyNode];
    return { workflow: wf, imagePromptNodes };
  }
  for (const p of imagePrompts) {
    const load = newId();
    const encoder = newId();
    wf[load] = { class_type: 'LoadImage', inputs: { image: p.file }, _meta: { title: 'ragar image prompt' } };
    wf[encoder] = { class_type: 'IPAdapterEncoder', inputs: { ipadapter: apply.inputs.ipadapter, image: [load, 0], weight: p.weight }, _meta: { title: 'ragar image prompt weight' } };
    imagePromptNodes.push({ load, encoder });
  }
  let embeds: unknown[] = imagePromptNodes.map((n) => [n.encoder, 0]);
  while (embeds.length > 1) {
    const combined: unknown[] = [];
    for (let i = 0; i < embeds.length; i += 5) {
      const group = embeds.slice(i, i + 5);
      if (group.length === 1) {
        combined.push(group[0]);
        continue;
      }
      const id = newId();
      wf[id] = { class_type: 'IPAdapterCombineEmbeds', inputs: { method: 'add', ...Object.fromEntries(group.map((e, j) => [`embed${j + 1}`, e])) } };
      combined.push([id, 0]);
    }
    embeds = combined;
  }
  apply.inputs[template.sites.get('image_prompt_embeds')![0].input] = embeds[0];
  for (const site of negSite) wf[site.node].inputs[site.input] = [imagePromptNodes[0].encoder, 1];
  return { workflow: wf, imagePromptNodes };
}
