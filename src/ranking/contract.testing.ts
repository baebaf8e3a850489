import { describe, expect, it } from 'vitest';
import { RagarError } from '../util/errors.js';
import type { ColdItem } from './ranker.js';
import type { RankerV1 } from './spec.js';
import type { RankingData } from './types.js';

/** What {@link runRankerContract} builds: a ranker, the data it was trained on, and cold candidates. */
export interface RankerFixture {
  ranker: RankerV1;
  data: RankingData;
  /** A cold candidate (content features of the ranker's dimensions) for a seed; null for id-only rankers. */
  cold: ((seed: number) => ColdItem) | null;
}

/** The tests of the ranker contract (names usable in `skip`). */
export const RANKER_CONTRACT_TESTS = ['items', 'cold', 'cold-user', 'errors'] as const;
export type RankerContractTestName = (typeof RANKER_CONTRACT_TESTS)[number];

/**
 * The shared contract every ranker passes (Hono-style `runTest({ create, skip })`): one finite,
 * deterministic score per dataset item; cold candidates scored asynchronously, one per candidate
 * in order, deterministic, and changed by their content (or refused with `UNSUPPORTED` by an
 * id-only ranker); a user without history (cold user) scored; features of the wrong length and an
 * aborted call refused with typed errors.
 *
 * @example
 * runRankerContract('content ranker', { create: async () => ({ ranker: contentRankerV1(r), data, cold }) });
 */
export function runRankerContract(name: string, spec: { create: () => Promise<RankerFixture>; skip?: readonly RankerContractTestName[] }): void {
  const test = (id: RankerContractTestName, title: string, fn: () => Promise<void>) => (spec.skip?.includes(id) ? it.skip : it)(title, fn);

  describe(`ranker contract (v1): ${name}`, () => {
    test('items', 'scores every dataset item for a user, finitely and deterministically', async () => {
      const { ranker, data } = await spec.create();
      expect(ranker.specificationVersion).toBe('v1');
      const user = data.users.find((u) => u.history.length > 0)!;
      const ui = data.users.indexOf(user);
      const a = ranker.scoreItems(user, ui);
      expect(a).toHaveLength(data.numItems);
      expect([...a].every(Number.isFinite)).toBe(true);
      expect([...ranker.scoreItems(user, ui)]).toEqual([...a]);
    });

    test('cold', 'scores cold candidates asynchronously, in order and by content (or refuses them when id-only)', async () => {
      const { ranker, data, cold } = await spec.create();
      const user = data.users.find((u) => u.history.length > 0)!;
      const ui = data.users.indexOf(user);
      if (!ranker.scoresColdItems || !cold) {
        await expect(ranker.scoreCold(user, ui, [])).rejects.toMatchObject({ code: 'UNSUPPORTED' });
        return;
      }
      const items = [cold(1), cold(2), cold(3)];
      const scores = await ranker.scoreCold(user, ui, items);
      expect(scores).toHaveLength(3);
      expect(scores.every(Number.isFinite)).toBe(true);
      expect(new Set(scores).size).toBeGreaterThan(1);
      expect(await ranker.scoreCold(user, ui, [items[2], items[0]])).toEqual([scores[2], scores[0]]);
      expect(await ranker.scoreCold(user, ui, [])).toEqual([]);
    });

    test('cold-user', 'scores for a user without history', async () => {
      const { ranker, data, cold } = await spec.create();
      const user = { userId: -1, externalId: 'new-user', split: null, history: [], heldOut: [] };
      expect([...ranker.scoreItems(user, -1)].every(Number.isFinite)).toBe(true);
      if (ranker.scoresColdItems && cold) expect((await ranker.scoreCold(user, -1, [cold(4)])).every(Number.isFinite)).toBe(true);
      expect(data.numItems).toBeGreaterThan(0);
    });

    test('errors', 'refuses features of the wrong length and an aborted call with typed errors', async () => {
      const { ranker, data, cold } = await spec.create();
      const user = data.users[0];
      if (!ranker.scoresColdItems || !cold) return;
      const good = cold(5);
      const bad: ColdItem = { image: good.image ? good.image.subarray(1) : new Float32Array(3), text: good.text };
      const err = await ranker.scoreCold(user, 0, [good, bad]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RagarError);
      expect((err as RagarError).code).toBe('BAD_INPUT');
      const controller = new AbortController();
      controller.abort();
      await expect(ranker.scoreCold(user, 0, [good], controller.signal)).rejects.toMatchObject({ code: 'ABORTED' });
    });
  });
}
