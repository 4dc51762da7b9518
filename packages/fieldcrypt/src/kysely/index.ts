/**
 * Kysely: `fieldcrypt/kysely`. A plugin that encrypts the declared columns of your tables in
 * `insertInto(…).values(…)` and `updateTable(…).set(…)`, fills their blind indexes and decrypts
 * them in results, plus a WHERE condition for blind-index search. Kysely's driver only ever
 * receives cells and blind-index values.
 *
 * Bound per cell: table and column, the row's scope (its scope column, or the caller's scope
 * context) and its primary key, as the `EncryptedTable` (from `fieldcrypt/table`) declares them. The plugin sees whole
 * rows, so it can bind rows: inserts carry the key and scope column, updates pin them in WHERE,
 * reads select them.
 *
 * @example
 * ```ts
 * import { FieldcryptPlugin, matchBlindIndex } from "fieldcrypt/kysely";
 * const db = new Kysely<Database>({ dialect, plugins: [new FieldcryptPlugin({ tables: [patients] })] });
 * ```
 *
 * @module
 */
export { type MatchBlindIndexOptions, matchBlindIndex } from "./match-blind-index.js";
export { FieldcryptPlugin, type FieldcryptPluginOptions } from "./plugin.js";
