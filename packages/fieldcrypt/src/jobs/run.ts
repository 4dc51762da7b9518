/**
 * runJob: one worker running a job over a table, batch by batch. The orchestration only: plan,
 * job row, record of the run, one lane, release. Each phase is its own module (see the imports).
 */
import type { EncryptedTable } from "../table/index.js";
import { type LaneKind, openJob, releaseJob } from "./job-row.js";
import type { LaneContext, LaneStatus } from "./lane.js";
import { runCursorLane } from "./lane-cursor.js";
import { runRangesLane } from "./lane-ranges.js";
import { runRetryLane } from "./lane-retry.js";
import { planJob } from "./plan.js";
import { endRun, startRun } from "./record.js";
import { checkRunKeys, runKeysOf } from "./run-keys.js";
import type { JobResult, RunJobOptions } from "./run-options.js";
import { getJob } from "./tables.js";
import { JobTally } from "./tally.js";
import { LazyTransformThreads } from "./threads.js";
import type { JobDatabase } from "./transaction.js";

export type { JobProgress, JobResult, RetryCounts, RunJobOptions } from "./run-options.js";

const LANES: Readonly<Record<LaneKind, (lane: LaneContext) => Promise<LaneStatus>>> = {
  cursor: runCursorLane,
  ranges: runRangesLane,
  retry: runRetryLane,
};

/**
 * Runs (or resumes) a job over an encrypted table: keyset batches on the primary key, each read,
 * transformed in JS and written with one compare-and-swap `UPDATE … FROM unnest(…)` in its own
 * transaction, with the cursor checkpointed in that same transaction. A cell that fails is recorded
 * in `fieldcrypt_job_errors` (row key, column, code; never data) and the job goes on. Needs
 * {@link ensureJobTables} first. Exported from `fieldcrypt/jobs`.
 *
 * @example
 * ```ts
 * import { ensureJobTables, runJob } from "fieldcrypt/jobs";
 * await ensureJobTables(pool);
 * const result = await runJob(pool, patients, { kind: "rotate", keyring, signal });
 * if (result.failed > 0) process.exitCode = 1;
 * ```
 */
export async function runJob(db: JobDatabase, table: EncryptedTable, options: RunJobOptions): Promise<JobResult> {
  const plan = await planJob(db, table, options);
  const job = await openJob(db, plan);
  const tally = new JobTally(plan, job.id, job.counts, job.cursor);
  if (job.finished) return tally.result("done");
  const keys = runKeysOf(plan.keyring ?? plan.table.keyring);
  // Another run already wrote part of this job: the same ids must be the same material.
  if (job.id !== null) {
    await checkRunKeys(db, job.id, keys).catch(async (error) => {
      await releaseJob(db, plan, job, "failed").catch(() => {});
      throw error;
    });
  }
  const run = await startRun(db, plan, job.id, keys);
  const threads = new LazyTransformThreads(plan.threads, plan.threadSetup);
  try {
    const status = await LANES[job.lane]({ db, plan, job, tally, threads });
    await releaseJob(db, plan, job, status);
    // A parallel job's totals are its ranges' (other processes add to them); a retry moved the row's.
    if (job.lane === "ranges" || (job.lane === "retry" && !plan.dryRun)) {
      const row = await getJob(db, job.id as string);
      if (row !== undefined) tally.adopt(row);
    }
    await endRun(db, plan, run, status, tally.totals);
    return tally.result(status);
  } catch (error) {
    await releaseJob(db, plan, job, "failed").catch(() => {});
    await endRun(db, plan, run, "failed", tally.totals, error).catch(() => {});
    throw error;
  } finally {
    await threads.close();
  }
}
