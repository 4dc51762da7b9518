/**
 * SQL text of the job engine's own tables: the job row's lease, status and checkpoint, the range
 * rows of a parallel job, and the recorded errors (normative text: spec/jobs-v1.md). The engine
 * modules run these statements and hold none of their own. Not exported.
 */
import type { BatchCounts } from "./model.js";
import type { Statement } from "./sql.js";

export type { Statement } from "./sql.js";

import { JOB_ERRORS, JOB_RANGES, JOBS } from "./tables.js";

/** `now() + lease`: the lease length is a checked finite number, written into the text as one. */
const until = (leaseSeconds: number): string =>
  `now() + make_interval(secs => ${Number(leaseSeconds)}::double precision)`;

/** A row key or cursor as stored: a JSON array of the key columns' text forms, or null. */
const keyText = (key: readonly string[] | null): string | null => (key === null ? null : JSON.stringify(key));

/** A new job row; a parallel job's row holds no lease (its ranges do). */
export function insertJob(
  job: { id: string; kind: string; table: string; columns: readonly string[]; host: string; pid: number },
  owner: string | null,
  leaseSeconds: number,
): Statement {
  return {
    text: `INSERT INTO ${JOBS} (id, kind, table_name, columns, status, host, pid, owner, lease_until)
         VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, ${owner === null ? "NULL" : until(leaseSeconds)})`,
    values: [job.id, job.kind, job.table, JSON.stringify(job.columns), job.host, job.pid, owner],
  };
}

/** Resumes a single-cursor job: status, host and the lease, unless another live worker holds it. */
export function claimJob(id: string, host: string, pid: number, owner: string, leaseSeconds: number): Statement {
  return {
    text: `UPDATE ${JOBS} SET status = 'running', host = $2, pid = $3, owner = $4, lease_until = ${until(leaseSeconds)},
           updated_at = now() WHERE id = $1 AND (owner IS NULL OR owner = $4 OR lease_until < now()) RETURNING 1`,
    values: [id, host, pid, owner],
  };
}

/** A retry leases the job row like a single-cursor run, but leaves its status alone. */
export function claimJobForRetry(id: string, owner: string, leaseSeconds: number): Statement {
  return {
    text: `UPDATE ${JOBS} SET owner = $2, lease_until = ${until(leaseSeconds)}, updated_at = now()
          WHERE id = $1 AND (owner IS NULL OR owner = $2 OR lease_until < now()) RETURNING 1`,
    values: [id, owner],
  };
}

/** A parallel job resumed: running again (its ranges carry the leases). */
export function markRangedJobRunning(id: string): Statement {
  return {
    text: `UPDATE ${JOBS} SET status = 'running', updated_at = now() WHERE id = $1 AND status <> 'done'`,
    values: [id],
  };
}

/** Renews the lease; in the same statement, refuses a job another live worker took over. */
export function renewJobLease(id: string, owner: string, leaseSeconds: number): Statement {
  return {
    text: `UPDATE ${JOBS} SET owner = $2, lease_until = ${until(leaseSeconds)} WHERE id = $1
             AND (owner IS NULL OR owner = $2 OR lease_until < now()) RETURNING 1`,
    values: [id, owner],
  };
}

/** Renews a retry's lease, which it must still hold. */
export function renewRetryLease(id: string, owner: string, leaseSeconds: number): Statement {
  return {
    text: `UPDATE ${JOBS} SET lease_until = ${until(leaseSeconds)} WHERE id = $1 AND owner = $2 RETURNING 1`,
    values: [id, owner],
  };
}

/** Moves the cursor past a committed batch (kept when `last` is null) and adds its counts. */
export function checkpointJob(id: string, counts: BatchCounts, last: readonly string[] | null): Statement {
  return {
    text: `UPDATE ${JOBS} SET cursor = COALESCE($2, cursor), processed = processed + $3, changed = changed + $4,
       skipped = skipped + $5, failed = failed + $6, batches = batches + 1, updated_at = now() WHERE id = $1`,
    values: [id, keyText(last), counts.processed, counts.changed, counts.skipped, counts.failed],
  };
}

/** Ends a retry: its lease goes, the job's status stays. */
export function releaseRetry(id: string, owner: string): Statement {
  return {
    text: `UPDATE ${JOBS} SET owner = NULL, lease_until = NULL, updated_at = now() WHERE id = $1 AND owner = $2`,
    values: [id, owner],
  };
}

/** Ends a single-cursor run; only the lease holder changes the status. */
export function setJobStatus(id: string, status: string, owner: string): Statement {
  return {
    text: `UPDATE ${JOBS} SET status = $2, updated_at = now(), finished_at = CASE WHEN $2 = 'done' THEN now() END,
         owner = NULL, lease_until = NULL WHERE id = $1 AND (owner IS NULL OR owner = $3)`,
    values: [id, status, owner],
  };
}

/** Ends a parallel run: `done` is final; another status only when no other worker holds a live range. */
export function setRangedJobStatus(id: string, status: string): Statement {
  return {
    text: `UPDATE ${JOBS} SET status = $2, updated_at = now(), finished_at = CASE WHEN $2 = 'done' THEN now() END
          WHERE id = $1 AND status <> 'done' AND ($2 = 'done' OR NOT EXISTS (
            SELECT 1 FROM ${JOB_RANGES} WHERE job_id = $1 AND status <> 'done' AND lease_until >= now()))`,
    values: [id, status],
  };
}

/** The ranges of a new parallel job, from their bounds (null: the table's start or end). */
export function insertRanges(
  jobId: string,
  lowers: readonly (string | null)[],
  uppers: readonly (string | null)[],
): Statement {
  return {
    text: `INSERT INTO ${JOB_RANGES} (job_id, range_no, lower_key, upper_key)
     SELECT $1, r.n, r.lower_key, r.upper_key FROM unnest($2::integer[], $3::text[], $4::text[]) AS r(n, lower_key, upper_key)`,
    values: [jobId, lowers.map((_, i) => i), lowers, uppers],
  };
}

/** The next unfinished range that no live worker holds (locked: one claimer at a time). */
export function selectFreeRange(jobId: string, owner: string): Statement {
  return {
    text: `SELECT range_no, lower_key, upper_key, cursor FROM ${JOB_RANGES}
              WHERE job_id = $1 AND status <> 'done' AND (owner IS NULL OR owner = $2 OR lease_until < now())
              ORDER BY range_no LIMIT 1 FOR UPDATE SKIP LOCKED`,
    values: [jobId, owner],
  };
}

/** Takes the range selected by {@link selectFreeRange}. */
export function takeRange(jobId: string, rangeNo: number, owner: string, leaseSeconds: number): Statement {
  return {
    text: `UPDATE ${JOB_RANGES} SET owner = $3, lease_until = ${until(leaseSeconds)}, status = 'running', updated_at = now()
              WHERE job_id = $1 AND range_no = $2`,
    values: [jobId, rangeNo, owner],
  };
}

/** How many ranges are not done (`n`). */
export function countOpenRanges(jobId: string): Statement {
  return {
    text: `SELECT count(*)::integer AS n FROM ${JOB_RANGES} WHERE job_id = $1 AND status <> 'done'`,
    values: [jobId],
  };
}

/** Renews a range's lease, which this worker must still hold. */
export function renewRangeLease(jobId: string, rangeNo: number, owner: string, leaseSeconds: number): Statement {
  return {
    text: `UPDATE ${JOB_RANGES} SET lease_until = ${until(leaseSeconds)} WHERE job_id = $1 AND range_no = $2
                 AND owner = $3 AND status <> 'done' RETURNING 1`,
    values: [jobId, rangeNo, owner],
  };
}

/**
 * A range's cursor and counts after a batch; its last batch (`finished`) marks it done and frees it.
 * The job row is not touched: its totals are the sum of its ranges' (getJob), so parallel workers
 * never queue on one row.
 */
export function checkpointRange(
  jobId: string,
  rangeNo: number,
  counts: BatchCounts,
  last: readonly string[] | null,
  finished: boolean,
): Statement {
  return {
    text: `UPDATE ${JOB_RANGES} SET cursor = COALESCE($3, cursor), processed = processed + $4, changed = changed + $5,
                 skipped = skipped + $6, failed = failed + $7, batches = batches + $8, updated_at = now(),
                 status = CASE WHEN $9::boolean THEN 'done' ELSE 'running' END,
                 owner = CASE WHEN $9::boolean THEN NULL ELSE owner END,
                 lease_until = CASE WHEN $9::boolean THEN NULL ELSE lease_until END
               WHERE job_id = $1 AND range_no = $2`,
    values: [
      jobId,
      rangeNo,
      keyText(last),
      counts.processed,
      counts.changed,
      counts.skipped,
      counts.failed,
      last === null ? 0 : 1,
      finished,
    ],
  };
}

/** Ranges leased to this call of runJob (owners `owner/worker`) go back to the pool. */
export function releaseRanges(jobId: string, owner: string): Statement {
  return {
    text: `UPDATE ${JOB_RANGES} SET owner = NULL, lease_until = NULL WHERE job_id = $1 AND owner LIKE $2`,
    values: [jobId, `${owner}/%`],
  };
}

/** Records failing cells: row key, column, the row's scope, code and error class; never data. */
export function insertJobErrors(
  jobId: string,
  table: string,
  errors: readonly { rowKey: string; column: string; code: string; errorClass: string; scope: string | null }[],
): Statement {
  return {
    text: `INSERT INTO ${JOB_ERRORS} (job_id, table_name, row_key, column_name, code, error_class, scope)
           SELECT $1, $2, e.row_key, e.column_name, e.code, e.error_class, e.scope
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
               AS e(row_key, column_name, code, error_class, scope)`,
    values: [
      jobId,
      table,
      errors.map((e) => e.rowKey),
      errors.map((e) => e.column),
      errors.map((e) => e.code),
      errors.map((e) => e.errorClass),
      errors.map((e) => e.scope),
    ],
  };
}

/** A page of the distinct row keys with recorded errors, in row_key order, after `after`. */
export function selectErrorKeys(jobId: string, after: string | null, limit: number): Statement {
  return {
    text: `SELECT DISTINCT row_key FROM ${JOB_ERRORS} WHERE job_id = $1 AND ($2::text IS NULL OR row_key > $2)
        ORDER BY row_key LIMIT $3`,
    values: [jobId, after, limit],
  };
}

/** Deletes the recorded errors of these rows (a retry's errors replace them). */
export function deleteJobErrors(jobId: string, rowKeys: readonly string[]): Statement {
  return {
    text: `DELETE FROM ${JOB_ERRORS} WHERE job_id = $1 AND row_key = ANY($2::text[])`,
    values: [jobId, rowKeys],
  };
}
