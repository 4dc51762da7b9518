import type { ValueTransformer } from "typeorm";
import { InvalidOption } from "../errors/index.js";
import type { CellValue } from "../internal/value-codec.js";
import type { EncryptedTable } from "../table/index.js";
import { checkContextBinding, currentScope } from "./binding.js";

/**
 * A TypeORM `ValueTransformer` that encrypts one column of an encrypted table on the way to the
 * database (`to`) and decrypts it on the way back (`from`). Exported from `fieldcrypt/typeorm`.
 *
 * A transformer sees one value and never its row, so each cell is bound to its table, its column
 * and the scope of the caller's async context (`scope: { current }` in the table configuration) —
 * not to the row's primary key and not to a scope column. A configuration that asks for either is
 * refused (`ERR_INVALID_OPTION`) rather than silently bound to less; so is a read or write outside
 * any scope when the table has one (`ERR_INVALID_CONTEXT`).
 *
 * TypeORM also runs transformers over `where` values: `{ name: "Ada" }` or `{ name: In([...]) }` on
 * an encrypted column is encrypted (so no plaintext reaches the query or its error message) and
 * therefore matches nothing, since every encryption differs. Search through the blind-index column
 * instead ({@link blindIndexIn}). `IsNull()` works: its value is `undefined`, which passes through,
 * as it does for properties absent from an insert.
 *
 * @example
 * ```ts
 * import { EntitySchema } from "typeorm";
 * import { encryptedTransformer } from "fieldcrypt/typeorm";
 * const Patient = new EntitySchema({ name: "patients", columns: {
 *   id: { type: "text", primary: true },
 *   name: { type: "text", nullable: true, transformer: encryptedTransformer(patients, "name") },
 * } });
 * ```
 */
export function encryptedTransformer(table: EncryptedTable, column: string): ValueTransformer {
  checkContextBinding(table);
  const codec = table.columns.get(column);
  if (codec === undefined) throw new InvalidOption(`${table.table}.${column} is not an encrypted column of the table`);
  const field = `${table.table}.${column}`;
  return {
    to(value: unknown): unknown {
      // undefined: a property absent from an insert, or the value of IsNull() in a where clause.
      if (value === undefined || value === null) return value;
      return codec.encrypt(value as CellValue, { scope: currentScope(table, field) });
    },
    from(stored: unknown): unknown {
      if (stored === undefined || stored === null) return stored;
      return codec.decrypt(stored, { scope: currentScope(table, field) });
    },
  };
}
