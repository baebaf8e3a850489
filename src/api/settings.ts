import path from 'node:path';
import { packageWeightsDir } from '../util/package.js';
import type { Progress } from '../util/progress.js';
import { silentProgress } from '../util/progress.js';

/**
 * Everything the library is told, in one explicit object (no environment variable is read below
 * the CLI): where the data home is, where models live, and the defaults of every call.
 */
export interface RagarSettings {
  /** The data home folder: the SQLite store, images, trained models (created when absent). */
  home: string;
  /** Dataset of calls that name none (default `emoji-styles`). */
  dataset?: string;
  /** Model locations. */
  models?: {
    /** Root of the shipped weights (`generator/<dataset>/<variant>`); default: the package's `weights/`. */
    weights?: string;
    /** A local CLIP folder (Hugging Face layout): enables the CLIP-based metrics of `evaluate`. */
    clip?: string;
  };
  /** MobileNetV2 worker threads (0 = in-process, the default for a library). */
  workers?: number;
  /** Default engine options, keyed by provider (e.g. `{ builtin: { steps: 8 } }`). */
  engineOptions?: Record<string, Record<string, unknown>>;
  /** Progress of long steps (default: none). */
  progress?: Progress;
  /** One-line notes on what is happening (default: none). */
  note?: (line: string) => void;
}

/** {@link RagarSettings} with every default filled in. */
export interface ResolvedSettings {
  home: string;
  dataset: string;
  models: { weights: string; clip: string | null };
  workers: number;
  engineOptions: Record<string, Record<string, unknown>>;
  progress: Progress;
  note: (line: string) => void;
}

/**
 * Fill in the defaults of {@link RagarSettings} (paths made absolute).
 *
 * @example
 * resolveSettings({ home: '.ragar' }).models.weights; // '<package>/weights'
 */
export function resolveSettings(settings: RagarSettings): ResolvedSettings {
  return {
    home: path.resolve(settings.home),
    dataset: settings.dataset ?? 'emoji-styles',
    models: { weights: path.resolve(settings.models?.weights ?? packageWeightsDir()), clip: settings.models?.clip ? path.resolve(settings.models.clip) : null },
    workers: settings.workers ?? 0,
    engineOptions: settings.engineOptions ?? {},
    progress: settings.progress ?? silentProgress,
    note: settings.note ?? (() => {}),
  };
}
