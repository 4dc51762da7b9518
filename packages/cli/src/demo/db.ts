import { randomBytes } from "node:crypto";
import { type JobDatabase, sessionDatabase } from "fieldcrypt/jobs";
import { operationError, usageError } from "../internal/cli-error.js";
import { openPglite } from "../internal/pglite.js";

/**
 * The little the demo needs from a database, over both drivers: PGlite (embedded, in memory)
 * and node-postgres (a server). Parameters are `$1, $2, …` in both.
 */
export interface Db {
  /** What the demo is running on, for its header; never contains credentials. */
  readonly description: string;
  /** PostgreSQL's server_version. */
  readonly serverVersion: string;
  /** One statement with parameters; returns its rows. */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /**
   * The same database for `fieldcrypt/jobs`: PGlite itself, or the server session (whose
   * search_path is the demo schema) wrapped with sessionDatabase. Nothing else may query while a
   * job runs on it.
   */
  readonly jobs: JobDatabase;
  /** Runs one or more statements without parameters (DDL). */
  exec(sql: string): Promise<void>;
  /** Releases the database; a server database first drops the demo's schema. */
  close(): Promise<void>;
}

/** PGlite in memory when `databaseUrl` is undefined, else a fresh schema on that server. */
export function openDemoDb(databaseUrl: string | undefined): Promise<Db> {
  return databaseUrl === undefined ? openEmbeddedDb() : openServerDb(databaseUrl);
}

async function openEmbeddedDb(): Promise<Db> {
  const pglite = await openPglite();
  const db: Db = {
    description: "embedded (PGlite: WebAssembly, in memory)",
    serverVersion: "",
    jobs: pglite,
    async query<Row>(sql: string, params?: readonly unknown[]) {
      return (await pglite.query<Row>(sql, params === undefined ? undefined : [...params])).rows;
    },
    async exec(sql) {
      await pglite.exec(sql);
    },
    close: () => pglite.close(),
  };
  return { ...db, serverVersion: await serverVersion(db) };
}

async function openServerDb(databaseUrl: string): Promise<Db> {
  const where = describeUrl(databaseUrl);
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: databaseUrl });
  // A dropped connection surfaces on the next query; without a listener it would crash the process.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    throw operationError(
      `cannot connect to PostgreSQL at ${where}${sqlState(error)}`,
      "check --database-url / DATABASE_URL, or leave both unset to run on embedded PGlite",
    );
  }
  // A fresh, uniquely named schema: the demo never touches anything else and drops it at the end.
  const schema = `fieldcrypt_demo_${randomBytes(4).toString("hex")}`;
  const db: Db = {
    description: `at ${where}, in a new schema ${schema}`,
    serverVersion: "",
    jobs: sessionDatabase(client),
    async query<Row>(sql: string, params?: readonly unknown[]) {
      return (await client.query(sql, params === undefined ? undefined : [...params])).rows as Row[];
    },
    async exec(sql) {
      await client.query(sql);
    },
    async close() {
      try {
        await client.query(`DROP SCHEMA ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
  try {
    await db.exec(`CREATE SCHEMA ${schema}`);
  } catch (error) {
    await client.end();
    throw operationError(
      `cannot create a schema on ${where}${sqlState(error)}`,
      "the demo needs the CREATE privilege on that database; or leave DATABASE_URL unset to run on embedded PGlite",
    );
  }
  try {
    await db.exec(`SET search_path TO ${schema}`);
    return { ...db, serverVersion: await serverVersion(db) };
  } catch (error) {
    await db.close();
    throw error;
  }
}

async function serverVersion(db: Db): Promise<string> {
  const [row] = await db.query<{ v: string }>("SELECT current_setting('server_version') AS v");
  // "15.20 (Debian 15.20-0+deb12u1)" → "15.20"
  return row?.v.split(" ")[0] ?? "unknown";
}

/** host:port/database of a postgres:// URL, without user or password. */
function describeUrl(databaseUrl: string): string {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw usageError("--database-url (or DATABASE_URL) is not a URL", "expected postgres://USER@HOST:PORT/DATABASE");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw usageError(
      "--database-url (or DATABASE_URL) is not a postgres:// URL",
      "expected postgres://USER@HOST:PORT/DATABASE",
    );
  }
  return `${url.host}${url.pathname}`;
}

/** " (CODE)" for a driver error's SQLSTATE or errno code; driver messages are not echoed. */
function sqlState(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[A-Z0-9_]{1,20}$/.test(code) ? ` (${code})` : "";
}
