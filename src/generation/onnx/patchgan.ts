/**
 * A PatchGAN discriminator (pix2pix-style) for adversarial training on the ONNX engine: strided
 * 3×3 convs with LeakyReLU(0.2) down to an (S/8)×(S/8) map of logits, each judging one patch of
 * the input ("real rendition" or "generated"). Built with `inputGradient`, so its gradient w.r.t.
 * the judged image can be handed to the generator.
 *
 * ```
 * conv3×3/2 in→w, conv3×3/2 w→2w, conv3×3/2 2w→4w, conv3×3 4w→4w   (LeakyReLU 0.2)
 * conv1×1 4w→outChannels                                           (logits)
 * ```
 *
 * @example
 * const d = createPatchDiscriminator({ inChannels: 12, width: 32, size: 64 });
 * const logits = await d.forward(x, 16);            // 16 × 1 × 8 × 8
 * const { grads, dx } = await d.backwardWithInput(dLogits);
 */
import { RagarError } from '../../util/errors.js';
import { readCheckpointHeader } from './checkpoint.js';
import { convParams, leaky, LINEAR, type Layer, type NetSpec, type ParamSpec } from './layers.js';
import { OnnxNet, type OnnxNetOptions } from './net.js';

/** Network kind recorded in checkpoints. */
export const PATCH_DISCRIMINATOR_KIND = 'patch-discriminator';

/** The shape of a PatchGAN discriminator. */
export interface PatchDiscriminatorConfig {
  inChannels: number;
  /** Width of the first conv (default 32). */
  width?: number;
  /** Side of the square input (default 64; divisible by 8). */
  size?: number;
  /** Logit maps per patch (default 1; a projection discriminator with an auxiliary style classifier uses 1 + 2K). */
  outChannels?: number;
  seed?: number;
}

/** The config with defaults filled in, checked. */
export function resolvePatchDiscriminatorConfig(config: PatchDiscriminatorConfig): Required<PatchDiscriminatorConfig> {
  const c: Required<PatchDiscriminatorConfig> = { width: 32, size: 64, seed: 2, outChannels: 1, ...config };
  if (!(Number.isInteger(c.inChannels) && c.inChannels > 0 && Number.isInteger(c.width) && c.width > 0 && Number.isInteger(c.outChannels) && c.outChannels > 0)) throw new RagarError('patch discriminator: channel counts must be positive integers', 'BAD_INPUT');
  if (!(Number.isInteger(c.size) && c.size >= 8 && c.size % 8 === 0)) throw new RagarError(`patch discriminator: size must be a multiple of 8, got ${c.size}`, 'BAD_INPUT');
  return c;
}

/**
 * The {@link NetSpec} of a PatchGAN discriminator: input `x`, output `y` (`outChannels` × S/8 × S/8 logits).
 *
 * @example
 * const spec = patchDiscriminatorSpec({ inChannels: 4, width: 8, size: 16 });
 */
export function patchDiscriminatorSpec(config: PatchDiscriminatorConfig): NetSpec {
  const c = resolvePatchDiscriminatorConfig(config);
  const act = leaky(0.2);
  const layers: Layer[] = [];
  const params: ParamSpec[] = [];
  const chans = [c.inChannels, c.width, 2 * c.width, 4 * c.width, 4 * c.width];
  let h = 'x';
  for (let i = 0; i < 4; i++) {
    const name = `d${i}`;
    params.push(...convParams(name, chans[i], chans[i + 1], 3, act));
    layers.push({ op: 'conv', input: h, output: name, weight: `${name}.w`, bias: `${name}.b`, kernel: 3, stride: i < 3 ? 2 : 1, act });
    h = name;
  }
  params.push(...convParams('logits', chans[4], c.outChannels, 1, LINEAR));
  layers.push({ op: 'conv', input: h, output: 'y', weight: 'logits.w', bias: 'logits.b', kernel: 1, stride: 1, act: LINEAR });
  return { input: { name: 'x', channels: c.inChannels, height: c.size, width: c.size }, output: 'y', layers, params };
}

/**
 * Create a discriminator (with input gradients) from `config.seed`.
 *
 * @example
 * const d = createPatchDiscriminator({ inChannels: 12 });
 */
export function createPatchDiscriminator(config: PatchDiscriminatorConfig, runtime: Omit<OnnxNetOptions, 'meta' | 'params' | 'seed' | 'inputGradient'> = {}): OnnxNet {
  const c = resolvePatchDiscriminatorConfig(config);
  return new OnnxNet(patchDiscriminatorSpec(c), { seed: c.seed, ...runtime, inputGradient: true, meta: { kind: PATCH_DISCRIMINATOR_KIND, config: c } });
}

/**
 * Load a discriminator saved with `net.save(dir)` (for resuming adversarial training).
 *
 * @example
 * const d = await loadPatchDiscriminator('runs/gen3/discriminator');
 */
export async function loadPatchDiscriminator(dir: string, runtime: Omit<OnnxNetOptions, 'meta' | 'params' | 'seed' | 'inputGradient'> = {}): Promise<OnnxNet> {
  const header = await readCheckpointHeader(dir);
  if (header.kind !== PATCH_DISCRIMINATOR_KIND) throw new RagarError(`checkpoint in ${dir} is a "${header.kind}", not a ${PATCH_DISCRIMINATOR_KIND}`, 'BAD_INPUT');
  const net = createPatchDiscriminator(header.config as PatchDiscriminatorConfig, runtime);
  await net.load(dir);
  return net;
}
