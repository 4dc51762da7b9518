/**
 * The database of a CLI test file: the PostgreSQL server at DATABASE_URL when set (a schema of its
 * own, dropped on close), else embedded PGlite on a fresh data directory that the CLI opens through
 * a `pglite:DIR` URL. Every CLI run is a child process and a PGlite directory admits one process at
 * a time, so on PGlite the test's own queries open the directory, run and close it again: never
 * query while a CLI child runs.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";

export const SERVER_URL = process.env.DATABASE_URL === "" ? undefined : process.env.DATABASE_URL;
/** For test names: where the database tests of this run go. */
export const WHERE =
  SERVER_URL === undefined ? "embedded PGlite (pglite: URL)" : "the PostgreSQL server (DATABASE_URL)";

/** What the test's own setup and checks run on: query() of pg or PGlite. */
export interface TestQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface CliTestDb {
  /** The schema the CLI's search_path names: a fresh one on the server, `public` on PGlite. */
  readonly schema: string;
  /** DATABASE_URL for the CLI child. */
  readonly url: string;
  /** One statement with parameters, or (no parameters) one or more statements; the last one's rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  /** Runs `fn` on the database (a pg.Pool of two on the server: library calls that need a pool). */
  with<T>(fn: (db: TestQueryable & { transaction?: unknown }) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function openCliTestDb(prefix: string): Promise<CliTestDb> {
  return SERVER_URL === undefined ? openPgliteDb(prefix) : openServerDb(prefix, SERVER_URL);
}

async function openPgliteDb(prefix: string): Promise<CliTestDb> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const withDb = async <T>(fn: (db: PGlite) => Promise<T>): Promise<T> => {
    const db = new PGlite(dir);
    try {
      await db.waitReady;
      return await fn(db);
    } finally {
      await db.close();
    }
  };
  return {
    schema: "public",
    url: `pglite:${dir}`,
    query: <T>(sql: string, params?: unknown[]) =>
      withDb(async (db) => {
        if (params !== undefined) return { rows: (await db.query<T>(sql, params)).rows };
        const results = await db.exec(sql);
        return { rows: (results.at(-1)?.rows ?? []) as T[] };
      }),
    with: (fn) => withDb(fn),
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function openServerDb(prefix: string, serverUrl: string): Promise<CliTestDb> {
  const schema = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`SET search_path TO ${schema}`);
  const url = new URL(serverUrl);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return {
    schema,
    url: url.toString(),
    query: async <T>(sql: string, params?: unknown[]) => {
      const result = await admin.query(sql, params);
      const last = Array.isArray(result) ? result.at(-1) : result;
      return { rows: (last?.rows ?? []) as T[] };
    },
    with: async (fn) => {
      const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
      try {
        return await fn(pool);
      } finally {
        await pool.end();
      }
    },
    close: async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}
