/**
 * The generator engine interface (DESIGN §6): one call in the spirit of the Vercel AI SDK's
 * `generateImage` — a reference image and text, the user's preference built from retrieval
 * weights, a number of candidates, a seed, engine-specific options in one keyed bag, a progress
 * callback and an AbortSignal in; candidate images with their seeds and timings out. The
 * built-in engine and any later one (Stable Diffusion over onnxruntime, ComfyUI, …) implement it
 * and pass the shared contract suite in `contract.testing.ts`.
 */

/** What the generator is told about the user's taste (RAGAR steps 1–2). */
export interface GenerationPreference {
  /** How the history was weighted. */
  weighting: 'retrieval' | 'uniform';
  /**
   * History items with their weights (weights sum to 1; zero-weight items may be left out) and,
   * where the dataset has them, their standardised style descriptors.
   */
  history: readonly { item: string; weight: number; style?: string | null; styleVector?: Float32Array | null }[];
  /**
   * The weighted mean of the history items' style descriptors (`ragar embed --style-encoder`),
   * standardised like the ranker's style block; null when the dataset has none.
   */
  styleVector: Float32Array | null;
  /** Keyword preference, most important first. */
  keywords: readonly string[];
  /**
   * The ranker's user direction for this reference: `R(u, x) = g_img(x)·v + c` (see
   * `ContentRanker.imageScoreParts`). Engines that steer towards the ranker use it; null = none.
   */
  rankerDirection: { v: Float32Array; constant: number } | null;
}

/** One generation request. */
export interface GenerateRequest {
  /** The reference item: its image (PNG/JPEG/WebP bytes, any size or colour mode) and text. */
  reference: { image: Buffer | Uint8Array; text: string };
  preference: GenerationPreference;
  /** External id of the user (for records and engines that keep per-user state). */
  user: string;
  /** Number of candidates to produce (≥ 1). */
  candidates: number;
  /** Seed of the first candidate; candidate i uses `seed + i`. */
  seed: number;
  /** Engine-specific options, keyed by engine name: `{ builtin: { steps: 8 } }`. */
  engineOptions?: Record<string, Record<string, unknown>>;
  /** Called as work progresses. */
  onProgress?: (event: { stage: string; done: number; total: number }) => void;
  abortSignal?: AbortSignal;
}

/** One generated candidate. */
export interface GeneratedCandidate {
  /** PNG bytes, 64×64 RGB for the built-in engine. */
  png: Buffer;
  seed: number;
  /** Wall-clock milliseconds spent on this candidate (model load excluded). */
  milliseconds: number;
}

/** What an engine returns. */
export interface GenerateResult {
  engine: string;
  candidates: GeneratedCandidate[];
  /** Engine-level timings in milliseconds, e.g. `{ total: 812, preprocess: 3 }`. */
  timings: Record<string, number>;
  /** Things the caller should know (an option ignored, a fallback taken). */
  warnings: string[];
}

/** A generator engine. */
export interface GeneratorEngine {
  /** Stable name, also the key of its `engineOptions`. */
  readonly name: string;
  /** Side of the square images it produces natively. */
  readonly outputSize: number;
  /**
   * Generate `request.candidates` images.
   *
   * @example
   * const r = await engine.generate({ reference: { image: png, text: 'fox face' }, preference, user: 'u001', candidates: 4, seed: 1 });
   * r.candidates[0].png; // Buffer
   */
  generate(request: GenerateRequest): Promise<GenerateResult>;
  /** Release sessions and memory. Safe to call twice. */
  dispose(): Promise<void>;
}
