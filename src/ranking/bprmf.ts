import fs from 'node:fs';
import path from 'node:path';
import { RagarError } from '../util/errors.js';
import { readTensorBundle, readTensorBundleHeader, writeTensorBundle } from '../util/tensorBundle.js';
import { silentProgress, type Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import type { Ranker, RankingData, RankingUser } from './types.js';

/**
 * Matrix-factorisation ranker trained with BPR: `score(u, i) = p_u · q_i + b_i`.
 * Factors are stored row-major in flat typed arrays (`userFactors[u * dimension + f]`).
 *
 * A `userIndex` outside the trained users (a user the model never saw) is folded in as the mean
 * of the item factors of `user.history`: a cold-start approximation, the item biases still apply.
 */
export class BprMfRanker implements Ranker {
  readonly name = 'bpr-mf';
  readonly dimension: number;
  readonly numUsers: number;
  readonly numItems: number;
  /** `numUsers × dimension` user factors `p_u`. */
  readonly userFactors: Float32Array;
  /** `numItems × dimension` item factors `q_i`. */
  readonly itemFactors: Float32Array;
  /** `numItems` item biases `b_i`. */
  readonly itemBias: Float32Array;

  /** Wrap existing factors (not copied); sizes must agree with `dimension`, else {@link RagarError}. */
  constructor(dimension: number, userFactors: Float32Array, itemFactors: Float32Array, itemBias: Float32Array) {
    if (!Number.isInteger(dimension) || dimension < 1) throw new RagarError(`dimension must be a positive integer, got ${dimension}`, 'BAD_INPUT');
    if (userFactors.length % dimension !== 0 || itemFactors.length !== itemBias.length * dimension) {
      throw new RagarError(
        `BPR-MF factor sizes do not match: ${userFactors.length} user values, ${itemFactors.length} item values, ${itemBias.length} biases, dimension ${dimension}`,
        'BAD_INPUT',
      );
    }
    this.dimension = dimension;
    this.userFactors = userFactors;
    this.itemFactors = itemFactors;
    this.itemBias = itemBias;
    this.numUsers = userFactors.length / dimension;
    this.numItems = itemBias.length;
  }

  /** The user's factor vector `p_u` (a view into {@link userFactors} for trained users, a fold-in otherwise). */
  userVector(user: RankingUser, userIndex: number): Float32Array {
    const d = this.dimension;
    if (Number.isInteger(userIndex) && userIndex >= 0 && userIndex < this.numUsers) {
      return this.userFactors.subarray(userIndex * d, (userIndex + 1) * d);
    }
    const v = new Float32Array(d);
    let n = 0;
    for (const item of user.history) {
      if (item < 0 || item >= this.numItems) continue;
      const o = item * d;
      for (let f = 0; f < d; f++) v[f] += this.itemFactors[o + f];
      n++;
    }
    if (n > 0) for (let f = 0; f < d; f++) v[f] /= n;
    return v;
  }

  /** `p_u · q_i + b_i` for every item index. */
  scoreItems(user: RankingUser, userIndex: number): Float32Array {
    const d = this.dimension;
    const p = this.userVector(user, userIndex);
    const q = this.itemFactors;
    const out = new Float32Array(this.numItems);
    for (let i = 0, o = 0; i < this.numItems; i++, o += d) {
      let s = this.itemBias[i];
      for (let f = 0; f < d; f++) s += p[f] * q[o + f];
      out[i] = s;
    }
    return out;
  }
}

/** Options of {@link trainBprMf}. */
export interface BprMfOptions {
  /** Factor dimension (default 32). */
  dimension?: number;
  /** Maximum number of epochs (default 30). */
  epochs?: number;
  /** SGD step size (default 0.05). */
  learningRate?: number;
  /** L2 weight on the factors of the three rows touched by each update (default 0.01). */
  regularization?: number;
  /** L2 weight on the item biases (default: `regularization`). */
  biasRegularization?: number;
  /** Standard deviation of the normal initialisation of the factors (default 0.1). */
  initStd?: number;
  /** Seed of the initialisation, the shuffles and the negative sampling (default 1). */
  seed?: number;
  /** Stop after this many validations without improvement (default 3). */
  patience?: number;
  /** Validate every this many epochs (default 1); the last epoch is always validated. */
  evalEvery?: number;
  /** Progress sink, one step per epoch. */
  progress?: Progress;
  /**
   * Validation score of the ranker as it is now (higher is better, e.g. NDCG@10 on the valid
   * split, see `makeValidator`). Called synchronously; the ranker's weights change after it
   * returns. Without it, all epochs run and the last weights are kept.
   */
  validate?: (ranker: BprMfRanker) => number;
}

/** What happened in one epoch. */
export interface BprMfEpoch {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean BPR loss `−ln σ(x_ui − x_uj)` over the epoch's updates (before regularisation). */
  loss: number;
  /** Training seconds of the epoch (validation excluded). */
  seconds: number;
  /** Validation score after this epoch, or null where none was computed. */
  valid: number | null;
}

/** Result of {@link trainBprMf}. */
export interface BprMfResult {
  /** The model with the best validated weights (the last weights without `validate`). */
  ranker: BprMfRanker;
  /** Epochs actually trained (fewer than `epochs` after early stopping). */
  epochsRun: number;
  /** Epoch whose weights `ranker` holds. */
  bestEpoch: number;
  /** Validation score of `bestEpoch`, or null without `validate`. */
  bestScore: number | null;
  /** One record per trained epoch, with its validation score where computed. */
  history: BprMfEpoch[];
  /** Mean training seconds per epoch. */
  secondsPerEpoch: number;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RagarError(`${name} must be a positive integer, got ${v}`, 'BAD_INPUT');
  return v;
}

function nonNegative(name: string, v: number, strict = false): number {
  if (!Number.isFinite(v) || v < 0 || (strict && v === 0)) {
    throw new RagarError(`${name} must be a ${strict ? 'positive' : 'non-negative'} number, got ${v}`, 'BAD_INPUT');
  }
  return v;
}

/** Sorted unique history items per user in CSR form, for negative sampling. */
function seenItems(data: RankingData): { start: Int32Array; items: Int32Array } {
  const n = data.users.length;
  const start = new Int32Array(n + 1);
  const rows: Int32Array[] = [];
  let total = 0;
  for (let u = 0; u < n; u++) {
    const row = Int32Array.from(new Set(data.users[u].history)).sort();
    rows.push(row);
    start[u] = total;
    total += row.length;
  }
  start[n] = total;
  const items = new Int32Array(total);
  rows.forEach((row, u) => items.set(row, start[u]));
  return { start, items };
}

/**
 * Train a BPR matrix-factorisation ranker (Rendle et al. 2009) on `data.trainInteractions`.
 *
 * Each epoch visits every (user, positive item) pair once in a fresh seeded shuffle, samples one
 * negative uniformly from the items not in that user's history, and takes one SGD step on
 * `−ln σ(x_ui − x_uj) + λ(‖p_u‖² + ‖q_i‖² + ‖q_j‖²) + λ_b(b_i² + b_j²)`. With `validate`, the
 * weights of the best validation score are kept and training stops after `patience`
 * validations without improvement. The same data, options and seed give the same model.
 *
 * @example
 * const { ranker, bestEpoch } = trainBprMf(data, { seed: 7, validate: makeValidator(data) });
 * evaluateRanker(data, ranker, 'test');
 */
export function trainBprMf(data: RankingData, options: BprMfOptions = {}): BprMfResult {
  const d = positiveInt('dimension', options.dimension ?? 32);
  const epochs = positiveInt('epochs', options.epochs ?? 30);
  const lr = nonNegative('learningRate', options.learningRate ?? 0.05, true);
  const reg = nonNegative('regularization', options.regularization ?? 0.01);
  const regB = nonNegative('biasRegularization', options.biasRegularization ?? reg);
  const initStd = nonNegative('initStd', options.initStd ?? 0.1);
  const patience = positiveInt('patience', options.patience ?? 3);
  const evalEvery = positiveInt('evalEvery', options.evalEvery ?? 1);
  const progress = options.progress ?? silentProgress;
  const rng = new Rng(options.seed ?? 1);

  const numUsers = data.users.length;
  const numItems = data.numItems;
  const pairs = data.trainInteractions.length;
  if (pairs === 0) throw new RagarError('BPR-MF needs at least one training interaction; the dataset has none', 'BAD_INPUT');
  if (numItems < 2) throw new RagarError(`BPR-MF needs at least two items, the dataset has ${numItems}`, 'BAD_INPUT');

  const pairUser = new Int32Array(pairs);
  const pairItem = new Int32Array(pairs);
  data.trainInteractions.forEach((t, k) => {
    if (t.user < 0 || t.user >= numUsers || t.item < 0 || t.item >= numItems) {
      throw new RagarError(`training interaction ${k} (user ${t.user}, item ${t.item}) is out of range`, 'BAD_INPUT');
    }
    pairUser[k] = t.user;
    pairItem[k] = t.item;
  });
  const seen = seenItems(data);

  const init = rng.fork('init');
  const P = new Float32Array(numUsers * d);
  const Q = new Float32Array(numItems * d);
  const B = new Float32Array(numItems);
  for (let k = 0; k < P.length; k++) P[k] = init.normal() * initStd;
  for (let k = 0; k < Q.length; k++) Q[k] = init.normal() * initStd;
  const ranker = new BprMfRanker(d, P, Q, B);

  const shuffleRng = rng.fork('shuffle');
  const negRng = rng.fork('negatives');
  const order = new Int32Array(pairs);
  for (let k = 0; k < pairs; k++) order[k] = k;

  /** Is `item` in the sorted seen row [lo, hi)? */
  const isSeen = (lo: number, hi: number, item: number): boolean => {
    const s = seen.items;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const v = s[mid];
      if (v === item) return true;
      if (v < item) lo = mid + 1;
      else hi = mid;
    }
    return false;
  };
  /** A uniform unseen item of user u, or -1 when the user has seen every item. */
  const negative = (u: number): number => {
    const lo = seen.start[u];
    const hi = seen.start[u + 1];
    const unseen = numItems - (hi - lo);
    if (unseen <= 0) return -1;
    if (unseen * 10 >= numItems) {
      for (;;) {
        const j = negRng.int(numItems);
        if (!isSeen(lo, hi, j)) return j;
      }
    }
    // Dense user: the r-th unseen item, walking the sorted seen list.
    let j = negRng.int(unseen);
    for (let k = lo; k < hi && seen.items[k] <= j; k++) j++;
    return j;
  };

  let best = -Infinity;
  let bestEpoch = 0;
  let sinceBest = 0;
  let snapshot: { P: Float32Array; Q: Float32Array; B: Float32Array } | null = null;
  const history: BprMfEpoch[] = [];
  let trainSeconds = 0;

  progress.start('train BPR-MF', epochs);
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const t0 = performance.now();
      for (let k = pairs - 1; k > 0; k--) {
        const r = shuffleRng.int(k + 1);
        const tmp = order[k];
        order[k] = order[r];
        order[r] = tmp;
      }
      let lossSum = 0;
      let updates = 0;
      for (let k = 0; k < pairs; k++) {
        const pair = order[k];
        const u = pairUser[pair];
        const i = pairItem[pair];
        const j = negative(u);
        if (j < 0) continue;
        const uo = u * d;
        const io = i * d;
        const jo = j * d;
        let x = B[i] - B[j];
        for (let f = 0; f < d; f++) x += P[uo + f] * (Q[io + f] - Q[jo + f]);
        lossSum += x > 0 ? Math.log1p(Math.exp(-x)) : -x + Math.log1p(Math.exp(x));
        const g = 1 / (1 + Math.exp(x)); // σ(−x) = −∂loss/∂x
        for (let f = 0; f < d; f++) {
          const pu = P[uo + f];
          const qi = Q[io + f];
          const qj = Q[jo + f];
          P[uo + f] = pu + lr * (g * (qi - qj) - reg * pu);
          Q[io + f] = qi + lr * (g * pu - reg * qi);
          Q[jo + f] = qj + lr * (-g * pu - reg * qj);
        }
        B[i] += lr * (g - regB * B[i]);
        B[j] += lr * (-g - regB * B[j]);
        updates++;
      }
      const seconds = (performance.now() - t0) / 1000;
      trainSeconds += seconds;
      const loss = updates > 0 ? lossSum / updates : NaN;
      if (!Number.isFinite(loss)) {
        throw new RagarError(`BPR-MF diverged at epoch ${epoch} (loss ${loss}); lower learningRate (now ${lr})`, 'DIVERGED');
      }
      const record: BprMfEpoch = { epoch, loss, seconds, valid: null };
      history.push(record);
      progress.update(epoch);

      if (options.validate && (epoch % evalEvery === 0 || epoch === epochs)) {
        const score = options.validate(ranker);
        if (!Number.isFinite(score)) throw new RagarError(`validation returned ${score} at epoch ${epoch}`, 'BAD_INPUT');
        record.valid = score;
        if (score > best) {
          best = score;
          bestEpoch = epoch;
          sinceBest = 0;
          if (!snapshot) snapshot = { P: new Float32Array(P.length), Q: new Float32Array(Q.length), B: new Float32Array(B.length) };
          snapshot.P.set(P);
          snapshot.Q.set(Q);
          snapshot.B.set(B);
        } else if (++sinceBest >= patience) {
          break;
        }
      }
    }
  } finally {
    progress.stop();
  }

  const epochsRun = history.length;
  if (snapshot && bestEpoch !== epochsRun) {
    P.set(snapshot.P);
    Q.set(snapshot.Q);
    B.set(snapshot.B);
  }
  return {
    ranker,
    epochsRun,
    bestEpoch: snapshot ? bestEpoch : epochsRun,
    bestScore: snapshot ? best : null,
    history,
    secondsPerEpoch: trainSeconds / epochsRun,
  };
}

const MAGIC = 'RAGAR-BPRMF-1\n';

interface SavedHeader {
  dimension: number;
  numUsers: number;
  numItems: number;
  /** Store user ids in user-index order, when saved with data. */
  userIds?: number[];
  /** Store item ids in item-index order, when saved with data. */
  itemIds?: number[];
}

/** Model kind of a saved BPR-MF (a tensor bundle). */
export const BPRMF_KIND = 'ragar-bprmf-v1';

/**
 * Write a trained model to `file` as a tensor bundle (user factors, item factors, item biases).
 * With `data`, the store user and item ids are recorded so that {@link loadBprMf} can check that
 * the model is used with the same indexing.
 */
export function saveBprMf(file: string, ranker: BprMfRanker, data?: RankingData): void {
  if (data && (data.users.length !== ranker.numUsers || data.numItems !== ranker.numItems)) {
    throw new RagarError(
      `model has ${ranker.numUsers} users and ${ranker.numItems} items, the data ${data.users.length} and ${data.numItems}`,
      'BAD_INPUT',
    );
  }
  const header: SavedHeader = { dimension: ranker.dimension, numUsers: ranker.numUsers, numItems: ranker.numItems };
  if (data) {
    header.userIds = data.users.map((u) => u.userId);
    header.itemIds = data.itemIds;
  }
  writeTensorBundle(file, BPRMF_KIND, header, {
    userFactors: { data: ranker.userFactors, shape: [ranker.numUsers, ranker.dimension] },
    itemFactors: { data: ranker.itemFactors, shape: [ranker.numItems, ranker.dimension] },
    itemBias: ranker.itemBias,
  });
}

/**
 * Read a model written by {@link saveBprMf}. With `data`, checks that the model was trained on
 * the same users and items (same store ids in the same order) and throws {@link RagarError}
 * otherwise.
 */
export function loadBprMf(file: string, data?: RankingData): BprMfRanker {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw new RagarError(`cannot read BPR-MF model ${file}: ${(err as Error).message}`, 'NOT_FOUND', { cause: err });
  }
  const bad = (why: string): RagarError => new RagarError(`${file} is not a BPR-MF model: ${why}`, 'BAD_INPUT');
  if (readTensorBundleHeader(file)) {
    const { meta: header, tensors } = readTensorBundle<SavedHeader>(file, BPRMF_KIND);
    const { dimension: d, numUsers, numItems } = header;
    if (tensors.userFactors?.length !== numUsers * d || tensors.itemFactors?.length !== numItems * d || tensors.itemBias?.length !== numItems) throw bad('tensor sizes do not match the header');
    checkIndexing(file, header, data);
    return new BprMfRanker(d, tensors.userFactors, tensors.itemFactors, tensors.itemBias);
  }
  // The single-file layout written before the tensor bundle.
  if (buf.length < MAGIC.length + 4 || buf.toString('utf8', 0, MAGIC.length) !== MAGIC) throw bad('wrong magic');
  const jsonLen = buf.readUInt32LE(MAGIC.length);
  let header: SavedHeader;
  try {
    header = JSON.parse(buf.toString('utf8', MAGIC.length + 4, MAGIC.length + 4 + jsonLen)) as SavedHeader;
  } catch {
    throw bad('corrupt header');
  }
  const { dimension: d, numUsers, numItems } = header;
  if (![d, numUsers, numItems].every((v) => Number.isInteger(v) && v >= 0) || d < 1) throw bad('corrupt header');
  const offset = MAGIC.length + 4 + jsonLen;
  const sizes = [numUsers * d, numItems * d, numItems];
  if (buf.length !== offset + 4 * (sizes[0] + sizes[1] + sizes[2])) throw bad('truncated or wrong size');
  let at = offset;
  const [P, Q, B] = sizes.map((n) => {
    const a = new Float32Array(n);
    Buffer.from(a.buffer).set(buf.subarray(at, at + 4 * n));
    at += 4 * n;
    return a;
  });
  checkIndexing(file, header, data);
  return new BprMfRanker(d, P, Q, B);
}

/** Refuse a model trained on other users or items than `data` (same store ids in the same order). */
function checkIndexing(file: string, header: SavedHeader, data?: RankingData): void {
  if (!data) return;
  const sameUsers = header.userIds?.length === data.users.length && data.users.every((u, k) => header.userIds![k] === u.userId);
  const sameItems = header.itemIds?.length === data.numItems && data.itemIds.every((id, k) => header.itemIds![k] === id);
  if (!sameUsers || !sameItems) {
    throw new RagarError(`BPR-MF model ${file} was trained on other users or items than this dataset; retrain it`, 'CONFLICT');
  }
}
