/**
 * The ranges lane of a parallel job: `workers` loops (one on a single-session database), each
 * claiming the next free key range and running its batches under the range's lease until no range
 * is left. Several processes running the same job share its ranges. Not exported.
 */
import type { Queryable } from "../internal/db-port.js";
import { processBatch, readPage } from "./batch.js";
import type { LaneContext, LaneStatus } from "./lane.js";
import {
  allRangesDone,
  type ClaimedRange,
  checkpointRange,
  claimRange,
  LeaseLost,
  renewRangeLease,
} from "./range-rows.js";
import type { BatchOutcome } from "./tally.js";
import { sleep } from "./tally.js";
import { withTransaction } from "./transaction.js";

/** Runs the workers; one failing stops the others at their next batch boundary, then fails the lane. */
export async function runRangesLane(lane: LaneContext): Promise<LaneStatus> {
  const { db, plan } = lane;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  if (plan.signal?.aborted === true) stop.abort();
  plan.signal?.addEventListener("abort", onAbort, { once: true });
  const concurrent = "connect" in db && typeof db.connect === "function" ? plan.workers : 1;
  try {
    const outcomes = await Promise.allSettled(
      Array.from({ length: concurrent }, (_, i) =>
        runWorker(lane, `${plan.owner}/${i}`, stop.signal).catch((error: unknown) => {
          stop.abort();
          throw error;
        }),
      ),
    );
    for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
    return outcomes.some((o) => o.status === "fulfilled" && o.value === "stopped") ? "stopped" : "done";
  } finally {
    plan.signal?.removeEventListener("abort", onAbort);
  }
}

/** One worker: claims ranges until every range is done, waiting while others hold the rest. */
async function runWorker(lane: LaneContext, owner: string, stop: AbortSignal): Promise<LaneStatus> {
  const { db, plan } = lane;
  const jobId = lane.job.id as string;
  const pollMs = Math.min(1000, (plan.leaseSeconds * 1000) / 4);
  for (;;) {
    if (stop.aborted) return "stopped";
    const range = await claimRange(db, jobId, owner, plan.leaseSeconds);
    if (range === undefined) {
      if (await allRangesDone(db, jobId)) return "done";
      // Others hold the remaining ranges: wait for them to finish or for a lease to expire.
      await sleep(pollMs, stop);
      continue;
    }
    if ((await runRange(lane, owner, range, stop)) === "stopped") return "stopped";
  }
}

/** The batches of one range, until it ends, its lease is lost (`lost`) or `stop` aborts. */
async function runRange(
  lane: LaneContext,
  owner: string,
  range: ClaimedRange,
  stop: AbortSignal,
): Promise<LaneStatus | "lost"> {
  let cursor: readonly string[] | null = range.cursor;
  for (;;) {
    if (stop.aborted) return "stopped";
    let done: BatchOutcome;
    try {
      done = await withTransaction(lane.db, (tx) => rangeBatch(tx, lane, owner, range, cursor));
    } catch (error) {
      if (error instanceof LeaseLost) return "lost"; // another worker took the range over: claim the next one
      throw error;
    }
    if (done.last === null) return "done";
    cursor = done.last;
    lane.tally.record(done);
    if (!done.more) return "done";
    await lane.tally.throttle(stop);
  }
}

/** One batch of a range: renew its lease, read up to its bound, process, checkpoint the range. */
async function rangeBatch(
  tx: Queryable,
  lane: LaneContext,
  owner: string,
  range: ClaimedRange,
  cursor: readonly string[] | null,
): Promise<BatchOutcome> {
  const { plan } = lane;
  const jobId = lane.job.id as string;
  await renewRangeLease(tx, jobId, range, owner, plan.leaseSeconds);
  const page = await readPage(tx, plan, cursor, range.upTo);
  const done = await processBatch(tx, plan, jobId, page.rows, lane.threads);
  await checkpointRange(tx, jobId, range, done.counts, done.last, !page.more);
  return { ...done, more: page.more, retried: 0 };
}
