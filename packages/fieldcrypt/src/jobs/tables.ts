/** The job and job-error tables (normative text: spec/jobs-v1.md). */
import { InvalidOption } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import type { JobCounts, JobKind, JobStatus } from "./model.js";
import { JOB_RUNS_SQL } from "./runs.js";

export type { JobCounts, JobKind, JobStatus } from "./model.js";

/** A row of `fieldcrypt_jobs`. */
export interface JobRecord extends JobCounts {
  readonly id: string;
  readonly kind: JobKind;
  readonly table: string;
  readonly columns: readonly string[];
  readonly status: JobStatus;
  /** The primary key of the last row of the last committed batch (text form of each column), or null. */
  readonly cursor: readonly string[] | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly finishedAt: Date | null;
  readonly host: string | null;
  readonly pid: number | null;
  /** The worker holding the job's lease (`host/pid/random`), or null (single-cursor jobs only). */
  readonly owner: string | null;
  /** When that lease expires; another worker may take the job over after it. */
  readonly leaseUntil: Date | null;
  /** Number of key ranges of a parallel job (0: one cursor, on the job row). */
  readonly ranges: number;
}

/** A row of `fieldcrypt_job_errors`: where a cell failed and why. Never the data. */
export interface JobError {
  readonly jobId: string;
  readonly table: string;
  /** The row's primary key (text form of each column). */
  readonly rowKey: readonly string[];
  readonly column: string;
  /**
   * The row's scope (the value of the table's scope column, or the job's scope), the id apps log to
   * find the owner; null for an unscoped table, a row whose scope could not be read, or a row
   * recorded before the column existed.
   */
  readonly scope: string | null;
  /** A fieldcrypt error code (`ERR_*`), or `ERR_UNEXPECTED` for anything else. */
  readonly code: string;
  /**
   * The error's class: a fieldcrypt error's (`DecryptionFailed`, `KeyNotFound`), another error's
   * when its name is plain (`TypeError`), else `Error`; null for a row recorded before the column
   * existed. Never the message.
   */
  readonly errorClass: string | null;
  readonly createdAt: Date;
}

export const JOBS = "fieldcrypt_jobs";
const KIND_LIST = "'encrypt', 'rotate', 'decrypt', 'verify', 'import'";
export const JOB_ERRORS = "fieldcrypt_job_errors";
export const JOB_RANGES = "fieldcrypt_job_ranges";

/**
 * Creates the job tables if they do not exist (`CREATE TABLE IF NOT EXISTS`): `fieldcrypt_jobs`,
 * `fieldcrypt_job_errors`, `fieldcrypt_job_ranges` and the append-only record of runs
 * `fieldcrypt_job_runs`, in the first schema of the search path, and adds the columns later
 * versions introduced to older tables (the lease of `fieldcrypt_jobs`, `scope` and `error_class`
 * of `fieldcrypt_job_errors`). Exported from `fieldcrypt/jobs`.
 *
 * @example
 * ```ts
 * import { ensureJobTables } from "fieldcrypt/jobs";
 * await ensureJobTables(pool);
 * ```
 */
export async function ensureJobTables(db: Queryable): Promise<void> {
  await db.query(`CREATE TABLE IF NOT EXISTS ${JOBS} (
    id          text PRIMARY KEY,
    kind        text NOT NULL CONSTRAINT fieldcrypt_jobs_kind_check CHECK (kind IN (${KIND_LIST})),
    table_name  text NOT NULL,
    columns     text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'stopped', 'done', 'failed')),
    cursor      text,
    processed   bigint NOT NULL DEFAULT 0,
    changed     bigint NOT NULL DEFAULT 0,
    skipped     bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    batches     bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    host        text,
    pid         integer
  )`);
  await db.query(`CREATE TABLE IF NOT EXISTS ${JOB_ERRORS} (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      text NOT NULL REFERENCES ${JOBS} (id) ON DELETE CASCADE,
    table_name  text NOT NULL,
    row_key     text NOT NULL,
    column_name text NOT NULL,
    code        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
  )`);
  await db.query(`CREATE INDEX IF NOT EXISTS ${JOB_ERRORS}_job_id ON ${JOB_ERRORS} (job_id)`);
  // The row's scope, so that shredding a scope deletes the errors naming its rows (added later).
  await db.query(`ALTER TABLE ${JOB_ERRORS} ADD COLUMN IF NOT EXISTS scope text`);
  await db.query(`CREATE INDEX IF NOT EXISTS ${JOB_ERRORS}_scope ON ${JOB_ERRORS} (scope) WHERE scope IS NOT NULL`);
  // The error's class name, never its message (added later, like scope).
  await db.query(`ALTER TABLE ${JOB_ERRORS} ADD COLUMN IF NOT EXISTS error_class text`);
  // The lease (added after the first version of the table: ADD COLUMN keeps old tables usable).
  await db.query(`ALTER TABLE ${JOBS} ADD COLUMN IF NOT EXISTS owner text`);
  await db.query(`ALTER TABLE ${JOBS} ADD COLUMN IF NOT EXISTS lease_until timestamptz`);
  await db.query(`CREATE TABLE IF NOT EXISTS ${JOB_RANGES} (
    job_id      text NOT NULL REFERENCES ${JOBS} (id) ON DELETE CASCADE,
    range_no    integer NOT NULL,
    lower_key   text,
    upper_key   text,
    cursor      text,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done')),
    owner       text,
    lease_until timestamptz,
    processed   bigint NOT NULL DEFAULT 0,
    changed     bigint NOT NULL DEFAULT 0,
    skipped     bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    batches     bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, range_no)
  )`);
  for (const statement of JOB_RUNS_SQL) await db.query(statement);
  // Job kinds added after the first version of the table (import): widen an older CHECK.
  const { rows } = await db.query(
    `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
      WHERE conrelid = to_regclass('${JOBS}') AND conname = '${JOBS}_kind_check'`,
  );
  const def = (rows[0] as { def?: string } | undefined)?.def;
  if (def === undefined || !def.includes("'import'")) {
    await db.query(`ALTER TABLE ${JOBS} DROP CONSTRAINT IF EXISTS ${JOBS}_kind_check`);
    await db.query(`ALTER TABLE ${JOBS} ADD CONSTRAINT ${JOBS}_kind_check CHECK (kind IN (${KIND_LIST}))`);
  }
}

interface JobRow {
  id: string;
  kind: JobKind;
  table_name: string;
  columns: string;
  status: JobStatus;
  cursor: string | null;
  processed: unknown;
  changed: unknown;
  skipped: unknown;
  failed: unknown;
  batches: unknown;
  created_at: Date | string;
  updated_at: Date | string;
  finished_at: Date | string | null;
  host: string | null;
  pid: number | null;
  owner?: string | null;
  lease_until?: Date | string | null;
  ranges: unknown;
  r_processed: unknown;
  r_changed: unknown;
  r_skipped: unknown;
  r_failed: unknown;
  r_batches: unknown;
}

const toDate = (value: Date | string): Date => (value instanceof Date ? value : new Date(value));

/**
 * The job with this id, or `undefined`. Exported from `fieldcrypt/jobs`.
 *
 * @example
 * ```ts
 * const job = await getJob(pool, jobId); // job.status, job.cursor, job.failed
 * ```
 */
export async function getJob(db: Queryable, id: string): Promise<JobRecord | undefined> {
  // A parallel job's batches count on their ranges' rows only (one row per worker, no contention on
  // the job row): its totals are the job row's own counts (retries of errors) plus the ranges'.
  const { rows } = await db.query(
    `SELECT j.*, r.* FROM ${JOBS} j CROSS JOIN LATERAL (
       SELECT count(*) AS ranges, coalesce(sum(processed), 0) AS r_processed, coalesce(sum(changed), 0) AS r_changed,
              coalesce(sum(skipped), 0) AS r_skipped, coalesce(sum(failed), 0) AS r_failed,
              coalesce(sum(batches), 0) AS r_batches
         FROM ${JOB_RANGES} WHERE job_id = j.id) r
     WHERE j.id = $1`,
    [id],
  );
  const row = rows[0] as JobRow | undefined;
  if (row === undefined) return undefined;
  return {
    id: row.id,
    kind: row.kind,
    table: row.table_name,
    columns: JSON.parse(row.columns) as string[],
    status: row.status,
    cursor: row.cursor === null ? null : (JSON.parse(row.cursor) as string[]),
    processed: Number(row.processed) + Number(row.r_processed),
    changed: Number(row.changed) + Number(row.r_changed),
    skipped: Number(row.skipped) + Number(row.r_skipped),
    failed: Number(row.failed) + Number(row.r_failed),
    batches: Number(row.batches) + Number(row.r_batches),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    finishedAt: row.finished_at === null ? null : toDate(row.finished_at),
    host: row.host,
    pid: row.pid,
    owner: row.owner ?? null,
    leaseUntil: row.lease_until === null || row.lease_until === undefined ? null : toDate(row.lease_until),
    ranges: Number(row.ranges),
  };
}

/**
 * The errors a job recorded, oldest first. Exported from `fieldcrypt/jobs`.
 *
 * @example
 * ```ts
 * for (const e of await listJobErrors(pool, jobId)) report(e.table, e.rowKey, e.column, e.scope, e.code, e.errorClass);
 * ```
 */
export async function listJobErrors(db: Queryable, jobId: string): Promise<JobError[]> {
  if (typeof jobId !== "string") throw new InvalidOption("jobId must be a string");
  const { rows } = await db.query(
    `SELECT job_id, table_name, row_key, column_name, scope, code, error_class, created_at
       FROM ${JOB_ERRORS} WHERE job_id = $1 ORDER BY id`,
    [jobId],
  );
  return (
    rows as {
      job_id: string;
      table_name: string;
      row_key: string;
      column_name: string;
      scope: string | null;
      code: string;
      error_class: string | null;
      created_at: Date | string;
    }[]
  ).map((row) => ({
    jobId: row.job_id,
    table: row.table_name,
    rowKey: JSON.parse(row.row_key) as string[],
    column: row.column_name,
    scope: row.scope,
    code: row.code,
    errorClass: row.error_class,
    createdAt: toDate(row.created_at),
  }));
}
