/** One table's job as the CLI runs it: progress, Ctrl-C as a stop at a batch boundary, the outcome. Not exported. */
import { type JobKind, type JobResult, quoteIdentifier, runJob } from "fieldcrypt/jobs";
import type { Keyring } from "fieldcrypt/keyring";
import { type EncryptedTableOptions, encryptedTable } from "fieldcrypt/table";
import { columnStatus, importFromOf, tableColumnTypes } from "../../config/column-status.js";
import type { FieldcryptConfig } from "../../config/config.js";
import type { CliDatabase } from "../../config/database.js";
import type { Io } from "../../internal/io.js";
import { createProgress } from "../../internal/progress.js";
import { type ResumeFlags, resumeCommand } from "./resume-hint.js";

/** What the command line sets of a job run (flags parsed and checked by the command). */
export interface Tuning {
  readonly workers: number;
  readonly threads: number | undefined;
  readonly batchSize: number | undefined;
  readonly maxRowsPerSecond: number | undefined;
  readonly scope: string | undefined;
  readonly actor: string | undefined;
}

export type Outcome = "ok" | "failed" | "interrupted";

/** Runs (or resumes) one table's job with progress on stdout and Ctrl-C as a stop at a batch boundary. */
export async function runOne(
  pool: CliDatabase,
  io: Io,
  keyring: Keyring,
  config: FieldcryptConfig,
  options: EncryptedTableOptions,
  kind: JobKind,
  columns: readonly string[] | undefined,
  t: Tuning,
  run: {
    readonly dryRun: boolean;
    readonly jobId: string | undefined;
    readonly retry: boolean;
    readonly sample?: number | undefined;
    /** Repeated in the resume command a stopped job prints. */
    readonly resumeFlags: ResumeFlags;
  },
): Promise<Outcome> {
  const { dryRun, jobId: resumeId, retry } = run;
  const table = encryptedTable(keyring, options);
  // The bar's total: the table's rows, or for a retry the rows with recorded errors.
  const { rows } = retry
    ? await pool.query<{ n: string }>(
        "SELECT count(DISTINCT row_key) AS n FROM fieldcrypt_job_errors WHERE job_id = $1",
        [resumeId],
      )
    : await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdentifier(options.table)}`);
  let base: number | undefined;
  const progress = createProgress({
    stream: { write: (text) => io.out(text), isTTY: io.stdoutIsTTY },
    kind,
    table: options.table,
    total: Math.round(Number(rows[0]?.n ?? 0) * (run.sample ?? 1)), // a sample's expected size
  });
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on("SIGINT", onSigint);
  let result: JobResult | undefined;
  try {
    result = await runJob(pool, table, {
      kind,
      keyring,
      columns,
      jobId: resumeId,
      retryErrors: retry,
      sample: run.sample,
      actor: t.actor,
      auditor: config.audit,
      importFrom: kind === "import" ? importFromOf(options) : undefined,
      batchSize: t.batchSize,
      dryRun,
      signal: controller.signal,
      maxRowsPerSecond: t.maxRowsPerSecond,
      scope: t.scope,
      workers: t.workers,
      threads: t.threads,
      onProgress: (p) => {
        // A retry's bar counts the rows of this run (the job's totals include every earlier run).
        base ??= retry ? p.processed - p.batch.processed : 0;
        progress.update({ processed: p.processed - base, rate: p.rowsPerSecond });
      },
    });
  } finally {
    process.off("SIGINT", onSigint);
    progress.done(result === undefined ? "failed" : result.status === "stopped" ? "stopped" : "done");
  }
  io.out(`${summaryLine(kind, options.table, result)}\n`);
  if (kind === "verify" && !retry && result.status !== "stopped") {
    io.out(await verifyCounts(pool, options, columns ?? Object.keys(options.columns)));
  }
  if (result.status === "stopped") {
    io.err("fieldcrypt: interrupted at a batch boundary; nothing is half-written\n");
    if (result.jobId !== null)
      io.err(`fieldcrypt: hint: run \`${resumeCommand(result.jobId, run.resumeFlags)}\` to continue\n`);
    return "interrupted";
  }
  // A retry fails on the rows that failed again, not on the job's running total.
  const failed = result.retry?.failed ?? result.failed;
  if (failed > 0) {
    io.err(`fieldcrypt: error: ${failed} ${failed === 1 ? "row" : "rows"} of ${options.table} failed\n`);
    if (result.jobId !== null)
      io.err(`fieldcrypt: hint: run \`fieldcrypt jobs errors ${result.jobId}\` to list them\n`);
    return "failed";
  }
  return "ok";
}

/**
 * The line a run ends with: the job's totals, or for a retry what the retry itself did (the rows
 * it retried and how each came out), never the job's running totals.
 */
export function summaryLine(kind: JobKind, table: string, result: JobResult): string {
  const id = result.jobId ?? "(dry run)";
  const dry = result.dryRun;
  const status = `${result.status}${dry ? " (dry run)" : ""}`;
  const r = result.retry;
  if (r !== null) {
    return `retry of ${kind} ${table}: ${status}, ${r.retried} ${r.retried === 1 ? "row" : "rows"} retried, ${r.succeeded} ${dry ? "would succeed" : "succeeded"}, ${r.failed} ${dry ? "would fail" : "failed"} again, ${r.missing} missing, ${r.changed} ${dry ? "would change" : "changed"}, ${r.skipped} skipped; job ${id}`;
  }
  return `${kind} ${table}: ${status}, ${result.processed} rows read, ${result.changed} ${dry ? "would change" : "changed"}, ${result.skipped} skipped, ${result.failed} failed; job ${id}`;
}

/**
 * What a verify run reports beside its result: per column, the cells per key id and the values that
 * are not cells (plaintext, legacy, unreadable, waiting for import, NULL), counted as `fieldcrypt
 * status` counts them. The verify's failures say which cells did not open; these say what else the
 * column holds, so a clean verify of a half-encrypted transition column does not read as "all sealed".
 */
async function verifyCounts(pool: CliDatabase, options: EncryptedTableOptions, columns: readonly string[]) {
  const types = await tableColumnTypes(pool, options.table);
  let out = "";
  for (const column of columns) {
    const s = await columnStatus(pool, options, column, types, 0);
    const cells = [...s.byKey.values()].reduce((a, b) => a + b, 0);
    const keys = [...s.byKey].sort(([a], [b]) => a.localeCompare(b)).map(([id, n]) => `${id}: ${n}`);
    const parts = [
      `${cells} ${cells === 1 ? "cell" : "cells"}${keys.length > 0 ? ` (${keys.join(", ")})` : ""}`,
      `${s.plaintext} plaintext`,
      ...(options.columns[column]?.legacy === undefined ? [] : [`${s.legacy} legacy`]),
      `${s.unreadable} unreadable`,
      ...(s.pendingImport > 0 ? [`${s.pendingImport} to import`] : []),
      `${s.nulls} NULL`,
    ];
    out += `  ${options.table}.${column}: ${parts.join(", ")}\n`;
  }
  return out;
}
