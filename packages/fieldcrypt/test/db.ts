/**
 * A real PostgreSQL for tests: PGlite in-process by default, the server at DATABASE_URL when set.
 * On a server every test database lives in its own schema, dropped on close.
 */
import { randomBytes } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { ensureAuditTable } from "../src/audit/index.js";
import { ensureJobTables } from "../src/jobs/index.js";
import { ensureKeyTable } from "../src/key-store/index.js";
import type { Queryable } from "../src/pg/index.js";

export interface TestDb {
  /** "pglite" or "server". */
  readonly kind: "pglite" | "server";
  /** The in-process database, for drivers that take a PGlite instance (kind "pglite"). */
  readonly pglite: PGlite | undefined;
  /** A connection string whose search_path is this test's schema (kind "server"). */
  readonly connectionString: string | undefined;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** The database port (`Queryable`) of audit, jobs and key-store over a test database. */
export function queryable(db: TestDb): Queryable {
  return { query: async (text, values) => ({ rows: await db.query(text, values) }) };
}

export async function openTestDb(): Promise<TestDb> {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === "") {
    const db = new PGlite();
    await db.waitReady;
    return {
      kind: "pglite",
      pglite: db,
      connectionString: undefined,
      query: async <T>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params)).rows,
      close: () => db.close(),
    };
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const schema = `fieldcrypt_test_${randomBytes(6).toString("hex")}`;
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`SET search_path TO ${schema}`);
  const withSchema = new URL(url);
  withSchema.searchParams.set("options", `-c search_path=${schema}`);
  return {
    kind: "server",
    pglite: undefined,
    connectionString: withSchema.toString(),
    query: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params as unknown[])).rows as T[],
    close: async () => {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
}

/** A test database and what a job runs on: PGlite itself, or a pg.Pool of `max` connections on the server. */
export interface JobTestDb {
  readonly tdb: TestDb;
  readonly db: PGlite | pg.Pool;
  /** The pool on the server (parallel workers and concurrent writers take connections from it). */
  readonly pool: pg.Pool | undefined;
  close(): Promise<void>;
}

export async function openJobTestDb(max: number): Promise<JobTestDb> {
  const tdb = await openTestDb();
  const pool = tdb.pglite === undefined ? new pg.Pool({ connectionString: tdb.connectionString, max }) : undefined;
  return {
    tdb,
    db: tdb.pglite ?? (pool as pg.Pool),
    pool,
    close: async () => {
      await pool?.end();
      await tdb.close();
    },
  };
}

/**
 * The job test database of one test file: opened (`max` pool connections on a server) with the
 * job tables ensured before the file's tests and closed after them; before each test the tables
 * named in `drop` are dropped and `fieldcrypt_jobs` is emptied (its runs and errors cascade), then
 * `setup` runs. `use` receives the database once it is open.
 */
export function useJobTestDb(
  options: { readonly max: number; readonly drop: readonly string[]; readonly setup?: (tdb: TestDb) => Promise<void> },
  use: (opened: JobTestDb) => void,
): void {
  let opened: JobTestDb | undefined;
  beforeAll(async () => {
    opened = await openJobTestDb(options.max);
    use(opened);
    await ensureJobTables(opened.db);
  });
  afterAll(async () => opened?.close());
  beforeEach(async () => {
    const tdb = (opened as JobTestDb).tdb;
    for (const table of options.drop) await tdb.query(`DROP TABLE IF EXISTS ${table}`);
    await tdb.query("DELETE FROM fieldcrypt_jobs");
    await options.setup?.(tdb);
  });
}

/** The tables {@link useTestDb} ensures: the key store's and the audit log's. */
export type TestTables = "keys" | "audit";

/**
 * The test database of one test file (or suite): opened before its tests with the `tables` ensured,
 * then handed to `use`, then `setup` run; closed after its tests.
 */
export function useTestDb(
  tables: readonly TestTables[],
  use: (opened: { readonly db: TestDb; readonly q: Queryable }) => void,
  setup?: () => Promise<void>,
): void {
  let db: TestDb | undefined;
  beforeAll(async () => {
    db = await openTestDb();
    const q = queryable(db);
    if (tables.includes("keys")) await ensureKeyTable(q);
    if (tables.includes("audit")) await ensureAuditTable(q);
    use({ db, q });
    await setup?.();
  });
  afterAll(async () => db?.close());
}
