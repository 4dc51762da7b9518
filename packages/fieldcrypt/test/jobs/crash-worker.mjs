// A rotate or import job run by the crash test (jobs-crash.test.ts) in a child process that the
// test kills with SIGKILL: imports the BUILT library, prints one JSON line per committed batch.
// Env: CRASH_DATABASE_URL (the server) or CRASH_PGLITE_DIR (a PGlite data directory, which this
// process alone has open; a killed process leaves it for the next to recover), CRASH_JOB_ID (resume; unset: create the job),
// CRASH_KIND (rotate | import), CRASH_TABLE, and for import CRASH_MASTER / CRASH_SALT / CRASH_ITERATIONS.
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { runJob } from "../../dist/jobs/index.js";
import { createKeyring } from "../../dist/keyring/index.js";
import { fernetFormat } from "../../dist/legacy/index.js";
import { encryptedTable } from "../../dist/table/index.js";

const kind = process.env.CRASH_KIND ?? "rotate";
const keyring = createKeyring([
  { id: "v1", secret: Buffer.alloc(32, 1) },
  { id: "v2", secret: Buffer.alloc(32, 2), primary: true },
]);
// import: Fernet tokens under per-user PBKDF2 keys (static salt ‖ user_id), as the test made them.
const legacy =
  kind === "import"
    ? fernetFormat({
        derive: {
          masterKey: process.env.CRASH_MASTER,
          salt: { static: process.env.CRASH_SALT, append: "user_id" },
          iterations: Number(process.env.CRASH_ITERATIONS),
        },
      })
    : undefined;
const table = encryptedTable(keyring, {
  table: process.env.CRASH_TABLE ?? "crash_rows",
  primaryKey: ["id"],
  columns: { body: { type: "string", mode: "transition", legacy } },
});
const dir = process.env.CRASH_PGLITE_DIR;
// PGlite is one session: its two workers take turns on it (runJob runs each batch in a transaction).
const pool = dir ? await PGlite.create(dir) : new pg.Pool({ connectionString: process.env.CRASH_DATABASE_URL, max: 3 });
const result = await runJob(pool, table, {
  kind,
  keyring,
  jobId: process.env.CRASH_JOB_ID || undefined,
  batchSize: 2000,
  workers: 2,
  // Short leases: a killed worker's ranges are taken over 2 s after its last batch.
  leaseSeconds: 2,
  onProgress: (p) => process.stdout.write(`${JSON.stringify({ jobId: p.jobId, processed: p.processed })}\n`),
});
process.stdout.write(`${JSON.stringify({ done: result.status, jobId: result.jobId, processed: result.processed })}\n`);
await (dir ? pool.close() : pool.end());
