/** The embedding cache lives with the rest of the SQL in `store/embeddings.ts`; re-exported for the encoders' callers. */
export * from '../store/embeddings.js';
