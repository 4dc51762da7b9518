#!/usr/bin/env node
import { spawn } from "node:child_process";
// The jobs engine against the database's own speed limit (issue 4): 1,000,000 rows of ~150-byte
// values on the PostgreSQL server, in one run, each measurement on a fresh copy of the same table:
//
//   (a) raw: keyset SELECT + `UPDATE … FROM unnest(…)` with the compare-and-swap condition, one
//       transaction per batch, no crypto (the new value is the old one with its first character
//       changed): the database-bound floor of any online rewrite;
//   (b) fieldcrypt rotate (v1 → v2), 1 worker;
//   (c) fieldcrypt rotate, 2 workers (key ranges, one process, a connection each);
//   (d) a hand-rolled LIMIT/OFFSET loop, for reference: `SELECT … ORDER BY id LIMIT n OFFSET k`,
//       decrypt/encrypt in JS, the same batched UPDATE (without CAS), one transaction per batch;
//   (e) the crypto floor: (a)'s loop on a copy holding bare AES-256-GCM cells (base64 of
//       nonce‖ct‖tag, no fieldcrypt) that it really re-encrypts — raw node:crypto decrypt under
//       key 1, encrypt under key 2 — with 1 connection, and (f) with 2 connections (two halves of
//       the key space, concurrently): what any rotation costs on this machine before fieldcrypt.
//
// Same batch size everywhere (BENCH_BATCH, 1000). Per run it prints rows/s, the ratio to (a), the
// mean batch time in the first and last tenth of the batches (flat = no slowdown as the cursor
// advances), and CPU per row: the node process (process.cpuUsage) and the PostgreSQL backends that
// served the run (utime+stime from /proc/<pid>/stat of each connection's pg_backend_pid()), plus
// every other postgres process (checkpointer, WAL writer, autovacuum) over the same interval.
//
//   npm run build --silent
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node bench/jobs.mjs
//
// Environment: BENCH_ROWS (1000000), BENCH_BATCH (1000), BENCH_OFFSET_ROWS (rows the LIMIT/OFFSET
// loop covers; default all — its batches slow down linearly, so the whole loop is quadratic),
// BENCH_ONLY (comma-separated subset of a,b,c,d,e,f).
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import pg from "pg";
import { ensureJobTables, runJob } from "../packages/fieldcrypt/dist/jobs/index.js";
import { createKeyring } from "../packages/fieldcrypt/dist/keyring/index.js";
import { encryptedTable } from "../packages/fieldcrypt/dist/table/index.js";

const URL_ = process.env.DATABASE_URL;
if (URL_ === undefined) {
  console.error("bench/jobs.mjs needs DATABASE_URL (the PostgreSQL server): the target is about the server");
  process.exit(2);
}
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
const OFFSET_ROWS = Number(process.env.BENCH_OFFSET_ROWS ?? ROWS);
const ONLY = new Set((process.env.BENCH_ONLY ?? "a,b,c,d,e,f,g,h").split(","));
const SCHEMA = `fc_bench_jobs_${process.pid}`;
const TICK = 100; // USER_HZ: clock ticks per second in /proc/<pid>/stat (100 on Linux x86_64)

const key = (n) => Buffer.alloc(32, n);
const ringV1 = createKeyring([{ id: "v1", secret: key(1), primary: true }]);
const ringV2 = createKeyring([
  { id: "v1", secret: key(1) },
  { id: "v2", secret: key(2), primary: true },
]);
const options = (table) => ({
  table,
  primaryKey: ["id"],
  scope: { column: "tenant" },
  columns: { body: { type: "string" } },
});

const withPath = new URL(URL_);
withPath.searchParams.set("options", `-c search_path=${SCHEMA}`);
const pool = new pg.Pool({ connectionString: withPath.toString(), max: 4, idleTimeoutMillis: 0 });
const admin = new pg.Client({ connectionString: URL_ });
await admin.connect();

// ---- CPU accounting -------------------------------------------------------------------------
function procTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
  } catch {
    return 0; // the process ended
  }
}
function postgresPids() {
  const pids = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, "utf8").trim() === "postgres") pids.push(Number(name));
    } catch {}
  }
  return pids;
}
/** Every pooled connection's backend pid (opens up to `max` connections). */
async function backendPids(p, n) {
  const clients = await Promise.all(Array.from({ length: n }, () => p.connect()));
  const pids = [];
  for (const c of clients) pids.push((await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid);
  for (const c of clients) c.release();
  return pids;
}
function cpuSnapshot(backends) {
  const all = new Map(postgresPids().map((pid) => [pid, procTicks(pid)]));
  return { node: process.cpuUsage(), backends: backends.map(procTicks), all };
}
function cpuDelta(before, backends) {
  const node = process.cpuUsage(before.node);
  const after = cpuSnapshot(backends);
  const backendTicks = after.backends.reduce((s, t, i) => s + t - before.backends[i], 0);
  let allTicks = 0;
  for (const [pid, t] of after.all) allTicks += t - (before.all.get(pid) ?? 0);
  return {
    nodeMs: (node.user + node.system) / 1000,
    backendMs: (backendTicks * 1000) / TICK,
    otherPgMs: ((allTicks - backendTicks) * 1000) / TICK,
  };
}

// ---- the table ----------------------------------------------------------------------------
async function setup() {
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.query(`CREATE SCHEMA ${SCHEMA}`);
  await admin.query(`CREATE TABLE ${SCHEMA}.base (id bigint PRIMARY KEY, tenant text NOT NULL, body text)`);
  await admin.query(`CREATE TABLE ${SCHEMA}.raw_base (id bigint PRIMARY KEY, tenant text NOT NULL, body text)`);
  // Sealed for table "notes": every run works on a fresh copy named notes (the table name is bound
  // into every cell, so a copy under another name would not open).
  const table = encryptedTable(ringV1, options("notes"));
  const started = performance.now();
  const chunk = 10_000;
  for (let from = 1; from <= ROWS; from += chunk) {
    const ids = [];
    const tenants = [];
    const bodies = [];
    const raws = [];
    for (let id = from; id < from + chunk && id <= ROWS; id++) {
      const tenant = `tenant-${id % 100}`;
      // ~150-byte plaintexts (a clinic note), sealed under v1 → ~250-byte text cells.
      const note = `Patient ${id} reports mild headache after exercise; advised hydration, rest, and a follow-up in two weeks. Ref ${String(id).padStart(8, "0")}.`;
      ids.push(id);
      tenants.push(tenant);
      bodies.push(table.encryptRow({ id, tenant, body: note }).body);
      raws.push(rawSeal(RAW_K1, note));
    }
    await admin.query(`INSERT INTO ${SCHEMA}.base SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])`, [
      ids,
      tenants,
      bodies,
    ]);
    await admin.query(`INSERT INTO ${SCHEMA}.raw_base SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])`, [
      ids,
      tenants,
      raws,
    ]);
  }
  await admin.query(`VACUUM ANALYZE ${SCHEMA}.base`);
  await admin.query(`VACUUM ANALYZE ${SCHEMA}.raw_base`);
  const { rows } = await admin.query(
    `SELECT avg(length(body))::int AS cell, pg_size_pretty(pg_total_relation_size('${SCHEMA}.base')) AS size FROM ${SCHEMA}.base`,
  );
  console.log(
    `table: ${ROWS} rows, cells of ${rows[0].cell} chars on average (plaintexts ~150 B), ${rows[0].size}; built in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

// Bare AES-256-GCM cells for the crypto floor: base64(nonce ‖ ciphertext ‖ tag), no AAD.
const RAW_K1 = randomBytes(32);
const RAW_K2 = randomBytes(32);
function rawSeal(key, text) {
  const nonce = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  const body = Buffer.concat([c.update(text, "utf8"), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]).toString("base64");
}
function rawOpen(key, cell) {
  const bytes = Buffer.from(cell, "base64");
  const d = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, 12));
  d.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([d.update(bytes.subarray(12, bytes.length - 16)), d.final()]).toString("utf8");
}

/** A fresh copy of the base table (or of `from`), named `name` (same physical state for every run). */
async function copy(name, from = "base") {
  await admin.query(`DROP TABLE IF EXISTS ${SCHEMA}.${name}`);
  await admin.query(`CREATE TABLE ${SCHEMA}.${name} (LIKE ${SCHEMA}.${from} INCLUDING ALL)`);
  await admin.query(`INSERT INTO ${SCHEMA}.${name} SELECT * FROM ${SCHEMA}.${from} ORDER BY id`);
  await admin.query(`VACUUM ANALYZE ${SCHEMA}.${name}`);
  await admin.query("CHECKPOINT");
}

// ---- the runs -----------------------------------------------------------------------------
/** (a) keyset + CAS UPDATE … FROM unnest, no crypto (or `next` of each value). Returns batch times (ms). */
async function rawCas(table, next = (body) => `X${body.slice(1)}`, from = 0, to = ROWS) {
  const client = await pool.connect();
  const times = [];
  try {
    let after = String(from);
    for (;;) {
      const t0 = performance.now();
      await client.query("BEGIN");
      const { rows } = await client.query(
        `SELECT id, tenant, body, id::text AS k FROM ${table} WHERE id > $2::text::bigint AND id <= $3 ORDER BY id LIMIT $1`,
        [BATCH, after, to],
      );
      if (rows.length > 0) {
        const keys = rows.map((r) => r.k);
        const olds = rows.map((r) => r.body);
        const nexts = rows.map((r) => next(r.body));
        await client.query(
          `UPDATE ${table} AS t SET body = v.n0::text FROM unnest($1::text[], $2::text[], $3::text[]) AS v(k0, o0, n0)
            WHERE t.id = v.k0::bigint AND t.body IS NOT DISTINCT FROM v.o0::text RETURNING 1`,
          [keys, olds, nexts],
        );
        after = keys[keys.length - 1];
      }
      await client.query("COMMIT");
      times.push(performance.now() - t0);
      if (rows.length < BATCH) break;
    }
  } finally {
    client.release();
  }
  return times;
}

/** (e), (f) the crypto floor: bare node:crypto AES-256-GCM re-encryption in (a)'s loop, on `lanes` connections. */
async function rawRotate(table, lanes) {
  const next = (cell) => rawSeal(RAW_K2, rawOpen(RAW_K1, cell));
  const per = Math.ceil(ROWS / lanes);
  const all = await Promise.all(
    Array.from({ length: lanes }, (_, i) => rawCas(table, next, i * per, Math.min(ROWS, (i + 1) * per))),
  );
  return all.flat();
}

/** (b), (c) fieldcrypt rotate. */
async function rotate(table, workers, threads = 0) {
  const times = [];
  let last = performance.now();
  const result = await runJob(pool, encryptedTable(ringV2, options(table)), {
    kind: "rotate",
    keyring: ringV2,
    batchSize: BATCH,
    workers,
    threads,
    onProgress: () => {
      const now = performance.now();
      times.push(now - last);
      last = now;
    },
  });
  if (result.processed !== ROWS || result.failed !== 0 || result.changed !== ROWS) {
    throw new Error(`rotate ${table}: ${JSON.stringify(result)}`);
  }
  return times;
}

/**
 * (g) fieldcrypt rotate with 2 worker processes on one job id (each claims key ranges; the job is
 * created here, its ranges split, then run by bench/jobs-worker.mjs twice). Node CPU is the
 * children's own (reported by them); PostgreSQL CPU is all postgres processes (measure() reports
 * the sum as "other PG" since the children's backends are not this process's connections).
 */
async function rotateProcesses(table, processes) {
  const stop = new AbortController();
  stop.abort(); // create the job and its ranges, run nothing
  const created = await runJob(pool, encryptedTable(ringV2, options(table)), {
    kind: "rotate",
    keyring: ringV2,
    workers: processes,
    signal: stop.signal,
  });
  const runs = await Promise.all(
    Array.from(
      { length: processes },
      () =>
        new Promise((resolve, reject) => {
          const child = spawn(process.execPath, [new URL("./jobs-worker.mjs", import.meta.url).pathname], {
            env: {
              ...process.env,
              WORKER_DATABASE_URL: withPath.toString(),
              WORKER_JOB_ID: created.jobId,
              WORKER_BATCH: String(BATCH),
            },
            stdio: ["ignore", "pipe", "inherit"],
          });
          let out = "";
          child.stdout.on("data", (chunk) => {
            out += chunk;
          });
          child.on("exit", (code) =>
            code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker exit ${code}`)),
          );
        }),
    ),
  );
  childCpuMs = runs.reduce((s, r) => s + r.cpuMs, 0);
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM notes WHERE body LIKE 'fc1.%'");
  if (rows[0].n !== ROWS) throw new Error(`processes: ${rows[0].n} cells`);
  return runs.flatMap((r) => r.times);
}
let childCpuMs = 0;

/** (d) LIMIT/OFFSET, like the hand-rolled scripts: decrypt/encrypt in JS, batched UPDATE, no CAS. */
async function limitOffset(table) {
  const t = encryptedTable(ringV2, options(table));
  const client = await pool.connect();
  const times = [];
  try {
    for (let offset = 0; offset < OFFSET_ROWS; offset += BATCH) {
      const t0 = performance.now();
      await client.query("BEGIN");
      const { rows } = await client.query(`SELECT id, tenant, body FROM ${table} ORDER BY id LIMIT $1 OFFSET $2`, [
        BATCH,
        offset,
      ]);
      if (rows.length === 0) {
        await client.query("COMMIT");
        break;
      }
      const ids = [];
      const bodies = [];
      for (const row of rows) {
        const plain = t.decryptRow(row);
        ids.push(row.id);
        bodies.push(t.encryptRow(plain).body);
      }
      await client.query(
        `UPDATE ${table} AS t SET body = v.b FROM unnest($1::bigint[], $2::text[]) AS v(id, b) WHERE t.id = v.id`,
        [ids, bodies],
      );
      await client.query("COMMIT");
      times.push(performance.now() - t0);
    }
  } finally {
    client.release();
  }
  return times;
}

// ---- main ---------------------------------------------------------------------------------
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
const results = [];
async function measure(label, table, rows, run, from = "base") {
  await copy(table, from);
  const pids = await backendPids(pool, 4); // every connection the pool will use
  childCpuMs = 0;
  const before = cpuSnapshot(pids);
  const t0 = performance.now();
  const times = await run(table);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuDelta(before, pids);
  cpu.nodeMs += childCpuMs; // worker processes' own CPU (g)
  const tenth = Math.max(1, Math.floor(times.length / 10));
  const r = {
    label,
    rows,
    seconds,
    rowsPerSecond: rows / seconds,
    batches: times.length,
    firstMs: mean(times.slice(0, tenth)),
    lastMs: mean(times.slice(-tenth)),
    nodeUs: (cpu.nodeMs * 1000) / rows,
    backendUs: (cpu.backendMs * 1000) / rows,
    otherPgUs: (cpu.otherPgMs * 1000) / rows,
  };
  results.push(r);
  const base = results.find((x) => x.label.startsWith("(a)"));
  console.log(
    `${label.padEnd(34)} ${rows} rows in ${seconds.toFixed(1)} s = ${Math.round(r.rowsPerSecond).toLocaleString("en-US")} rows/s` +
      (base !== undefined && base !== r ? ` (${(r.rowsPerSecond / base.rowsPerSecond).toFixed(2)}× (a))` : "") +
      `; batch ${r.firstMs.toFixed(1)} ms first tenth → ${r.lastMs.toFixed(1)} ms last tenth` +
      `; CPU/row: node ${r.nodeUs.toFixed(1)} µs, PG backends ${r.backendUs.toFixed(1)} µs, other PG ${r.otherPgUs.toFixed(1)} µs`,
  );
}

const { rows: version } = await admin.query("SHOW server_version");
console.log(
  `jobs benchmark: PostgreSQL ${version[0].server_version}, Node ${process.version}, batch ${BATCH}, ${new Date().toISOString()}`,
);
await setup();
await pool.query("SELECT 1");
await ensureJobTables(pool);
if (ONLY.has("a")) await measure("(a) raw keyset + CAS UPDATE", "notes", ROWS, rawCas);
if (ONLY.has("b")) await measure("(b) fieldcrypt rotate, 1 worker", "notes", ROWS, (t) => rotate(t, 1));
if (ONLY.has("c")) await measure("(c) fieldcrypt rotate, 2 workers", "notes", ROWS, (t) => rotate(t, 2));
if (ONLY.has("d")) await measure("(d) LIMIT/OFFSET loop (reference)", "notes", OFFSET_ROWS, limitOffset);
if (ONLY.has("e")) await measure("(e) crypto floor, 1 connection", "notes", ROWS, (t) => rawRotate(t, 1), "raw_base");
if (ONLY.has("f")) await measure("(f) crypto floor, 2 connections", "notes", ROWS, (t) => rawRotate(t, 2), "raw_base");
if (ONLY.has("g")) await measure("(g) fieldcrypt rotate, 2 processes", "notes", ROWS, (t) => rotateProcesses(t, 2));
if (ONLY.has("h")) await measure("(h) rotate, 2 workers, 2 threads", "notes", ROWS, (t) => rotate(t, 2, 2));
const a = results.find((x) => x.label.startsWith("(a)"));
const c = results.find((x) => x.label.startsWith("(c)"));
if (a !== undefined && c !== undefined) {
  const ratio = c.rowsPerSecond / a.rowsPerSecond;
  console.log(`target (c) ≥ 0.8 × (a): ${ratio.toFixed(2)}× — ${ratio >= 0.8 ? "met" : "NOT met"}`);
}
const f = results.find((x) => x.label.startsWith("(f)"));
if (c !== undefined && f !== undefined) {
  console.log(
    `(c) against the crypto floor (f): ${(c.rowsPerSecond / f.rowsPerSecond).toFixed(2)}×; (f) against (a): ${(f.rowsPerSecond / (a?.rowsPerSecond ?? Number.NaN)).toFixed(2)}×`,
  );
}
await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
await admin.end();
await pool.end();
