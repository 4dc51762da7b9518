/** runJob: one worker running a job over a table, batch by batch. */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { resolveActor } from "../audit/actor.js";
import { appendAudit } from "../audit/append.js";
import type { Auditor } from "../audit/auditor.js";
import { type ErrorCode, InvalidOption, isFieldcryptError } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import type { Keyring } from "../keyring/keyring.js";
import type { EncryptedTable, EncryptedTableOptions, TableColumnOptions } from "../table/index.js";
import { JobBusy } from "./job-busy.js";
import { appendJobRun } from "./runs.js";
import {
  type BatchPlan,
  columnTypes,
  keyAlias,
  quote,
  rangeBounds,
  selectBatch,
  selectByKeys,
  toText,
  updateBatch,
} from "./sql.js";
import { getJob, JOB_ERRORS, JOB_RANGES, JOBS, type JobCounts, type JobKind, type JobStatus } from "./tables.js";
import { keyringData, type TargetData, type ThreadResult, type ThreadSetup, TransformThreads } from "./threads.js";
import { type JobDatabase, withTransaction } from "./transaction.js";
import { type JobColumn, transformCell } from "./transform.js";

const KINDS: readonly JobKind[] = ["encrypt", "rotate", "decrypt", "verify", "import"];

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
  /**
   * `encrypt` (plaintext → cells), `rotate` (cells → primary key), `decrypt` (roll back), `verify`
   * (read only), `import` (legacy values → cells, through each column's `legacy` format).
   */
  readonly kind: JobKind;
  /**
   * Import jobs only: per encrypted column, the column that holds its legacy values, when they are
   * not in the encrypted column itself (e.g. `{ note: "note_fernet" }`). The source is left as it
   * is, so the old app keeps reading it and the import can be undone by dropping the new column.
   */
  readonly importFrom?: Readonly<Record<string, string>> | undefined;
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
  /**
   * Verify jobs only: the fraction of rows to read and decrypt, in (0, 1] (default 1, every row).
   * The server picks each row with this probability as it scans the key order (`random() < p`), so
   * a 1% sample of a large table reads and decrypts about 1% of it. Pass the same value to resume.
   */
  readonly sample?: number | undefined;
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
  /**
   * Concurrent loops in this process, each claiming key ranges (`fieldcrypt_job_ranges`) and
   * running its batches on its own pooled connection. On PGlite or a single session they run one
   * after the other. More than 1 makes a new job a parallel one. Default 1.
   */
  readonly workers?: number | undefined;
  /**
   * Key ranges a new job is split into (default `4 × workers` when `workers > 1`; otherwise the
   * job has one cursor). A job created with ranges is always run by ranges, by every process that
   * runs it: several processes with the same `jobId` share its ranges.
   */
  readonly ranges?: number | undefined;
  /**
   * Seconds a worker's lease on the job (or on a range) lasts; it is renewed in every batch's
   * transaction. A killed worker's job can be taken over once its lease expires. Default 30.
   */
  readonly leaseSeconds?: number | undefined;
  /**
   * Transform threads: the decrypt/encrypt of each batch runs on one of this many worker threads
   * (default 0: on the main thread), so one process uses several cores for the crypto while its
   * main thread drives the database. The table must come from `encryptedTable` with columns
   * described by plain data (no custom normalizer functions, no legacy formats: not for import).
   */
  readonly threads?: number | undefined;
  /**
   * Retry only the rows recorded in `fieldcrypt_job_errors` for `jobId` (which is required): each is
   * read again by its primary key and transformed; its error rows are replaced by the errors of this
   * attempt (none when it succeeds). The job's cursor, ranges and status are left as they are.
   */
  readonly retryErrors?: boolean | undefined;
  /** Who runs the job, for the record of runs (`fieldcrypt_job_runs`) and the audit log. Default: the OS user. */
  readonly actor?: string | undefined;
  /** Also append `job.start` / `job.end` entries to the hash-chained audit log (`fieldcrypt/audit`). */
  readonly auditor?: Auditor | undefined;
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
  const sample = options.sample;
  if (sample !== undefined) {
    if (kind !== "verify") throw new InvalidOption("sample is an option of verify jobs only");
    if (!(typeof sample === "number" && sample > 0 && sample <= 1)) {
      throw new InvalidOption("sample must be a number greater than 0 and at most 1");
    }
  }
  const retry = options.retryErrors === true;
  if (retry && options.jobId === undefined)
    throw new InvalidOption("retryErrors needs the jobId whose errors to retry");
  const actor = resolveActor(options.actor);
  const names = options.columns ?? [...table.columns.keys()];
  if (names.length === 0) throw new InvalidOption(`${table.table}: the job has no columns`);
  const importFrom = options.importFrom ?? {};
  if (options.importFrom !== undefined && kind !== "import") {
    throw new InvalidOption("importFrom is an option of import jobs only");
  }
  const targets: JobColumn[] = names.map((name) => {
    const column = table.columns.get(name);
    if (column === undefined) throw new InvalidOption(`${table.table}.${name} is not an encrypted column`);
    if (kind === "import" && column.legacy === undefined) {
      throw new InvalidOption(`${table.table}.${name} has no legacy format to import from (column option legacy)`);
    }
    const source = Object.hasOwn(importFrom, name) ? importFrom[name] : undefined;
    if (source !== undefined && (typeof source !== "string" || source === name || table.columns.has(source))) {
      throw new InvalidOption(`importFrom.${name} must name another column, one that is not an encrypted column`);
    }
    return { name, column, blindIndex: table.blindIndexes.get(name), source };
  });
  for (const from of Object.keys(importFrom)) {
    if (!names.includes(from)) throw new InvalidOption(`importFrom.${from} is not a column of the job`);
  }
  // Legacy formats of an import job, each once (a format may serve several columns).
  const formats = kind === "import" ? [...new Set(targets.map((t) => t.column.legacy))] : [];
  const keys = table.primaryKey ?? options.keyColumns;
  if (keys === undefined || keys.length === 0) {
    throw new InvalidOption(`${table.table}: a job pages by primary key (declare primaryKey, or pass keyColumns)`);
  }
  if (table.scope !== undefined && "current" in table.scope && options.scope === undefined) {
    throw new InvalidOption(`${table.table}: the table takes its scope from the caller; pass the job's scope`);
  }
  const rowScope = options.scope === undefined ? undefined : { scope: options.scope };

  // Written columns in a fixed order: each encrypted column, then its blind-index column (and an
  // import's source column, written back unchanged: the compare-and-swap then covers it too).
  const written: string[] = [];
  for (const t of targets) {
    written.push(t.name);
    if (t.blindIndex !== undefined && kind !== "decrypt") written.push(t.blindIndex.column);
    if (t.source !== undefined && !written.includes(t.source)) written.push(t.source);
  }
  const read = [
    ...new Set([
      ...keys,
      ...(table.scope !== undefined && "column" in table.scope ? [table.scope.column] : []),
      ...written,
      ...formats.flatMap((f) => f?.rowColumns ?? []),
    ]),
  ];
  const types = await columnTypes(db, table.table, read);
  const plan: BatchPlan = { table: table.table, keys, read, types };

  const leaseSeconds = options.leaseSeconds ?? 30;
  if (!(typeof leaseSeconds === "number" && leaseSeconds > 0 && Number.isFinite(leaseSeconds))) {
    throw new InvalidOption("leaseSeconds must be a positive number");
  }
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    throw new InvalidOption("workers must be an integer from 1 to 64");
  }
  const rangeCount = options.ranges ?? (workers > 1 ? workers * 4 : undefined);
  const threadCount = options.threads ?? 0;
  if (!Number.isInteger(threadCount) || threadCount < 0 || threadCount > 64) {
    throw new InvalidOption("threads must be an integer from 0 to 64");
  }
  if (threadCount > 0 && kind === "import") {
    throw new InvalidOption("threads are not available for import jobs: legacy formats run on the main thread");
  }
  // Checked now; the threads start with the first batch and stop when the run ends.
  const threadSetup = threadCount > 0 ? threadSetupOf(kind, table, targets, keyring) : undefined;
  let threads: TransformThreads | undefined;
  if (rangeCount !== undefined && (!Number.isInteger(rangeCount) || rangeCount < 1 || rangeCount > 10_000)) {
    throw new InvalidOption("ranges must be an integer from 1 to 10000");
  }
  // Who holds a lease: this call of runJob (a second call in the same process is another owner).
  const me = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  const lease = `make_interval(secs => ${Number(leaseSeconds)}::double precision)`;

  // The job row: resumed, or created.
  let jobId: string | null = options.jobId ?? null;
  const totals = { processed: 0, changed: 0, skipped: 0, failed: 0, batches: 0 };
  let cursor: string[] | null = null;
  let ranged = false;
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
    if (job.status === "done" && !retry) return result("done");
    ranged = job.ranges > 0 && !dryRun && !retry;
    // A parallel job's cursor is only the last batch of some worker: a dry run reads the whole table.
    if (job.ranges > 0 && dryRun) cursor = null;
    if (retry && !dryRun) {
      // A retry leases the job row like a single-cursor run, but leaves its status alone.
      const claimed = await db.query(
        `UPDATE ${JOBS} SET owner = $2, lease_until = now() + ${lease}, updated_at = now()
          WHERE id = $1 AND (owner IS NULL OR owner = $2 OR lease_until < now()) RETURNING 1`,
        [jobId, me],
      );
      if (claimed.rows.length === 0) throw new JobBusy(jobId);
    } else if (!dryRun && !ranged) {
      const claimed = await db.query(
        `UPDATE ${JOBS} SET status = 'running', host = $2, pid = $3, owner = $4, lease_until = now() + ${lease},
           updated_at = now() WHERE id = $1 AND (owner IS NULL OR owner = $4 OR lease_until < now()) RETURNING 1`,
        [jobId, hostname(), process.pid, me],
      );
      if (claimed.rows.length === 0) throw new JobBusy(jobId);
    } else if (ranged) {
      await db.query(`UPDATE ${JOBS} SET status = 'running', updated_at = now() WHERE id = $1 AND status <> 'done'`, [
        jobId,
      ]);
    }
  } else if (!dryRun) {
    const id = randomUUID();
    jobId = id;
    ranged = rangeCount !== undefined;
    await withTransaction(db, async (tx) => {
      await tx.query(
        `INSERT INTO ${JOBS} (id, kind, table_name, columns, status, host, pid, owner, lease_until)
         VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, ${ranged ? "NULL" : `now() + ${lease}`})`,
        [id, kind, table.table, JSON.stringify(names), hostname(), process.pid, ranged ? null : me],
      );
      if (ranged) await createRanges(tx, plan, id, rangeCount as number);
    });
  }

  function result(status: "done" | "stopped"): JobResult {
    return { jobId, kind, table: table.table, columns: names, status, cursor, dryRun, ...totals };
  }

  const started = performance.now();
  let readThisRun = 0;

  // The record of this run (not of dry runs, which write nothing): `start` now, `end` in `finish`.
  const run = {
    runId: me,
    jobId: jobId as string,
    kind,
    table: table.table,
    columns: names,
    keys: (keyring ?? table.keyring).list(),
    actor,
    host: hostname(),
    pid: process.pid,
  };
  const auditRun = async (action: string, extra: Record<string, unknown>) => {
    if (options.auditor === undefined) return;
    await appendAudit(db, options.auditor, {
      actor,
      action,
      keyIds: run.keys.map((k) => k.id),
      details: {
        jobId: run.jobId,
        runId: me,
        kind,
        table: table.table,
        columns: names,
        host: run.host,
        pid: run.pid,
        retryErrors: retry,
        ...extra,
      },
    });
  };
  if (!dryRun) {
    await appendJobRun(db, { ...run, event: "start", status: null, errorCode: null, counts: null });
    await auditRun("job.start", {});
  }
  const finish = async (status: "done" | "stopped" | "failed", error?: unknown): Promise<void> => {
    if (dryRun) return;
    const code = status === "failed" ? errorCode(error) : null;
    const counts = { ...totals };
    await appendJobRun(db, { ...run, event: "end", status, errorCode: code, counts });
    await auditRun("job.end", { status, errorCode: code, ...counts });
  };

  const setStatus = async (status: JobStatus): Promise<void> => {
    if (dryRun || jobId === null) return;
    if (retry) {
      await db.query(
        `UPDATE ${JOBS} SET owner = NULL, lease_until = NULL, updated_at = now() WHERE id = $1 AND owner = $2`,
        [jobId, me],
      );
      return;
    }
    if (ranged) {
      // Ranges leased to this call go back to the pool; the job is done only when every range is.
      await db.query(`UPDATE ${JOB_RANGES} SET owner = NULL, lease_until = NULL WHERE job_id = $1 AND owner LIKE $2`, [
        jobId,
        `${me}/%`,
      ]);
      await db.query(
        `UPDATE ${JOBS} SET status = $2, updated_at = now(), finished_at = CASE WHEN $2 = 'done' THEN now() END
          WHERE id = $1 AND status <> 'done' AND ($2 = 'done' OR NOT EXISTS (
            SELECT 1 FROM ${JOB_RANGES} WHERE job_id = $1 AND status <> 'done' AND lease_until >= now()))`,
        [jobId, status],
      );
      return;
    }
    // Only the lease holder changes the status (a runner that lost its lease leaves the job alone).
    await db.query(
      `UPDATE ${JOBS} SET status = $2, updated_at = now(), finished_at = CASE WHEN $2 = 'done' THEN now() END,
         owner = NULL, lease_until = NULL WHERE id = $1 AND (owner IS NULL OR owner = $3)`,
      [jobId, status, me],
    );
  };

  /** One batch of a lane, in `tx`: claim, read, transform, write, record errors, checkpoint. */
  const runBatch = async (tx: Queryable, lane: Lane) => {
    if (!dryRun) await lane.claim(tx);
    let rows: Record<string, unknown>[];
    let more: boolean;
    if (lane.read !== undefined) {
      ({ rows, more } = await lane.read(tx));
    } else {
      const select = selectBatch(plan, lane.cursor, batchSize, lane.upTo, sample);
      rows = (await tx.query(select.text, select.values)).rows as Record<string, unknown>[];
      more = rows.length === batchSize;
    }
    const counts = { processed: rows.length, changed: 0, skipped: 0, failed: 0 };
    if (rows.length === 0) {
      if (!dryRun) await lane.checkpoint(tx, counts, null, more);
      return { counts, last: null, more };
    }
    // Keys the legacy formats need for this batch (PBKDF2 per user), derived once, off the main thread.
    for (const format of formats) await format?.prepare?.(rows);
    // With transform threads, the batch's cells are transformed there; the contexts are computed here.
    if (threadSetup !== undefined) threads ??= new TransformThreads(threadCount, threadSetup);
    let threaded: ThreadResult[] | undefined;
    if (threads !== undefined) {
      const scopes: (string | undefined)[] = [];
      const rowKeys: unknown[] = [];
      const contextErrors: (string | undefined)[] = [];
      for (const row of rows) {
        try {
          const ctx = table.rowContext(row, rowScope);
          scopes.push(ctx.scope);
          rowKeys.push(ctx.rowKey);
          contextErrors.push(undefined);
        } catch (error) {
          scopes.push(undefined);
          rowKeys.push(undefined);
          contextErrors.push(errorCode(error));
        }
      }
      threaded = await threads.transform({
        scopes,
        rowKeys,
        contextErrors,
        stored: targets.map((t) => rows.map((row) => row[t.name])),
        storedIndex: targets.map((t) =>
          t.blindIndex === undefined ? [] : rows.map((row) => row[(t.blindIndex as { column: string }).column]),
        ),
      });
    }
    const allKeys: string[][] = [];
    const updates: { keys: string[]; old: (string | null)[]; next: (string | null)[] }[] = [];
    const errors: { rowKey: string; column: string; code: string }[] = [];
    for (const [r, row] of rows.entries()) {
      const rowKeys = keys.map((_, i) => row[keyAlias(i)] as string);
      allKeys.push(rowKeys);
      const next = new Map<string, unknown>();
      let failed = false;
      for (const [t, target] of targets.entries()) {
        const indexColumn = target.blindIndex?.column;
        if (threaded !== undefined) {
          const result = threaded[t] as ThreadResult;
          const code = result.codes[r];
          if (code !== undefined) {
            failed = true;
            errors.push({ rowKey: JSON.stringify(rowKeys), column: target.name, code });
            continue;
          }
          const changed = result.changed[r];
          if (changed === 0) continue;
          next.set(target.name, result.values[r]);
          if (indexColumn !== undefined && changed === 2) next.set(indexColumn, result.indexes[r]);
          continue;
        }
        try {
          const change = transformCell(
            kind,
            target,
            row[target.name],
            indexColumn === undefined ? undefined : row[indexColumn],
            () => table.rowContext(row, rowScope),
            keyring,
            row,
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
    const last = allKeys[allKeys.length - 1] as string[];
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
      await lane.checkpoint(tx, counts, last, more);
    }
    return { counts, last, more };
  };

  const afterBatch = async (done: { counts: Omit<JobCounts, "batches">; last: string[] | null }) => {
    if (done.last !== null) cursor = done.last;
    totals.processed += done.counts.processed;
    totals.changed += done.counts.changed;
    totals.skipped += done.counts.skipped;
    totals.failed += done.counts.failed - retriedInBatch;
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
  };
  const throttle = async (stop: AbortSignal | undefined) => {
    if (rate !== undefined) await sleep((readThisRun * 1000) / rate - (performance.now() - started), stop);
  };

  // Retry: the rows of recorded errors, a page of distinct row keys at a time (in row_key order).
  let errorCursor: string | null = null;
  let retriedInBatch = 0;
  const readErrors = async (tx: Queryable): Promise<{ rows: Record<string, unknown>[]; more: boolean }> => {
    const page = await tx.query(
      `SELECT DISTINCT row_key FROM ${JOB_ERRORS} WHERE job_id = $1 AND ($2::text IS NULL OR row_key > $2)
        ORDER BY row_key LIMIT $3`,
      [jobId, errorCursor, batchSize],
    );
    const rowKeys = (page.rows as { row_key: string }[]).map((r) => r.row_key);
    retriedInBatch = dryRun ? 0 : rowKeys.length;
    if (rowKeys.length === 0) return { rows: [], more: false };
    errorCursor = rowKeys[rowKeys.length - 1] as string;
    // This attempt's errors replace the recorded ones (a row that no longer exists has none).
    if (!dryRun) {
      await tx.query(`DELETE FROM ${JOB_ERRORS} WHERE job_id = $1 AND row_key = ANY($2::text[])`, [jobId, rowKeys]);
    }
    const select = selectByKeys(plan, rowKeys.map(parseRowKey));
    const rows = (await tx.query(select.text, select.values)).rows as Record<string, unknown>[];
    return { rows, more: rowKeys.length === batchSize };
  };

  try {
    if (retry) {
      const lane: Lane = {
        cursor: null,
        upTo: null,
        read: readErrors,
        claim: async (tx) => {
          const claimed = await tx.query(
            `UPDATE ${JOBS} SET lease_until = now() + ${lease} WHERE id = $1 AND owner = $2 RETURNING 1`,
            [jobId, me],
          );
          if (claimed.rows.length === 0) throw new JobBusy(jobId as string);
        },
        // Counts go to the job row; `failed` drops by the rows retried and rises by those failing again.
        checkpoint: async (tx, counts) => {
          if (counts.processed === 0 && retriedInBatch === 0) return;
          await checkpointJob(tx, jobId as string, { ...counts, failed: counts.failed - retriedInBatch }, null);
        },
      };
      for (;;) {
        if (signal?.aborted === true) break;
        const done = dryRun ? await runBatch(db, lane) : await withTransaction(db, (tx) => runBatch(tx, lane));
        if (done.last === null && !done.more && retriedInBatch === 0) break;
        await afterBatch(done);
        if (!done.more) break;
        await throttle(signal);
      }
      const stopped = signal?.aborted === true;
      await setStatus(stopped ? "stopped" : "done");
      const job = await getJob(db, jobId as string);
      if (job !== undefined && !dryRun) Object.assign(totals, countsOf(job));
      await finish(stopped ? "stopped" : "done");
      return result(stopped ? "stopped" : "done");
    }
    if (ranged) {
      const status = await runRanges();
      await setStatus(status);
      const job = await getJob(db, jobId as string);
      if (job !== undefined) Object.assign(totals, countsOf(job));
      await finish(status);
      return result(status);
    }
    const lane: Lane = {
      cursor,
      upTo: null,
      claim: async (tx) => {
        // Renews the lease; in the same statement, refuses a job another live worker took over.
        const claimed = await tx.query(
          `UPDATE ${JOBS} SET owner = $2, lease_until = now() + ${lease} WHERE id = $1
             AND (owner IS NULL OR owner = $2 OR lease_until < now()) RETURNING 1`,
          [jobId, me],
        );
        if (claimed.rows.length === 0) throw new JobBusy(jobId as string);
      },
      checkpoint: async (tx, counts, last) => {
        if (last === null) return;
        await checkpointJob(tx, jobId as string, counts, last);
      },
    };
    for (;;) {
      if (signal?.aborted === true) {
        await setStatus("stopped");
        await finish("stopped");
        return result("stopped");
      }
      const done = dryRun ? await runBatch(db, lane) : await withTransaction(db, (tx) => runBatch(tx, lane));
      if (done.last === null) break;
      lane.cursor = done.last;
      await afterBatch(done);
      if (!done.more) break;
      await throttle(signal);
    }
    await setStatus("done");
    await finish("done");
    return result("done");
  } catch (error) {
    await setStatus("failed").catch(() => {});
    await finish("failed", error).catch(() => {});
    throw error;
  } finally {
    await threads?.close();
  }

  /** Parallel mode: `workers` loops (one on a single-session database) claiming ranges until none is left. */
  async function runRanges(): Promise<"done" | "stopped"> {
    const id = jobId as string;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    if (signal?.aborted === true) stop.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const concurrent = "connect" in db && typeof db.connect === "function" ? workers : 1;
    const pollMs = Math.min(1000, (leaseSeconds * 1000) / 4);
    const loop = async (worker: number): Promise<"done" | "stopped"> => {
      const owner = `${me}/${worker}`;
      for (;;) {
        if (stop.signal.aborted) return "stopped";
        // A short transaction: the next unfinished range that no live worker holds.
        const claimed = await withTransaction(db, async (tx) => {
          const { rows } = await tx.query(
            `SELECT range_no, lower_key, upper_key, cursor FROM ${JOB_RANGES}
              WHERE job_id = $1 AND status <> 'done' AND (owner IS NULL OR owner = $2 OR lease_until < now())
              ORDER BY range_no LIMIT 1 FOR UPDATE SKIP LOCKED`,
            [id, owner],
          );
          const row = rows[0] as
            | { range_no: number; lower_key: string | null; upper_key: string | null; cursor: string | null }
            | undefined;
          if (row === undefined) return undefined;
          await tx.query(
            `UPDATE ${JOB_RANGES} SET owner = $3, lease_until = now() + ${lease}, status = 'running', updated_at = now()
              WHERE job_id = $1 AND range_no = $2`,
            [id, row.range_no, owner],
          );
          return row;
        });
        if (claimed === undefined) {
          const { rows } = await db.query(
            `SELECT count(*)::integer AS n FROM ${JOB_RANGES} WHERE job_id = $1 AND status <> 'done'`,
            [id],
          );
          if (Number((rows[0] as { n: number }).n) === 0) return "done";
          // Others hold the remaining ranges: wait for them to finish or for a lease to expire.
          await sleep(pollMs, stop.signal);
          continue;
        }
        const start = claimed.cursor ?? claimed.lower_key;
        const lane: Lane = {
          cursor: start === null ? null : (JSON.parse(start) as string[]),
          upTo: claimed.upper_key === null ? null : (JSON.parse(claimed.upper_key) as string[]),
          claim: async (tx) => {
            const renewed = await tx.query(
              `UPDATE ${JOB_RANGES} SET lease_until = now() + ${lease} WHERE job_id = $1 AND range_no = $2
                 AND owner = $3 AND status <> 'done' RETURNING 1`,
              [id, claimed.range_no, owner],
            );
            if (renewed.rows.length === 0) throw new LeaseLost();
          },
          checkpoint: async (tx, counts, last, more) => {
            const finished = !more;
            await tx.query(
              `UPDATE ${JOB_RANGES} SET cursor = COALESCE($3, cursor), processed = processed + $4, changed = changed + $5,
                 skipped = skipped + $6, failed = failed + $7, batches = batches + $8, updated_at = now(),
                 status = CASE WHEN $9::boolean THEN 'done' ELSE 'running' END,
                 owner = CASE WHEN $9::boolean THEN NULL ELSE owner END,
                 lease_until = CASE WHEN $9::boolean THEN NULL ELSE lease_until END
               WHERE job_id = $1 AND range_no = $2`,
              [
                id,
                claimed.range_no,
                last === null ? null : JSON.stringify(last),
                counts.processed,
                counts.changed,
                counts.skipped,
                counts.failed,
                last === null ? 0 : 1,
                finished,
              ],
            );
            // The job row is not touched: its totals are the sum of its ranges' (getJob), so
            // parallel workers never queue on one row.
          },
        };
        for (;;) {
          if (stop.signal.aborted) return "stopped";
          let done: Awaited<ReturnType<typeof runBatch>>;
          try {
            done = await withTransaction(db, (tx) => runBatch(tx, lane));
          } catch (error) {
            if (error instanceof LeaseLost) break; // another worker took the range over: claim the next one
            throw error;
          }
          if (done.last === null) break;
          lane.cursor = done.last;
          await afterBatch(done);
          if (!done.more) break;
          await throttle(stop.signal);
        }
      }
    };
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: concurrent }, (_, i) =>
          loop(i).catch((error: unknown) => {
            stop.abort(); // one worker failing stops the others at their next batch boundary
            throw error;
          }),
        ),
      );
      for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
      return outcomes.some((o) => o.status === "fulfilled" && o.value === "stopped") ? "stopped" : "done";
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

/** Where one loop of batches reads, and how it claims and checkpoints its position. */
interface Lane {
  /** Reads the batch's rows itself (retries of recorded errors) instead of the next keyset page. */
  read?: ((tx: Queryable) => Promise<{ rows: Record<string, unknown>[]; more: boolean }>) | undefined;
  /** The last key done (exclusive lower bound), or null for the start. */
  cursor: string[] | null;
  /** Inclusive upper bound, or null for the end of the table. */
  readonly upTo: readonly string[] | null;
  /** First statement of every batch transaction: take or renew the lease (throws when lost). */
  claim(tx: Queryable): Promise<void>;
  /** Last statement of every batch transaction: the cursor and the counts. */
  checkpoint(
    tx: Queryable,
    counts: Omit<JobCounts, "batches">,
    last: readonly string[] | null,
    more: boolean,
  ): Promise<void>;
}

/** The range's lease went to another worker (this one stalled past it): drop the range. */
class LeaseLost extends Error {}

/** Splits a new parallel job into key ranges, in the job's creating transaction. */
async function createRanges(tx: Queryable, plan: BatchPlan, jobId: string, n: number): Promise<void> {
  // Up to n slices of equal size: every ceil(rows / n)-th key bounds one (a count, then one pass).
  const counted = await tx.query(`SELECT count(*)::bigint AS n FROM ${quote(plan.table)}`);
  const total = Number((counted.rows[0] as { n: unknown }).n);
  const step = Math.max(1, Math.ceil(total / n));
  const bounds = rangeBounds(plan, step, total);
  const rows = (await tx.query(bounds.text, bounds.values)).rows as Record<string, unknown>[];
  const uppers = rows.map((row) => JSON.stringify(plan.keys.map((_, i) => row[keyAlias(i)] as string)));
  const lowers: (string | null)[] = [null, ...uppers];
  const allUppers: (string | null)[] = [...uppers, null];
  await tx.query(
    `INSERT INTO ${JOB_RANGES} (job_id, range_no, lower_key, upper_key)
     SELECT $1, r.n, r.lower_key, r.upper_key FROM unnest($2::integer[], $3::text[], $4::text[]) AS r(n, lower_key, upper_key)`,
    [jobId, lowers.map((_, i) => i), lowers, allUppers],
  );
}

/**
 * What the transform threads start with: the keyrings' materials and the target columns' options,
 * checked to be plain data (a custom normalizer function or a legacy format cannot cross threads).
 */
function threadSetupOf(
  kind: JobKind,
  table: EncryptedTable,
  targets: readonly JobColumn[],
  keyring: Keyring | undefined,
): ThreadSetup {
  const { options, keyring: tableKeyring } = table;
  const data: TargetData[] = targets.map((target) => {
    const { blindIndex, ...columnOptions } = options.columns[target.name] as TableColumnOptions;
    if (columnOptions.legacy !== undefined) {
      throw new InvalidOption(
        `${table.table}.${target.name}: threads are not available for columns with a legacy format`,
      );
    }
    if (blindIndex === undefined) {
      return { name: target.name, table: table.table, options: { ...columnOptions }, blindIndex: undefined };
    }
    const { column, ...indexOptions } = blindIndex;
    if (indexOptions.normalize?.some((step) => typeof step === "function") === true) {
      throw new InvalidOption(
        `${table.table}.${target.name}: threads are not available for blind indexes with custom normalizer functions`,
      );
    }
    return {
      name: target.name,
      table: table.table,
      options: { ...columnOptions },
      blindIndex: { column, options: { ...indexOptions } },
    };
  });
  return {
    kind,
    tableKeyring: keyringData(tableKeyring),
    jobKeyring: keyring === undefined || keyring === tableKeyring ? undefined : keyringData(keyring),
    targets: data,
  };
}

function countsOf(job: JobCounts): JobCounts {
  const { processed, changed, skipped, failed, batches } = job;
  return { processed, changed, skipped, failed, batches };
}

/** A recorded row key (a JSON array of the key columns' text forms, written by this engine). */
function parseRowKey(text: string): string[] {
  const key = JSON.parse(text) as unknown;
  if (!Array.isArray(key) || !key.every((k) => typeof k === "string")) {
    throw new InvalidOption("fieldcrypt_job_errors holds a row_key that is not a JSON array of strings");
  }
  return key;
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

/** Moves the job's cursor past a committed batch and adds its counts, in the batch's transaction. */
async function checkpointJob(
  tx: Queryable,
  jobId: string,
  counts: Omit<JobCounts, "batches">,
  last: unknown,
): Promise<void> {
  // `last` null (a retry of recorded errors): the counts move, the cursor stays.
  await tx.query(
    `UPDATE ${JOBS} SET cursor = COALESCE($2, cursor), processed = processed + $3, changed = changed + $4,
       skipped = skipped + $5, failed = failed + $6, batches = batches + 1, updated_at = now() WHERE id = $1`,
    [
      jobId,
      last === null ? null : JSON.stringify(last),
      counts.processed,
      counts.changed,
      counts.skipped,
      counts.failed,
    ],
  );
}
