#!/usr/bin/env node
// Adapter overhead on a real PostgreSQL: insert and select of 10,000 rows with 3 encrypted columns,
// each adapter against the same ORM/driver with plaintext columns, in one run; plus the bare core
// decrypts of the same cells timed alone, and blind-index lookups at 100,000 rows.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node bench/adapters.mjs   (server; the target)
//   node bench/adapters.mjs                                                       (embedded PGlite)
//
// Target (issue 3): select-and-decrypt time ≤ plaintext select time + 1.3 × bare decrypt time.
import { randomBytes } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { decrypt } from "../packages/fieldcrypt/dist/cell/index.js";
import { createKeyring, generateKeyString } from "../packages/fieldcrypt/dist/keyring/index.js";
import { decryptRows, insertStatement } from "../packages/fieldcrypt/dist/pg/index.js";
import { encryptedTable } from "../packages/fieldcrypt/dist/table/index.js";

const ROWS = Number(process.env.BENCH_ROWS ?? 10_000);
const SEARCH_ROWS = Number(process.env.BENCH_SEARCH_ROWS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

async function openDb() {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = new PGlite();
    await db.waitReady;
    return { kind: "PGlite", query: (text, values) => db.query(text, values), close: () => db.close() };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const schema = `fieldcrypt_bench_${randomBytes(4).toString("hex")}`;
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`SET search_path TO ${schema}`);
  return {
    kind: "PostgreSQL server",
    query: (text, values) => client.query(text, values),
    close: async () => {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
}

const keyring = createKeyring([{ id: "v1", secret: generateKeyString(), primary: true }]);
const notes = encryptedTable(keyring, {
  table: "notes",
  primaryKey: ["id"],
  scope: { column: "tenant" },
  columns: { title: { type: "string" }, body: { type: "string" }, author: { type: "string" } },
});

function sampleRows(n) {
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    tenant: `tenant-${i % 50}`,
    title: `Visit ${i}: follow-up`,
    body: `Patient reports improvement; BP ${110 + (i % 40)}/${70 + (i % 20)}; continue plan ${i}.`.padEnd(150, "."),
    author: `dr.${i % 97}@clinic.example`,
  }));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const time = async (fn) => {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};

/** Batched multi-row INSERT (1,000 rows per statement), the same shape for both variants. */
async function insertAll(db, table, rows) {
  for (let i = 0; i < rows.length; i += 1000) {
    const batch = rows.slice(i, i + 1000);
    const columns = Object.keys(batch[0]);
    const values = [];
    const tuples = batch.map((row, r) => `(${columns.map((c, k) => `$${r * columns.length + k + 1}`).join(", ")})`);
    for (const row of batch) for (const c of columns) values.push(row[c]);
    await db.query(`INSERT INTO ${table} (${columns.join(", ")}) VALUES ${tuples.join(", ")}`, values);
  }
}

const db = await openDb();
console.log(
  `adapter overhead on ${db.kind}, node ${process.version}; ${ROWS} rows × 3 encrypted columns; median of ${ROUNDS} rounds`,
);
const rows = sampleRows(ROWS);
const results = [];

// node-postgres helpers (fieldcrypt/pg) vs the same statements with plaintext.
{
  const plain = [];
  const enc = [];
  const selPlain = [];
  const selEnc = [];
  const bare = [];
  for (let round = 0; round < ROUNDS; round++) {
    await db.query("DROP TABLE IF EXISTS notes_plain");
    await db.query("DROP TABLE IF EXISTS notes");
    await db.query("CREATE TABLE notes_plain (id int PRIMARY KEY, tenant text, title text, body text, author text)");
    await db.query("CREATE TABLE notes (id int PRIMARY KEY, tenant text, title text, body text, author text)");
    plain.push(await time(() => insertAll(db, "notes_plain", rows)));
    enc.push(
      await time(() =>
        insertAll(
          db,
          "notes",
          rows.map((row) => notes.encryptRow(row)),
        ),
      ),
    );
    let stored;
    selPlain.push(await time(async () => (await db.query("SELECT * FROM notes_plain")).rows));
    selEnc.push(
      await time(async () => {
        stored = (await db.query("SELECT * FROM notes")).rows;
        decryptRows(notes, stored);
      }),
    );
    bare.push(
      await time(async () => {
        for (const row of stored) {
          const rowContext = { scope: row.tenant, rowKey: row.id };
          for (const column of ["title", "body", "author"]) {
            decrypt(keyring, row[column], { table: "notes", column, ...rowContext });
          }
        }
      }),
    );
  }
  results.push({ adapter: "node-postgres (fieldcrypt/pg)", plain, enc, selPlain, selEnc, bare });
}

for (const r of results) {
  const [ip, ie, sp, se, b] = [r.plain, r.enc, r.selPlain, r.selEnc, r.bare].map(median);
  const budget = sp + 1.3 * b;
  console.log(`\n${r.adapter}`);
  console.log(
    `  insert  plaintext ${ip.toFixed(1)} ms   encrypted ${ie.toFixed(1)} ms   ratio ${(ie / ip).toFixed(2)}×`,
  );
  console.log(
    `  select  plaintext ${sp.toFixed(1)} ms   decrypted ${se.toFixed(1)} ms   ratio ${(se / sp).toFixed(2)}×`,
  );
  console.log(`  bare core decrypt of the same ${ROWS * 3} cells: ${b.toFixed(1)} ms`);
  console.log(
    `  target: select+decrypt ${se.toFixed(1)} ms ≤ plaintext select + 1.3 × bare decrypt = ${budget.toFixed(1)} ms → ${se <= budget ? "met" : "NOT met"} (adapter adds ${(((se - sp) / b - 1) * 100).toFixed(0)}% over the bare decrypts)`,
  );
}

// Blind-index lookup at SEARCH_ROWS rows vs a plaintext indexed lookup vs scan-and-decrypt.
{
  const people = encryptedTable(keyring, {
    table: "people",
    primaryKey: ["id"],
    columns: { email: { type: "string", blindIndex: { column: "email_bidx", normalize: ["trim", "lowercase"] } } },
  });
  await db.query("DROP TABLE IF EXISTS people");
  await db.query("DROP TABLE IF EXISTS people_plain");
  await db.query("CREATE TABLE people (id int PRIMARY KEY, email text, email_bidx text)");
  await db.query("CREATE TABLE people_plain (id int PRIMARY KEY, email text)");
  const emails = Array.from({ length: SEARCH_ROWS }, (_, i) => `person${i}@example.org`);
  const ids = emails.map((_, i) => i + 1);
  for (let i = 0; i < SEARCH_ROWS; i += 5000) {
    const slice = ids.slice(i, i + 5000);
    const sealed = slice.map((id) => people.encryptRow({ id, email: emails[id - 1] }));
    await db.query("INSERT INTO people SELECT * FROM unnest($1::int[], $2::text[], $3::text[])", [
      slice,
      sealed.map((r) => r.email),
      sealed.map((r) => r.email_bidx),
    ]);
    await db.query("INSERT INTO people_plain SELECT * FROM unnest($1::int[], $2::text[])", [
      slice,
      slice.map((id) => emails[id - 1]),
    ]);
  }
  await db.query("CREATE INDEX people_email_bidx ON people (email_bidx)");
  await db.query("CREATE INDEX people_plain_email ON people_plain (email)");
  await db.query("ANALYZE people");
  await db.query("ANALYZE people_plain");
  const targets = Array.from({ length: 200 }, (_, i) => emails[(i * 7919) % SEARCH_ROWS]);
  const lookupPlain = [];
  const lookupBlind = [];
  for (let round = 0; round < ROUNDS; round++) {
    lookupPlain.push(
      await time(async () => {
        for (const email of targets) await db.query("SELECT * FROM people_plain WHERE email = $1", [email]);
      }),
    );
    lookupBlind.push(
      await time(async () => {
        for (const email of targets) {
          const { rows: found } = await db.query("SELECT * FROM people WHERE email_bidx = ANY($1::text[])", [
            people.searchValues("email", email),
          ]);
          decryptRows(people, found);
        }
      }),
    );
  }
  const scan = await time(async () => {
    const { rows: all } = await db.query("SELECT * FROM people");
    const wanted = targets[0];
    decryptRows(people, all).filter((r) => r.email === wanted);
  });
  const p = median(lookupPlain) / targets.length;
  const b = median(lookupBlind) / targets.length;
  console.log(`\nblind-index lookup at ${SEARCH_ROWS} rows (per lookup, median of ${ROUNDS} × ${targets.length})`);
  console.log(`  plaintext indexed lookup      ${(p * 1000).toFixed(0)} µs`);
  console.log(
    `  blind-index lookup + decrypt  ${(b * 1000).toFixed(0)} µs   ratio ${(b / p).toFixed(2)}× (target ≤ 2×)`,
  );
  console.log(
    `  scan-and-decrypt (one lookup) ${scan.toFixed(0)} ms   = ${(scan / b).toFixed(0)}× the blind-index lookup`,
  );
}

await db.close();
