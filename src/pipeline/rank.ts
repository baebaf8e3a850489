import type { ImageEncoder, TextEncoder } from '../encoders/types.js';
import { imageRow } from '../ranking/content.js';
import type { RankingContext } from '../ranking/pipeline.js';
import type { ContentRanker, RankerMeta } from '../ranking/ranker.js';
import { contentRankerV1 } from '../ranking/spec.js';
import { RagarError } from '../util/errors.js';

/** The score of one image for a user, and where it would rank among the dataset's items. */
export interface ImageScore {
  /** R(u, x): the trained ranker's score (content only: the image is cold). */
  score: number;
  /** 1 + the number of dataset items the user's score puts above it. */
  rankAmongItems: number;
  items: number;
  /** Share of the dataset's items it beats or ties. */
  percentile: number;
}

/**
 * Score images (seen or never seen) for a user with the trained ranker: embed each (image
 * encoder, and the style descriptor when the ranker reads one), embed the text when given, and
 * compare with the scores of every dataset item for that user. The encoders must be the ones the
 * ranker was trained on.
 *
 * @throws RagarError (`BAD_IMAGE`) for an image that cannot be decoded (named by `names[i]`),
 * (`BAD_INPUT`) for encoders other than the ranker's.
 * @example
 * const [s] = await scoreImages(rc, ranker, meta, { image, style }, { user: 'u042', images: [png], text: 'fox face' });
 * s.rankAmongItems; // 3
 */
export async function scoreImages(
  rc: RankingContext,
  ranker: ContentRanker,
  meta: RankerMeta,
  encoders: { image: ImageEncoder; style: ImageEncoder | null; text?: TextEncoder },
  request: { user: string; images: readonly (Buffer | Uint8Array)[]; text?: string | null; names?: readonly string[] },
): Promise<ImageScore[]> {
  const user = rc.view.user(request.user);
  if (encoders.image.modelId !== meta.imageModel) throw new RagarError(`the ranker was trained on ${meta.imageModel} image embeddings, not ${encoders.image.modelId}`, 'BAD_INPUT');
  if (meta.styleModel && encoders.style?.modelId !== meta.styleModel) throw new RagarError(`the ranker was trained on ${meta.styleModel} style descriptors, not ${encoders.style?.modelId ?? 'none'}`, 'BAD_INPUT');
  const images: Float32Array[] = [];
  const styles: (Float32Array | null)[] = [];
  for (const [i, bytes] of request.images.entries()) {
    try {
      images.push((await encoders.image.encode([bytes]))[0]);
      styles.push(meta.styleModel && encoders.style ? (await encoders.style.encode([bytes]))[0] : null);
    } catch (err) {
      throw new RagarError(`${request.names?.[i] ?? `image ${i}`}: ${(err as Error).message}`, 'BAD_IMAGE', { cause: err });
    }
  }
  let textVec: Float32Array | null = null;
  if (request.text) {
    if (!encoders.text) throw new RagarError('scoring with a text needs a text encoder', 'BAD_INPUT');
    [textVec] = await encoders.text.encode([request.text]);
  }
  const ui = rc.data.users.findIndex((u) => u.userId === user.id);
  const rankingUser = rc.data.users[ui];
  const all = ranker.scoreItems(rankingUser, ui);
  const scores = await contentRankerV1(ranker).scoreCold(rankingUser, ui, images.map((v, i) => ({ image: imageRow(rc.features, v, styles[i]), text: textVec })));
  return scores.map((score) => {
    let above = 0;
    for (const s of all) if (s > score) above++;
    return { score, rankAmongItems: above + 1, items: all.length, percentile: 1 - above / all.length };
  });
}
