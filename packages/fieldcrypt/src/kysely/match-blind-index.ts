import { type RawBuilder, type SqlBool, sql } from "kysely";
import { InvalidOption } from "../errors/index.js";
import type { EncryptedTable } from "../table/index.js";

/**
 * Options of {@link matchBlindIndex}. Exported from `fieldcrypt/kysely`.
 *
 * @example
 * ```ts
 * db.selectFrom("patients as p").selectAll("p")
 *   .where(matchBlindIndex(patients, "email", email, { scope: clinicId, alias: "p" }));
 * ```
 */
export interface MatchBlindIndexOptions {
  /** The scope to search in, when the table's scope is a column (e.g. the clinic id). */
  readonly scope?: string | undefined;
  /** Qualifies the blind-index column with this table name or alias (`"p"` → `"p"."email_bidx"`). */
  readonly alias?: string | undefined;
}

/**
 * A WHERE condition matching rows whose encrypted `column` equals `value`, through its blind index:
 * `email_bidx in ($1, $2, …)` with one value per live key, so rows written before and after a key
 * rotation match. The value is normalized as the index declares; plaintext never reaches the query.
 * Exported from `fieldcrypt/kysely`.
 *
 * Security: a blind index leaks which rows of one scope hold equal values in that column.
 *
 * @example
 * ```ts
 * import { matchBlindIndex } from "fieldcrypt/kysely";
 * const found = await db.selectFrom("patients").selectAll()
 *   .where("clinic_id", "=", clinicId)
 *   .where(matchBlindIndex(patients, "email", "Ada@Example.org", { scope: clinicId }))
 *   .execute();
 * ```
 */
export function matchBlindIndex(
  table: EncryptedTable,
  column: string,
  value: string,
  options: MatchBlindIndexOptions = {},
): RawBuilder<SqlBool> {
  const index = table.blindIndexes.get(column);
  if (index === undefined) throw new InvalidOption(`${table.table}.${column} has no blind index`);
  const values = table.searchValues(column, value, { scope: options.scope });
  // No key serves the scope: nothing can match (and `in ()` is not SQL).
  if (values.length === 0) return sql<SqlBool>`false`;
  const ref = sql.ref(options.alias === undefined ? index.column : `${options.alias}.${index.column}`);
  return sql<SqlBool>`${ref} in (${sql.join(values)})`;
}
