/**
 * Reading R data (XDR serialization and lazy-load databases) in pure TypeScript.
 *
 * @example
 * import { openLazyLoadDb, numericColumn } from './data/rdata/index.js';
 * const db = await openLazyLoadDb('/usr/lib/R/site-library/dslabs/data/Rdata.rdx');
 * const movielens = await db.fetchDataFrame('movielens');
 * const ratings = numericColumn(movielens, 'rating');
 */
export * from './xdr.js';
export * from './lazyload.js';
export { crc32, decompressRawLzma2, decompressXz, isXzContainer, wrapRawLzma2 } from './xz.js';
