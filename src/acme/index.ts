// rospki's ACME client protocol (RFC 8555, RFC 8737, RFC 9773): the domain layer the
// /certificate ACME commands drive. It knows only pki/; transport and policy are the caller's.

export * from './client.js';
export * from './challenges.js';
export * from './jws.js';
export * from './problem.js';
export * from './types.js';
