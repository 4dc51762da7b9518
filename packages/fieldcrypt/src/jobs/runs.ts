/**
 * The record of job runs: `fieldcrypt_job_runs`, append-only (normative text: spec/jobs-v1.md §8).
 *
 * Every call of `runJob` that writes (not a dry run) appends a `start` row when it has its job and
 * an `end` row when it finishes, stops or fails. A run killed with `kill -9` leaves a `start` row
 * with no `end`: the record shows it. Rows hold who, where, what and counts: never data or keys.
 */

import type { Queryable } from "../internal/db-port.js";
import type { KeyInfo } from "../keyring/keyring.js";
import type { JobCounts, JobKind } from "./model.js";

export const JOB_RUNS = "fieldcrypt_job_runs";

/** `CREATE TABLE` and its append-only guard (UPDATE, DELETE and TRUNCATE are refused). */
export const JOB_RUNS_SQL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS ${JOB_RUNS} (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id      text NOT NULL,
  job_id      text NOT NULL,
  event       text NOT NULL CHECK (event IN ('start', 'end')),
  kind        text NOT NULL,
  table_name  text NOT NULL,
  columns     text NOT NULL,
  key_ids     text NOT NULL,
  actor       text NOT NULL,
  host        text NOT NULL,
  pid         integer NOT NULL,
  status      text CHECK (status IN ('done', 'stopped', 'failed')),
  error_code  text,
  processed   bigint,
  changed     bigint,
  skipped     bigint,
  failed      bigint,
  batches     bigint,
  at          timestamptz NOT NULL DEFAULT clock_timestamp()
)`,
  `CREATE INDEX IF NOT EXISTS ${JOB_RUNS}_job_id ON ${JOB_RUNS} (job_id)`,
  `CREATE OR REPLACE FUNCTION ${JOB_RUNS}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '${JOB_RUNS} is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$`,
  `CREATE OR REPLACE TRIGGER ${JOB_RUNS}_no_change BEFORE UPDATE OR DELETE ON ${JOB_RUNS}
  FOR EACH ROW EXECUTE FUNCTION ${JOB_RUNS}_append_only()`,
  `CREATE OR REPLACE TRIGGER ${JOB_RUNS}_no_truncate BEFORE TRUNCATE ON ${JOB_RUNS}
  FOR EACH STATEMENT EXECUTE FUNCTION ${JOB_RUNS}_append_only()`,
];

/** A key as a run records it: its id, scope, state and public check value (`key.checkValue`). */
export interface RunKey extends KeyInfo {
  readonly checkValue: string | undefined;
}

/** One row of `fieldcrypt_job_runs`. */
export interface JobRunEvent {
  /** Pairs a run's `start` and `end` (the runner's owner name, `host/pid/random`). */
  readonly runId: string;
  readonly jobId: string;
  readonly event: "start" | "end";
  readonly kind: JobKind;
  readonly table: string;
  readonly columns: readonly string[];
  /**
   * The keyring's key ids, states and check values when the run started (`[]` for jobs run without
   * a keyring): which material wrote which part of the job. `checkValue` is `undefined` in runs
   * recorded before key check values.
   */
  readonly keys: readonly RunKey[];
  /** Who ran it: `RunJobOptions.actor`, else the OS user name. */
  readonly actor: string;
  readonly host: string;
  readonly pid: number;
  /** `end` only: how the run ended. */
  readonly status: "done" | "stopped" | "failed" | null;
  /** `end` of a failed run: the error's code (`ERR_*`, or `ERR_UNEXPECTED`); never its message. */
  readonly errorCode: string | null;
  /** `end` only: the job's totals when the run ended. */
  readonly counts: JobCounts | null;
  readonly at: Date;
}

/** Appends one event (the table must exist: `ensureJobTables`). */
export async function appendJobRun(db: Queryable, event: Omit<JobRunEvent, "at">): Promise<void> {
  const c = event.counts;
  await db.query(
    `INSERT INTO ${JOB_RUNS} (run_id, job_id, event, kind, table_name, columns, key_ids, actor, host, pid, status,
       error_code, processed, changed, skipped, failed, batches)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
    [
      event.runId,
      event.jobId,
      event.event,
      event.kind,
      event.table,
      JSON.stringify(event.columns),
      JSON.stringify(
        event.keys.map((k) => ({
          id: k.id,
          ...(k.scope === undefined ? {} : { scope: k.scope }),
          state: k.state,
          checkValue: k.checkValue,
        })),
      ),
      event.actor,
      event.host,
      event.pid,
      event.status,
      event.errorCode,
      c?.processed ?? null,
      c?.changed ?? null,
      c?.skipped ?? null,
      c?.failed ?? null,
      c?.batches ?? null,
    ],
  );
}

interface JobRunRow {
  run_id: string;
  job_id: string;
  event: "start" | "end";
  kind: JobKind;
  table_name: string;
  columns: string;
  key_ids: string;
  actor: string;
  host: string;
  pid: number;
  status: "done" | "stopped" | "failed" | null;
  error_code: string | null;
  processed: unknown;
  changed: unknown;
  skipped: unknown;
  failed: unknown;
  batches: unknown;
  at: Date | string;
}

/**
 * The recorded runs, oldest first: of one job, or the latest `limit` (default 100) of every job.
 * Exported from `fieldcrypt/jobs`.
 *
 * @example
 * ```ts
 * const runs = await listJobRuns(pool, { jobId }); // [{ event: "start", actor, host, … }, { event: "end", status, counts, … }]
 * ```
 */
export async function listJobRuns(
  db: Queryable,
  options: { readonly jobId?: string | undefined; readonly limit?: number | undefined } = {},
): Promise<JobRunEvent[]> {
  const limit = options.limit ?? 100;
  const { rows } =
    options.jobId === undefined
      ? await db.query(`SELECT * FROM (SELECT * FROM ${JOB_RUNS} ORDER BY id DESC LIMIT $1) r ORDER BY id`, [limit])
      : await db.query(`SELECT * FROM ${JOB_RUNS} WHERE job_id = $1 ORDER BY id`, [options.jobId]);
  return (rows as JobRunRow[]).map((row) => ({
    runId: row.run_id,
    jobId: row.job_id,
    event: row.event,
    kind: row.kind,
    table: row.table_name,
    columns: JSON.parse(row.columns) as string[],
    keys: (JSON.parse(row.key_ids) as RunKey[]).map((k) => ({
      id: k.id,
      scope: k.scope,
      state: k.state,
      checkValue: k.checkValue,
    })),
    actor: row.actor,
    host: row.host,
    pid: row.pid,
    status: row.status,
    errorCode: row.error_code,
    counts:
      row.event === "end"
        ? {
            processed: Number(row.processed),
            changed: Number(row.changed),
            skipped: Number(row.skipped),
            failed: Number(row.failed),
            batches: Number(row.batches),
          }
        : null,
    at: row.at instanceof Date ? row.at : new Date(row.at),
  }));
}
