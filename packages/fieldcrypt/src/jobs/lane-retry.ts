/**
 * The retry lane (`retryErrors`): the rows of the job's recorded errors, a page of distinct row keys
 * at a time (in row_key order), each read again by its primary key and transformed. This attempt's
 * errors replace the recorded ones; the job's cursor, ranges and status stay. Not exported.
 */
import { InvalidOption } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import { type BatchRows, inBatchTransaction, processBatch } from "./batch.js";
import { checkpointJob, renewRetryLease } from "./job-row.js";
import { deleteJobErrors, selectErrorKeys } from "./job-sql.js";
import type { LaneContext, LaneStatus } from "./lane.js";
import type { JobPlan } from "./plan.js";
import { selectByKeys } from "./sql.js";
import type { BatchOutcome } from "./tally.js";

/** A page of recorded errors' rows: how many recorded rows it retries, and where the next page starts. */
interface ErrorPage extends BatchRows {
  readonly retried: number;
  readonly next: string | null;
}

/** Runs the lane until no recorded error is left after its position, or the signal stops it. */
export async function runRetryLane(lane: LaneContext): Promise<LaneStatus> {
  const { db, plan, tally } = lane;
  let after: string | null = null;
  for (;;) {
    if (plan.signal?.aborted === true) break;
    const { done, next } = await inBatchTransaction(db, plan, (tx) => retryBatch(tx, lane, after));
    after = next;
    if (done.last === null && !done.more && done.retried === 0) break;
    tally.record(done);
    if (!done.more) break;
    await tally.throttle(plan.signal);
  }
  return plan.signal?.aborted === true ? "stopped" : "done";
}

/** One page: lease, read the rows again, process, checkpoint the counts (never the cursor). */
async function retryBatch(
  tx: Queryable,
  lane: LaneContext,
  after: string | null,
): Promise<{ done: BatchOutcome; next: string | null }> {
  const { plan } = lane;
  const id = lane.job.id as string;
  if (!plan.dryRun) await renewRetryLease(tx, plan, id);
  const page = await readErrorRows(tx, plan, id, after);
  const done = await processBatch(tx, plan, id, page.rows, lane.threads);
  // `failed` drops by the rows retried and rises by those failing again (the tally does the same).
  if (!plan.dryRun && (done.counts.processed > 0 || page.retried > 0)) {
    await checkpointJob(tx, id, { ...done.counts, failed: done.counts.failed - page.retried }, null);
  }
  return { done: { ...done, more: page.more, retried: page.retried }, next: page.next };
}

/** The next page of recorded row keys after `after`, their recorded errors deleted, and their rows. */
async function readErrorRows(tx: Queryable, plan: JobPlan, id: string, after: string | null): Promise<ErrorPage> {
  const select = selectErrorKeys(id, after, plan.batchSize);
  const rowKeys = ((await tx.query(select.text, select.values)).rows as { row_key: string }[]).map((r) => r.row_key);
  const retried = rowKeys.length;
  if (rowKeys.length === 0) return { rows: [], more: false, retried, next: after };
  // This attempt's errors replace the recorded ones (a row that no longer exists has none).
  if (!plan.dryRun) {
    const remove = deleteJobErrors(id, rowKeys);
    await tx.query(remove.text, remove.values);
  }
  const rows = selectByKeys(plan.batch, rowKeys.map(parseRowKey));
  return {
    rows: (await tx.query(rows.text, rows.values)).rows as Record<string, unknown>[],
    more: rowKeys.length === plan.batchSize,
    retried,
    next: rowKeys[rowKeys.length - 1] as string,
  };
}

/** A recorded row key (a JSON array of the key columns' text forms, written by this engine). */
function parseRowKey(text: string): string[] {
  const key = JSON.parse(text) as unknown;
  if (!Array.isArray(key) || !key.every((k) => typeof k === "string")) {
    throw new InvalidOption("fieldcrypt_job_errors holds a row_key that is not a JSON array of strings");
  }
  return key;
}
