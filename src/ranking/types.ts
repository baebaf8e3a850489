/**
 * Shared shapes of the ranking stage: the interaction data a recommender trains and is evaluated
 * on, and the minimal interface every ranker implements.
 */

/** One user as the ranking stage sees it. */
export interface RankingUser {
  /** Store row id of the user. */
  userId: number;
  /** The dataset's own id of the user. */
  externalId: string;
  /** `train`, `valid`, `test`, or null when the dataset has no split for this user. */
  split: string | null;
  /** Item indices the model may see for this user, in time order. */
  history: number[];
  /** Item indices to predict (the user's latest interactions), in time order; empty for train users. */
  heldOut: number[];
}

/** One training interaction: indices into {@link RankingData.users} and {@link RankingData.itemIds}. */
export interface TrainInteraction {
  user: number;
  item: number;
}

/** Interaction data indexed densely for the ranking stage. */
export interface RankingData {
  /** Store item id at each item index. */
  itemIds: number[];
  /** Store item id → item index. */
  itemIndex: Map<number, number>;
  /** All users, ordered by store id. */
  users: RankingUser[];
  /** Every user's history interactions, grouped by user, in time order per user. */
  trainInteractions: TrainInteraction[];
  /** Number of items (`itemIds.length`). */
  numItems: number;
}

/** A recommender that scores every item for one user. */
export interface Ranker {
  /** Short name used in reports, e.g. `popularity`, `bpr-mf`. */
  readonly name: string;
  /**
   * One score per item index (higher = more likely to be liked). `userIndex` is the user's
   * position in {@link RankingData.users}.
   */
  scoreItems(user: RankingUser, userIndex: number): Float32Array;
}
