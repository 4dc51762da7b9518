/**
 * TypeORM column transformers for encrypted columns: `fieldcrypt/typeorm`.
 *
 * `encryptedTransformer(table, column)` is a TypeORM `ValueTransformer` that encrypts in `to` and
 * decrypts in `from`; `encryptedColumnOptions` and the `@EncryptedColumn` decorator wrap it with the
 * column's SQL type (`text` or `bytea`). `blindIndexSubscriber` fills blind-index columns on writes
 * and `blindIndexIn` searches them. TypeORM prints bound parameters in its query errors and logs:
 * with these columns, those parameters are cells and blind-index values.
 *
 * Bound per cell: the table, the column and the scope of the caller's async context. Not bound: the
 * row's primary key or a scope column — a transformer sees one value, never its row — so a cell
 * copied to another row of the same scope still opens there.
 *
 * @module
 */
export { blindIndexIn, blindIndexSubscriber } from "./blind-index.js";
export { EncryptedColumn, type EncryptedColumnDefinition, encryptedColumnOptions } from "./column.js";
export { encryptedTransformer } from "./transformer.js";
