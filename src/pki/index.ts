// rospki PKI core (RFC 5280 certificates, X.690 DER, RFC 7468 PEM): pure functions over bytes,
// objects and node:crypto. Nothing here imports the rest of the project.

export * from './errors.js';
export * from './oids.js';
export * as der from './der.js';
export * from './key.js';
export { KEY_POOL_CAP, KEY_POOL_MAX_AGE_MS, KEY_POOL_START_AFTER, keyPoolStats, startKeyWorker, type KeyPoolStats } from './key-pool.js';
export * from './name.js';
export * from './san.js';
export * from './key-usage.js';
export * from './spki.js';
export * from './certificate.js';
export * from './pem.js';
export * from './key-material.js';
