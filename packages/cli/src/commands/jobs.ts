import { ensureJobTables, getJob, type JobKind, listJobErrors, listJobRuns } from "fieldcrypt/jobs";
import type { EncryptedTableOptions } from "fieldcrypt/table";
import { loadConfig, selectTables } from "../config/config.js";
import { databaseUrl, openDatabase } from "../config/database.js";
import { actorFlag } from "../internal/actor.js";
import { parseCommandArgs } from "../internal/args.js";
import { operationError, usageError } from "../internal/cli-error.js";
import type { Command } from "../internal/command.js";
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, type ExitCode } from "../internal/exit-codes.js";
import type { Io } from "../internal/io.js";
import { textTable } from "../internal/text-table.js";
import { printJobErrors } from "./jobs/errors.js";
import { environmentKeys, jobKeyring } from "./jobs/keyring.js";
import { runOne, type Tuning } from "./jobs/run-one.js";

/** Ctrl-C: the shell's code for SIGINT (128 + 2). */

const KINDS: readonly JobKind[] = ["encrypt", "rotate", "decrypt", "verify", "import"];
const JOB_ID = /^[A-Za-z0-9._:-]{1,100}$/;

const COMMON = {
  config: { type: "string" },
  "database-url": { type: "string" },
} as const;

/** Who runs the job, for the record of runs: a name of the operator's choosing, safe to print. */

const RUN_FLAGS = {
  ...COMMON,
  kind: { type: "string" },
  table: { type: "string" },
  columns: { type: "string" },
  workers: { type: "string" },
  threads: { type: "string" },
  "batch-size": { type: "string" },
  "dry-run": { type: "boolean" },
  sample: { type: "string" },
  "max-rows-per-second": { type: "string" },
  scope: { type: "string" },
  "keys-file": { type: "string" },
  actor: { type: "string" },
} as const;

const RESUME_FLAGS = {
  ...COMMON,
  workers: { type: "string" },
  threads: { type: "string" },
  "batch-size": { type: "string" },
  "max-rows-per-second": { type: "string" },
  scope: { type: "string" },
  "keys-file": { type: "string" },
  actor: { type: "string" },
  "dry-run": { type: "boolean" },
} as const;

const ERRORS_FLAGS = { ...COMMON, json: { type: "boolean" } } as const;
const RUNS_FLAGS = { ...COMMON, json: { type: "boolean" }, limit: { type: "string" } } as const;

const HELP = `Usage: fieldcrypt jobs run --kind KIND [options]
       fieldcrypt jobs resume ID [options]
       fieldcrypt jobs retry ID [options]
       fieldcrypt jobs errors ID [--json]
       fieldcrypt jobs runs [ID] [--limit N] [--json]

Runs a job over the configured encrypted tables, batch by batch (fieldcrypt/jobs runJob): each
batch is one transaction, its progress is checkpointed in fieldcrypt_jobs, and a cell that fails
is recorded in fieldcrypt_job_errors (row key, column, scope, code, error class; never data)
while the job goes on.

  run      start a job over every configured table (or --table T), one job per table
  resume   continue a stopped or interrupted job where its last batch ended
  retry    process again only the rows a job recorded as failed (e.g. after loading a missing
           key); rows that succeed leave fieldcrypt_job_errors, rows that fail again stay. Its
           summary counts what the retry did: rows retried, succeeded, failed again, missing
           (deleted since; their errors are dropped), changed, skipped
  errors   list the cells a job could not process: table, row key, column, scope (the row's
           tenant or user id, - when none), code, error class, time. --json prints an array of
           {"table","rowKey","column","scope","code","errorClass","time"} (scope and errorClass
           null when unknown), exactly these keys
  runs     the append-only record of job runs (fieldcrypt_job_runs): who ran what, where, when,
           with which key ids, and the counts at the end; a run with a start and no end was killed

Options of run:
  --kind KIND                  encrypt (plaintext → cells), rotate (cells → the primary key),
                               decrypt (cells → plaintext), verify (read and check only;
                               then prints each column's cells per key id, plaintext,
                               legacy, unreadable and NULL counts),
                               import (legacy values → cells, through each column's legacy
                               format; a table entry's importFrom: { col: "legacy_col" } reads
                               them from another column, left as it is)
  --table T                    only this configured table
  --columns a,b                only these encrypted columns (default: all of the table's)
  --workers N                  concurrent workers, each on its own connection (default 1)
  --threads N                  decrypt/encrypt on N worker threads, so the job uses more cores
                               (not for import, legacy formats or custom normalizer functions)
  --batch-size N               rows per batch (default 1000)
  --max-rows-per-second N      throttle
  --dry-run                    read and transform everything, write nothing
  --sample P                   verify only: read and decrypt a random fraction P of the rows
                               (0 < P ≤ 1, e.g. 0.01), chosen by the server as it scans
  --scope S                    the scope of every row, for a table whose scope comes from the
                               app's context ({ current }) rather than a column
Options of run, resume and retry (retry also takes --dry-run):
  --config FILE                the config module (default: ./fieldcrypt.config.mjs)
  --database-url URL           the database (default: DATABASE_URL)
  --keys-file FILE             the keys (default: FIELDCRYPT_KEYS, FIELDCRYPT_PRIMARY_KEY). With
                               rootKeys in the config, the keys are every live data key of
                               fieldcrypt_keys (each unwrapped once), plus these, decrypt-only
                               (moving cells from simple mode to the key table)
  --actor NAME                 who runs the job, for the record of runs (default: the OS user)
  -h, --help                   show this help

Progress goes to stdout: a bar on a terminal, one JSON object per batch otherwise
({"kind","table","processed","total","rate"}), then one summary line per table.
Ctrl-C stops at the next batch boundary and prints the \`fieldcrypt jobs resume ID\` to run
(exit 130). Exit 1 when rows failed: \`fieldcrypt jobs errors ID\` lists them.
`;

export const jobs: Command = {
  name: "jobs",
  summary: "run, resume and inspect encrypt/rotate/decrypt/verify jobs over configured tables",
  help: HELP,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === undefined)
      throw usageError(
        "no jobs subcommand given",
        "the subcommands are run, resume, retry, errors, runs; run `fieldcrypt jobs --help`",
      );
    if (sub === "--help" || sub === "-h" || sub === "help") {
      io.out(HELP);
      return EXIT_OK;
    }
    if (sub === "run") return runCommand(rest, io);
    if (sub === "resume") return resumeCommand(rest, io, false);
    if (sub === "retry") return resumeCommand(rest, io, true);
    if (sub === "errors") return errorsCommand(rest, io);
    if (sub === "runs") return runsCommand(rest, io);
    throw usageError(
      `unknown jobs subcommand${/^[a-z-]{1,20}$/.test(sub) ? ` ${sub}` : ""}`,
      "the subcommands are run, resume, retry, errors, runs; run `fieldcrypt jobs --help`",
    );
  },
};

function positiveInt(value: string | undefined, flag: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < 1 || n > max) {
    throw usageError(`--${flag} must be an integer from 1 to ${max}`, "run `fieldcrypt jobs --help`");
  }
  return n;
}

function positiveNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n))
    throw usageError(`--${flag} must be a positive number`, "run `fieldcrypt jobs --help`");
  return n;
}

function tuning(flags: {
  workers: string | undefined;
  threads: string | undefined;
  "batch-size": string | undefined;
  "max-rows-per-second": string | undefined;
  scope: string | undefined;
  actor: string | undefined;
}): Tuning {
  return {
    workers: positiveInt(flags.workers, "workers", 64) ?? 1,
    threads: positiveInt(flags.threads, "threads", 64),
    batchSize: positiveInt(flags["batch-size"], "batch-size", 100_000),
    maxRowsPerSecond: positiveNumber(flags["max-rows-per-second"], "max-rows-per-second"),
    scope: flags.scope,
    actor: actorFlag(flags.actor),
  };
}

function checkScope(table: EncryptedTableOptions, scope: string | undefined): void {
  if (scope === undefined && table.scope !== undefined && "current" in table.scope) {
    throw usageError(
      `table ${table.table} takes its scope from the app's context ({ current }), which the CLI does not have`,
      "pass --scope S: the scope of every row of the table",
    );
  }
}

async function runCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { help, flags } = parseCommandArgs(argv, RUN_FLAGS, { command: "jobs run" });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  const kind = flags.kind;
  if (kind === undefined || !KINDS.includes(kind as JobKind)) {
    throw usageError(
      kind === undefined ? "missing --kind" : "--kind must be one of encrypt, rotate, decrypt, verify, import",
      "run `fieldcrypt jobs --help`",
    );
  }
  const t = tuning(flags);
  let sample: number | undefined;
  if (flags.sample !== undefined) {
    sample = Number(flags.sample);
    if (!/^(0?\.\d+|1(\.0*)?)$/.test(flags.sample) || !(sample > 0 && sample <= 1)) {
      throw usageError("--sample must be a fraction greater than 0 and at most 1", "for example: --sample 0.01");
    }
    if (kind !== "verify")
      throw usageError("--sample is an option of --kind verify only", "run `fieldcrypt jobs --help`");
  }
  const columns = flags.columns
    ?.split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  if (columns !== undefined && columns.length === 0)
    throw usageError("--columns needs at least one column name", "for example: --columns email,phone");
  const url = databaseUrl(flags["database-url"], io);
  const config = await loadConfig(flags.config);
  const tables = selectTables(config, flags.table, "jobs run");
  if (columns !== undefined) {
    for (const c of columns) {
      if (!tables.some((table) => Object.hasOwn(table.columns, c))) {
        throw usageError(
          "--columns names a column that is not an encrypted column of the selected tables",
          "run `fieldcrypt status` to list them",
        );
      }
    }
  }
  for (const table of tables) checkScope(table, t.scope);
  // Environment keys are checked before connecting; key-table keys are read once connected.
  const envKeys = await environmentKeys(flags["keys-file"], io, config, kind !== "decrypt" && kind !== "verify");
  const pool = await openDatabase(url, t.workers + 1, io);
  try {
    const keyring = await jobKeyring(config, pool, envKeys);
    await ensureJobTables(pool);
    let failed = false;
    for (const table of tables) {
      const own = columns?.filter((c) => Object.hasOwn(table.columns, c));
      if (own !== undefined && own.length === 0) continue;
      const outcome = await runOne(pool, io, keyring, config, table, kind as JobKind, own, t, {
        dryRun: flags["dry-run"],
        jobId: undefined,
        retry: false,
        sample,
        resumeFlags: flags,
      });
      if (outcome === "interrupted") return EXIT_INTERRUPTED;
      if (outcome === "failed") failed = true;
    }
    return failed ? EXIT_FAILED : EXIT_OK;
  } finally {
    await pool.end();
  }
}

async function resumeCommand(argv: readonly string[], io: Io, retry: boolean): Promise<ExitCode> {
  const sub = retry ? "retry" : "resume";
  const { help, flags, positionals } = parseCommandArgs(argv, RESUME_FLAGS, {
    command: `jobs ${sub}`,
    maxPositionals: 1,
  });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  const id = jobId(positionals[0], sub);
  if (flags["dry-run"] && !retry)
    throw usageError("--dry-run is not an option of resume", "run `fieldcrypt jobs --help`");
  const t = tuning(flags);
  const url = databaseUrl(flags["database-url"], io);
  const config = await loadConfig(flags.config);
  const pool = await openDatabase(url, t.workers + 1, io);
  try {
    await ensureJobTables(pool);
    const job = await getJob(pool, id);
    if (job === undefined)
      throw operationError(`no job ${id}`, "the ids are in fieldcrypt_jobs and in the output of `fieldcrypt jobs run`");
    const table = config.tables.find((c) => c.table === job.table);
    if (table === undefined)
      throw operationError(
        `job ${id} is over table ${job.table}, which is not in the config`,
        "pass the --config FILE the job was started with",
      );
    checkScope(table, t.scope);
    const requirePrimary = job.kind !== "decrypt" && job.kind !== "verify";
    const envKeys = await environmentKeys(flags["keys-file"], io, config, requirePrimary);
    const keyring = await jobKeyring(config, pool, envKeys);
    const outcome = await runOne(pool, io, keyring, config, table, job.kind, job.columns, t, {
      dryRun: flags["dry-run"],
      jobId: id,
      retry,
      resumeFlags: flags,
    });
    return outcome === "interrupted" ? EXIT_INTERRUPTED : outcome === "failed" ? EXIT_FAILED : EXIT_OK;
  } finally {
    await pool.end();
  }
}

async function errorsCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { help, flags, positionals } = parseCommandArgs(argv, ERRORS_FLAGS, {
    command: "jobs errors",
    maxPositionals: 1,
  });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  const id = jobId(positionals[0], "errors");
  const url = databaseUrl(flags["database-url"], io);
  const pool = await openDatabase(url, 1, io);
  try {
    await ensureJobTables(pool);
    if ((await getJob(pool, id)) === undefined) {
      throw operationError(`no job ${id}`, "the ids are in fieldcrypt_jobs and in the output of `fieldcrypt jobs run`");
    }
    printJobErrors(io, id, await listJobErrors(pool, id), flags.json);
    return EXIT_OK;
  } finally {
    await pool.end();
  }
}

async function runsCommand(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { help, flags, positionals } = parseCommandArgs(argv, RUNS_FLAGS, { command: "jobs runs", maxPositionals: 1 });
  if (help) {
    io.out(HELP);
    return EXIT_OK;
  }
  const id = positionals[0] === undefined ? undefined : jobId(positionals[0], "runs");
  const limit = positiveInt(flags.limit, "limit", 100_000) ?? 50;
  const url = databaseUrl(flags["database-url"], io);
  const pool = await openDatabase(url, 1, io);
  try {
    await ensureJobTables(pool);
    const runs = await listJobRuns(pool, { jobId: id, limit });
    if (flags.json) {
      io.out(`${JSON.stringify(runs, null, 2)}\n`);
      return EXIT_OK;
    }
    if (runs.length === 0) {
      io.out(id === undefined ? "no job runs recorded\n" : `no runs recorded for job ${id}\n`);
      return EXIT_OK;
    }
    const header = ["TIME", "EVENT", "JOB", "KIND", "TABLE", "ACTOR", "HOST/PID", "STATUS", "PROCESSED", "FAILED"];
    const rows = runs.map((r) => [
      r.at.toISOString(),
      r.event,
      r.jobId,
      r.kind,
      r.table,
      r.actor,
      `${r.host}/${r.pid}`,
      r.status === null ? "" : r.errorCode === null ? r.status : `${r.status} (${r.errorCode})`,
      r.counts === null ? "" : String(r.counts.processed),
      r.counts === null ? "" : String(r.counts.failed),
    ]);
    io.out(`${textTable(header, rows)}\n`);
    return EXIT_OK;
  } finally {
    await pool.end();
  }
}

function jobId(value: string | undefined, sub: string): string {
  if (value === undefined) throw usageError("missing job ID", `usage: fieldcrypt jobs ${sub} ID`);
  if (!JOB_ID.test(value))
    throw usageError(
      "that is not a job id",
      `job ids are printed by \`fieldcrypt jobs run\`; usage: fieldcrypt jobs ${sub} ID`,
    );
  return value;
}
