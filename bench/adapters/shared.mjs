// Shared by bench/adapters.mjs, bench/adapters/profile.mjs and the adapter modules.
import { randomBytes } from "node:crypto";
import v8 from "node:v8";
import vm from "node:vm";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { createKeyring, generateKeyString } from "../../packages/fieldcrypt/dist/keyring/index.js";
import { createScopeContext } from "../../packages/fieldcrypt/dist/scope/index.js";
import { encryptedTable } from "../../packages/fieldcrypt/dist/table/index.js";

/** Rows per INSERT statement, for every ORM and both variants. */
export const BATCH = 1000;

/** The encrypted columns of every notes table (plain text columns in the plaintext twin). */
export const COLUMNS = ["title", "body", "author"];

/** DDL of one notes table; the plaintext twin and the encrypted table have the same shape. */
export const notesDDL = (table) =>
  `CREATE TABLE ${table} (id int PRIMARY KEY, tenant text NOT NULL, title text, body text, author text)`;

v8.setFlagsFromString("--expose-gc");
/** A full garbage collection (run before every timed operation). */
export const gc = vm.runInNewContext("gc");

export const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Runs `fn` after a full GC; its wall time in ms and its result. */
export async function time(fn) {
  gc();
  const t0 = process.hrtime.bigint();
  const result = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result };
}

/**
 * The database: the server at DATABASE_URL, in a temporary schema dropped on close (the ORMs
 * connect to it through `connectionString`, whose search_path names it); else an in-process PGlite.
 */
export async function openDb() {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const pglite = new PGlite();
    await pglite.waitReady;
    return {
      kind: "PGlite",
      pglite,
      schema: undefined,
      connectionString: undefined,
      query: (text, values) => pglite.query(text, values),
      close: () => pglite.close(),
    };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const schema = `fieldcrypt_bench_${randomBytes(4).toString("hex")}`;
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`SET search_path TO ${schema}`);
  const withSchema = new URL(url);
  withSchema.searchParams.set("options", `-c search_path=${schema}`);
  return {
    kind: "PostgreSQL server",
    pglite: undefined,
    schema,
    connectionString: withSchema.toString(),
    query: (text, values) => client.query(text, values),
    close: async () => {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
}

/** What every adapter module's open(env) gets. */
export function benchEnv(db) {
  const keyring = createKeyring([{ id: "v1", secret: generateKeyString(), primary: true }]);
  const emailIndex = { column: "email_bidx", normalize: ["trim", "lowercase"] };
  return {
    kind: db.kind,
    pglite: db.pglite,
    schema: db.schema,
    connectionString: db.connectionString,
    db,
    keyring,
    scopes: createScopeContext(),
    /** The request scope the context-scoped adapters (Drizzle, TypeORM) run their queries in. */
    scope: "tenant-0",
    people: {
      /** For adapters that bind rows (pg, Kysely, Prisma): cells bound to the row key (id). */
      rowBound: encryptedTable(keyring, {
        table: "people",
        primaryKey: ["id"],
        columns: { email: { type: "string", blindIndex: emailIndex } },
      }),
      /** For column-type adapters (Drizzle, TypeORM): cells bound to table and column. */
      context: encryptedTable(keyring, {
        table: "people_ctx",
        columns: { email: { type: "string", blindIndex: emailIndex } },
      }),
    },
  };
}

export function sampleRows(n) {
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    tenant: `tenant-${i % 50}`,
    title: `Visit ${i}: follow-up`,
    body: `Patient reports improvement; BP ${110 + (i % 40)}/${70 + (i % 20)}; continue plan ${i}.`.padEnd(150, "."),
    author: `dr.${i % 97}@clinic.example`,
  }));
}

/** The cells of stored rows of `table` and the contexts `adapter` binds them to, in row order. */
export function cellsOf(adapter, stored) {
  const cells = [];
  const contexts = [];
  for (const row of stored) {
    const context = adapter.contextOf(row);
    for (const column of COLUMNS) {
      cells.push(row[column]);
      contexts.push({ table: adapter.encTable, column, ...context });
    }
  }
  return { cells, contexts };
}
