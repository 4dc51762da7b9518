/** Per-column status by SQL only: how many cells are plaintext, NULL, or sealed under each key id. */

/** A query function: one statement with parameters, its rows. */
export type QueryRows = <Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]) => Promise<Row[]>;

/** How the cells of one column are stored: plaintext, per key id, NULL. */
export interface ColumnStatus {
  readonly table: string;
  readonly column: string;
  readonly plaintext: number;
  readonly nulls: number;
  readonly byKey: ReadonlyMap<string, number>;
}

/** The README's SQL for a text cell's key id, with `c` the (quoted) column; no key and no decryption. */
export function keyIdSql(c: string): string {
  const h = `decode(translate(substr(${c}, 5, least(52, (length(${c}) - 4) / 4 * 4)), '-_', '+/'), 'base64')`;
  return `convert_from(substring(${h} FROM 6 FOR get_byte(${h}, 4)), 'SQL_ASCII')`;
}

/** The key id of a binary (bytea) cell; only for cells that {@link isBinaryCellSql}. */
export function binaryKeyIdSql(c: string): string {
  return `convert_from(substring(${c} FROM 6 FOR get_byte(${c}, 4)), 'SQL_ASCII')`;
}

/** True for a bytea value that starts like a binary cell (0xFC, then a header with the key id). */
export function isBinaryCellSql(c: string): string {
  return `(octet_length(${c}) >= 5 AND get_byte(${c}, 0) = 252)`;
}

/**
 * One `SELECT … GROUP BY` over `tableSql` (quoted) counting the cells of column `c` (quoted) by
 * state: a single sequential scan, or an index-only scan with an expression index on the key id.
 */
export function columnStatusSql(tableSql: string, c: string, binary: boolean): string {
  const sealed = binary ? isBinaryCellSql(c) : `${c} LIKE 'fc1.%'`;
  const keyId = binary ? binaryKeyIdSql(c) : keyIdSql(c);
  return `SELECT CASE WHEN ${c} IS NULL THEN 'null' WHEN ${sealed} THEN 'key' ELSE 'plaintext' END AS kind,
              CASE WHEN ${c} IS NULL THEN '' WHEN ${sealed} THEN ${keyId} ELSE '' END AS state, count(*) AS n
         FROM ${tableSql} GROUP BY 1, 2`;
}

/** Counts one column's cells by state. */
export async function countColumn(
  query: QueryRows,
  table: string,
  tableSql: string,
  column: string,
  columnSql: string,
  binary: boolean,
): Promise<ColumnStatus> {
  const rows = await query<{ state: string; kind: string; n: string | number }>(
    columnStatusSql(tableSql, columnSql, binary),
  );
  const byKey = new Map<string, number>();
  let plaintext = 0;
  let nulls = 0;
  for (const row of rows) {
    const n = Number(row.n);
    if (row.kind === "null") nulls += n;
    else if (row.kind === "plaintext") plaintext += n;
    else byKey.set(row.state, (byKey.get(row.state) ?? 0) + n);
  }
  return { table, column, plaintext, nulls, byKey };
}
