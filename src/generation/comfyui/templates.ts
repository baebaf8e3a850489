/**
 * The ComfyUI workflow templates that ship with ragar, in ComfyUI's API format (node id →
 * `{ class_type, inputs }`, links as `[node id, output index]`), with named placeholders
 * `{{name}}` (see `template.ts`). Both are img2img with IPAdapter_plus: the reference image is
 * VAE-encoded as the KSampler's latent (`denoise` = strength), and the history images enter
 * through `{{image_prompt_embeds}}`, which the engine expands into one `IPAdapterEncoder` per
 * image (its `weight` = the image's share) summed by `IPAdapterCombineEmbeds` (`add`), applied
 * with `IPAdapterEmbeds` at `{{image_prompt_scale}}`. Needs ComfyUI_IPAdapter_plus and the
 * models its `IPAdapterUnifiedLoader` preset names (CLIP-ViT-H and the IP-Adapter weights).
 */

/** A workflow in ComfyUI's API format. */
export type ComfyWorkflow = Record<string, { class_type: string; inputs: Record<string, unknown>; _meta?: { title?: string } }>;

const base = (): ComfyWorkflow => ({
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: '{{checkpoint}}' }, _meta: { title: 'checkpoint' } },
  '2': { class_type: 'IPAdapterUnifiedLoader', inputs: { model: ['1', 0], preset: '{{ipadapter_preset}}' }, _meta: { title: 'IP-Adapter loader' } },
  '3': {
    class_type: 'IPAdapterEmbeds',
    inputs: {
      model: ['2', 0],
      ipadapter: ['2', 1],
      pos_embed: '{{image_prompt_embeds}}',
      neg_embed: '{{image_prompt_neg_embeds}}',
      weight: '{{image_prompt_scale}}',
      weight_type: 'linear',
      start_at: 0,
      end_at: 1,
      embeds_scaling: 'V only',
    },
    _meta: { title: 'image prompts (history, retrieval-weighted)' },
  },
  '4': { class_type: 'LoadImage', inputs: { image: '{{reference_image}}' }, _meta: { title: 'reference' } },
  '5': { class_type: 'VAEEncode', inputs: { pixels: ['4', 0], vae: ['1', 2] } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: '{{prompt}}', clip: ['1', 1] }, _meta: { title: 'prompt' } },
  '7': { class_type: 'CLIPTextEncode', inputs: { text: '{{negative_prompt}}', clip: ['1', 1] }, _meta: { title: 'negative prompt' } },
  '8': {
    class_type: 'KSampler',
    inputs: {
      model: ['3', 0],
      seed: '{{seed}}',
      steps: '{{steps}}',
      cfg: '{{cfg}}',
      sampler_name: '{{sampler}}',
      scheduler: '{{scheduler}}',
      positive: ['6', 0],
      negative: ['7', 0],
      latent_image: ['5', 0],
      denoise: '{{denoise}}',
    },
  },
  '9': { class_type: 'VAEDecode', inputs: { samples: ['8', 0], vae: ['1', 2] } },
  '10': { class_type: 'SaveImage', inputs: { images: ['9', 0], filename_prefix: 'ragar' } },
});

/** The shipped templates and their defaults (checkpoint names are the usual file names; set yours). */
export const COMFY_TEMPLATES = {
  /** SD 1.5 img2img + IPAdapter (PLUS preset), 512×512. */
  sd15: {
    workflow: base(),
    size: 512,
    values: { checkpoint: 'v1-5-pruned-emaonly.safetensors', ipadapter_preset: 'PLUS (high strength)', steps: 25, cfg: 7, sampler: 'dpmpp_2m', scheduler: 'karras' },
  },
  /** SDXL img2img + IPAdapter (PLUS preset, ViT-H), 1024×1024. */
  sdxl: {
    workflow: base(),
    size: 1024,
    values: { checkpoint: 'sd_xl_base_1.0.safetensors', ipadapter_preset: 'PLUS (high strength)', steps: 30, cfg: 6, sampler: 'dpmpp_2m', scheduler: 'karras' },
  },
} as const satisfies Record<string, { workflow: ComfyWorkflow; size: number; values: Record<string, string | number> }>;

/** Name of a shipped template. */
export type ComfyTemplateName = keyof typeof COMFY_TEMPLATES;
