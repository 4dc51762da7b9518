/**
 * The database port of every layer that does I/O (audit, jobs, key-store, the `pg` helpers): the
 * one shape fieldcrypt needs of a driver, and the catalog reads they share. Not exported as a
 * subpath; `Queryable` is re-exported by `fieldcrypt/pg` and `fieldcrypt/jobs`.
 */
import { InvalidOption } from "../errors/index.js";
import { quoteIdentifier } from "./sql-identifier.js";

/** Anything that runs a parameterized query: pg.Client, pg.Pool, a PGlite instance. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * The SQL type of each column of `table` (`schema.table` or a name on the search path), as
 * `format_type` prints it (`text`, `bytea`, `character varying(80)`). Throws `ERR_INVALID_OPTION`
 * naming the table when it does not exist, or the first of `required` that it lacks.
 */
export async function readColumnTypes(
  db: Queryable,
  table: string,
  required: readonly string[] = [],
): Promise<Map<string, string>> {
  const { rows } = await db.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
    [quoteIdentifier(table)],
  );
  const types = new Map<string, string>();
  for (const row of rows as { name: string; type: string }[]) types.set(row.name, row.type);
  if (types.size === 0) throw new InvalidOption(`table ${table} does not exist`);
  for (const name of required) {
    if (!types.has(name)) throw new InvalidOption(`${table}.${name} does not exist`);
  }
  return types;
}
