/**
 * The database of `status`, `jobs`, `keys` and `audit`: --database-url or DATABASE_URL, a pg.Pool;
 * or whatever `io.openDatabase` returns (tests inject a PGlite-backed one).
 */
import pg from "pg";
import type { CliDatabase } from "../internal/cli-database.js";
import { configError, operationError, usageError } from "../internal/cli-error.js";
import type { Io } from "../internal/io.js";
import { openPglite } from "../internal/pglite.js";
import { type ConnectionTarget, connectionError } from "./connection-error.js";

export type { CliDatabase, OpenDatabase } from "../internal/cli-database.js";

const PGLITE_PREFIX = "pglite:";

const URL_HINT =
  "pass --database-url postgres://USER@HOST:5432/DB or set DATABASE_URL (a password is best kept in PGPASSWORD or ~/.pgpass)";

/**
 * The database URL, required: a config error (exit 3) when neither is given, a usage error (exit 2)
 * when it is neither a postgres:// nor a pglite: URL.
 */
export function databaseUrl(flag: string | undefined, io: Io): string {
  const url = flag ?? io.env.DATABASE_URL;
  if (url === undefined || url.trim() === "")
    throw configError("no database: DATABASE_URL is not set and no --database-url was given", URL_HINT);
  if (!url.startsWith(PGLITE_PREFIX) && !isPostgresUrl(url)) {
    // Never echoed: a malformed URL may still hold a password.
    throw usageError(
      `${flag === undefined ? "DATABASE_URL" : "--database-url"} is not a postgres:// or pglite: URL`,
      "write postgres://USER@HOST:5432/DB (postgresql:// works too), or pglite:DIR for an embedded database",
    );
  }
  return url;
}

function isPostgresUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "postgres:" || url.protocol === "postgresql:";
  } catch {
    return false;
  }
}

/**
 * The database at `url`: `io.openDatabase` when injected; else PGlite on a data directory for a
 * `pglite:DIR` URL; else a pg.Pool ({@link openPool}).
 */
export function openDatabase(url: string, max: number, io: Io): Promise<CliDatabase> {
  if (io.openDatabase !== undefined) return io.openDatabase(url, max);
  return url.startsWith(PGLITE_PREFIX) ? openPgliteDirectory(url.slice(PGLITE_PREFIX.length)) : openPool(url, max);
}

/**
 * `pglite:DIR`: embedded PGlite on the data directory DIR (created when missing), for development
 * and tests only — one process at a time may open a directory, and there is one session, so job
 * workers take turns. It is what lets the CLI's tests and the crash test run without a server:
 * each CLI run is its own process, and PGlite recovers a directory whose process was killed.
 */
async function openPgliteDirectory(dir: string): Promise<CliDatabase> {
  if (dir === "")
    throw configError("a pglite: database URL needs a data directory", "for example: pglite:./fieldcrypt-dev-db");
  let db: Awaited<ReturnType<typeof openPglite>>;
  try {
    db = await openPglite(dir);
  } catch {
    throw operationError(
      "cannot open the PGlite data directory",
      "check that it is a PGlite data directory no other process has open",
    );
  }
  return {
    query: async <Row>(text: string, values?: unknown[]) => ({ rows: (await db.query<Row>(text, values)).rows }),
    transaction: (fn) => db.transaction((tx) => fn(tx)),
    end: () => db.close(),
  };
}

/**
 * A pool of `max` connections, checked with one query. Connection errors are reported by their code
 * ({@link connectionError}) only: pg's messages can quote the connection string, password included.
 */
export async function openPool(url: string, max: number): Promise<CliDatabase> {
  let pool: pg.Pool;
  try {
    pool = new pg.Pool({ connectionString: url, max });
  } catch {
    throw configError("the database URL is not a valid connection string", URL_HINT);
  }
  // An idle client's error (the server went away) must not crash the process with the URL in it.
  pool.on("error", () => {});
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    await pool.end().catch(() => {});
    throw connectionError(error, connectionTarget(url));
  }
  return pool;
}

/** The parameters pg connected with (PG* variables' defaults applied), never the password. */
function connectionTarget(url: string): ConnectionTarget {
  try {
    const { user, database, host, port } = new pg.Client({ connectionString: url });
    return { user, database, host, port };
  } catch {
    return { user: undefined, database: undefined, host: undefined, port: undefined };
  }
}
