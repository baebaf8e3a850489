import type { StudyVote } from '../store/service.js';

/** One comparison of the study: condition `first` against `second` (names sorted). */
export interface StudyComparison {
  first: string;
  second: string;
  votes: number;
  /** Votes for `first`. */
  firstWins: number;
  /** Share of votes for `first`, with its 95% Wilson score interval. */
  winRate: number;
  low: number;
  high: number;
}

/**
 * The Wilson score interval of a proportion (`z` = 1.96: 95%).
 *
 * @example
 * wilson(7, 10); // { low: 0.397, high: 0.892 } (rounded)
 */
export function wilson(successes: number, n: number, z = 1.96): { low: number; high: number } {
  if (n === 0) return { low: 0, high: 1 };
  const p = successes / n;
  const d = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** Summarise votes per pair of conditions (the order shown to the voter does not matter). */
export function summarizeVotes(votes: readonly StudyVote[]): StudyComparison[] {
  const pairs = new Map<string, { first: string; second: string; votes: number; firstWins: number }>();
  for (const v of votes) {
    const [first, second] = [v.conditionA, v.conditionB].sort();
    const key = JSON.stringify([first, second]);
    const p = pairs.get(key) ?? { first, second, votes: 0, firstWins: 0 };
    p.votes++;
    if ((v.winner === 'a' ? v.conditionA : v.conditionB) === first) p.firstWins++;
    pairs.set(key, p);
  }
  return [...pairs.values()].map((p) => ({ ...p, winRate: p.firstWins / p.votes, ...wilson(p.firstWins, p.votes) }));
}

/** The text of `ragar study report`. */
export function formatStudyReport(comparisons: readonly StudyComparison[]): string {
  if (!comparisons.length) return 'no study votes yet (open /study on the server)';
  return comparisons
    .map((c) => `${c.first} vs ${c.second}: ${c.first} preferred in ${c.firstWins} of ${c.votes} votes, win rate ${(100 * c.winRate).toFixed(1)}% (95% CI ${(100 * c.low).toFixed(1)}–${(100 * c.high).toFixed(1)}%)`)
    .join('\n');
}
