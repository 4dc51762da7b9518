// Internal to fieldcrypt/drizzle: one Drizzle customType per encrypted column. Not re-exported.
import { customType } from "drizzle-orm/pg-core";
import type { EncryptedColumnCodec, RowContext } from "../column/index.js";
import type { CellValue } from "../internal/value-codec.js";

/** What the driver hands over and takes back for an encrypted column. */
export type DriverCell = string | Uint8Array | null;

/** A bytea value inside a JSON document (Drizzle's relational queries nest rows as JSON). */
const JSON_BYTEA = /^\\x(?:[0-9a-fA-F]{2})*$/;

/**
 * A Drizzle column type over `column`: `toDriver` seals, `fromDriver` opens. A column type sees one
 * value and no row, so each cell is bound to its table and column and to `context()`'s scope only.
 */
export function encryptedColumnType<TData>(column: EncryptedColumnCodec, context: () => RowContext) {
  const sqlType = column.form === "binary" ? "bytea" : "text";
  const binary = column.form === "binary";
  return customType<{ data: TData; driverData: DriverCell }>({
    dataType: () => sqlType,
    // Runs when Drizzle builds the query (at await or .prepare()), inside the caller's async context.
    toDriver: (value) => column.encrypt(value as CellValue, context()),
    fromDriver: (stored) => {
      const raw =
        binary && typeof stored === "string" && JSON_BYTEA.test(stored) ? Buffer.from(stored.slice(2), "hex") : stored;
      return column.decrypt(raw, context()) as TData;
    },
  });
}
