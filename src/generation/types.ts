/**
 * The generator engine specification, version 1 (DESIGN §6), in the pattern of the Vercel AI
 * SDK's `ImageModelV*`: a small versioned interface with one call, `doGenerate`, standard options
 * every engine understands, engine-specific options in one bag keyed by provider, and typed
 * warnings for settings an engine cannot honour. The built-in engine and any later one (Stable
 * Diffusion over onnxruntime, ComfyUI, …) implement it and pass the shared contract suite in
 * `contract.testing.ts`; `MockGeneratorEngine` (`mockEngine.ts`) is the stand-in for tests.
 *
 * A breaking change to these types gets a new `specificationVersion` (`'v2'`) beside this one.
 */

/** One history item of the user's preference, as every engine sees it. */
export interface GeneratorHistoryItemV1 {
  /** External id of the item. */
  item: string;
  /** Retrieval weight (the weights of a preference sum to 1; items with weight 0 are left out). */
  weight: number;
  /** The item's text (title, tags). */
  text: string;
  /** The item's style label, where the dataset has one. */
  style: string | null;
  /**
   * The item's image bytes (PNG/JPEG/WebP), or a function that reads them on demand (engines
   * that do not look at history images never pay for reading them). Null when the item has none.
   */
  image: (() => Buffer) | null;
}

/**
 * What the engine is told about the user's taste (RAGAR steps 1–2): the weighted history items
 * and the keyword preference. A *non-personalised* request is a preference with an empty
 * history and no keywords.
 */
export interface GeneratorPreferenceV1 {
  /** How the history was weighted. */
  weighting: 'retrieval' | 'uniform';
  /** Attended history items (positive weights), in history order. */
  history: readonly GeneratorHistoryItemV1[];
  /** Keyword preference, most important first. */
  keywords: readonly string[];
}

/** A progress event of a generation call. */
export interface GeneratorProgressV1 {
  stage: string;
  done: number;
  total: number;
}

/** The standard options of {@link GeneratorEngineV1.doGenerate}. */
export interface GeneratorCallOptionsV1 {
  /** The reference item: its image (PNG/JPEG/WebP bytes, any size or colour mode) and its text. */
  reference: { image: Buffer | Uint8Array; text: string };
  /**
   * A prompt for engines that take text (the reference text plus the keyword preference, see
   * `pipeline/personalize.ts`); null = none. Engines conditioned otherwise ignore it silently.
   */
  prompt: string | null;
  preference: GeneratorPreferenceV1;
  /** External id of the user (for records and engines that keep per-user state). */
  user: string;
  /** Number of candidates to produce (≥ 1, at most `maxCandidatesPerCall` when that is set). */
  candidates: number;
  /** Seed of the first candidate; candidate i uses `seed + i`. */
  seed: number;
  /**
   * Where sampling starts for img2img engines: 1 = from pure noise, below 1 = from the reference
   * noised to that level. Undefined = the engine's default.
   */
  strength?: number;
  /** Side of the square output in pixels; undefined = the engine's native size. */
  size?: number;
  /** Engine-specific options keyed by provider: `{ builtin: { steps: 8 } }`. Engines ignore other providers' keys. */
  providerOptions?: Record<string, Record<string, unknown>>;
  /** Called as work progresses. */
  onProgress?: (event: GeneratorProgressV1) => void;
  abortSignal?: AbortSignal;
}

/** Something the caller should know about a call: a setting ignored, a fallback taken. */
export type GeneratorWarningV1 =
  | { type: 'unsupported-setting'; setting: string; details?: string }
  | { type: 'other'; message: string };

/** One generated candidate. */
export interface GeneratedCandidateV1 {
  /** PNG bytes of the candidate, `outputSize` square, RGB. */
  png: Buffer;
  seed: number;
  /** Wall-clock milliseconds spent on this candidate (model load excluded). */
  milliseconds: number;
}

/** What {@link GeneratorEngineV1.doGenerate} returns. */
export interface GeneratorResultV1 {
  candidates: GeneratedCandidateV1[];
  warnings: GeneratorWarningV1[];
  /** Which engine answered, and its timings in milliseconds (e.g. `{ total: 812, preprocess: 3 }`). */
  response: { provider: string; modelId: string; timings: Record<string, number> };
  /**
   * What an engine reports beyond the standard fields, keyed by provider (JSON-ready), e.g. the
   * remote engines' record of exactly what reached the server: `{ comfyui: { sent, selection } }`.
   * Optional; engines with nothing to add leave it out.
   */
  providerMetadata?: Record<string, Record<string, unknown>>;
}

/** A generator engine, specification version 1. */
export interface GeneratorEngineV1 {
  readonly specificationVersion: 'v1';
  /** Who implements it (`builtin`, `mock`, …); also the key of its `providerOptions`. */
  readonly provider: string;
  /** Which model of the provider (e.g. the weights variant and format). */
  readonly modelId: string;
  /** Most candidates one call may ask for; undefined = no limit. Callers split larger requests. */
  readonly maxCandidatesPerCall: number | undefined;
  /** Side of the square images it produces natively. */
  readonly outputSize: number;
  /**
   * Generate `options.candidates` images.
   *
   * @example
   * const r = await engine.doGenerate({ reference: { image: png, text: 'fox face' }, prompt: null, preference, user: 'u001', candidates: 4, seed: 1 });
   * r.candidates[0].png; // Buffer
   */
  doGenerate(options: GeneratorCallOptionsV1): Promise<GeneratorResultV1>;
  /** Release sessions and memory. Safe to call twice. */
  dispose(): Promise<void>;
}

/** The current engine specification (an alias, so callers name the version only where it matters). */
export type GeneratorEngine = GeneratorEngineV1;
export type GeneratorCallOptions = GeneratorCallOptionsV1;
export type GeneratorResult = GeneratorResultV1;
export type GeneratorPreference = GeneratorPreferenceV1;
export type GeneratorWarning = GeneratorWarningV1;

/**
 * A warning as one line of text (for records and the CLI).
 *
 * @example
 * warningText({ type: 'unsupported-setting', setting: 'size' }); // 'unsupported setting: size'
 */
export function warningText(w: GeneratorWarningV1): string {
  return w.type === 'unsupported-setting' ? `unsupported setting: ${w.setting}${w.details ? ` (${w.details})` : ''}` : w.message;
}
