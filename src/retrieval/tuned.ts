import fs from 'node:fs';
import path from 'node:path';
import { RagarError } from '../util/errors.js';
import { DEFAULT_RETRIEVAL, type RetrievalParams } from './weights.js';
import { writeFileAtomicSync } from '../util/persist.js';

/** Retrieval settings tuned on a validation split, saved beside the dataset's models. */
export interface TunedRetrieval {
  params: { alpha: number; k: number | 'all'; tau: number | 'inf' };
  tunedOn: string;
  metric: string;
  value: number;
  imageModel: string | null;
  textModel: string | null;
  createdAt: string;
}

/** `<home>/models/<dataset>/retrieval.json`. */
export function tunedRetrievalPath(home: string, dataset: string): string {
  return path.join(home, 'models', dataset, 'retrieval.json');
}

/** Save tuned settings (written by `ragar retrieve evaluate`). */
export function saveTunedRetrieval(home: string, dataset: string, tuned: TunedRetrieval): string {
  const file = tunedRetrievalPath(home, dataset);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomicSync(file, `${JSON.stringify(tuned, null, 2)}\n`);
  return file;
}

/**
 * The retrieval defaults for a dataset: the validation-tuned settings when `ragar retrieve
 * evaluate` has saved them, else {@link DEFAULT_RETRIEVAL}.
 */
export function defaultRetrievalFor(home: string, dataset: string): { params: RetrievalParams; source: string } {
  const file = tunedRetrievalPath(home, dataset);
  if (!fs.existsSync(file)) return { params: DEFAULT_RETRIEVAL, source: 'built-in defaults' };
  try {
    const t = JSON.parse(fs.readFileSync(file, 'utf8')) as TunedRetrieval;
    return {
      params: { alpha: t.params.alpha, k: t.params.k === 'all' ? null : t.params.k, tau: t.params.tau === 'inf' ? Infinity : t.params.tau },
      source: `tuned on ${t.tunedOn} (${file})`,
    };
  } catch (err) {
    throw new RagarError(`${file} is not valid tuned-retrieval JSON (${(err as Error).message}); delete it or rerun \`ragar retrieve evaluate\``, 'BAD_INPUT');
  }
}

/**
 * Save the validation-tuned setting of a retrieval evaluation as the dataset's defaults.
 *
 * @example
 * saveTunedFromEvaluation(home, 'emoji-styles', result.retrieval.params, 'styleMatch', result.retrieval.validStyleMatch, vectors);
 */
export function saveTunedFromEvaluation(
  home: string,
  dataset: string,
  params: TunedRetrieval['params'],
  metric: string,
  value: number,
  models: { imageModel: string | null; textModel: string | null },
): string {
  return saveTunedRetrieval(home, dataset, {
    params,
    tunedOn: 'valid',
    metric,
    value,
    imageModel: models.imageModel,
    textModel: models.textModel,
    createdAt: new Date().toISOString(),
  });
}
