import sharp from 'sharp';
import { PIXEL_SIZE } from '../../encoders/pixels.js';
import { RagarError } from '../../util/errors.js';
import { drawingDefaults, modelSpaceToPng } from './engine.js';
import { applyFinishing, finishingNeedsReference, guidanceOf } from './finishing.js';
import type { BuiltinGenerator } from './model.js';

/** One row of a condition montage: a reference and, optionally, the real renditions per style. */
export interface MontageRow {
  reference: Float32Array;
  /** style → real rendition (model space), shown after the generated ones when given. */
  real?: ReadonlyMap<string, Float32Array>;
}

/**
 * A condition montage: for each reference, the reference itself, the generator's output under
 * each one-hot style condition (at classifier-free guidance `scale`; default 1, or with `delivered` the
 * engine's: the finishing's scale, else the engine's default), the unconditioned output,
 * and the real renditions when known. Columns are labelled in `columns` (left to right). A
 * generator that ignores its condition shows identical generated columns. With `delivered`, the
 * conditioned outputs are shown as the engine delivers them: sharpened (the engine's default) and
 * through the generator's fitted finishing, if it has one; otherwise as the network draws them.
 *
 * @example
 * const { png, columns } = await conditionMontage(gen, rows, { scale: 1.5 });
 */
export async function conditionMontage(generator: BuiltinGenerator, rows: readonly MontageRow[], options: { scale?: number; delivered?: boolean } = {}): Promise<{ png: Buffer; columns: string[] }> {
  if (!rows.length) throw new RagarError('a montage needs at least one reference', 'BAD_INPUT');
  const styles = generator.config.conditioner.classes;
  const hasReal = rows.some((r) => r.real);
  const columns = ['reference', ...styles.map((s) => `→ ${s}`), 'no condition', ...(hasReal ? styles.map((s) => `real ${s}`) : [])];
  const tiles: { input: Buffer; left: number; top: number }[] = [];
  const pad = 2;
  const cell = PIXEL_SIZE + pad;
  // Delivered: each style drawn at the guidance its finishing asks for (a multiplier of the scale).
  const finishing = options.delivered ? generator.finishing : null;
  const drawing = options.delivered ? drawingDefaults(generator.finishing) : null;
  const scale = options.scale ?? drawing?.cfgScale ?? 1;
  for (const [r, row] of rows.entries()) {
    const conds = [...styles.map((s) => ({ reference: row.reference, style: generator.conditionOfStyle(s) })), { reference: row.reference, style: null }];
    const outs = await generator.sample(conds, conds.map((_, i) => i + 1), { guidance: conds.map((_, i) => (finishing && i < styles.length ? Math.min(20, scale * guidanceOf(finishing.options[i])) : scale)) });
    const images = [row.reference, ...outs, ...(hasReal ? styles.map((s) => row.real?.get(s) ?? null) : [])];
    // The guide of the finishing options guided by the reference: encoded once per row.
    const referencePng = finishing && finishingNeedsReference(finishing) ? await modelSpaceToPng(row.reference) : undefined;
    for (const [c, img] of images.entries()) {
      if (!img) continue;
      const styleIndex = c - 1;
      let input = await modelSpaceToPng(img, drawing && styleIndex >= 0 && styleIndex <= styles.length ? drawing.sharpen : 0);
      if (finishing && styleIndex >= 0 && styleIndex < styles.length) {
        const drawn = input;
        input = await applyFinishing(() => drawn, conds[styleIndex].style!, finishing, referencePng);
      }
      tiles.push({ input, left: c * cell, top: r * cell });
    }
  }
  const png = await sharp({ create: { width: columns.length * cell, height: rows.length * cell, channels: 3, background: '#808080' } })
    .composite(tiles)
    .png()
    .toBuffer();
  return { png, columns };
}
