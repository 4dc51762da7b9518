/**
 * The record of a run: its `start` and `end` rows in `fieldcrypt_job_runs` and, with an auditor,
 * `job.start` / `job.end` entries in the audit log. A dry run writes neither. Not exported.
 */
import { appendAudit } from "../audit/append.js";
import type { Queryable } from "../internal/db-port.js";
import { errorCode } from "./error-code.js";
import type { JobCounts } from "./model.js";
import type { JobPlan } from "./plan.js";
import { appendJobRun, type JobRunEvent, type RunKey } from "./runs.js";

/** What a run's `start` and `end` rows share. */
export type RunRecord = Omit<JobRunEvent, "at" | "event" | "status" | "errorCode" | "counts">;

/**
 * Appends the `start` of the run with its `keys` (nothing for a dry run); the record to end it with.
 */
export async function startRun(
  db: Queryable,
  plan: JobPlan,
  jobId: string | null,
  keys: readonly RunKey[],
): Promise<RunRecord> {
  const run: RunRecord = {
    runId: plan.owner,
    jobId: jobId as string,
    kind: plan.kind,
    table: plan.table.table,
    columns: plan.columns,
    keys,
    actor: plan.actor,
    host: plan.host,
    pid: plan.pid,
  };
  if (plan.dryRun) return run;
  await appendJobRun(db, { ...run, event: "start", status: null, errorCode: null, counts: null });
  await audit(db, plan, run, "job.start", {});
  return run;
}

/** Appends the `end` of the run with the job's totals (and the error's code when it failed). */
export async function endRun(
  db: Queryable,
  plan: JobPlan,
  run: RunRecord,
  status: "done" | "stopped" | "failed",
  totals: JobCounts,
  error?: unknown,
): Promise<void> {
  if (plan.dryRun) return;
  const code = status === "failed" ? errorCode(error) : null;
  const counts = { ...totals };
  await appendJobRun(db, { ...run, event: "end", status, errorCode: code, counts });
  await audit(db, plan, run, "job.end", { status, errorCode: code, ...counts });
}

async function audit(
  db: Queryable,
  plan: JobPlan,
  run: RunRecord,
  action: string,
  extra: Record<string, unknown>,
): Promise<void> {
  if (plan.auditor === undefined) return;
  await appendAudit(db, plan.auditor, {
    actor: plan.actor,
    action,
    keyIds: run.keys.map((k) => k.id),
    details: {
      jobId: run.jobId,
      runId: run.runId,
      kind: plan.kind,
      table: plan.table.table,
      columns: plan.columns,
      host: run.host,
      pid: run.pid,
      retryErrors: plan.retry,
      ...extra,
    },
  });
}
