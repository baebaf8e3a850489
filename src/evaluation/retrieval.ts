/**
 * The retrieval-weighting evaluation (style match on emoji-styles, rating prediction on real
 * behaviour). It lives in `retrieval/evaluate.ts` because tuning the retrieval settings on the
 * valid split uses it too; re-exported here beside the other evaluations.
 */
export * from '../retrieval/evaluate.js';
