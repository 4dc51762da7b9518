/** The demo's key rotation: a bigger table, status by SQL, jobs from `fieldcrypt/jobs` with progress. */

import { ensureJobTables, type JobKind, type JobResult, runJob } from "fieldcrypt/jobs";
import { generateKeyString, type Keyring } from "fieldcrypt/keyring";
import { type EncryptedTable, encryptedTable } from "fieldcrypt/table";
import { type ColumnStatus, countColumn } from "../config/status-sql.js";
import type { Io } from "../internal/io.js";
import { createProgress } from "../internal/progress.js";
import type { Db } from "./db.js";
import type { DemoTable } from "./sample-tables.js";
import { ident } from "./table-ops.js";

/** Rows of the generated table: enough for a rotation of many batches, a few seconds on PGlite. */
export const BULK_ROWS = 20_000;
/** Rows per job batch. */
export const BATCH_SIZE = 1_000;

/** A generated archive of journal entries; one in five has a voice-note transcript, the others NULL. */
export const BULK_TABLE: DemoTable = {
  name: "journal_archive",
  about: `${BULK_ROWS.toLocaleString("en-US")} generated journal entries (one in five with a transcript, the rest NULL)`,
  scopeColumn: "user_id",
  plainColumns: [],
  encryptedColumns: ["body", "transcript"],
  rows: [],
};

const MOODS = ["Slept badly", "Good day", "Anxious before the review", "Long walk", "Argued with my brother"];
const THINGS = ["therapy at 5", "started a new book", "skipped lunch", "called mom", "the dog is sick"];

/** Creates the generated table and fills it in one INSERT … SELECT FROM unnest(…), in plaintext. */
export async function createBulkTable(db: Db): Promise<void> {
  const t = ident(BULK_TABLE.name);
  await db.exec(
    `CREATE TABLE ${t} (id integer PRIMARY KEY, user_id text NOT NULL, body text NOT NULL, transcript text)`,
  );
  const ids: number[] = [];
  const users: string[] = [];
  const bodies: string[] = [];
  const transcripts: (string | null)[] = [];
  for (let i = 1; i <= BULK_ROWS; i++) {
    ids.push(i);
    users.push(`user-${100 + (i % 250)}`);
    bodies.push(`Entry ${i}: ${MOODS[i % MOODS.length]}; ${THINGS[(i * 7) % THINGS.length]}`);
    transcripts.push(i % 5 === 0 ? `Voice note ${i}: ${THINGS[i % THINGS.length]}` : null);
  }
  await db.query(
    `INSERT INTO ${t} (id, user_id, body, transcript) SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::text[])`,
    [ids, users, bodies, transcripts],
  );
}

/** The table as `fieldcrypt/table` declares it: cells bound to the scope column, table, column and id. */
export function jobTable(keyring: Keyring, table: DemoTable): EncryptedTable {
  return encryptedTable(keyring, {
    table: table.name,
    primaryKey: ["id"],
    scope: { column: table.scopeColumn },
    columns: Object.fromEntries(table.encryptedColumns.map((c) => [c, {}])),
  });
}

/**
 * A copy of `keyring` with a new throwaway shared primary key (`v2`, or the next free `vN`); the
 * old shared primary stays for decryption only, scoped primaries stay primary. Returns the new id.
 */
export function withNewPrimary(keyring: Keyring): { keyring: Keyring; id: string } {
  let n = 2;
  while (keyring.has(`v${n}`)) n++;
  const id = `v${n}`;
  return { keyring: keyring.withKey({ id, secret: generateKeyString(), primary: true }), id };
}

export { type ColumnStatus, keyIdSql } from "../config/status-sql.js";

/** Counts each column's cells by state with one SQL query per column. */
export async function columnStatus(db: Db, table: DemoTable): Promise<ColumnStatus[]> {
  const statuses: ColumnStatus[] = [];
  for (const column of table.encryptedColumns) {
    statuses.push(
      await countColumn(
        <Row>(sql: string, params?: readonly unknown[]) => db.query<Row>(sql, params),
        table.name,
        ident(table.name),
        column,
        ident(column),
        false,
      ),
    );
  }
  return statuses;
}

/** Runs one job over a table with a progress display on `io`'s stdout. */
export async function runJobWithProgress(
  db: Db,
  io: Io,
  keyring: Keyring,
  table: DemoTable,
  kind: JobKind,
): Promise<JobResult> {
  await ensureJobTables(db.jobs);
  const [row] = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${ident(table.name)}`);
  const progress = createProgress({
    stream: { write: (text) => io.out(text), isTTY: io.stdoutIsTTY },
    kind,
    table: table.name,
    total: Number(row?.n ?? 0),
    indent: "   ",
  });
  const result = await runJob(db.jobs, jobTable(keyring, table), {
    kind,
    keyring,
    batchSize: BATCH_SIZE,
    onProgress: (p) => progress.update({ processed: p.processed, rate: p.rowsPerSecond }),
  });
  progress.done();
  return result;
}
