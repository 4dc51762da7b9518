/**
 * One batch of a job, in the batch's transaction: read a keyset page, transform its cells (here or
 * on the transform threads), write the changed rows with one compare-and-swap UPDATE and record the
 * failing cells. The lane around it takes the lease first and checkpoints last. Not exported.
 */
import type { Queryable } from "../internal/db-port.js";
import { checkFits, parseJsonColumns, storedJson } from "./column-types.js";
import { type CellFailure, cellFailure } from "./error-code.js";
import { insertJobErrors } from "./job-sql.js";
import type { BatchCounts } from "./model.js";
import type { JobPlan } from "./plan.js";
import { guardAlias, keyAlias, selectBatch, toText, updateBatch } from "./sql.js";
import type { LazyTransformThreads, ThreadResult, TransformThreads } from "./threads.js";
import { type JobDatabase, withTransaction } from "./transaction.js";
import { transformCell } from "./transform.js";

/** Rows read for a batch. */
export interface BatchRows {
  readonly rows: readonly Record<string, unknown>[];
  /** Whether the lane has rows after these. */
  readonly more: boolean;
}

/** What {@link processBatch} did. */
export interface ProcessedBatch {
  readonly counts: BatchCounts;
  /** The key (text form) of the last row read, or null when there was none. */
  readonly last: string[] | null;
}

/** A row about to be written: its key, the values read (compared) and the new ones. */
interface RowUpdate {
  readonly keys: string[];
  readonly old: (string | null)[];
  readonly next: (string | null)[];
  /** The guarded columns as read (text form), compared too. */
  readonly guard: (string | null)[];
}

/** A failing cell as recorded: where (row key, column, the row's scope) and its code and class. */
type ErrorRecord = CellFailure & { readonly rowKey: string; readonly column: string; readonly scope: string | null };

/** The transformed batch: every row's key, the updates and the failing cells. */
interface Transformed {
  readonly keys: string[][];
  readonly updates: RowUpdate[];
  readonly errors: ErrorRecord[];
  /** Rows with at least one failing cell. */
  readonly failed: number;
}

/** A dry run reads outside any transaction (it writes nothing); a real batch runs in one. */
export function inBatchTransaction<T>(db: JobDatabase, plan: JobPlan, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return plan.dryRun ? fn(db) : withTransaction(db, fn);
}

/** The next keyset page after `cursor`, up to `upTo` (inclusive) when the lane is a range. */
export async function readPage(
  tx: Queryable,
  plan: JobPlan,
  cursor: readonly string[] | null,
  upTo: readonly string[] | null,
): Promise<BatchRows> {
  const select = selectBatch(plan.batch, cursor, plan.batchSize, upTo, plan.sample);
  const rows = (await tx.query(select.text, select.values)).rows as Record<string, unknown>[];
  return { rows, more: rows.length === plan.batchSize };
}

/** Transforms `rows`, writes the changed ones (compare-and-swap) and records the failing cells. */
export async function processBatch(
  tx: Queryable,
  plan: JobPlan,
  jobId: string | null,
  rows: readonly Record<string, unknown>[],
  lazyThreads: LazyTransformThreads,
): Promise<ProcessedBatch> {
  if (rows.length === 0) return { counts: { processed: 0, changed: 0, skipped: 0, failed: 0 }, last: null };
  // The transforms see json/jsonb values parsed; the compare-and-swap compares them as read (text).
  const values = parseJsonColumns(plan.storage, rows);
  // Keys the legacy formats need for this batch (PBKDF2 per user), derived once, off the main thread.
  for (const format of plan.formats) await format.prepare?.(values as Record<string, unknown>[]);
  // With transform threads, the batch's cells are transformed there; the contexts are computed here.
  const threads = lazyThreads.get();
  const done =
    threads === undefined ? transformHere(plan, rows, values) : await transformThreaded(plan, rows, values, threads);
  await plan.beforeWrite?.({ tx, keys: done.keys, changing: done.updates.map((u) => u.keys) });
  const counts = { processed: rows.length, changed: 0, skipped: 0, failed: done.failed };
  const last = done.keys[done.keys.length - 1] as string[];
  if (plan.dryRun) return { counts: { ...counts, changed: done.updates.length }, last };
  if (done.updates.length > 0) {
    const update = updateBatch(plan.batch, plan.written, done.updates);
    counts.changed = (await tx.query(update.text, update.values)).rows.length;
    counts.skipped = done.updates.length - counts.changed;
  }
  if (done.errors.length > 0) {
    const insert = insertJobErrors(jobId as string, plan.table.table, done.errors);
    await tx.query(insert.text, insert.values);
  }
  return { counts, last };
}

/** What a transform made of one cell: new values by column, a failure (code and class), or no change. */
type CellOutcome =
  | { readonly set: readonly (readonly [string, unknown])[] }
  | { readonly failure: CellFailure }
  | undefined;

/**
 * The batch's keys, updates and errors, from each cell's outcome (`cell(target, row)`); `rows` as
 * read. A new value too long for its varchar(n) column fails its cell (`ERR_VALUE_TOO_LARGE`).
 */
function assemble(
  plan: JobPlan,
  rows: readonly Record<string, unknown>[],
  cell: (t: number, r: number) => CellOutcome,
): Transformed {
  const keys: string[][] = [];
  const updates: RowUpdate[] = [];
  const errors: Transformed["errors"] = [];
  let failed = 0;
  for (const [r, stored] of rows.entries()) {
    const rowKeys = plan.batch.keys.map((_, i) => stored[keyAlias(i)] as string);
    keys.push(rowKeys);
    const next = new Map<string, unknown>();
    let rowFailed = false;
    for (const [t, target] of plan.targets.entries()) {
      const outcome = fitted(plan, cell(t, r));
      if (outcome === undefined) continue;
      if ("failure" in outcome) {
        rowFailed = true;
        errors.push({
          rowKey: JSON.stringify(rowKeys),
          column: target.name,
          scope: scopeOf(plan, stored),
          ...outcome.failure,
        });
        continue;
      }
      for (const [column, value] of outcome.set) next.set(column, value);
    }
    if (rowFailed) failed++;
    if (next.size === 0) continue;
    updates.push({
      keys: rowKeys,
      old: plan.written.map((c) => toText(stored[c])),
      next: plan.written.map((c) => toText(next.has(c) ? storedJson(plan.storage, c, next.get(c)) : stored[c])),
      guard: plan.batch.guarded.map((_, i) => stored[guardAlias(i)] as string | null),
    });
  }
  return { keys, updates, errors, failed };
}

/** The outcome, or a failure when a new value is too long for its varchar(n) column (never cut). */
function fitted(plan: JobPlan, outcome: CellOutcome): CellOutcome {
  if (outcome === undefined || !("set" in outcome)) return outcome;
  try {
    for (const [column, value] of outcome.set) checkFits(plan.storage, plan.table.table, column, value);
    return outcome;
  } catch (error) {
    return { failure: cellFailure(error) };
  }
}

/** The row's scope for its error record, when its context can be built (else none: NULL). */
function scopeOf(plan: JobPlan, stored: Record<string, unknown>): string | null {
  try {
    return plan.table.rowContext(stored, plan.rowScope).scope ?? null;
  } catch {
    return null;
  }
}

/** The batch's cells transformed on the main thread (`values`: the rows with json parsed). */
function transformHere(
  plan: JobPlan,
  rows: readonly Record<string, unknown>[],
  values: readonly Record<string, unknown>[],
): Transformed {
  return assemble(plan, rows, (t, r) => {
    const target = plan.targets[t] as JobPlan["targets"][number];
    const stored = values[r] as Record<string, unknown>;
    const indexColumn = target.blindIndex?.column;
    try {
      const change = transformCell(
        plan.kind,
        target,
        stored[target.name],
        indexColumn === undefined ? undefined : stored[indexColumn],
        () => plan.table.rowContext(stored, plan.rowScope),
        plan.keyring,
        stored,
      );
      if (change === undefined) return undefined;
      if (indexColumn === undefined || !("blindIndex" in change)) return { set: [[target.name, change.value]] };
      return {
        set: [
          [target.name, change.value],
          [indexColumn, change.blindIndex],
        ],
      };
    } catch (error) {
      return { failure: cellFailure(error) };
    }
  });
}

/** The batch's cells transformed on a transform thread; the row contexts are computed here. */
async function transformThreaded(
  plan: JobPlan,
  rows: readonly Record<string, unknown>[],
  values: readonly Record<string, unknown>[],
  threads: TransformThreads,
): Promise<Transformed> {
  const scopes: (string | undefined)[] = [];
  const rowKeys: unknown[] = [];
  const contextErrors: (CellFailure | undefined)[] = [];
  for (const row of values) {
    try {
      const ctx = plan.table.rowContext(row, plan.rowScope);
      scopes.push(ctx.scope);
      rowKeys.push(ctx.rowKey);
      contextErrors.push(undefined);
    } catch (error) {
      scopes.push(undefined);
      rowKeys.push(undefined);
      contextErrors.push(cellFailure(error));
    }
  }
  const threaded = await threads.transform({
    scopes,
    rowKeys,
    contextErrors,
    stored: plan.targets.map((t) => values.map((row) => row[t.name])),
    storedIndex: plan.targets.map((t) =>
      t.blindIndex === undefined ? [] : values.map((row) => row[(t.blindIndex as { column: string }).column]),
    ),
  });
  return assemble(plan, rows, (t, r) => {
    const target = plan.targets[t] as JobPlan["targets"][number];
    const result = threaded[t] as ThreadResult;
    const failure = result.failures[r];
    if (failure !== undefined) return { failure };
    const changed = result.changed[r];
    if (changed === 0) return undefined;
    const indexColumn = target.blindIndex?.column;
    if (indexColumn === undefined || changed !== 2) return { set: [[target.name, result.values[r]]] };
    return {
      set: [
        [target.name, result.values[r]],
        [indexColumn, result.indexes[r]],
      ],
    };
  });
}
