/**
 * Online jobs over encrypted tables: `fieldcrypt/jobs` (normative text: spec/jobs-v1.md).
 *
 * One engine encrypts plaintext columns, rotates cells to the scope's primary key, rolls cells back
 * to plaintext and verifies every cell. It pages by primary key (keyset, never OFFSET), writes each
 * batch with one compare-and-swap `UPDATE … FROM unnest(…)` so that a concurrent app write is never
 * overwritten, checkpoints its cursor in the batch's transaction so a killed job resumes after its
 * last committed batch, and records failing cells (row key, column, code; never data) and goes on.
 *
 * @module
 */
export { type Queryable, readColumnTypes } from "../internal/db-port.js";
export { quoteIdentifier } from "../internal/sql-identifier.js";
export { cellStorageOf } from "./column-types.js";
export { JobBusy } from "./job-busy.js";
export { type JobProgress, type JobResult, type RetryCounts, type RunJobOptions, runJob } from "./run.js";
export { type JobRunEvent, listJobRuns, type RunKey } from "./runs.js";
export {
  ensureJobTables,
  getJob,
  type JobCounts,
  type JobError,
  type JobKind,
  type JobRecord,
  type JobStatus,
  listJobErrors,
} from "./tables.js";
export {
  type JobDatabase,
  type PoolQueryable,
  sessionDatabase,
  type TransactionQueryable,
} from "./transaction.js";
