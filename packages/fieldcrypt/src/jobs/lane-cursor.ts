/**
 * The single-cursor lane: batches in key order from the job row's cursor to the end of the table,
 * under the job row's lease, each checkpointing the cursor in its own transaction. Not exported.
 */
import type { Queryable } from "../internal/db-port.js";
import { inBatchTransaction, processBatch, readPage } from "./batch.js";
import { checkpointJob, renewJobLease } from "./job-row.js";
import type { LaneContext, LaneStatus } from "./lane.js";
import type { BatchOutcome } from "./tally.js";

/** Runs the lane until the table ends or the signal stops it at a batch boundary. */
export async function runCursorLane(lane: LaneContext): Promise<LaneStatus> {
  const { db, plan, tally } = lane;
  let cursor: readonly string[] | null = lane.job.cursor;
  for (;;) {
    if (plan.signal?.aborted === true) return "stopped";
    const done = await inBatchTransaction(db, plan, (tx) => cursorBatch(tx, lane, cursor));
    if (done.last === null) return "done";
    cursor = done.last;
    tally.record(done);
    if (!done.more) return "done";
    await tally.throttle(plan.signal);
  }
}

/** One batch after `cursor`: lease, read, process, checkpoint. */
async function cursorBatch(tx: Queryable, lane: LaneContext, cursor: readonly string[] | null): Promise<BatchOutcome> {
  const { plan, job } = lane;
  if (!plan.dryRun) await renewJobLease(tx, plan, job.id as string);
  const page = await readPage(tx, plan, cursor, null);
  const done = await processBatch(tx, plan, job.id, page.rows, lane.threads);
  // The checkpoint commits with the batch: a killed job resumes right after it.
  if (!plan.dryRun && done.last !== null) await checkpointJob(tx, job.id as string, done.counts, done.last);
  return { ...done, more: page.more, retried: 0 };
}
