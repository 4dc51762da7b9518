/** runJob: one worker running a job over a table, batch by batch. */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { type ErrorCode, InvalidOption, isFieldcryptError } from "../errors/index.js";
import type { Keyring } from "../keyring/keyring.js";
import type { Queryable } from "../pg/index.js";
import type { EncryptedTable } from "../table/index.js";
import { type BatchPlan, columnTypes, keyAlias, selectBatch, toText, updateBatch } from "./sql.js";
import { getJob, JOB_ERRORS, JOBS, type JobCounts, type JobKind, type JobStatus } from "./tables.js";
import { type JobDatabase, withTransaction } from "./transaction.js";
import { type JobColumn, transformCell } from "./transform.js";

const KINDS: readonly JobKind[] = ["encrypt", "rotate", "decrypt", "verify"];

/** A batch about to be written, handed to {@link RunJobOptions.beforeWrite}. */
export interface BeforeWriteBatch {
  /** The transaction of the batch (a concurrent writer in a test writes elsewhere, or through it). */
  readonly tx: Queryable;
  /** Primary keys (text form) of the rows the batch read. */
  readonly keys: readonly (readonly string[])[];
  /** Primary keys (text form) of the rows the batch is about to update. */
  readonly changing: readonly (readonly string[])[];
}

/** Progress after each committed batch. */
export interface JobProgress extends JobCounts {
  readonly jobId: string | null;
  readonly kind: JobKind;
  readonly table: string;
  /** Counts of the batch just committed. */
  readonly batch: Omit<JobCounts, "batches">;
  /** Rows read per second in this run. */
  readonly rowsPerSecond: number;
  readonly elapsedMs: number;
  readonly cursor: readonly string[] | null;
}

/** Options of {@link runJob}. */
export interface RunJobOptions {
  /** `encrypt` (plaintext → cells), `rotate` (cells → primary key), `decrypt` (roll back), `verify` (read only). */
  readonly kind: JobKind;
  /** Encrypted columns to work on (default: every encrypted column of the table). */
  readonly columns?: readonly string[] | undefined;
  /** The keyring of the table: `rotate` needs it to know each scope's primary key. */
  readonly keyring?: Keyring | undefined;
  /** Resume this job (from `fieldcrypt_jobs`) after its last committed batch. */
  readonly jobId?: string | undefined;
  /** Rows per batch (one SELECT, one UPDATE, one transaction). Default 1000. */
  readonly batchSize?: number | undefined;
  /** Read and transform everything, write nothing (no job row, no errors, no updates). */
  readonly dryRun?: boolean | undefined;
  /** Stops the job at the next batch boundary; the result's status is then `stopped`. */
  readonly signal?: AbortSignal | undefined;
  /** Called after each committed batch. */
  readonly onProgress?: ((progress: JobProgress) => void) | undefined;
  /** Throttle: sleep between batches to stay under this many rows read per second. */
  readonly maxRowsPerSecond?: number | undefined;
  /** The scope of every row, for tables whose scope comes from the caller rather than a column. */
  readonly scope?: string | undefined;
  /** Keyset columns for a table declared without `primaryKey` (its cells are not bound to rows). */
  readonly keyColumns?: readonly string[] | undefined;
  /**
   * Testing hook: runs in the batch's transaction after the batch was read and transformed, just
   * before its UPDATE (where a concurrent write would race the job).
   */
  readonly beforeWrite?: ((batch: BeforeWriteBatch) => Promise<void> | void) | undefined;
}

/** What a job run did. Counts are the job's totals (over every run of a resumed job). */
export interface JobResult extends JobCounts {
  /** The job's id (`null` for a dry run that did not resume a job). */
  readonly jobId: string | null;
  readonly kind: JobKind;
  readonly table: string;
  readonly columns: readonly string[];
  /** `done`, or `stopped` when the signal aborted it (resume with `jobId`). */
  readonly status: Extract<JobStatus, "done" | "stopped">;
  /** The primary key (text form) of the last row processed, or null. */
  readonly cursor: readonly string[] | null;
  readonly dryRun: boolean;
}

/**
 * Runs (or resumes) a job over an encrypted table: keyset batches on the primary key, each read,
 * transformed in JS and written with one compare-and-swap `UPDATE … FROM unnest(…)` in its own
 * transaction, with the cursor checkpointed in that same transaction. A cell that fails is recorded
 * in `fieldcrypt_job_errors` (row key, column, code; never data) and the job goes on. Needs
 * {@link ensureJobTables} first. Exported from `fieldcrypt/jobs`.
 *
 * @example
 * ```ts
 * import { ensureJobTables, runJob } from "fieldcrypt/jobs";
 * await ensureJobTables(pool);
 * const result = await runJob(pool, patients, { kind: "rotate", keyring, signal });
 * if (result.failed > 0) process.exitCode = 1;
 * ```
 */
export async function runJob(db: JobDatabase, table: EncryptedTable, options: RunJobOptions): Promise<JobResult> {
  const { kind, signal, onProgress, beforeWrite, keyring } = options;
  if (!KINDS.includes(kind)) throw new InvalidOption(`job kind must be one of ${KINDS.join(", ")}`);
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
    throw new InvalidOption("batchSize must be an integer from 1 to 100000");
  }
  const rate = options.maxRowsPerSecond;
  if (rate !== undefined && !(typeof rate === "number" && rate > 0 && Number.isFinite(rate))) {
    throw new InvalidOption("maxRowsPerSecond must be a positive number");
  }
  if (kind === "rotate" && keyring === undefined) throw new InvalidOption("a rotate job needs the keyring");
  const dryRun = options.dryRun === true;
  const names = options.columns ?? [...table.columns.keys()];
  if (names.length === 0) throw new InvalidOption(`${table.table}: the job has no columns`);
  const targets: JobColumn[] = names.map((name) => {
    const column = table.columns.get(name);
    if (column === undefined) throw new InvalidOption(`${table.table}.${name} is not an encrypted column`);
    return { name, column, blindIndex: table.blindIndexes.get(name) };
  });
  const keys = table.primaryKey ?? options.keyColumns;
  if (keys === undefined || keys.length === 0) {
    throw new InvalidOption(`${table.table}: a job pages by primary key (declare primaryKey, or pass keyColumns)`);
  }
  if (table.scope !== undefined && "current" in table.scope && options.scope === undefined) {
    throw new InvalidOption(`${table.table}: the table takes its scope from the caller; pass the job's scope`);
  }
  const rowScope = options.scope === undefined ? undefined : { scope: options.scope };

  // Written columns in a fixed order: each encrypted column, then its blind-index column.
  const written: string[] = [];
  for (const t of targets) {
    written.push(t.name);
    if (t.blindIndex !== undefined && kind !== "decrypt") written.push(t.blindIndex.column);
  }
  const read = [
    ...new Set([
      ...keys,
      ...(table.scope !== undefined && "column" in table.scope ? [table.scope.column] : []),
      ...written,
    ]),
  ];
  const types = await columnTypes(db, table.table, read);
  const plan: BatchPlan = { table: table.table, keys, read, types };

  // The job row: resumed, or created.
  let jobId: string | null = options.jobId ?? null;
  const totals = { processed: 0, changed: 0, skipped: 0, failed: 0, batches: 0 };
  let cursor: string[] | null = null;
  if (jobId !== null) {
    const job = await getJob(db, jobId);
    if (job === undefined) throw new InvalidOption(`job ${JSON.stringify(jobId)} does not exist`);
    if (job.kind !== kind || job.table !== table.table || job.columns.join(",") !== names.join(",")) {
      throw new InvalidOption(`job ${JSON.stringify(jobId)} is a ${job.kind} job of other columns or another table`);
    }
    Object.assign(totals, {
      processed: job.processed,
      changed: job.changed,
      skipped: job.skipped,
      failed: job.failed,
      batches: job.batches,
    });
    cursor = job.cursor === null ? null : [...job.cursor];
    if (job.status === "done") return result("done");
    if (!dryRun) {
      await db.query(`UPDATE ${JOBS} SET status = 'running', host = $2, pid = $3, updated_at = now() WHERE id = $1`, [
        jobId,
        hostname(),
        process.pid,
      ]);
    }
  } else if (!dryRun) {
    jobId = randomUUID();
    await db.query(
      `INSERT INTO ${JOBS} (id, kind, table_name, columns, status, host, pid) VALUES ($1, $2, $3, $4, 'running', $5, $6)`,
      [jobId, kind, table.table, JSON.stringify(names), hostname(), process.pid],
    );
  }

  function result(status: "done" | "stopped"): JobResult {
    return { jobId, kind, table: table.table, columns: names, status, cursor, dryRun, ...totals };
  }

  const started = performance.now();
  let readThisRun = 0;
  const setStatus = async (status: JobStatus): Promise<void> => {
    if (dryRun || jobId === null) return;
    await db.query(
      `UPDATE ${JOBS} SET status = $2, updated_at = now(), finished_at = CASE WHEN $2 = 'done' THEN now() END WHERE id = $1`,
      [jobId, status],
    );
  };

  try {
    for (;;) {
      if (signal?.aborted === true) {
        await setStatus("stopped");
        return result("stopped");
      }
      const batch = async (tx: Queryable) => {
        const select = selectBatch(plan, cursor, batchSize);
        const rows = (await tx.query(select.text, select.values)).rows as Record<string, unknown>[];
        const counts = { processed: rows.length, changed: 0, skipped: 0, failed: 0 };
        if (rows.length === 0) return { counts, last: null, more: false };
        const allKeys: string[][] = [];
        const updates: { keys: string[]; old: (string | null)[]; next: (string | null)[] }[] = [];
        const errors: { rowKey: string; column: string; code: string }[] = [];
        for (const row of rows) {
          const rowKeys = keys.map((_, i) => row[keyAlias(i)] as string);
          allKeys.push(rowKeys);
          const next = new Map<string, unknown>();
          let failed = false;
          for (const target of targets) {
            const indexColumn = target.blindIndex?.column;
            try {
              const change = transformCell(
                kind,
                target,
                row[target.name],
                indexColumn === undefined ? undefined : row[indexColumn],
                () => table.rowContext(row, rowScope),
                keyring,
              );
              if (change === undefined) continue;
              next.set(target.name, change.value);
              if (indexColumn !== undefined && "blindIndex" in change) next.set(indexColumn, change.blindIndex);
            } catch (error) {
              failed = true;
              errors.push({ rowKey: JSON.stringify(rowKeys), column: target.name, code: errorCode(error) });
            }
          }
          if (failed) counts.failed++;
          if (next.size === 0) continue;
          updates.push({
            keys: rowKeys,
            old: written.map((c) => toText(row[c])),
            next: written.map((c) => toText(next.has(c) ? next.get(c) : row[c])),
          });
        }
        if (beforeWrite !== undefined) await beforeWrite({ tx, keys: allKeys, changing: updates.map((u) => u.keys) });
        if (dryRun) {
          counts.changed = updates.length;
        } else {
          if (updates.length > 0) {
            const update = updateBatch(plan, written, updates);
            counts.changed = (await tx.query(update.text, update.values)).rows.length;
            counts.skipped = updates.length - counts.changed;
          }
          if (errors.length > 0) {
            await tx.query(
              `INSERT INTO ${JOB_ERRORS} (job_id, table_name, row_key, column_name, code)
               SELECT $1, $2, e.row_key, e.column_name, e.code FROM unnest($3::text[], $4::text[], $5::text[]) AS e(row_key, column_name, code)`,
              [jobId, table.table, errors.map((e) => e.rowKey), errors.map((e) => e.column), errors.map((e) => e.code)],
            );
          }
          // The checkpoint commits with the batch: a killed job resumes right after it.
          await tx.query(
            `UPDATE ${JOBS} SET cursor = $2, processed = processed + $3, changed = changed + $4, skipped = skipped + $5,
               failed = failed + $6, batches = batches + 1, updated_at = now() WHERE id = $1`,
            [
              jobId,
              JSON.stringify(allKeys[allKeys.length - 1]),
              counts.processed,
              counts.changed,
              counts.skipped,
              counts.failed,
            ],
          );
        }
        return { counts, last: allKeys[allKeys.length - 1] as string[], more: rows.length === batchSize };
      };
      const done = dryRun ? await batch(db) : await withTransaction(db, batch);
      if (done.last === null) break;
      cursor = done.last;
      totals.processed += done.counts.processed;
      totals.changed += done.counts.changed;
      totals.skipped += done.counts.skipped;
      totals.failed += done.counts.failed;
      totals.batches++;
      readThisRun += done.counts.processed;
      const elapsedMs = performance.now() - started;
      onProgress?.({
        jobId,
        kind,
        table: table.table,
        ...totals,
        batch: done.counts,
        rowsPerSecond: elapsedMs > 0 ? (readThisRun * 1000) / elapsedMs : 0,
        elapsedMs,
        cursor,
      });
      if (!done.more) break;
      if (rate !== undefined) await sleep((readThisRun * 1000) / rate - (performance.now() - started), signal);
    }
    await setStatus("done");
    return result("done");
  } catch (error) {
    await setStatus("failed").catch(() => {});
    throw error;
  }
}

/** The stable code of a failure: a fieldcrypt code, or ERR_UNEXPECTED (never the message). */
function errorCode(error: unknown): ErrorCode | "ERR_UNEXPECTED" {
  return isFieldcryptError(error) ? error.code : "ERR_UNEXPECTED";
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted === true) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
