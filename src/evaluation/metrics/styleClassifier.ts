/**
 * The style classifier that judges outputs (style accuracy). It lives in `models/` because the
 * built-in generator's conditioner fits the same softmax model; re-exported here for the metrics.
 */
export * from '../../models/styleClassifier.js';
