/**
 * Drizzle ORM column types for encrypted columns: `fieldcrypt/drizzle`.
 *
 * `encryptedColumns(table)` turns a table configuration from `fieldcrypt/table` into Drizzle
 * `customType` builders (`text` or `bytea` in SQL) that encrypt in `toDriver` and decrypt in
 * `fromDriver`, plus helpers to fill and search blind-index columns. Drizzle prints bound
 * parameters in its query errors and logs: with these columns, those parameters are cells.
 *
 * Bound per cell: the table, the column and the scope of the caller's async context. Not bound: the
 * row (a column type sees one value, never its row), so a cell copied to another row of the same
 * table, column and scope still opens there. Use `fieldcrypt/pg` or a row-level adapter where that
 * matters.
 *
 * Requires `drizzle-orm` ≥ 0.40 (an optional peer dependency) and PostgreSQL.
 *
 * @module
 */
export {
  type EncryptedColumnBuilder,
  type EncryptedColumns,
  encryptedColumns,
  type JsonDocument,
} from "./encrypted-columns.js";
