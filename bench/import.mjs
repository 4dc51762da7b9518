#!/usr/bin/env node
// Import of legacy Fernet data (issue 6): 100,000 rows from 1,000 users whose Fernet keys are
// PBKDF2-HMAC-SHA256(master, static salt ‖ user_id, 100,000 iterations) — the recipe the apps use —
// imported by an `import` job into fieldcrypt cells, in one run against two baselines:
//
//   (s) the same import with one static Fernet key (no derivation): the job's own cost;
//   (p) the per-user PBKDF2 import: derivations counted (must be one per user), time split;
//   and the derivation cost alone: 1,000 PBKDF2 calls on the thread pool, no database, and what
//   deriving per row would cost (measured per call × rows).
//
//   npm run build --silent
//   node bench/import.mjs                                                   (embedded PGlite)
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node bench/import.mjs   (server)
//
// Environment: BENCH_ROWS (100000), BENCH_USERS (1000), BENCH_ITERATIONS (100000), BENCH_WORKERS (1).
// The tokens are made here by a Fernet producer written from the spec (the decoder itself is
// checked against Python's `cryptography` and the spec vectors in the test suite).
import { createCipheriv, createHmac, pbkdf2, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { ensureJobTables, runJob } from "../packages/fieldcrypt/dist/jobs/index.js";
import { createKeyring } from "../packages/fieldcrypt/dist/keyring/index.js";
import { fernetFormat } from "../packages/fieldcrypt/dist/legacy/index.js";
import { encryptedTable } from "../packages/fieldcrypt/dist/table/index.js";

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const USERS = Number(process.env.BENCH_USERS ?? 1_000);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 100_000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const MASTER = "journal-master-key";
const SALT = "journal-static-salt:";
const derive = promisify(pbkdf2);

/** A Fernet token (spec: 0x80 ‖ ts ‖ iv ‖ AES-128-CBC ‖ HMAC-SHA256) under a 32-byte key. */
function fernet(key, text) {
  const iv = randomBytes(16);
  const c = createCipheriv("aes-128-cbc", key.subarray(16), iv);
  const ct = Buffer.concat([c.update(text, "utf8"), c.final()]);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000)));
  const body = Buffer.concat([Buffer.of(0x80), ts, iv, ct]);
  return Buffer.concat([body, createHmac("sha256", key.subarray(0, 16)).update(body).digest()]).toString("base64url");
}

async function openDb() {
  const url = process.env.DATABASE_URL;
  if (url !== undefined && url !== "") {
    const pg = (await import("pg")).default;
    const schema = `fc_bench_import_${process.pid}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const u = new URL(url);
    u.searchParams.set("options", `-c search_path=${schema}`);
    const pool = new pg.Pool({ connectionString: u.toString(), max: WORKERS + 2 });
    return {
      kind: "server",
      db: pool,
      close: async () => {
        await pool.end();
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        await admin.end();
      },
    };
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const db = await PGlite.create();
  return { kind: "PGlite", db, close: () => db.close() };
}

const ring = createKeyring([{ id: "v1", secret: Buffer.alloc(32, 7), primary: true }]);
const { kind, db, close } = await openDb();
console.log(
  `import benchmark: ${ROWS} rows, ${USERS} users, PBKDF2-HMAC-SHA256 ${ITERATIONS} iterations, ${WORKERS} worker(s), ${kind}, Node ${process.version}, ${new Date().toISOString()}`,
);

// The users' keys (for making the tokens) and one static key; 1,000 derivations up front.
let t0 = performance.now();
const userKeys = await Promise.all(
  Array.from({ length: USERS }, (_, u) => derive(MASTER, `${SALT}${u}`, ITERATIONS, 32, "sha256")),
);
const deriveAllMs = performance.now() - t0;
t0 = performance.now();
for (let i = 0; i < 20; i++) await derive(MASTER, `${SALT}x${i}`, ITERATIONS, 32, "sha256");
const perCallMs = (performance.now() - t0) / 20;
const staticKey = randomBytes(32);

async function seed(table, keyOf) {
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  await db.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, user_id integer NOT NULL, body text)`);
  for (let from = 0; from < ROWS; from += 10_000) {
    const ids = [];
    const users = [];
    const bodies = [];
    for (let i = from; i < Math.min(ROWS, from + 10_000); i++) {
      const user = (i * 7919) % USERS; // users interleaved, as rows are in real tables
      ids.push(i + 1);
      users.push(user);
      bodies.push(fernet(keyOf(user), `journal entry ${i + 1} of user ${user}: slept badly, long walk, felt better.`));
    }
    await db.query(`INSERT INTO ${table} SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[])`, [
      ids,
      users,
      bodies,
    ]);
  }
}

async function runImport(table, format) {
  const t = encryptedTable(ring, {
    table,
    primaryKey: ["id"],
    scope: { column: "user_id" },
    columns: { body: { type: "string", legacy: format } },
  });
  // Time spent in prepare (the derivations), measured around the format's own call.
  let prepareMs = 0;
  const timed = {
    name: format.name,
    rowColumns: format.rowColumns,
    textPrefixes: format.textPrefixes,
    matches: (value) => format.matches(value),
    decrypt: (value, row) => format.decrypt(value, row),
    prepare:
      format.prepare === undefined
        ? undefined
        : async (rows) => {
            const s = performance.now();
            await format.prepare(rows);
            prepareMs += performance.now() - s;
          },
  };
  const timedTable = encryptedTable(ring, {
    table,
    primaryKey: ["id"],
    scope: { column: "user_id" },
    columns: { body: { type: "string", legacy: timed } },
  });
  const s = performance.now();
  const result = await runJob(db, timedTable, { kind: "import", workers: WORKERS, batchSize: 1000 });
  const ms = performance.now() - s;
  if (result.changed !== ROWS || result.failed !== 0) throw new Error(`${table}: ${JSON.stringify(result)}`);
  const [row] = (await db.query(`SELECT id, user_id, body FROM ${table} WHERE id = 1`)).rows;
  if (!t.decryptRow(row).body.startsWith("journal entry 1 of user ")) throw new Error("imported cell does not open");
  return { ms, prepareMs };
}

await ensureJobTables(db);
await seed("legacy_static", () => staticKey);
const staticRun = await runImport(
  "legacy_static",
  fernetFormat({ key: staticKey.toString("base64url").padEnd(44, "=") }),
);
await seed("legacy_pbkdf2", (user) => userKeys[user]);
const format = fernetFormat({
  derive: { masterKey: MASTER, salt: { static: SALT, append: "user_id" }, iterations: ITERATIONS },
});
const pbkdf2Run = await runImport("legacy_pbkdf2", format);
const { derivations } = format.stats();

const rate = (ms) => Math.round((ROWS * 1000) / ms).toLocaleString("en-US");
console.log(
  `(s) import, static Fernet key          ${(staticRun.ms / 1000).toFixed(1)} s = ${rate(staticRun.ms)} rows/s`,
);
console.log(
  `(p) import, per-user PBKDF2 keys       ${(pbkdf2Run.ms / 1000).toFixed(1)} s = ${rate(pbkdf2Run.ms)} rows/s (${(pbkdf2Run.ms / staticRun.ms).toFixed(2)}× the static-key time); ` +
    `${derivations} derivations for ${USERS} users, ${(pbkdf2Run.prepareMs / 1000).toFixed(1)} s in prepare`,
);
console.log(
  `derivation alone: ${USERS} PBKDF2 calls on the thread pool ${(deriveAllMs / 1000).toFixed(1)} s; one call ${perCallMs.toFixed(1)} ms; ` +
    `per row it would be ${ROWS} calls ≈ ${((ROWS * perCallMs) / 1000 / 60).toFixed(0)} min of CPU`,
);
if (derivations !== USERS) throw new Error(`expected ${USERS} derivations, got ${derivations}`);
await close();
