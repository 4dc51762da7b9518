/** The vocabulary of jobs shared by the job tables and the record of runs (spec/jobs-v1.md). */

/** Job kinds: what a job does to each cell. */
export type JobKind = "encrypt" | "rotate" | "decrypt" | "verify" | "import";

/** Where a job stands: `running` (or killed while running), `stopped` (aborted), `done`, `failed`. */
export type JobStatus = "running" | "stopped" | "done" | "failed";

/** Row counts of a job (cumulative over every run of the job). */
export interface JobCounts {
  /** Rows read. */
  readonly processed: number;
  /** Rows written (or, in a dry run, that would be). */
  readonly changed: number;
  /** Rows left as they were because a concurrent write changed them after the batch read them. */
  readonly skipped: number;
  /** Rows with at least one cell that failed (one row per cell in `fieldcrypt_job_errors`). */
  readonly failed: number;
  /** Batches committed. */
  readonly batches: number;
}

/** The counts of one batch (a batch is one, so it has no `batches`). */
export type BatchCounts = Omit<JobCounts, "batches">;
