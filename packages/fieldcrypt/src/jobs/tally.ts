/**
 * The running totals of one call of runJob: each committed batch of its lanes adds to them, the
 * caller hears of it (`onProgress`), and the throttle reads them. In a parallel run several loops
 * feed one tally, so it is one explicit object that the run owns and hands to its lane. Not exported.
 */
import type { BatchCounts, JobCounts } from "./model.js";
import type { JobPlan } from "./plan.js";
import type { JobResult, RetryCounts } from "./run-options.js";

/** What one batch did, as a lane reports it. */
export interface BatchOutcome {
  readonly counts: BatchCounts;
  /** The key of the batch's last row, or null when it read none. */
  readonly last: readonly string[] | null;
  /** Whether the lane has more rows after this batch. */
  readonly more: boolean;
  /** Retry lane: recorded failing rows this batch took up (their old failures leave the totals). */
  readonly retried: number;
}

export class JobTally {
  readonly #plan: JobPlan;
  readonly #jobId: string | null;
  readonly #started = performance.now();
  #totals: JobCounts;
  #cursor: readonly string[] | null;
  #readThisRun = 0;
  /** What this run's retry batches did (a retry only), apart from the job's totals. */
  #retry: RetryCounts | null;

  constructor(plan: JobPlan, jobId: string | null, counts: JobCounts, cursor: readonly string[] | null) {
    this.#plan = plan;
    this.#jobId = jobId;
    this.#totals = countsOf(counts);
    this.#cursor = cursor;
    this.#retry = plan.retry ? { retried: 0, succeeded: 0, failed: 0, missing: 0, changed: 0, skipped: 0 } : null;
  }

  get totals(): JobCounts {
    return this.#totals;
  }

  /** Adds a committed batch and reports the progress. */
  record(batch: BatchOutcome): void {
    if (batch.last !== null) this.#cursor = batch.last;
    const t = this.#totals;
    this.#totals = {
      processed: t.processed + batch.counts.processed,
      changed: t.changed + batch.counts.changed,
      skipped: t.skipped + batch.counts.skipped,
      failed: t.failed + batch.counts.failed - batch.retried,
      batches: t.batches + 1,
    };
    this.#readThisRun += batch.counts.processed;
    if (this.#retry !== null) this.#retry = addRetry(this.#retry, batch);
    const elapsedMs = performance.now() - this.#started;
    this.#plan.onProgress?.({
      jobId: this.#jobId,
      kind: this.#plan.kind,
      table: this.#plan.table.table,
      ...this.#totals,
      batch: batch.counts,
      rowsPerSecond: elapsedMs > 0 ? (this.#readThisRun * 1000) / elapsedMs : 0,
      elapsedMs,
      cursor: this.#cursor,
    });
  }

  /** Replaces the totals by the job row's (after a parallel run or a retry: the row is the truth). */
  adopt(counts: JobCounts): void {
    this.#totals = countsOf(counts);
  }

  /** Sleeps as long as `maxRowsPerSecond` asks (until `stop` aborts). */
  async throttle(stop: AbortSignal | undefined): Promise<void> {
    const rate = this.#plan.maxRowsPerSecond;
    if (rate !== undefined) await sleep((this.#readThisRun * 1000) / rate - (performance.now() - this.#started), stop);
  }

  result(status: JobResult["status"]): JobResult {
    const plan = this.#plan;
    return {
      jobId: this.#jobId,
      kind: plan.kind,
      table: plan.table.table,
      columns: plan.columns,
      status,
      cursor: this.#cursor,
      dryRun: plan.dryRun,
      ...this.#totals,
      retry: this.#retry,
    };
  }
}

function countsOf(job: JobCounts): JobCounts {
  const { processed, changed, skipped, failed, batches } = job;
  return { processed, changed, skipped, failed, batches };
}

/** A retry batch added to a retry's own counts: recorded rows not read again are gone from the table. */
function addRetry(r: RetryCounts, batch: BatchOutcome): RetryCounts {
  const { processed, changed, skipped, failed } = batch.counts;
  return {
    retried: r.retried + batch.retried,
    succeeded: r.succeeded + processed - failed,
    failed: r.failed + failed,
    missing: r.missing + batch.retried - processed,
    changed: r.changed + changed,
    skipped: r.skipped + skipped,
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted === true) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
