/**
 * The legacy counts of `fieldcrypt status`: SQL tells legacy values by their signature (a prefix),
 * the decoder's own rule (`classifyLegacy`) then says which of them are well-formed.
 */
import type { Queryable } from "fieldcrypt/jobs";
import { classifyLegacy, type LegacyFormat } from "fieldcrypt/legacy";
import type { CliDatabase } from "../internal/cli-database.js";
import { type ColumnStatus, cellClassSql, type QueryRows } from "./status-sql.js";

/** Values fetched from the cursor at a time. */
const FETCH_ROWS = 1000;

/**
 * `count` (one column's counts by SQL) and then {@link checkLegacyValues}, in one read-only
 * REPEATABLE READ transaction: both see the same rows, so the counts add up to the table's.
 */
export async function inSnapshot<T>(db: CliDatabase, fn: (query: QueryRows) => Promise<T>): Promise<T> {
  const rowsOf =
    (session: Queryable): QueryRows =>
    async <Row>(sql: string, params?: readonly unknown[]) =>
      (await session.query(sql, params === undefined ? undefined : [...params])).rows as Row[];
  if ("transaction" in db && typeof db.transaction === "function") {
    return db.transaction(async (tx) => {
      await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      return fn(rowsOf(tx));
    });
  }
  const client = await (db as Extract<CliDatabase, { connect: unknown }>).connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const result = await fn(rowsOf(client));
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Splits the values that SQL counted as legacy (they carry the format's signature) with the
 * decoder's own rule, so status and the import job never disagree: well-formed values stay LEGACY,
 * those that do not parse (a Fernet token cut short) become UNREADABLE — the import fails them —
 * and those without the signature after all (a JSON object that is not an envelope) PLAINTEXT.
 * Nothing is decrypted and no key is needed. The candidates come through a cursor, 1,000 at a time:
 * only values with the signature cross the wire (none once the import is done). A format without
 * a marker (raw AES-GCM) has no signature to check: SQL's counts stand.
 */
export async function checkLegacyValues(
  query: QueryRows,
  counted: ColumnStatus,
  format: LegacyFormat,
  tableSql: string,
  c: string,
  binary: boolean,
): Promise<ColumnStatus> {
  if (counted.legacy === 0 || format.textPrefixes === undefined) return counted;
  const { kind } = cellClassSql(c, binary, { textPrefixes: format.textPrefixes });
  await query(`DECLARE fieldcrypt_status_legacy NO SCROLL CURSOR FOR
    SELECT ${c} AS value FROM ${tableSql} WHERE (${kind}) = 'legacy'`);
  const tally = { legacy: 0, unreadable: 0, other: 0 };
  for (;;) {
    const rows = await query<{ value: unknown }>(`FETCH ${FETCH_ROWS} FROM fieldcrypt_status_legacy`);
    for (const row of rows) tally[classifyLegacy(format, row.value)]++;
    if (rows.length < FETCH_ROWS) break;
  }
  await query("CLOSE fieldcrypt_status_legacy");
  return {
    ...counted,
    legacy: tally.legacy,
    unreadable: counted.unreadable + tally.unreadable,
    plaintext: counted.plaintext + tally.other,
  };
}
