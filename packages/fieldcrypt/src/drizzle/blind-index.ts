// Internal to fieldcrypt/drizzle: blind-index columns of a Drizzle table. Not re-exported.
import { type Column, getTableColumns, getTableName, getTableUniqueName, inArray, type SQL } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import { InvalidOption } from "../errors/index.js";
import type { EncryptedTable } from "../table/index.js";

/** Refuses a Drizzle table other than the one `config` describes (by name, or schema.name). */
function checkTable(config: EncryptedTable, table: PgTable): void {
  const name = getTableName(table);
  if (config.table === name || config.table === getTableUniqueName(table)) return;
  throw new InvalidOption(`the Drizzle table ${name} is not ${config.table}, which these columns encrypt`);
}

/** The keys of a Drizzle table's columns, by their database names. */
function keysByName(table: PgTable): Map<string, string> {
  const keys = new Map<string, string>();
  for (const [key, column] of Object.entries(getTableColumns(table) as Record<string, Column>))
    keys.set(column.name, key);
  return keys;
}

/** A copy of `values` (keys as in the Drizzle table) with the blind index of every indexed column in it. */
export function fillBlindIndexes<T extends Record<string, unknown>>(
  config: EncryptedTable,
  scope: () => string | undefined,
  table: PgTable,
  values: T,
): T {
  checkTable(config, table);
  const keys = keysByName(table);
  const out: Record<string, unknown> = { ...values };
  for (const [name, { column: indexName, index }] of config.blindIndexes) {
    const key = keys.get(name);
    if (key === undefined) continue;
    const value = values[key];
    if (value === undefined) continue;
    const indexKey = keys.get(indexName);
    if (indexKey === undefined) {
      throw new InvalidOption(
        `${config.table}: the Drizzle table has no column ${indexName} for the blind index of ${name}`,
      );
    }
    out[indexKey] = value === null ? null : index.compute(value as string, scope());
  }
  return out as T;
}

/** The database name of an encrypted column given as a Drizzle column of `config`'s table, or by name. */
export function indexedColumnName(config: EncryptedTable, column: Column | string): string {
  if (typeof column !== "string") checkTable(config, column.table as PgTable);
  const name = typeof column === "string" ? column : column.name;
  if (!config.blindIndexes.has(name)) throw new InvalidOption(`${config.table}.${name} has no blind index`);
  return name;
}

/** `index_column IN (…)`: the blind-index values of `value` under every live key of the scope. */
export function blindIndexCondition(
  config: EncryptedTable,
  scope: () => string | undefined,
  column: Column,
  value: string,
): SQL {
  const name = indexedColumnName(config, column);
  const indexName = (config.blindIndexes.get(name) as { column: string }).column;
  const table = column.table as PgTable;
  const key = keysByName(table).get(indexName);
  if (key === undefined) {
    throw new InvalidOption(
      `${config.table}: the Drizzle table has no column ${indexName} for the blind index of ${name}`,
    );
  }
  const indexColumn = (getTableColumns(table) as Record<string, Column>)[key] as Column;
  return inArray(indexColumn, config.searchValues(name, value, { scope: scope() }));
}
