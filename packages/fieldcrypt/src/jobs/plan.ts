/**
 * The plan of a job run: {@link RunJobOptions} checked once and turned into one immutable value
 * that every phase of the run reads (and none writes). Not exported.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { resolveActor } from "../audit/actor.js";
import type { Auditor } from "../audit/auditor.js";
import { InvalidOption } from "../errors/index.js";
import type { Queryable } from "../internal/db-port.js";
import type { Keyring } from "../keyring/keyring.js";
import type { EncryptedTable } from "../table/index.js";
import { type ColumnStorage, checkColumnTypes } from "./column-types.js";
import type { JobKind } from "./model.js";
import type { JobProgress, RunJobOptions } from "./run-options.js";
import { type BatchPlan, columnTypes } from "./sql.js";
import { BEFORE_WRITE, type BeforeWrite } from "./test-hooks.js";
import { type ThreadSetup, threadSetupOf } from "./threads.js";
import type { JobColumn } from "./transform.js";

const KINDS: readonly JobKind[] = ["encrypt", "rotate", "decrypt", "verify", "import"];

/** Everything a run needs to know, decided before its first statement on the job tables. */
export interface JobPlan {
  readonly kind: JobKind;
  readonly table: EncryptedTable;
  /** The job's columns, in the order the job row records them. */
  readonly columns: readonly string[];
  readonly targets: readonly JobColumn[];
  /** Legacy formats of an import job, each once (a format may serve several columns). */
  readonly formats: readonly NonNullable<JobColumn["column"]["legacy"]>[];
  /** Written columns in a fixed order (see {@link writtenColumns}). */
  readonly written: readonly string[];
  /** The shape of the batch statements. */
  readonly batch: BatchPlan;
  /** How the targets' SQL types hold cells (json/jsonb, varchar(n)). */
  readonly storage: ColumnStorage;
  readonly keyring: Keyring | undefined;
  readonly batchSize: number;
  readonly maxRowsPerSecond: number | undefined;
  readonly dryRun: boolean;
  readonly sample: number | undefined;
  readonly retry: boolean;
  /** The job to resume, or null to create one (none for a dry run). */
  readonly jobId: string | null;
  /** The scope of every row, when the table takes it from the caller. */
  readonly rowScope: { readonly scope: string } | undefined;
  readonly leaseSeconds: number;
  readonly workers: number;
  /** Key ranges of a new job (undefined: one cursor). */
  readonly ranges: number | undefined;
  readonly threads: number;
  /** What the transform threads start with (threads > 0 only). */
  readonly threadSetup: ThreadSetup | undefined;
  readonly actor: string;
  readonly auditor: Auditor | undefined;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((progress: JobProgress) => void) | undefined;
  readonly beforeWrite: BeforeWrite | undefined;
  /** Who holds a lease: this call of runJob (a second call in the same process is another owner). */
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
}

/**
 * Checks `options` against `table` and reads the column types: the plan, or an InvalidOption (also
 * for a column whose SQL type cannot hold its cells: see column-types.ts).
 */
export async function planJob(db: Queryable, table: EncryptedTable, options: RunJobOptions): Promise<JobPlan> {
  const { kind, keyring } = options;
  if (!KINDS.includes(kind)) throw new InvalidOption(`job kind must be one of ${KINDS.join(", ")}`);
  const numbers = checkNumbers(options);
  if (kind === "rotate" && keyring === undefined) throw new InvalidOption("a rotate job needs the keyring");
  if (options.sample !== undefined && kind !== "verify") {
    throw new InvalidOption("sample is an option of verify jobs only");
  }
  const retry = options.retryErrors === true;
  if (retry && options.jobId === undefined)
    throw new InvalidOption("retryErrors needs the jobId whose errors to retry");
  const actor = resolveActor(options.actor);
  const columns = options.columns ?? [...table.columns.keys()];
  if (columns.length === 0) throw new InvalidOption(`${table.table}: the job has no columns`);
  if (options.importFrom !== undefined && kind !== "import") {
    throw new InvalidOption("importFrom is an option of import jobs only");
  }
  const named = targetsOf(table, kind, columns, options.importFrom ?? {});
  const formats =
    kind === "import"
      ? [...new Set(named.flatMap((t) => (t.column.legacy === undefined ? [] : [t.column.legacy])))]
      : [];
  const keys = table.primaryKey ?? options.keyColumns;
  if (keys === undefined || keys.length === 0) {
    throw new InvalidOption(`${table.table}: a job pages by primary key (declare primaryKey, or pass keyColumns)`);
  }
  if (table.scope !== undefined && "current" in table.scope && options.scope === undefined) {
    throw new InvalidOption(`${table.table}: the table takes its scope from the caller; pass the job's scope`);
  }
  const written = writtenColumns(kind, named);
  const read = readColumns(table, keys, written, formats);
  if (numbers.threads > 0 && kind === "import") {
    throw new InvalidOption("threads are not available for import jobs: legacy formats run on the main thread");
  }
  const types = await columnTypes(db, table.table, read);
  const storage = checkColumnTypes(table.table, named, types);
  const targets = named.map((t) => ({ ...t, json: storage.json.has(t.name) }));
  // Checked now; the threads start with the first batch and stop when the run ends.
  const threadSetup = numbers.threads > 0 ? threadSetupOf(kind, table, targets, keyring) : undefined;
  return Object.freeze({
    kind,
    table,
    columns,
    targets,
    formats,
    written,
    batch: {
      table: table.table,
      keys,
      read,
      guarded: read.filter((c) => !keys.includes(c) && !written.includes(c)),
      types,
      json: storage.json,
    },
    storage,
    keyring,
    ...numbers,
    dryRun: options.dryRun === true,
    retry,
    jobId: options.jobId ?? null,
    rowScope: options.scope === undefined ? undefined : { scope: options.scope },
    threadSetup,
    actor,
    auditor: options.auditor,
    signal: options.signal,
    onProgress: options.onProgress,
    beforeWrite: options[BEFORE_WRITE],
    owner: `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`,
    host: hostname(),
    pid: process.pid,
  });
}

/** The numeric options, checked, with their defaults. */
function checkNumbers(options: RunJobOptions) {
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
    throw new InvalidOption("batchSize must be an integer from 1 to 100000");
  }
  const rate = options.maxRowsPerSecond;
  if (rate !== undefined && !(typeof rate === "number" && rate > 0 && Number.isFinite(rate))) {
    throw new InvalidOption("maxRowsPerSecond must be a positive number");
  }
  const sample = options.sample;
  if (sample !== undefined && options.kind === "verify" && !(typeof sample === "number" && sample > 0 && sample <= 1)) {
    throw new InvalidOption("sample must be a number greater than 0 and at most 1");
  }
  const leaseSeconds = options.leaseSeconds ?? 30;
  if (!(typeof leaseSeconds === "number" && leaseSeconds > 0 && Number.isFinite(leaseSeconds))) {
    throw new InvalidOption("leaseSeconds must be a positive number");
  }
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    throw new InvalidOption("workers must be an integer from 1 to 64");
  }
  const ranges = options.ranges ?? (workers > 1 ? workers * 4 : undefined);
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0 || threads > 64) {
    throw new InvalidOption("threads must be an integer from 0 to 64");
  }
  if (ranges !== undefined && (!Number.isInteger(ranges) || ranges < 1 || ranges > 10_000)) {
    throw new InvalidOption("ranges must be an integer from 1 to 10000");
  }
  return { batchSize, maxRowsPerSecond: rate, sample, leaseSeconds, workers, ranges, threads };
}

/** The job's columns with their blind indexes and (import) source columns, checked. */
function targetsOf(
  table: EncryptedTable,
  kind: JobKind,
  names: readonly string[],
  importFrom: Readonly<Record<string, string>>,
): JobColumn[] {
  const targets = names.map((name) => {
    const column = table.columns.get(name);
    if (column === undefined) throw new InvalidOption(`${table.table}.${name} is not an encrypted column`);
    if (kind === "import" && column.legacy === undefined) {
      throw new InvalidOption(`${table.table}.${name} has no legacy format to import from (column option legacy)`);
    }
    const source = Object.hasOwn(importFrom, name) ? importFrom[name] : undefined;
    if (source !== undefined && (typeof source !== "string" || source === name || table.columns.has(source))) {
      throw new InvalidOption(`importFrom.${name} must name another column, one that is not an encrypted column`);
    }
    return { name, column, blindIndex: table.blindIndexes.get(name), source };
  });
  for (const from of Object.keys(importFrom)) {
    if (!names.includes(from)) throw new InvalidOption(`importFrom.${from} is not a column of the job`);
  }
  return targets;
}

/** Columns a batch reads (keys, scope, written columns, the legacy formats' row columns), each once. */
function readColumns(
  table: EncryptedTable,
  keys: readonly string[],
  written: readonly string[],
  formats: JobPlan["formats"],
): string[] {
  const scope = table.scope !== undefined && "column" in table.scope ? [table.scope.column] : [];
  return [...new Set([...keys, ...scope, ...written, ...formats.flatMap((f) => f.rowColumns ?? [])])];
}

/**
 * Written columns in a fixed order: each encrypted column, then its blind-index column (and an
 * import's source column, written back unchanged: the compare-and-swap then covers it too).
 */
function writtenColumns(kind: JobKind, targets: readonly JobColumn[]): string[] {
  const written: string[] = [];
  for (const t of targets) {
    written.push(t.name);
    if (t.blindIndex !== undefined && kind !== "decrypt") written.push(t.blindIndex.column);
    if (t.source !== undefined && !written.includes(t.source)) written.push(t.source);
  }
  return written;
}
