/** The options and the results of {@link runJob} (`fieldcrypt/jobs`). */
import type { Auditor } from "../audit/auditor.js";
import type { Keyring } from "../keyring/keyring.js";
import type { BatchCounts, JobCounts, JobKind, JobStatus } from "./model.js";
import type { BEFORE_WRITE, BeforeWrite } from "./test-hooks.js";

/** Progress after each committed batch. */
export interface JobProgress extends JobCounts {
  readonly jobId: string | null;
  readonly kind: JobKind;
  readonly table: string;
  /** Counts of the batch just committed. */
  readonly batch: BatchCounts;
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
  /** Test hook (internal: the symbol is not exported by any subpath). */
  readonly [BEFORE_WRITE]?: BeforeWrite | undefined;
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

/**
 * What a retry of recorded errors (`retryErrors`) did itself, apart from the job's totals: of the
 * `retried` rows, each `succeeded`, `failed` again or is `missing`. In a dry run: what it would do.
 */
export interface RetryCounts {
  /** Rows with recorded errors that the retry took up (distinct row keys). */
  readonly retried: number;
  /** Rows read again with no failing cell: their errors are gone (written, already right, or skipped). */
  readonly succeeded: number;
  /** Rows with a cell that failed again: this attempt's errors replace the recorded ones. */
  readonly failed: number;
  /** Rows no longer in the table: their errors were dropped. */
  readonly missing: number;
  /** Rows written (in a dry run: that would be). */
  readonly changed: number;
  /** Rows an application write changed after the retry read them, left as the application wrote them. */
  readonly skipped: number;
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
  /** A retry's own counts (`retryErrors`), beside the job's totals above; null for any other run. */
  readonly retry: RetryCounts | null;
}
