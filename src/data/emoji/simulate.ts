import { Rng } from '../../util/rng.js';
import { RagarError } from '../../util/errors.js';

/** Parameters of the simulated users. Every field is a CLI flag of `ragar dataset build emoji-styles`. */
export interface SimulationParams {
  /** Number of users. */
  users: number;
  /** Master seed. */
  seed: number;
  /** Shortest and longest history (uniform in between). */
  historyMin: number;
  historyMax: number;
  /** Dirichlet concentration of each user's interest over groups (small = few favourite groups). */
  interestConcentration: number;
  /** Probability that a group's taste overrides the user's favourite style. */
  overrideRate: number;
  /** Share of interactions whose style is drawn at random instead of from the taste. */
  noise: number;
  /** Tasks (reference → target) per user. */
  tasksPerUser: number;
  /** Share of users in the valid and test splits (the rest are train). */
  validUsers: number;
  testUsers: number;
  /** Share of concepts in the valid and test splits; these are never seen in any interaction or generator training. */
  validConcepts: number;
  testConcepts: number;
}

/** Documented defaults (README, `--help`). */
export const DEFAULT_SIMULATION: SimulationParams = {
  users: 500,
  seed: 1,
  historyMin: 20,
  historyMax: 60,
  interestConcentration: 0.3,
  overrideRate: 0.5,
  noise: 0.1,
  tasksPerUser: 2,
  validUsers: 0.1,
  testUsers: 0.2,
  validConcepts: 0.1,
  testConcepts: 0.15,
};

/** The minimal view of a concept the simulation needs. */
export interface SimConcept {
  key: string;
  group: string;
}

/** A simulated user's hidden taste: the ground truth the benchmark is scored against. */
export interface UserTaste {
  favouriteStyle: string;
  /** Group → style this user prefers for that group (favourite unless overridden). */
  styleByGroup: Record<string, string>;
  /** Group → probability of interacting with that group. */
  interests: Record<string, number>;
}

export interface SimInteraction {
  concept: string;
  style: string;
  ts: number;
  /** True when the style was drawn as noise, not from the taste. */
  noise: boolean;
}

export interface SimTask {
  concept: string;
  group: string;
  referenceStyle: string;
  targetStyle: string;
}

export interface SimUser {
  id: string;
  split: 'train' | 'valid' | 'test';
  taste: UserTaste;
  history: SimInteraction[];
  tasks: SimTask[];
}

export interface Simulation {
  conceptSplit: Map<string, 'train' | 'valid' | 'test'>;
  users: SimUser[];
}

/**
 * Check simulation parameters; returns a list of problems (empty when valid).
 */
export function validateSimulation(p: SimulationParams): string[] {
  const problems: string[] = [];
  const int = (name: keyof SimulationParams, min: number) => {
    const v = p[name];
    if (!Number.isInteger(v) || (v as number) < min) problems.push(`${name} must be an integer >= ${min}, got ${v}`);
  };
  const share = (name: keyof SimulationParams) => {
    const v = p[name] as number;
    if (!(v >= 0 && v <= 1)) problems.push(`${name} must be in [0, 1], got ${v}`);
  };
  int('users', 1);
  int('seed', 0);
  int('historyMin', 1);
  int('historyMax', 1);
  int('tasksPerUser', 0);
  if (p.historyMax < p.historyMin) problems.push(`historyMax (${p.historyMax}) is below historyMin (${p.historyMin})`);
  if (!(p.interestConcentration > 0)) problems.push(`interestConcentration must be > 0, got ${p.interestConcentration}`);
  for (const n of ['overrideRate', 'noise', 'validUsers', 'testUsers', 'validConcepts', 'testConcepts'] as const) share(n);
  if (p.validUsers + p.testUsers >= 1) problems.push('validUsers + testUsers must be below 1');
  if (p.validConcepts + p.testConcepts >= 1) problems.push('validConcepts + testConcepts must be below 1');
  return problems;
}

function splitOf(u: number, valid: number, test: number): 'train' | 'valid' | 'test' {
  if (u < test) return 'test';
  if (u < test + valid) return 'valid';
  return 'train';
}

/**
 * Simulate users over the given concepts and styles. Pure and deterministic: the same inputs
 * give the same output. Interactions use train concepts only; tasks of train/valid/test users
 * use concepts of the same split, drawn from groups the user is interested in, never from
 * concepts in the user's history. A task's reference is the concept in a style other than the
 * user's taste for its group; its target is the concept in that taste.
 *
 * @example
 * const sim = simulateUsers(concepts, ['openmoji', 'noto', 'twemoji', 'fluent-3d'], { ...DEFAULT_SIMULATION, users: 10 });
 */
export function simulateUsers(
  concepts: readonly SimConcept[],
  styles: readonly string[],
  params: SimulationParams,
): Simulation {
  if (styles.length < 2) throw new RagarError('the simulation needs at least two styles', 'BAD_INPUT');
  const root = new Rng(params.seed);

  // Concept splits, stratified by group so every group has train concepts.
  const conceptSplit = new Map<string, 'train' | 'valid' | 'test'>();
  const byGroup = new Map<string, string[]>();
  for (const c of concepts) {
    if (!byGroup.has(c.group)) byGroup.set(c.group, []);
    byGroup.get(c.group)!.push(c.key);
  }
  const groups = [...byGroup.keys()].sort();
  const splitRng = root.fork('concept-split');
  const pools = { train: new Map<string, string[]>(), valid: new Map<string, string[]>(), test: new Map<string, string[]>() };
  for (const g of groups) {
    const keys = splitRng.shuffle([...byGroup.get(g)!].sort());
    const nTest = Math.round(keys.length * params.testConcepts);
    const nValid = Math.round(keys.length * params.validConcepts);
    keys.forEach((k, i) => {
      const s = i < nTest ? 'test' : i < nTest + nValid ? 'valid' : 'train';
      conceptSplit.set(k, s);
      if (!pools[s].has(g)) pools[s].set(g, []);
      pools[s].get(g)!.push(k);
    });
  }

  const users: SimUser[] = [];
  const width = String(params.users - 1).length;
  for (let u = 0; u < params.users; u++) {
    const id = `u${String(u).padStart(width, '0')}`;
    const rng = root.fork(`user:${u}`);
    const split = splitOf(rng.next(), params.validUsers, params.testUsers);
    const favouriteStyle = rng.pick(styles);
    const styleByGroup: Record<string, string> = {};
    for (const g of groups) {
      styleByGroup[g] =
        rng.next() < params.overrideRate ? rng.pick(styles.filter((s) => s !== favouriteStyle)) : favouriteStyle;
    }
    const weights = rng.dirichlet(groups.length, params.interestConcentration);
    const interests: Record<string, number> = {};
    groups.forEach((g, i) => (interests[g] = weights[i]));

    // History: train concepts only, without repeating a concept.
    const remaining = new Map(groups.map((g) => [g, [...(pools.train.get(g) ?? [])]]));
    const length = rng.intBetween(params.historyMin, params.historyMax);
    const history: SimInteraction[] = [];
    let ts = 1_600_000_000 + rng.int(86_400 * 365);
    for (let i = 0; i < length; i++) {
      const w = groups.map((g, gi) => ((remaining.get(g)!.length > 0 ? weights[gi] : 0)));
      if (w.every((x) => x === 0)) break;
      const g = groups[rng.categorical(w)];
      const pool = remaining.get(g)!;
      const concept = pool.splice(rng.int(pool.length), 1)[0];
      const noise = rng.next() < params.noise;
      const style = noise ? rng.pick(styles) : styleByGroup[g];
      ts += 60 + rng.int(86_400 * 3);
      history.push({ concept, style, ts, noise });
    }

    // Tasks: concepts of the user's split from groups the user cares about.
    const seen = new Set(history.map((h) => h.concept));
    const taskPool = new Map(groups.map((g) => [g, (pools[split].get(g) ?? []).filter((k) => !seen.has(k))]));
    const tasks: SimTask[] = [];
    for (let t = 0; t < params.tasksPerUser; t++) {
      const w = groups.map((g, gi) => (taskPool.get(g)!.length > 0 ? weights[gi] : 0));
      if (w.every((x) => x === 0)) break;
      const g = groups[rng.categorical(w)];
      const pool = taskPool.get(g)!;
      const concept = pool.splice(rng.int(pool.length), 1)[0];
      const targetStyle = styleByGroup[g];
      const referenceStyle = rng.pick(styles.filter((s) => s !== targetStyle));
      tasks.push({ concept, group: g, referenceStyle, targetStyle });
    }
    users.push({ id, split, taste: { favouriteStyle, styleByGroup, interests }, history, tasks });
  }
  return { conceptSplit, users };
}
