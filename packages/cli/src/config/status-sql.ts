/** Per-column status by SQL only: how many cells are plaintext, NULL, or sealed under each key id. */

/** A query function: one statement with parameters, its rows. */
export type QueryRows = <Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]) => Promise<Row[]>;

/** How the cells of one column are stored: plaintext, per key id, NULL. */
export interface ColumnStatus {
  readonly table: string;
  readonly column: string;
  readonly plaintext: number;
  /**
   * Values in the column's legacy format (counted only when one is configured): in SQL, those that
   * carry its signature; {@link statusLegacy} then moves those that are not well-formed to `unreadable`.
   */
  readonly legacy: number;
  /**
   * Values that claim to be cells (`fc1.`, `0xFC`) but whose header does not parse, and values that
   * carry the legacy format's signature but do not parse (a token cut short): damaged.
   */
  readonly unreadable: number;
  /** Rows whose column is NULL while its `importFrom` source column holds a value: not imported yet. */
  readonly pendingImport: number;
  /** NULL values (not counting those waiting for import). */
  readonly nulls: number;
  /** Rows whose cell failed in the table's latest job (fieldcrypt_job_errors). */
  readonly failed: number;
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

/** The base64url alphabet in index order, for the canonical-trailing-bits check of a text cell. */
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/** Largest payload of a cell (spec/cell-format-v1.md §3.6). */
const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

/**
 * True when the bytes `h` (holding at least a cell's header) and a total length `len` form a cell
 * header that parses as the library's `parseHeader` does: magic, version, algorithm, type, key-id
 * length and characters, and room for nonce and tag. Each test is its own CASE arm because SQL does
 * not promise to evaluate `AND` in order, and `get_byte` past the end would throw.
 */
function headerParsesSql(h: string, len: string): string {
  const k = `get_byte(${h}, 4)`;
  return `CASE WHEN ${len} < 6 THEN FALSE
    WHEN get_byte(${h}, 0) <> 252 OR get_byte(${h}, 1) <> 1 THEN FALSE
    WHEN get_byte(${h}, 2) NOT IN (1, 2) OR get_byte(${h}, 3) NOT BETWEEN 1 AND 7 THEN FALSE
    WHEN ${k} NOT BETWEEN 1 AND 32 THEN FALSE
    WHEN ${len} - 5 - ${k} - CASE get_byte(${h}, 2) WHEN 1 THEN 24 ELSE 12 END - 16 NOT BETWEEN 0 AND ${MAX_PAYLOAD_BYTES} THEN FALSE
    ELSE encode(substring(${h} FROM 6 FOR ${k}), 'escape') ~ '^[A-Za-z0-9._-]+$' END`;
}

/** True for a bytea value that starts like a binary cell (0xFC), well-formed or not. */
export function looksLikeBinaryCellSql(c: string): string {
  return `(octet_length(${c}) >= 1 AND get_byte(${c}, 0) = 252)`;
}

/** True for a bytea value that is a binary cell: its header parses (the cell may still not open). */
export function isBinaryCellSql(c: string): string {
  return `(CASE WHEN octet_length(${c}) < 6 THEN FALSE ELSE ${headerParsesSql(c, `octet_length(${c})`)} END)`;
}

/**
 * True for a text value that is a text cell: `fc1.`, canonical unpadded base64url, and a header that
 * parses — the library's `isCell`. Any other text, `fc1.` or not, is classified without an error.
 */
export function isTextCellSql(c: string): string {
  const body = `substr(${c}, 5)`;
  const n = `length(${body})`;
  const bytes = `(${n} / 4 * 3 + CASE ${n} % 4 WHEN 0 THEN 0 ELSE ${n} % 4 - 1 END)`;
  const h = `decode(translate(substr(${c}, 5, least(52, ${n} / 4 * 4)), '-_', '+/'), 'base64')`;
  const last = `(strpos('${B64URL}', right(${c}, 1)) - 1)`;
  return `(CASE WHEN ${c} NOT LIKE 'fc1.%' THEN FALSE
    WHEN ${body} !~ '^[A-Za-z0-9_-]*$' OR ${n} % 4 = 1 THEN FALSE
    WHEN ${n} % 4 = 2 AND ${last} & 15 <> 0 THEN FALSE
    WHEN ${n} % 4 = 3 AND ${last} & 3 <> 0 THEN FALSE
    WHEN ${bytes} < 6 THEN FALSE
    ELSE ${headerParsesSql(h, bytes)} END)`;
}

/**
 * The classification of column `c` (quoted) that status counts, as two SQL expressions: `kind`
 * (null, key, legacy, unreadable, plaintext) and `state` (the key id of a cell, else ''). In the
 * library's order: a cell is a value whose header parses; then a configured legacy format; then a
 * value that claims to be a cell by its first bytes but does not parse (unreadable: no job seals or
 * passes it); the rest is plaintext. Total: no value makes it throw.
 */
export function cellClassSql(c: string, binary: boolean, legacy?: LegacyMarker): { kind: string; state: string } {
  const sealed = binary ? isBinaryCellSql(c) : isTextCellSql(c);
  const looksSealed = binary ? looksLikeBinaryCellSql(c) : `${c} LIKE 'fc1.%'`;
  const keyId = binary ? binaryKeyIdSql(c) : keyIdSql(c);
  // A legacy format with text prefixes is told apart by them (its signature: well-formed or not,
  // which statusLegacy then asks the decoder); one without a marker (raw AES-GCM) claims every value
  // that is not a cell. In bytea, the prefix is the value's first bytes (latin1, as the decoders read).
  const isLegacy =
    legacy === undefined
      ? undefined
      : legacy.textPrefixes === undefined
        ? "TRUE"
        : legacy.textPrefixes.map((p) => startsWithSql(c, p, binary)).join(" OR ") || "FALSE";
  const legacyCase = isLegacy === undefined ? "" : ` WHEN ${isLegacy} THEN 'legacy'`;
  return {
    kind: `CASE WHEN ${c} IS NULL THEN 'null' WHEN ${sealed} THEN 'key'${legacyCase} WHEN ${looksSealed} THEN 'unreadable' ELSE 'plaintext' END`,
    state: `CASE WHEN ${c} IS NULL THEN '' WHEN ${sealed} THEN ${keyId} ELSE '' END`,
  };
}

/** True when the text (or bytea, read as latin1) value `c` starts with `prefix`. */
function startsWithSql(c: string, prefix: string, binary: boolean): string {
  if (!binary) return `left(${c}, ${prefix.length}) = '${prefix.replaceAll("'", "''")}'`;
  const hex = Buffer.from(prefix, "latin1").toString("hex");
  return `substring(${c} FROM 1 FOR ${prefix.length}) = decode('${hex}', 'hex')`;
}

/**
 * One `SELECT … GROUP BY` over `tableSql` (quoted) counting the cells of column `c` (quoted) by
 * state: a single sequential scan, or an index-only scan with an expression index on the key id.
 */
export function columnStatusSql(
  tableSql: string,
  c: string,
  binary: boolean,
  legacy?: LegacyMarker,
  sourceSql?: string,
): string {
  const { kind, state } = cellClassSql(c, binary, legacy);
  // With an import source column, an empty target whose source holds a value is waiting for import.
  const pending =
    sourceSql === undefined
      ? kind
      : `CASE WHEN ${c} IS NULL AND ${sourceSql} IS NOT NULL THEN 'pending' ELSE ${kind} END`;
  return `SELECT ${pending} AS kind, ${state} AS state, count(*) AS n FROM ${tableSql} GROUP BY 1, 2`;
}

/** A configured legacy format, as far as SQL can tell it apart. */
export interface LegacyMarker {
  readonly textPrefixes: readonly string[] | undefined;
}

/** Counts one column's cells by state. */
export async function countColumn(
  query: QueryRows,
  table: string,
  tableSql: string,
  column: string,
  columnSql: string,
  binary: boolean,
  legacyMarker?: LegacyMarker,
  failed = 0,
  sourceSql?: string,
): Promise<ColumnStatus> {
  const rows = await query<{ state: string; kind: string; n: string | number }>(
    columnStatusSql(tableSql, columnSql, binary, legacyMarker, sourceSql),
  );
  const byKey = new Map<string, number>();
  let plaintext = 0;
  let legacy = 0;
  let nulls = 0;
  let unreadable = 0;
  let pendingImport = 0;
  for (const row of rows) {
    const n = Number(row.n);
    if (row.kind === "null") nulls += n;
    else if (row.kind === "pending") pendingImport += n;
    else if (row.kind === "unreadable") unreadable += n;
    else if (row.kind === "plaintext") plaintext += n;
    else if (row.kind === "legacy") legacy += n;
    else byKey.set(row.state, (byKey.get(row.state) ?? 0) + n);
  }
  return { table, column, plaintext, legacy, unreadable, pendingImport, nulls, failed, byKey };
}

/**
 * Rows per column that failed in the table's latest job (by start time), from fieldcrypt_job_errors;
 * empty when the job tables do not exist.
 */
export async function latestJobFailures(query: QueryRows, table: string): Promise<Map<string, number>> {
  const failures = new Map<string, number>();
  const [exists] = await query<{ t: string | null }>("SELECT to_regclass('fieldcrypt_job_errors')::text AS t");
  if (exists?.t == null) return failures;
  const rows = await query<{ column_name: string; n: string | number }>(
    `SELECT column_name, count(DISTINCT row_key) AS n FROM fieldcrypt_job_errors
      WHERE job_id = (SELECT id FROM fieldcrypt_jobs WHERE table_name = $1 ORDER BY created_at DESC, id LIMIT 1)
      GROUP BY 1`,
    [table],
  );
  for (const row of rows) failures.set(row.column_name, Number(row.n));
  return failures;
}

/**
 * The check values (spec/keys-v1.md) that job runs on `table` recorded for each key id, sorted:
 * which material the jobs sealed the table's cells with. Two values under one id mean two different
 * keys were used under that id. Empty when the runs table does not exist; runs from before check
 * values recorded none.
 */
export async function recordedCheckValues(query: QueryRows, table: string): Promise<Map<string, string[]>> {
  const recorded = new Map<string, string[]>();
  const [exists] = await query<{ t: string | null }>("SELECT to_regclass('fieldcrypt_job_runs')::text AS t");
  if (exists?.t == null) return recorded;
  const rows = await query<{ id: string; check_value: string }>(
    `SELECT DISTINCT k->>'id' AS id, k->>'checkValue' AS check_value
       FROM fieldcrypt_job_runs, jsonb_array_elements(key_ids::jsonb) AS k
      WHERE table_name = $1 AND event = 'start' AND k->>'checkValue' IS NOT NULL
      ORDER BY 1, 2`,
    [table],
  );
  for (const row of rows) recorded.set(row.id, [...(recorded.get(row.id) ?? []), row.check_value]);
  return recorded;
}
