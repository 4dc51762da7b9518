/**
 * fieldcrypt: application-level field encryption for TypeScript apps on PostgreSQL.
 *
 * This entry re-exports the concept subpaths: `fieldcrypt/cell`, `fieldcrypt/keyring`,
 * `fieldcrypt/errors`, `fieldcrypt/column`, `fieldcrypt/blind-index`, `fieldcrypt/scope`. Raw key bytes are only reachable from `fieldcrypt/insecure-key-material`.
 * @module
 */
export * from "./blind-index/index.js";
export * from "./cell/index.js";
export * from "./column/index.js";
export * from "./errors/index.js";
export * from "./keyring/index.js";
export * from "./scope/index.js";
export * from "./table/index.js";
