// One worker process of bench/jobs.mjs's (g) variant: runs its share of an existing parallel job
// (claiming key ranges next to the other processes), then prints its CPU time as one JSON line.
// Env: WORKER_DATABASE_URL, WORKER_JOB_ID.
import pg from "pg";
import { runJob } from "../packages/fieldcrypt/dist/jobs/index.js";
import { createKeyring } from "../packages/fieldcrypt/dist/keyring/index.js";
import { encryptedTable } from "../packages/fieldcrypt/dist/table/index.js";

const key = (n) => Buffer.alloc(32, n);
const ring = createKeyring([
  { id: "v1", secret: key(1) },
  { id: "v2", secret: key(2), primary: true },
]);
const table = encryptedTable(ring, {
  table: "notes",
  primaryKey: ["id"],
  scope: { column: "tenant" },
  columns: { body: { type: "string" } },
});
const pool = new pg.Pool({ connectionString: process.env.WORKER_DATABASE_URL, max: 2 });
const { rows } = await pool.query("SELECT pg_backend_pid() AS pid");
const before = process.cpuUsage();
const times = [];
let last = performance.now();
await runJob(pool, table, {
  kind: "rotate",
  keyring: ring,
  jobId: process.env.WORKER_JOB_ID,
  batchSize: Number(process.env.WORKER_BATCH ?? 1000),
  onProgress: () => {
    const now = performance.now();
    times.push(now - last);
    last = now;
  },
});
const cpu = process.cpuUsage(before);
process.stdout.write(`${JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, times, pid: rows[0].pid })}\n`);
await pool.end();
