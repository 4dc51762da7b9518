/**
 * fieldcrypt: application-level field encryption for TypeScript apps on PostgreSQL.
 *
 * This entry re-exports the concept subpaths: `fieldcrypt/cell`, `fieldcrypt/keyring`,
 * `fieldcrypt/errors`. Raw key bytes are only reachable from `fieldcrypt/insecure-key-material`.
 * @module
 */
export * from "./cell/index.js";
export * from "./errors/index.js";
export * from "./keyring/index.js";
