/**
 * The key ranges of a parallel job (`fieldcrypt_job_ranges`): split when the job is created, then
 * claimed, leased, checkpointed and released by the workers of every process running the job.
 * Not exported.
 */
import type { Queryable } from "../internal/db-port.js";
import * as sql from "./job-sql.js";
import type { BatchCounts } from "./model.js";
import { type BatchPlan, countRows, keyAlias, rangeBounds } from "./sql.js";
import { type JobDatabase, withTransaction } from "./transaction.js";

/** A range a worker holds: its number, and where its batches start and stop. */
export interface ClaimedRange {
  readonly rangeNo: number;
  /** The last key done (exclusive lower bound), or null for the table's start. */
  readonly cursor: string[] | null;
  /** Inclusive upper bound, or null for the end of the table. */
  readonly upTo: string[] | null;
}

/** The range's lease went to another worker (this one stalled past it): drop the range. */
export class LeaseLost extends Error {}

/** Splits a new parallel job into key ranges, in the job's creating transaction. */
export async function createRanges(tx: Queryable, plan: BatchPlan, jobId: string, n: number): Promise<void> {
  // Up to n slices of equal size: every ceil(rows / n)-th key bounds one (a count, then one pass).
  const count = countRows(plan);
  const total = Number(((await tx.query(count.text, count.values)).rows[0] as { n: unknown }).n);
  const step = Math.max(1, Math.ceil(total / n));
  const bounds = rangeBounds(plan, step, total);
  const rows = (await tx.query(bounds.text, bounds.values)).rows as Record<string, unknown>[];
  const uppers = rows.map((row) => JSON.stringify(plan.keys.map((_, i) => row[keyAlias(i)] as string)));
  const insert = sql.insertRanges(jobId, [null, ...uppers], [...uppers, null]);
  await tx.query(insert.text, insert.values);
}

/** In a short transaction, takes the next unfinished range that no live worker holds, or none. */
export async function claimRange(
  db: JobDatabase,
  jobId: string,
  owner: string,
  leaseSeconds: number,
): Promise<ClaimedRange | undefined> {
  return withTransaction(db, async (tx) => {
    const select = sql.selectFreeRange(jobId, owner);
    const row = (await tx.query(select.text, select.values)).rows[0] as
      | { range_no: number; lower_key: string | null; upper_key: string | null; cursor: string | null }
      | undefined;
    if (row === undefined) return undefined;
    const take = sql.takeRange(jobId, row.range_no, owner, leaseSeconds);
    await tx.query(take.text, take.values);
    const start = row.cursor ?? row.lower_key;
    return {
      rangeNo: row.range_no,
      cursor: start === null ? null : (JSON.parse(start) as string[]),
      upTo: row.upper_key === null ? null : (JSON.parse(row.upper_key) as string[]),
    };
  });
}

/** Whether every range of the job is done. */
export async function allRangesDone(db: Queryable, jobId: string): Promise<boolean> {
  const count = sql.countOpenRanges(jobId);
  const { rows } = await db.query(count.text, count.values);
  return Number((rows[0] as { n: number }).n) === 0;
}

/** First statement of a range's batch: renews its lease, or LeaseLost. */
export async function renewRangeLease(
  tx: Queryable,
  jobId: string,
  range: ClaimedRange,
  owner: string,
  leaseSeconds: number,
): Promise<void> {
  const renew = sql.renewRangeLease(jobId, range.rangeNo, owner, leaseSeconds);
  const renewed = await tx.query(renew.text, renew.values);
  if (renewed.rows.length === 0) throw new LeaseLost();
}

/** Last statement of a range's batch: cursor and counts; the last batch (`finished`) closes the range. */
export async function checkpointRange(
  tx: Queryable,
  jobId: string,
  range: ClaimedRange,
  counts: BatchCounts,
  last: readonly string[] | null,
  finished: boolean,
): Promise<void> {
  const checkpoint = sql.checkpointRange(jobId, range.rangeNo, counts, last, finished);
  await tx.query(checkpoint.text, checkpoint.values);
}

/** Gives the ranges this call of runJob holds (owners `owner/worker`) back to the pool. */
export async function releaseRanges(db: Queryable, jobId: string, owner: string): Promise<void> {
  const release = sql.releaseRanges(jobId, owner);
  await db.query(release.text, release.values);
}
