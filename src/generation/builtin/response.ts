import { BuiltinGenerator } from './model.js';

/** How much the generator's output moves with its condition, next to how much real renditions differ. */
export interface ConditionResponse {
  /** Mean absolute pixel difference (pixels in [0, 1]) between outputs for two different one-hot styles, averaged over style pairs and references. */
  outputSpread: number;
  /** The same between the real renditions of one concept in two different styles (what a generator that redraws fully would show). */
  realSpread: number;
  references: number;
}

const spread = (images: readonly Float32Array[]): number => {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < images.length; i++)
    for (let j = i + 1; j < images.length; j++) {
      let d = 0;
      for (let k = 0; k < images[i].length; k++) d += Math.abs(Math.max(-1, Math.min(1, images[i][k])) - Math.max(-1, Math.min(1, images[j][k])));
      sum += d / images[i].length / 2; // model space [−1, 1] → pixels [0, 1]
      pairs++;
    }
  return pairs ? sum / pairs : 0;
};

/**
 * Measure the condition response: for each concept (a reference rendition and the real
 * renditions in every style), generate with each one-hot style condition and compare the
 * outputs pairwise; compare the real renditions the same way. A generator that ignores its
 * condition has `outputSpread` ≈ 0.
 *
 * @example
 * const r = await measureConditionResponse(gen, concepts.slice(0, 32));
 * r.outputSpread / r.realSpread; // share of the real style-to-style change the generator reproduces
 */
export async function measureConditionResponse(generator: BuiltinGenerator, concepts: readonly { reference: Float32Array; renditions: readonly Float32Array[] }[]): Promise<ConditionResponse> {
  const classes = generator.config.conditioner.classes;
  let out = 0;
  let real = 0;
  for (const c of concepts) {
    const conds = classes.map((s) => ({ reference: c.reference, style: generator.conditionOfStyle(s) }));
    const images = await generator.sample(conds, conds.map((_, i) => i + 1));
    out += spread(images);
    real += spread(c.renditions);
  }
  const n = Math.max(1, concepts.length);
  return { outputSpread: out / n, realSpread: real / n, references: concepts.length };
}
