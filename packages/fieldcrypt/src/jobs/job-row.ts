/**
 * The job row (`fieldcrypt_jobs`) of a run: resumed or created, leased, checkpointed and released.
 * Which of the three lanes runs the job is decided here, from the row and the plan. Not exported.
 */
import { randomUUID } from "node:crypto";
import { InvalidOption } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import { JobBusy } from "./job-busy.js";
import * as sql from "./job-sql.js";
import type { BatchCounts, JobCounts, JobStatus } from "./model.js";
import type { JobPlan } from "./plan.js";
import { createRanges, releaseRanges } from "./range-rows.js";
import { getJob } from "./tables.js";
import { type JobDatabase, withTransaction } from "./transaction.js";

/**
 * How a job is run: one cursor on the job row, key ranges (`fieldcrypt_job_ranges`) claimed by
 * workers, or a retry of its recorded errors.
 */
export type LaneKind = "cursor" | "ranges" | "retry";

/** The job a run works on, as it stood when the run took it. */
export interface OpenedJob {
  /** Null for a dry run that did not resume a job. */
  readonly id: string | null;
  readonly lane: LaneKind;
  readonly counts: JobCounts;
  /** Where the lane starts (single cursor), or where the job stood. */
  readonly cursor: string[] | null;
  /** The job was done before this run: there is nothing to do. */
  readonly finished: boolean;
}

const ZERO: JobCounts = { processed: 0, changed: 0, skipped: 0, failed: 0, batches: 0 };

/** Resumes `plan.jobId` (checked against the plan, leased) or creates a new job (not in a dry run). */
export async function openJob(db: JobDatabase, plan: JobPlan): Promise<OpenedJob> {
  if (plan.jobId !== null) return resumeJob(db, plan, plan.jobId);
  if (plan.dryRun) return { id: null, lane: "cursor", counts: ZERO, cursor: null, finished: false };
  const id = randomUUID();
  const ranged = plan.ranges !== undefined;
  await withTransaction(db, async (tx) => {
    const job = { id, kind: plan.kind, table: plan.table.table, columns: plan.columns, host: plan.host, pid: plan.pid };
    const insert = sql.insertJob(job, ranged ? null : plan.owner, plan.leaseSeconds);
    await tx.query(insert.text, insert.values);
    if (ranged) await createRanges(tx, plan.batch, id, plan.ranges as number);
  });
  return { id, lane: ranged ? "ranges" : "cursor", counts: ZERO, cursor: null, finished: false };
}

async function resumeJob(db: JobDatabase, plan: JobPlan, id: string): Promise<OpenedJob> {
  const job = await getJob(db, id);
  if (job === undefined) throw new InvalidOption(`job ${JSON.stringify(id)} does not exist`);
  if (job.kind !== plan.kind || job.table !== plan.table.table || job.columns.join(",") !== plan.columns.join(",")) {
    throw new InvalidOption(`job ${JSON.stringify(id)} is a ${job.kind} job of other columns or another table`);
  }
  const cursor = job.cursor === null ? null : [...job.cursor];
  if (job.status === "done" && !plan.retry) return { id, lane: "cursor", counts: job, cursor, finished: true };
  const lane: LaneKind = plan.retry ? "retry" : job.ranges > 0 && !plan.dryRun ? "ranges" : "cursor";
  // A parallel job's cursor is only the last batch of some worker: a dry run reads the whole table.
  const start = job.ranges > 0 && plan.dryRun ? null : cursor;
  if (!plan.dryRun) {
    if (lane === "retry") await claim(db, sql.claimJobForRetry(id, plan.owner, plan.leaseSeconds), id);
    else if (lane === "cursor")
      await claim(db, sql.claimJob(id, plan.host, plan.pid, plan.owner, plan.leaseSeconds), id);
    else await run(db, sql.markRangedJobRunning(id));
  }
  return { id, lane, counts: job, cursor: start, finished: false };
}

/** First statement of a single-cursor batch: renews the lease, or JobBusy when another worker took it. */
export async function renewJobLease(tx: Queryable, plan: JobPlan, id: string): Promise<void> {
  await claim(tx, sql.renewJobLease(id, plan.owner, plan.leaseSeconds), id);
}

/** First statement of a retry batch: renews the retry's lease, or JobBusy when it was lost. */
export async function renewRetryLease(tx: Queryable, plan: JobPlan, id: string): Promise<void> {
  await claim(tx, sql.renewRetryLease(id, plan.owner, plan.leaseSeconds), id);
}

/** Last statement of a batch on the job row: the counts, and the cursor unless `last` is null. */
export async function checkpointJob(
  tx: Queryable,
  id: string,
  counts: BatchCounts,
  last: readonly string[] | null,
): Promise<void> {
  await run(tx, sql.checkpointJob(id, counts, last));
}

/**
 * Ends the run on the job row: a retry gives its lease back (the status stays); a parallel run gives
 * its ranges back and the job is done only when every range is; a single-cursor run sets the status.
 */
export async function releaseJob(db: Queryable, plan: JobPlan, job: OpenedJob, status: JobStatus): Promise<void> {
  if (plan.dryRun || job.id === null) return;
  if (job.lane === "retry") return run(db, sql.releaseRetry(job.id, plan.owner));
  if (job.lane === "ranges") {
    await releaseRanges(db, job.id, plan.owner);
    return run(db, sql.setRangedJobStatus(job.id, status));
  }
  return run(db, sql.setJobStatus(job.id, status, plan.owner));
}

async function run(db: Queryable, statement: sql.Statement): Promise<void> {
  await db.query(statement.text, statement.values);
}

/** Runs a lease statement (`RETURNING 1`): no row means another live worker holds the job. */
async function claim(db: Queryable, statement: sql.Statement, id: string): Promise<void> {
  const claimed = await db.query(statement.text, statement.values);
  if (claimed.rows.length === 0) throw new JobBusy(id);
}
