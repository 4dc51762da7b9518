/**
 * Hand-written SQL with node-postgres (or anything with `query(text, values) → { rows }`, such as
 * PGlite): `fieldcrypt/pg`. Build parameterized statements whose values are already encrypted, and
 * decrypt the rows that come back. The driver only ever sees cells and blind-index values.
 *
 * Bound per cell: the table's scope (a column of the row, or the caller's scope context), the table
 * and column, and the row key when the table names its primary key.
 *
 * @module
 */
import { InvalidOption } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import { quoteIdentifier as quote } from "../internal/sql-identifier.js";
import type { EncryptedTable } from "../table/index.js";

export type { Queryable } from "../internal/db-port.js";

/** A parameterized statement for `client.query(statement.text, statement.values)`. */
export interface Statement {
  readonly text: string;
  readonly values: unknown[];
}

/** Scope of the statement when the table takes it from the caller rather than from a column. */
export interface PgContext {
  readonly scope?: string | undefined;
}

/**
 * `INSERT INTO table (…) VALUES (…)` for one row, its encrypted columns sealed and blind indexes
 * filled. Exported from `fieldcrypt/pg`.
 *
 * @example
 * ```ts
 * import { insertStatement } from "fieldcrypt/pg";
 * const { text, values } = insertStatement(patients, { id, clinic_id: "clinic-7", name: "Ada", email: "ada@example.org" });
 * await client.query(text, values);
 * ```
 */
export function insertStatement(table: EncryptedTable, row: Record<string, unknown>, context?: PgContext): Statement {
  const sealed = table.encryptRow(row, context);
  const names = Object.keys(sealed).filter((name) => sealed[name] !== undefined);
  return {
    text: `INSERT INTO ${quote(table.table)} (${names.map(quote).join(", ")}) VALUES (${names.map((_, i) => `$${i + 1}`).join(", ")})`,
    values: names.map((name) => sealed[name]),
  };
}

/**
 * `UPDATE table SET … WHERE …` for the columns in `patch`, addressing the row by the columns of
 * `where` (its primary key; plus the scope column when the table takes its scope from one — those
 * bind the cells). Exported from `fieldcrypt/pg`.
 *
 * @example
 * ```ts
 * const { text, values } = updateStatement(patients, { id, clinic_id: "clinic-7" }, { name: "Ada L." });
 * await client.query(text, values);
 * ```
 */
export function updateStatement(
  table: EncryptedTable,
  where: Record<string, unknown>,
  patch: Record<string, unknown>,
  context?: PgContext,
): Statement {
  const whereColumns = Object.keys(where);
  if (whereColumns.length === 0)
    throw new InvalidOption(`${table.table}: updateStatement needs columns to address the row`);
  const sealed = table.encryptRow({ ...patch, ...where }, context);
  const names = Object.keys(sealed).filter((name) => sealed[name] !== undefined && !(name in where));
  if (names.length === 0) throw new InvalidOption(`${table.table}: nothing to update`);
  const sets = names.map((name, i) => `${quote(name)} = $${i + 1}`);
  const conditions = whereColumns.map((name, i) => `${quote(name)} = $${names.length + i + 1}`);
  return {
    text: `UPDATE ${quote(table.table)} SET ${sets.join(", ")} WHERE ${conditions.join(" AND ")}`,
    values: [...names.map((name) => sealed[name]), ...whereColumns.map((name) => where[name])],
  };
}

/**
 * Decrypts the declared columns of each row (a copy; other columns pass through). Rows must include
 * the scope column and the primary key when the table binds them. Exported from `fieldcrypt/pg`.
 *
 * @example
 * ```ts
 * const { rows } = await client.query("SELECT * FROM patients WHERE clinic_id = $1", ["clinic-7"]);
 * const patients = decryptRows(patientsTable, rows);
 * ```
 */
export function decryptRows<T extends Record<string, unknown>>(
  table: EncryptedTable,
  rows: readonly T[],
  context?: PgContext,
): T[] {
  return rows.map((row) => table.decryptRow(row, context));
}

/**
 * Runs a query and decrypts its rows. Exported from `fieldcrypt/pg`.
 *
 * @example
 * ```ts
 * const found = await queryRows(client, patients,
 *   "SELECT * FROM patients WHERE clinic_id = $1 AND email_bidx = ANY($2)",
 *   ["clinic-7", patients.searchValues("email", email, { scope: "clinic-7" })]);
 * ```
 */
export async function queryRows<T extends Record<string, unknown> = Record<string, unknown>>(
  client: Queryable,
  table: EncryptedTable,
  text: string,
  values?: unknown[],
  context?: PgContext,
): Promise<T[]> {
  const result = await client.query(text, values);
  return decryptRows(table, result.rows as T[], context);
}
