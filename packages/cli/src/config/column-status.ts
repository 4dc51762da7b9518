/**
 * The counts of one configured column, as `fieldcrypt status` prints them and a verify run reports
 * them beside its result: the column's SQL type checked, counted by SQL, legacy candidates checked
 * by the decoder, all in one snapshot.
 */
import { isFieldcryptError } from "fieldcrypt/errors";
import { cellStorageOf, quoteIdentifier, readColumnTypes } from "fieldcrypt/jobs";
import type { EncryptedTableOptions } from "fieldcrypt/table";
import type { CliDatabase } from "../internal/cli-database.js";
import { operationError } from "../internal/cli-error.js";
import { checkLegacyValues, inSnapshot } from "./status-legacy.js";
import { type ColumnStatus, countColumn } from "./status-sql.js";

/** The SQL types of `table`'s columns; a table that does not exist is an operation error (exit 1). */
export async function tableColumnTypes(db: CliDatabase, table: string): Promise<Map<string, string>> {
  return readColumnTypes(db, table).catch((error: unknown) => {
    // The one reader refuses a missing table with ERR_INVALID_OPTION; here it is an operation error.
    if (!isFieldcryptError(error) || error.code !== "ERR_INVALID_OPTION") throw error;
    throw operationError(`table ${table} does not exist`, "check the config's table names and the search path");
  });
}

/** A table entry's `importFrom` (validated with the config). */
export function importFromOf(options: EncryptedTableOptions): Readonly<Record<string, string>> | undefined {
  return (options as { importFrom?: Readonly<Record<string, string>> }).importFrom;
}

/**
 * The counts of `column` of `table` (`types`: the table's column types), with `failed` rows from the
 * latest job. A missing column or import source, or a column type that cannot hold cells, is an
 * operation error naming it.
 */
export async function columnStatus(
  db: CliDatabase,
  table: EncryptedTableOptions,
  column: string,
  types: ReadonlyMap<string, string>,
  failed: number,
): Promise<ColumnStatus> {
  const type = types.get(column);
  if (type === undefined)
    throw operationError(`column ${table.table}.${column} does not exist`, "check the config's column names");
  const source = importFromOf(table)?.[column];
  if (source !== undefined && !types.has(source)) {
    throw operationError(
      `column ${table.table}.${source} (importFrom of ${column}) does not exist`,
      "check the config's importFrom",
    );
  }
  const format = table.columns[column]?.legacy;
  const legacy = format === undefined ? undefined : { textPrefixes: format.textPrefixes };
  const tableSql = quoteIdentifier(table.table);
  const columnSql = storedTextSql(table.table, column, type);
  const binary = type === "bytea";
  const sourceSql = source === undefined ? undefined : quoteIdentifier(source);
  return inSnapshot(db, async (snapshot) => {
    const counted = await countColumn(
      snapshot,
      table.table,
      tableSql,
      column,
      columnSql,
      binary,
      legacy,
      failed,
      sourceSql,
    );
    if (format === undefined) return counted;
    return checkLegacyValues(snapshot, counted, format, tableSql, columnSql, binary);
  });
}

/**
 * The SQL of a column as status classifies it: the column itself for text, varchar and bytea; for
 * json/jsonb the text of the JSON value (`#>> '{}'`: a JSON string's contents — a cell — or an
 * object's JSON text — a legacy envelope; a JSON null is NULL), as the jobs read them
 * (spec/jobs-v1.md §2.1). Any other type cannot hold cells: an operation error, as a job refuses it.
 */
function storedTextSql(table: string, column: string, type: string): string {
  const quoted = quoteIdentifier(column);
  const storage = cellStorageOf(type);
  if (storage === "json") return `(${quoted} #>> '{}')`;
  if (storage !== undefined) return quoted;
  throw operationError(
    `column ${table}.${column} is ${type}, which cannot hold cells`,
    "cells go in text, varchar, bytea, json or jsonb columns (README, Column types)",
  );
}
