/**
 * Concept preservation as recognition (DESIGN §4): is the generated output closer, by feature
 * cosine, to the true concept drawn in the target style than to distractor concepts drawn in the
 * same style? Top-1 among 1 + 9 candidates by default.
 */
import { RagarError } from '../../util/errors.js';
import type { Rng } from '../../util/rng.js';
import { featureCosine } from './perceptual.js';

/** Distractors per task (chance of a hit = 1 / (1 + 9)). */
export const DEFAULT_DISTRACTORS = 9;

/** Outcome of one recognition task. */
export interface ConceptRecognition {
  /** The true concept ranks first (strictly above every distractor). */
  hit: boolean;
  /** Rank of the true concept among all candidates, from 1; ties count against it. */
  rank: number;
  /** Number of candidates (1 + distractors). */
  candidates: number;
  /** Cosine of the output with the true concept. */
  trueScore: number;
  /** Cosines of the output with each distractor, in the order given. */
  distractorScores: number[];
}

/**
 * Rank the true concept's feature vector among distractors by cosine with the output's vector.
 * A distractor with a cosine equal to the true concept's ranks above it, so a degenerate output
 * (e.g. a zero vector, cosine 0 with everything) is a miss. Vectors of unequal length or with
 * non-finite values throw a {@link RagarError} (`BAD_INPUT`).
 *
 * @example
 * const r = recognizeConcept(outputVec, targetVec, distractorVecs);
 * r.hit;  // true when the target is the nearest of the 10
 * r.rank; // 1 … 10
 */
export function recognizeConcept(output: ArrayLike<number>, trueConcept: ArrayLike<number>, distractors: readonly ArrayLike<number>[]): ConceptRecognition {
  if (distractors.length === 0) throw new RagarError('concept recognition needs at least one distractor', 'BAD_INPUT');
  const trueScore = featureCosine(output, trueConcept);
  const distractorScores = distractors.map((d) => featureCosine(output, d));
  let above = 0;
  for (const s of distractorScores) if (s >= trueScore) above++;
  return { hit: above === 0, rank: 1 + above, candidates: 1 + distractors.length, trueScore, distractorScores };
}

/**
 * Draw `count` distinct distractor concepts from `pool` (the concepts available in the target
 * style), never the true concept, with a seeded generator: the same pool order and generator
 * state give the same draw. Duplicates in `pool` count once. Throws (`BAD_INPUT`) when fewer
 * than `count` concepts are eligible.
 *
 * @example
 * const rng = new Rng(seed).fork(`task:${taskId}`);
 * const ids = drawDistractors(conceptsInStyle, task.conceptId, rng); // 9 concept ids
 */
export function drawDistractors<T>(pool: readonly T[], trueConcept: T, rng: Rng, count: number = DEFAULT_DISTRACTORS): T[] {
  if (!Number.isInteger(count) || count < 1) throw new RagarError(`distractor count must be a positive integer, got ${count}`, 'BAD_INPUT');
  const eligible = [...new Set(pool)].filter((c) => c !== trueConcept);
  if (eligible.length < count) {
    throw new RagarError(`need ${count} distractor concepts besides the true one, the style has only ${eligible.length}`, 'BAD_INPUT');
  }
  // partial Fisher-Yates: the first `count` slots
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(eligible.length - i);
    [eligible[i], eligible[j]] = [eligible[j], eligible[i]];
  }
  return eligible.slice(0, count);
}

/** Aggregate of many recognition tasks. */
export interface RecognitionSummary {
  /** Tasks. */
  count: number;
  /** Share of hits (top-1 accuracy). */
  accuracy: number;
  /** Mean rank of the true concept. */
  meanRank: number;
  /** Mean reciprocal rank. */
  mrr: number;
  /** Accuracy of random guessing, 1 / candidates (mean over tasks). */
  chance: number;
}

/**
 * Top-1 accuracy, mean rank, MRR and chance level over recognition results.
 *
 * @example
 * summarizeRecognition(tasks.map((t) => recognizeConcept(t.out, t.target, t.distractors)));
 * // { count: 200, accuracy: 0.62, meanRank: 2.1, mrr: 0.74, chance: 0.1 }
 */
export function summarizeRecognition(results: readonly ConceptRecognition[]): RecognitionSummary {
  if (results.length === 0) throw new RagarError('no recognition results to summarise', 'BAD_INPUT');
  let hits = 0;
  let rank = 0;
  let rr = 0;
  let chance = 0;
  for (const r of results) {
    if (r.hit) hits++;
    rank += r.rank;
    rr += 1 / r.rank;
    chance += 1 / r.candidates;
  }
  const n = results.length;
  return { count: n, accuracy: hits / n, meanRank: rank / n, mrr: rr / n, chance: chance / n };
}
