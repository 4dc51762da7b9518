import type { Column, SQL } from "drizzle-orm";
import type { ConvertCustomConfig, PgCustomColumnBuilder, PgTable } from "drizzle-orm/pg-core";
import type { RowContext } from "../column/index.js";
import { InvalidContext, InvalidOption } from "../errors/index.js";
import type { ValueTypeName } from "../internal/format.js";
import type { EncryptedTable } from "../table/index.js";
import { blindIndexCondition, fillBlindIndexes, indexedColumnName } from "./blind-index.js";
import { type DriverCell, encryptedColumnType } from "./column-type.js";

/**
 * The Drizzle column builder of an encrypted column: `text` or `bytea` in SQL (the table
 * configuration's `form`), `TData` in the app. Exported from `fieldcrypt/drizzle`.
 *
 * @example
 * ```ts
 * import type { EncryptedColumnBuilder } from "fieldcrypt/drizzle";
 * const name: EncryptedColumnBuilder<"name", string> = cells.string("name");
 * ```
 */
export type EncryptedColumnBuilder<TName extends string, TData> = PgCustomColumnBuilder<
  ConvertCustomConfig<TName, { data: TData; driverData: DriverCell }>
>;

/** A JSON document as an encrypted `json` column holds it: a plain object or an array. */
export type JsonDocument = { [key: string]: unknown } | unknown[];

/**
 * Column builders and blind-index helpers for one encrypted table, returned by
 * {@link encryptedColumns}. Exported (as a type) from `fieldcrypt/drizzle`.
 *
 * Each builder takes the column's database name, which must be one of the table configuration's
 * encrypted columns declared with that value type (or with no type).
 *
 * @example
 * ```ts
 * const cells = encryptedColumns(patientsConfig);
 * export const patients = pgTable("patients", { id: text().primaryKey(), name: cells.string("name") });
 * ```
 */
export interface EncryptedColumns {
  /** A `string` column. */
  string<TName extends string>(name: TName): EncryptedColumnBuilder<TName, string>;
  /** A JSON column (plain objects and arrays); `T` types the document. */
  json<T extends JsonDocument = JsonDocument, TName extends string = string>(
    name: TName,
  ): EncryptedColumnBuilder<TName, T>;
  /** A `number` column (any IEEE-754 double, NaN and ±Infinity included). */
  number<TName extends string>(name: TName): EncryptedColumnBuilder<TName, number>;
  /** A `bigint` column. */
  bigint<TName extends string>(name: TName): EncryptedColumnBuilder<TName, bigint>;
  /** A `boolean` column. */
  boolean<TName extends string>(name: TName): EncryptedColumnBuilder<TName, boolean>;
  /** A `Date` column (millisecond precision). */
  date<TName extends string>(name: TName): EncryptedColumnBuilder<TName, Date>;
  /** A bytes column: write a `Uint8Array`, read a `Buffer`. */
  bytes<TName extends string>(name: TName): EncryptedColumnBuilder<TName, Uint8Array>;
  /**
   * A copy of `values` (an insert row or an update patch, keyed as in the Drizzle table) with the
   * blind-index column of every indexed column it sets: the value's index under the current scope's
   * primary key, or `null` for `null`. Drizzle's column types cannot fill one column from another;
   * pass every write that sets an indexed column through here.
   */
  withBlindIndexes<TTable extends PgTable, T extends Partial<TTable["$inferInsert"]>>(
    table: TTable,
    values: T,
  ): T & Partial<TTable["$inferInsert"]>;
  /**
   * A condition for `.where()`: the column's blind-index column is one of the index values of `value`
   * under every live key of the current scope (`email_bidx IN (…)`).
   * Security: a blind index leaks which rows of one scope hold equal values.
   */
  matchesBlindIndex(column: Column, value: string): SQL;
  /** The blind-index values of `value` under every live key of the current scope, for your own SQL. */
  searchValues(column: Column | string, value: string): string[];
}

/**
 * Drizzle column types for the encrypted columns of one table (built with `encryptedTable` from
 * `fieldcrypt/table`), and the blind-index helpers that go with them. Exported from
 * `fieldcrypt/drizzle`.
 *
 * Each column is a Drizzle `customType` whose `toDriver` encrypts and `fromDriver` decrypts, so the
 * driver (and every query error or log line that prints bound parameters) sees only cells. A column
 * type sees one value and never its row, so each cell is bound to its table, its column and the
 * scope of the caller's async context (`scope: { current }` in the table configuration) — not to
 * its row's primary key, and not to a scope column. A configuration that asks for either is refused
 * (`ERR_INVALID_OPTION`) rather than silently bound to less. With a scope configured, writes, reads
 * and searches outside any scope fail with `ERR_INVALID_CONTEXT`. Values are encrypted when Drizzle
 * builds the query — when it is awaited (or `.prepare()`d) — so await it inside the scope's `run`.
 *
 * @example
 * ```ts
 * import { pgTable, text } from "drizzle-orm/pg-core";
 * import { encryptedColumns } from "fieldcrypt/drizzle";
 * import { encryptedTable } from "fieldcrypt/table";
 *
 * const cells = encryptedColumns(encryptedTable(keyring, {
 *   table: "patients",
 *   scope: { current: clinics.current },
 *   columns: { name: { type: "string" }, email: { type: "string", blindIndex: { column: "email_bidx" } } },
 * }));
 * export const patients = pgTable("patients", {
 *   id: text("id").primaryKey(),
 *   name: cells.string("name"),
 *   email: cells.string("email"),
 *   emailBidx: text("email_bidx"),
 * });
 * ```
 */
export function encryptedColumns(config: EncryptedTable): EncryptedColumns {
  const table = config.table;
  if (config.primaryKey !== undefined) {
    throw new InvalidOption(
      `${table}: a Drizzle column type sees one value, not its row, so it cannot bind cells to the primary key (configure the table without primaryKey)`,
    );
  }
  const source = config.scope;
  if (source !== undefined && !("current" in source)) {
    throw new InvalidOption(
      `${table}: a Drizzle column type cannot read the scope column ${source.column} (configure the table with scope: { current } from fieldcrypt/scope)`,
    );
  }
  // A scoped table never writes or searches unscoped: such cells would open for every tenant.
  const scope = (): string | undefined => {
    if (source === undefined) return undefined;
    const current = source.current();
    if (current === undefined) {
      throw new InvalidContext(
        `${table}: no current scope (run the query, and await it, inside the scope context's run)`,
      );
    }
    return current;
  };
  const context = (): RowContext => ({ scope: scope() });

  const builder =
    (kind: ValueTypeName) =>
    <TData, TName extends string>(name: TName): EncryptedColumnBuilder<TName, TData> => {
      const column = config.columns.get(name);
      if (column === undefined) throw new InvalidOption(`${table}.${name} is not an encrypted column of the table`);
      if (column.type !== undefined && column.type !== kind) {
        throw new InvalidOption(`${table}.${name} is declared ${column.type}: build it with .${column.type}()`);
      }
      // Two arguments pick the overload that keeps the literal column name in the type.
      return encryptedColumnType<TData>(column, context)(name, undefined);
    };

  return {
    string: builder("string"),
    json: builder("json"),
    number: builder("number"),
    bigint: builder("bigint"),
    boolean: builder("boolean"),
    date: builder("date"),
    bytes: builder("bytes"),
    withBlindIndexes: (drizzleTable, values) => fillBlindIndexes(config, scope, drizzleTable, values),
    matchesBlindIndex: (column, value) => blindIndexCondition(config, scope, column, value),
    searchValues: (column, value) => config.searchValues(indexedColumnName(config, column), value, { scope: scope() }),
  };
}
